"""The lab's GPU inventory as data (announcement §3.2).

The call names the node types and what each offers, not how many there are: V100 nodes with 16 GB or 32 GB
GPUs, 128 cores and 120 GB memory; A100 nodes with 32 GB GPUs, 32 cores and 128 GB memory; 1 TB of HDD
storage per company. The counts below are the demo's. The A100 pool is kept small on purpose, so that the
demo's companies granted an A100 meet the waiting list. ``inventory_load`` turns a definition into rows.
"""

from __future__ import annotations

from typing import TypedDict


class NodeDefinition(TypedDict):
    name: str
    gpu_model: str
    gpu_memory_gb: int
    gpu_count: int
    cpu_cores: int
    memory_gb: int
    storage_per_company: str


STORAGE_PER_COMPANY = "1TB (HDD)"

INVENTORY_2025: list[NodeDefinition] = [
    {
        "name": "v100-16-a",
        "gpu_model": "V100",
        "gpu_memory_gb": 16,
        "gpu_count": 4,
        "cpu_cores": 128,
        "memory_gb": 120,
        "storage_per_company": STORAGE_PER_COMPANY,
    },
    {
        "name": "v100-32-a",
        "gpu_model": "V100",
        "gpu_memory_gb": 32,
        "gpu_count": 4,
        "cpu_cores": 128,
        "memory_gb": 120,
        "storage_per_company": STORAGE_PER_COMPANY,
    },
    {
        "name": "a100-32-a",
        "gpu_model": "A100",
        "gpu_memory_gb": 32,
        "gpu_count": 2,
        "cpu_cores": 32,
        "memory_gb": 128,
        "storage_per_company": STORAGE_PER_COMPANY,
    },
]
