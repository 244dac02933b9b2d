"""Loading the GPU inventory from its definition (``medbroker.compute.inventory``).

Loading is idempotent: a node is created or updated by name, missing GPUs are added, and GPUs beyond the
defined count are taken out of service rather than deleted, because an allocation (and the usage records
behind the results report) may point at them. This is the one way GPUs enter or leave service (the admin
shows them read-only), so that the holders and the waiting list are always taken care of.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import transaction
from django.utils.translation import gettext as _

from medbroker.accounts.models import User
from medbroker.audit.services import audit_record
from medbroker.compute.inventory import NodeDefinition
from medbroker.compute.models import Gpu, GpuNode
from medbroker.compute.selectors import GpuType, holdings
from medbroker.compute.services.allocations import waitlist_serve
from medbroker.core import timeutils
from medbroker.core.errors import DomainError

_NODE_FIELDS = ("gpu_model", "gpu_memory_gb", "cpu_cores", "memory_gb", "storage_per_company")


def _definition_check(definition: Sequence[NodeDefinition]) -> None:
    names = [node["name"] for node in definition]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise DomainError(
            "inventory_duplicate_node",
            _("인벤토리에 같은 노드 이름이 두 번 있습니다: %(names)s") % {"names": ", ".join(duplicates)},
        )
    for node in definition:
        if node["gpu_count"] < 0 or node["cpu_cores"] <= 0 or node["memory_gb"] <= 0:
            raise DomainError(
                "inventory_invalid_node",
                _("'%(name)s' 노드의 GPU 수, CPU 코어, 메모리 값이 올바르지 않습니다.")
                % {"name": node["name"]},
            )


def _node_type(node: GpuNode) -> GpuType:
    return GpuType(node.gpu_model, node.gpu_memory_gb)


def _retire_check(node: GpuNode, gpu_count: int) -> None:
    """Refuse to take out of service a GPU someone holds: its holder would be left on a GPU out of service.

    The GPUs are locked first: an allocation of one of them still in flight is waited for and seen here, and
    one that read the GPU as free before this load commits finds it out of service and takes another
    (``allocations._holding_create``).
    """
    leaving = list(
        Gpu.objects.select_for_update()
        .filter(node=node, index__gte=gpu_count, is_active=True)
        .order_by("index")
    )
    if not leaving:
        return
    held = holdings().filter(gpu__in=leaving).select_related("gpu__node", "agreement").order_by("gpu__index")
    names = [f"{allocation.gpu} ({allocation.agreement.number})" for allocation in held]
    if names:
        raise DomainError(
            "inventory_gpu_held",
            _(
                "배정되었거나 배정 제안 중인 GPU는 운영에서 뺄 수 없습니다: %(gpus)s. "
                "GPU 자원 화면에서 먼저 반납한 뒤 인벤토리를 다시 반영해 주세요."
            )
            % {"gpus": ", ".join(names)},
            status_code=409,
        )


def _type_change_check(node: GpuNode, gpu_type: GpuType) -> None:
    """Refuse to change the GPU type of a node whose GPUs are held: each holder was granted the old type."""
    if _node_type(node) == gpu_type:
        return
    if holdings().filter(gpu__node=node).exists():
        raise DomainError(
            "inventory_node_type_held",
            _(
                "'%(name)s' 노드의 GPU가 배정 중이라 GPU 유형을 %(old)s에서 %(new)s(으)로 바꿀 수 없습니다. "
                "먼저 이 노드의 GPU를 모두 반납해 주세요."
            )
            % {"name": node.name, "old": _node_type(node), "new": gpu_type},
            status_code=409,
        )


def _available_gpu_ids(node: GpuNode | None) -> set[int]:
    if node is None or not node.is_active:
        return set()
    return set(Gpu.objects.filter(node=node, is_active=True).values_list("pk", flat=True))


@transaction.atomic
def inventory_load(*, definition: Sequence[NodeDefinition], actor: User | None = None) -> list[GpuNode]:
    """Create or update the nodes of ``definition`` and their GPUs; return the nodes in definition order.

    A GPU that becomes available (added, back in service, or on a node back in service) is offered at once to
    the first company waiting for its type, so a free GPU and a waiting company of the same type never
    coexist and nobody overtakes the waiting list. A GPU someone holds is never taken out of service here,
    nor is its node's type changed: the definition is refused instead, and nothing is changed.
    """
    _definition_check(definition)
    nodes: list[GpuNode] = []
    changes: list[dict[str, object]] = []
    serve: set[GpuType] = set()
    for order, spec in enumerate(definition, start=1):
        gpu_type = GpuType(spec["gpu_model"], spec["gpu_memory_gb"])
        previous = GpuNode.objects.select_for_update().filter(name=spec["name"]).first()
        if previous is not None:
            _type_change_check(previous, gpu_type)
            _retire_check(previous, spec["gpu_count"])
        # A GPU of another type before this load was not available to the companies waiting for this one.
        same_type = previous is not None and _node_type(previous) == gpu_type
        available_before = _available_gpu_ids(previous) if same_type else set()
        values = {field: spec[field] for field in _NODE_FIELDS}  # type: ignore[literal-required]
        node, created = GpuNode.objects.update_or_create(
            name=spec["name"], defaults={**values, "order": order, "is_active": True}
        )
        existing = {gpu.index: gpu for gpu in node.gpus.all()}
        added = [index for index in range(spec["gpu_count"]) if index not in existing]
        Gpu.objects.bulk_create([Gpu(node=node, index=index) for index in added])
        reactivated = Gpu.objects.filter(node=node, index__lt=spec["gpu_count"], is_active=False).update(
            is_active=True
        )
        retired = Gpu.objects.filter(node=node, index__gte=spec["gpu_count"], is_active=True).update(
            is_active=False
        )
        node_reactivated = previous is not None and not previous.is_active
        type_changed = previous is not None and not same_type
        if created or added or reactivated or retired or node_reactivated or type_changed:
            changes.append(
                {
                    "node": node.name,
                    "created": created,
                    "node_reactivated": node_reactivated,
                    "type_changed": type_changed,
                    "gpus_added": added,
                    "gpus_reactivated": reactivated,
                    "gpus_retired": retired,
                }
            )
        if _available_gpu_ids(node) - available_before:
            serve.add(gpu_type)
        nodes.append(node)
    if changes:
        audit_record(
            action="compute.inventory_loaded",
            actor=actor,
            object_type="compute.gpunode",
            summary=_("GPU 인벤토리 반영: 노드 %(n)s개 변경") % {"n": len(changes)},
            data={"changes": changes},
        )
    now = timeutils.now()
    for served in sorted(serve):
        waitlist_serve(gpu_model=served.gpu_model, gpu_memory_gb=served.gpu_memory_gb, at=now, actor=actor)
    return nodes
