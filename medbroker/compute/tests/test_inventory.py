"""The 2025 inventory as data, and its loader: idempotent, never deleting a GPU."""

from __future__ import annotations

import pytest
import time_machine

from medbroker.accounts.models import User
from medbroker.agreements.tests.factories import DURING_SUPPORT
from medbroker.audit.models import AuditEvent
from medbroker.calls.models import ComputeOption
from medbroker.calls.tests.factories import call_2025
from medbroker.compute.inventory import INVENTORY_2025
from medbroker.compute.models import Gpu, GpuAllocation, GpuNode
from medbroker.compute.services.allocations import gpu_allocate
from medbroker.compute.services.inventory import inventory_load
from medbroker.compute.tests.factories import agreement_for, node_definition
from medbroker.core.errors import DomainError

pytestmark = pytest.mark.django_db


def _nodes() -> list[tuple]:
    return list(
        GpuNode.objects.order_by("order").values_list(
            "name", "gpu_model", "gpu_memory_gb", "cpu_cores", "memory_gb", "storage_per_company", "order"
        )
    )


def _gpus() -> list[tuple[str, int, bool]]:
    return list(Gpu.objects.order_by("node__name", "index").values_list("node__name", "index", "is_active"))


def test_the_2025_inventory_matches_the_announcement_and_the_call_options() -> None:
    inventory_load(definition=INVENTORY_2025)

    assert _nodes() == [
        ("v100-16-a", "V100", 16, 128, 120, "1TB (HDD)", 1),
        ("v100-32-a", "V100", 32, 128, 120, "1TB (HDD)", 2),
        ("a100-32-a", "A100", 32, 32, 128, "1TB (HDD)", 3),
    ]
    assert Gpu.objects.count() == 10
    # Every GPU type of the 2025 call's compute options exists in the inventory, with the same node sizes.
    options = set(
        ComputeOption.objects.filter(call=call_2025()).values_list(
            "gpu", "gpu_memory_gb", "cpu_cores", "memory_gb"
        )
    )
    nodes = set(GpuNode.objects.values_list("gpu_model", "gpu_memory_gb", "cpu_cores", "memory_gb"))
    assert options == nodes


def test_loading_twice_changes_nothing(operator: User) -> None:
    inventory_load(definition=INVENTORY_2025, actor=operator)
    before = (_nodes(), _gpus())

    inventory_load(definition=INVENTORY_2025, actor=operator)

    assert (_nodes(), _gpus()) == before
    assert AuditEvent.objects.filter(action="compute.inventory_loaded").count() == 1


def test_fewer_gpus_take_the_extra_out_of_service_without_deleting_the_allocated(operator: User) -> None:
    inventory_load(definition=[node_definition("v100-16", 3)])
    with time_machine.travel(DURING_SUPPORT, tick=False):
        allocations = [gpu_allocate(agreement=agreement_for("v100-16"), actor=operator) for _ in range(3)]

    inventory_load(definition=[node_definition("v100-16", 1)])

    assert _gpus() == [("v100-16-a", 0, True), ("v100-16-a", 1, False), ("v100-16-a", 2, False)]
    assert GpuAllocation.objects.filter(status="active").count() == len(allocations) == 3

    inventory_load(definition=[node_definition("v100-16", 4)])

    assert _gpus() == [
        ("v100-16-a", 0, True),
        ("v100-16-a", 1, True),
        ("v100-16-a", 2, True),
        ("v100-16-a", 3, True),
    ]


def test_a_definition_with_the_same_node_twice_is_refused() -> None:
    with pytest.raises(DomainError) as refused:
        inventory_load(definition=[node_definition("v100-16", 1), node_definition("v100-16", 2)])

    assert refused.value.code == "inventory_duplicate_node"
    assert GpuNode.objects.count() == 0
