"""Loading the GPU inventory from its definition (``medbroker.compute.inventory``).

Loading is idempotent and only ever grows what is allocatable: a node is created or updated by name, missing
GPUs are added, and GPUs beyond the defined count are taken out of service rather than deleted, because an
allocation (and the usage records behind the results report) may point at them.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import transaction
from django.utils.translation import gettext as _

from medbroker.accounts.models import User
from medbroker.audit.services import audit_record
from medbroker.compute.inventory import NodeDefinition
from medbroker.compute.models import Gpu, GpuNode
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


@transaction.atomic
def inventory_load(*, definition: Sequence[NodeDefinition], actor: User | None = None) -> list[GpuNode]:
    """Create or update the nodes of ``definition`` and their GPUs; return the nodes in definition order.

    A GPU added to a type that companies are waiting for is offered to the first of them at once, so a free
    GPU and a waiting company of the same type never coexist.
    """
    _definition_check(definition)
    nodes: list[GpuNode] = []
    changes: list[dict[str, object]] = []
    for order, spec in enumerate(definition, start=1):
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
        if created or added or reactivated or retired:
            changes.append(
                {
                    "node": node.name,
                    "created": created,
                    "gpus_added": added,
                    "gpus_reactivated": reactivated,
                    "gpus_retired": retired,
                }
            )
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
        for gpu_type in sorted({(node.gpu_model, node.gpu_memory_gb) for node in nodes}):
            waitlist_serve(gpu_model=gpu_type[0], gpu_memory_gb=gpu_type[1], at=now, actor=actor)
    return nodes
