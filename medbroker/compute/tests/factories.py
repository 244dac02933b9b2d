"""Small inventories and agreements for the compute tests.

``pool`` builds a node per GPU type with the GPU counts asked for; ``agreement_for`` an agreement in force
(signed 2025-09-01, ends 2025-11-28) granted a GPU type, with the selection rank given.
"""

from __future__ import annotations

from medbroker.accounts.models import Organisation
from medbroker.agreements.models import Agreement
from medbroker.agreements.tests.factories import active_agreement, selected_decision
from medbroker.compute.inventory import STORAGE_PER_COMPANY, NodeDefinition
from medbroker.compute.models import GpuNode
from medbroker.compute.services.inventory import inventory_load

_TYPES = {
    "v100-16": ("V100", 16, 128, 120),
    "v100-32": ("V100", 32, 128, 120),
    "a100-32": ("A100", 32, 32, 128),
}


def node_definition(code: str, count: int, *, name: str | None = None) -> NodeDefinition:
    model, memory, cores, ram = _TYPES[code]
    return {
        "name": name or f"{code}-a",
        "gpu_model": model,
        "gpu_memory_gb": memory,
        "gpu_count": count,
        "cpu_cores": cores,
        "memory_gb": ram,
        "storage_per_company": STORAGE_PER_COMPANY,
    }


def pool(**counts: int) -> list[GpuNode]:
    """``pool(a100_32=1, v100_16=2)``: one node per type with that many GPUs."""
    return inventory_load(
        definition=[node_definition(code.replace("_", "-"), count) for code, count in counts.items()]
    )


def agreement_for(
    compute_code: str | None = "a100-32", *, rank: int = 1, company: Organisation | None = None
) -> Agreement:
    return active_agreement(decision=selected_decision(compute_code=compute_code, rank=rank, company=company))
