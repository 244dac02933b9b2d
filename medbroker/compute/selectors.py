"""Reads of the compute app: who holds which GPU, the waiting list, node shares and GPU hours.

CPU cores and memory of a node are shared by the companies holding its GPUs (announcement §3.2): a share
is what each would get if all worked at once, shown as a guide, never as a promise.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import NamedTuple

from django.conf import settings
from django.db.models import (
    Count,
    Exists,
    F,
    IntegerField,
    OuterRef,
    Prefetch,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce

from medbroker.agreements.models import Agreement
from medbroker.agreements.selectors import agreement_terms
from medbroker.compute.models import (
    HOLDING_STATUSES,
    Gpu,
    GpuAllocation,
    GpuNode,
    GpuUsageRecord,
    GpuWaitlistEntry,
    UsageImport,
)

_ONE_DECIMAL = Decimal("0.1")
_ZERO_HOURS = Decimal("0.00")


class GpuType(NamedTuple):
    """A GPU type is the pair (model, memory); it matches a call's ComputeOption (gpu, gpu_memory_gb)."""

    gpu_model: str
    gpu_memory_gb: int

    def __str__(self) -> str:
        return f"{self.gpu_model} {self.gpu_memory_gb}GB"


# ---------------------------------------------------------------------------------------------------------
# Reading what the rules need
# ---------------------------------------------------------------------------------------------------------


def granted_gpu_type(agreement: Agreement) -> GpuType | None:
    """The GPU type the terms in force grant; None when they grant none (or nothing is in force)."""
    terms = agreement_terms(agreement)
    option = terms.compute_option if terms is not None else None
    return None if option is None else GpuType(option.gpu, option.gpu_memory_gb)


def gpu_type_of(gpu: Gpu) -> GpuType:
    return GpuType(gpu.node.gpu_model, gpu.node.gpu_memory_gb)


def holdings() -> QuerySet[GpuAllocation]:
    return GpuAllocation.objects.filter(status__in=HOLDING_STATUSES)


def free_gpus(gpu_type: GpuType) -> QuerySet[Gpu]:
    """GPUs of ``gpu_type`` in service with no holder, least shared node first.

    Filling the emptiest node first gives each company the largest share of the node's CPU and memory.
    """
    held = holdings().filter(gpu=OuterRef("pk"))
    node_holders = (
        holdings()
        .filter(gpu__node=OuterRef("node"))
        .order_by()
        .values("gpu__node")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return (
        Gpu.objects.filter(
            is_active=True,
            node__is_active=True,
            node__gpu_model=gpu_type.gpu_model,
            node__gpu_memory_gb=gpu_type.gpu_memory_gb,
        )
        .exclude(Exists(held))
        .annotate(node_holders=Coalesce(Subquery(node_holders, output_field=IntegerField()), Value(0)))
        .select_related("node")
        .order_by("node_holders", "node__order", "node__name", "index")
    )


# A selection rank only orders the companies of one call, so the list is grouped by call first. The call
# whose support ends first goes first: its companies have the least time left to use a GPU.
WAITING_ORDER = (
    F("agreement__call__support_ends_on").asc(),
    F("agreement__call_id").asc(),
    F("selection_rank").asc(nulls_last=True),
    F("created_at").asc(),
    F("pk").asc(),
)


def waiting_entries(gpu_type: GpuType) -> QuerySet[GpuWaitlistEntry]:
    """The waiting list of one type in the order it is served: call (earliest support end first), selection
    rank within the call (none last), then arrival."""
    return GpuWaitlistEntry.objects.filter(
        status=GpuWaitlistEntry.Status.WAITING,
        gpu_model=gpu_type.gpu_model,
        gpu_memory_gb=gpu_type.gpu_memory_gb,
    ).order_by(*WAITING_ORDER)


def offer_deadline(allocation: GpuAllocation) -> dt.datetime:
    """The instant an offer lapses: MEDBROKER_GPU_OFFER_DAYS after it was made."""
    return allocation.allocated_at + dt.timedelta(days=settings.MEDBROKER_GPU_OFFER_DAYS)


@dataclass(frozen=True)
class NodeShare:
    """A node's CPU cores and memory divided by the companies holding its GPUs (the whole node when none)."""

    cpu_cores: int
    memory_gb: int
    companies: int
    cpu_cores_share: Decimal
    memory_gb_share: Decimal

    @property
    def percent(self) -> int:
        """One company's share of the node, for a bar."""
        return round(100 / max(self.companies, 1))


def _share(total: int, companies: int) -> Decimal:
    return (Decimal(total) / max(companies, 1)).quantize(_ONE_DECIMAL, rounding=ROUND_HALF_UP)


def node_share(node: GpuNode) -> NodeShare:
    companies = (
        GpuAllocation.objects.filter(gpu__node=node, status__in=HOLDING_STATUSES)
        .values("agreement__company")
        .distinct()
        .count()
    )
    return NodeShare(
        cpu_cores=node.cpu_cores,
        memory_gb=node.memory_gb,
        companies=companies,
        cpu_cores_share=_share(node.cpu_cores, companies),
        memory_gb_share=_share(node.memory_gb, companies),
    )


def allocation_for_agreement(agreement: Agreement) -> GpuAllocation | None:
    """The agreement's holding allocation (offered or active), if any."""
    return (
        GpuAllocation.objects.filter(agreement=agreement, status__in=HOLDING_STATUSES)
        .select_related("gpu__node")
        .first()
    )


def waitlist_entry_for_agreement(agreement: Agreement) -> GpuWaitlistEntry | None:
    return GpuWaitlistEntry.objects.filter(
        agreement=agreement, status=GpuWaitlistEntry.Status.WAITING
    ).first()


def waitlist_position(agreement: Agreement) -> int | None:
    """1 for the next company to be offered a GPU of its type; None when the agreement is not waiting."""
    entry = waitlist_entry_for_agreement(agreement)
    if entry is None:
        return None
    order = list(waiting_entries(GpuType(entry.gpu_model, entry.gpu_memory_gb)).values_list("pk", flat=True))
    return order.index(entry.pk) + 1


def _hours(value: Decimal | None) -> Decimal:
    # SQLite sums decimals without their scale; hours are always shown with two places.
    return (value or _ZERO_HOURS).quantize(_ZERO_HOURS)


def gpu_hours_by_agreement(agreement_ids: Iterable[int]) -> dict[int, Decimal]:
    """GPU hours imported per agreement; an agreement without records has 0.00."""
    ids = list(agreement_ids)
    totals = dict.fromkeys(ids, _ZERO_HOURS)
    rows = (
        GpuUsageRecord.objects.filter(agreement_id__in=ids)
        .values("agreement_id")
        .order_by()
        .annotate(total=Sum("gpu_hours"))
    )
    for row in rows:
        totals[row["agreement_id"]] = _hours(row["total"])
    return totals


def gpu_hours_by_day(agreement: Agreement) -> list[tuple[dt.date, Decimal]]:
    """The agreement's GPU hours per day (all its GPUs together), oldest first."""
    rows = (
        GpuUsageRecord.objects.filter(agreement=agreement)
        .values("day")
        .order_by("day")
        .annotate(total=Sum("gpu_hours"))
    )
    return [(row["day"], _hours(row["total"])) for row in rows]


def usage_imports_recent(limit: int = 10) -> QuerySet[UsageImport]:
    return UsageImport.objects.select_related("imported_by").order_by("-imported_at", "-pk")[:limit]


# ---------------------------------------------------------------------------------------------------------
# The inventory page and API
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GpuRow:
    gpu: Gpu
    allocation: GpuAllocation | None


@dataclass(frozen=True)
class NodeRow:
    node: GpuNode
    gpus: list[GpuRow]
    share: NodeShare


@dataclass(frozen=True)
class TypeRow:
    gpu_type: GpuType
    total: int
    free: int
    waiting: list[GpuWaitlistEntry] = field(default_factory=list)

    @property
    def held(self) -> int:
        return self.total - self.free


@dataclass(frozen=True)
class InventoryOverview:
    nodes: list[NodeRow]
    types: list[TypeRow]
    offers_open: list[GpuAllocation]


def inventory_overview() -> InventoryOverview:
    """Nodes with their GPUs and holders, free counts and the waiting list per GPU type, open offers."""
    holding = holdings().select_related("agreement__company", "gpu__node")
    nodes = list(
        GpuNode.objects.prefetch_related(
            Prefetch("gpus", queryset=Gpu.objects.order_by("index")),
        ).order_by("order", "name")
    )
    by_gpu = {allocation.gpu_id: allocation for allocation in holding}
    node_rows = []
    for node in nodes:
        gpu_rows = [GpuRow(gpu=gpu, allocation=by_gpu.get(gpu.pk)) for gpu in node.gpus.all()]
        companies = len({row.allocation.agreement.company_id for row in gpu_rows if row.allocation})
        share = NodeShare(
            cpu_cores=node.cpu_cores,
            memory_gb=node.memory_gb,
            companies=companies,
            cpu_cores_share=_share(node.cpu_cores, companies),
            memory_gb_share=_share(node.memory_gb, companies),
        )
        node_rows.append(NodeRow(node=node, gpus=gpu_rows, share=share))
    gpu_types = sorted(
        {GpuType(node.gpu_model, node.gpu_memory_gb) for node in nodes}
        | {
            GpuType(model, memory)
            for model, memory in GpuWaitlistEntry.objects.filter(status=GpuWaitlistEntry.Status.WAITING)
            .values_list("gpu_model", "gpu_memory_gb")
            .distinct()
        }
    )
    type_rows = []
    for gpu_type in gpu_types:
        total = Gpu.objects.filter(
            is_active=True,
            node__is_active=True,
            node__gpu_model=gpu_type.gpu_model,
            node__gpu_memory_gb=gpu_type.gpu_memory_gb,
        ).count()
        type_rows.append(
            TypeRow(
                gpu_type=gpu_type,
                total=total,
                free=free_gpus(gpu_type).count(),
                waiting=list(waiting_entries(gpu_type).select_related("agreement__company")),
            )
        )
    offers = [a for a in holding.order_by("allocated_at") if a.status == GpuAllocation.Status.OFFERED]
    return InventoryOverview(nodes=node_rows, types=type_rows, offers_open=offers)


def agreements_without_gpu() -> QuerySet[Agreement]:
    """Agreements signed and active that neither hold a GPU nor wait for one: the operator's to-do list."""
    return (
        Agreement.objects.filter(status=Agreement.Status.ACTIVE)
        .exclude(gpu_allocations__status__in=HOLDING_STATUSES)
        .exclude(gpu_waitlist__status=GpuWaitlistEntry.Status.WAITING)
        .select_related("company", "call")
        .order_by("call", "number")
    )
