"""The 2025 inventory as data, and its loader: idempotent, never deleting a GPU, never taking a held one out of
service, and handing a GPU that comes into service to the waiting list."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import time_machine
from django.test import Client
from django.urls import reverse

from medbroker.accounts.models import User
from medbroker.accounts.tests.factories import UserFactory
from medbroker.agreements.tests.factories import DURING_SUPPORT
from medbroker.audit.models import AuditEvent
from medbroker.calls.models import ComputeOption
from medbroker.calls.tests.factories import call_2025
from medbroker.compute.inventory import INVENTORY_2025
from medbroker.compute.models import Gpu, GpuAllocation, GpuNode
from medbroker.compute.selectors import allocation_for_agreement, holdings, waitlist_position
from medbroker.compute.services import allocations
from medbroker.compute.services.allocations import gpu_allocate, gpu_release
from medbroker.compute.services.inventory import inventory_load
from medbroker.compute.tests.factories import agreement_for, node_definition
from medbroker.core.errors import DomainError

pytestmark = pytest.mark.django_db
Login = Callable[[Client, User | None], Client]


def _nodes() -> list[tuple]:
    return list(
        GpuNode.objects.order_by("order").values_list(
            "name", "gpu_model", "gpu_memory_gb", "cpu_cores", "memory_gb", "storage_per_company", "order"
        )
    )


def _gpus() -> list[tuple[str, int, bool]]:
    return list(Gpu.objects.order_by("node__name", "index").values_list("node__name", "index", "is_active"))


def _holders() -> list[tuple[str, str]]:
    return [
        (str(allocation.gpu), allocation.status)
        for allocation in holdings().select_related("gpu__node").order_by("gpu__node__name", "gpu__index")
    ]


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


def test_fewer_gpus_take_the_free_extra_out_of_service_without_deleting_them(operator: User) -> None:
    inventory_load(definition=[node_definition("v100-16", 3)])
    with time_machine.travel(DURING_SUPPORT, tick=False):
        allocation = gpu_allocate(agreement=agreement_for("v100-16"), actor=operator)
    assert isinstance(allocation, GpuAllocation)
    assert str(allocation.gpu) == "v100-16-a/gpu0"

    inventory_load(definition=[node_definition("v100-16", 1)])

    assert _gpus() == [("v100-16-a", 0, True), ("v100-16-a", 1, False), ("v100-16-a", 2, False)]
    assert GpuAllocation.objects.get().status == "active"

    inventory_load(definition=[node_definition("v100-16", 4)])

    assert _gpus() == [
        ("v100-16-a", 0, True),
        ("v100-16-a", 1, True),
        ("v100-16-a", 2, True),
        ("v100-16-a", 3, True),
    ]


def test_a_held_gpu_is_not_taken_out_of_service(operator: User) -> None:
    # gpu1 is allocated, gpu2 offered from the waiting list: neither holder may lose its GPU to a load.
    inventory_load(definition=[node_definition("v100-16", 3)])
    with time_machine.travel(DURING_SUPPORT, tick=False):
        allocated = [
            gpu_allocate(agreement=agreement_for("v100-16", rank=r), actor=operator) for r in (1, 2, 3)
        ]
        waiting = agreement_for("v100-16", rank=4)
        gpu_allocate(agreement=waiting, actor=operator)
        last = allocated[2]
        assert isinstance(last, GpuAllocation)
        gpu_release(allocation=last, actor=operator, reason="반납")
    before = (_gpus(), _holders(), AuditEvent.objects.count())

    with pytest.raises(DomainError) as refused:
        inventory_load(definition=[node_definition("v100-16", 1)], actor=operator)

    assert (refused.value.code, refused.value.status_code) == ("inventory_gpu_held", 409)
    assert str(refused.value) == (
        "배정되었거나 배정 제안 중인 GPU는 운영에서 뺄 수 없습니다: "
        f"v100-16-a/gpu1 ({allocated[1].agreement.number}), v100-16-a/gpu2 ({waiting.number}). "
        "GPU 자원 화면에서 먼저 반납한 뒤 인벤토리를 다시 반영해 주세요."
    )
    assert (_gpus(), _holders(), AuditEvent.objects.count()) == before
    assert [status for _gpu, status in _holders()] == ["active", "active", "offered"]


def test_the_type_of_a_node_with_a_held_gpu_is_not_changed(operator: User) -> None:
    inventory_load(definition=[node_definition("v100-16", 2)])
    with time_machine.travel(DURING_SUPPORT, tick=False):
        gpu_allocate(agreement=agreement_for("v100-16"), actor=operator)
    before = (_nodes(), _gpus(), _holders())

    with pytest.raises(DomainError) as refused:
        inventory_load(definition=[node_definition("v100-32", 2, name="v100-16-a")], actor=operator)

    assert (refused.value.code, str(refused.value)) == (
        "inventory_node_type_held",
        "'v100-16-a' 노드의 GPU가 배정 중이라 GPU 유형을 V100 16GB에서 V100 32GB(으)로 바꿀 수 없습니다. "
        "먼저 이 노드의 GPU를 모두 반납해 주세요.",
    )
    assert (_nodes(), _gpus(), _holders()) == before


def test_a_gpu_back_in_service_goes_to_the_first_waiting(operator: User) -> None:
    inventory_load(definition=[node_definition("a100-32", 2)])
    inventory_load(definition=[node_definition("a100-32", 1)])
    with time_machine.travel(DURING_SUPPORT, tick=False):
        gpu_allocate(agreement=agreement_for("a100-32", rank=1), actor=operator)
        waiting = agreement_for("a100-32", rank=2)
        gpu_allocate(agreement=waiting, actor=operator)

        inventory_load(definition=[node_definition("a100-32", 2)], actor=operator)

    offer = allocation_for_agreement(waiting)
    assert offer is not None
    assert (str(offer.gpu), offer.status, offer.allocated_at) == ("a100-32-a/gpu1", "offered", DURING_SUPPORT)


def test_a_node_back_in_service_offers_its_gpus_to_the_waiting_list(operator: User) -> None:
    # A node out of service (say, for maintenance) comes back with the next load: its GPUs do not sit free
    # while companies wait, and a company allocated after the load cannot overtake those waiting.
    inventory_load(definition=[node_definition("a100-32", 1, name="a100-32-a")])
    GpuNode.objects.filter(name="a100-32-a").update(is_active=False)
    first = agreement_for("a100-32", rank=1)
    second = agreement_for("a100-32", rank=2)
    with time_machine.travel(DURING_SUPPORT, tick=False):
        for agreement in (first, second):
            gpu_allocate(agreement=agreement, actor=operator)

        inventory_load(definition=[node_definition("a100-32", 1, name="a100-32-a")], actor=operator)

    offer = allocation_for_agreement(first)
    assert offer is not None
    assert (str(offer.gpu), offer.status) == ("a100-32-a/gpu0", "offered")
    assert allocation_for_agreement(second) is None
    assert waitlist_position(second) == 1
    event = AuditEvent.objects.filter(action="compute.inventory_loaded").latest("sequence")
    assert event.data["changes"] == [
        {
            "node": "a100-32-a",
            "created": False,
            "node_reactivated": True,
            "type_changed": False,
            "gpus_added": [],
            "gpus_reactivated": 0,
            "gpus_retired": 0,
        }
    ]


def test_a_gpu_retired_after_it_was_read_as_free_is_not_allocated(
    operator: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An allocation read gpu1 as free, then a load that committed first took it out of service: the holding
    # is not kept on the retired GPU, the next free one is used.
    inventory_load(definition=[node_definition("a100-32", 2)])
    inventory_load(definition=[node_definition("a100-32", 1)])
    retired = Gpu.objects.get(node__name="a100-32-a", index=1)
    real = allocations.free_gpus
    answers = iter([Gpu.objects.filter(pk=retired.pk)])
    monkeypatch.setattr(allocations, "free_gpus", lambda gpu_type: next(answers, None) or real(gpu_type))

    with time_machine.travel(DURING_SUPPORT, tick=False):
        allocation = gpu_allocate(agreement=agreement_for("a100-32"), actor=operator)

    assert isinstance(allocation, GpuAllocation)
    assert str(allocation.gpu) == "a100-32-a/gpu0"
    assert _holders() == [("a100-32-a/gpu0", "active")]


def test_the_admin_shows_gpus_read_only(operator: User, login: Login) -> None:
    # Taking a GPU out of service in the admin would leave its holder on it and skip the waiting list.
    inventory_load(definition=[node_definition("v100-16", 1)])
    node = GpuNode.objects.get()
    gpu = node.gpus.get()
    admin = UserFactory(username="admin", is_staff=True, is_superuser=True)
    client = login(Client(), admin)
    url = reverse("admin:compute_gpunode_change", args=[node.pk])

    page = client.get(url)
    response = client.post(
        url,
        {
            "name": node.name,
            "cpu_cores": node.cpu_cores,
            "memory_gb": node.memory_gb,
            "storage_per_company": node.storage_per_company,
            "order": node.order,
            "gpus-TOTAL_FORMS": "1",
            "gpus-INITIAL_FORMS": "1",
            "gpus-MIN_NUM_FORMS": "0",
            "gpus-MAX_NUM_FORMS": "1000",
            "gpus-0-id": str(gpu.pk),
            "gpus-0-node": str(node.pk),
            "gpus-0-index": "0",
            "gpus-0-is_active": "",
        },
    )

    assert page.status_code == 200
    assert 'name="gpus-0-is_active"' not in page.content.decode()
    assert 'name="is_active"' not in page.content.decode()
    assert response.status_code == 302
    assert _gpus() == [("v100-16-a", 0, True)]
    assert GpuNode.objects.get().is_active is True
    assert client.get(reverse("admin:compute_gpunode_add")).status_code == 403


def test_a_definition_with_the_same_node_twice_is_refused() -> None:
    with pytest.raises(DomainError) as refused:
        inventory_load(definition=[node_definition("v100-16", 1), node_definition("v100-16", 2)])

    assert refused.value.code == "inventory_duplicate_node"
    assert GpuNode.objects.count() == 0
