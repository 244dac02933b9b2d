"""What an agreement used, read from the records of steps ④–⑤: its terms, grants, GPU, GPU hours and
closed-room hours.

The report's prefill, the company overview and the programme dashboard all read these figures here, so the
company's report and the lab's dashboard never disagree about the same agreement. Where the app of a step
names a selector for a figure (terms in force, grant state, GPU hours, node share, room capacity), that
selector is used, so the figure is the same as on that step's own pages.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Count, Max, Min, QuerySet

from medbroker.access.models import AccessGrant, ClosedRoomBooking, OnlineSession
from medbroker.access.selectors.rooms import room_booked_hours, room_capacity_hours
from medbroker.agreements.models import Agreement, AgreementDataset, AgreementVersion
from medbroker.agreements.selectors import agreement_terms
from medbroker.calls.models import Call
from medbroker.compute.models import HOLDING_STATUSES, GpuAllocation, GpuUsageRecord
from medbroker.compute.selectors import gpu_hours_by_agreement
from medbroker.core import timeutils

ZERO = Decimal("0.00")
HOURS = Decimal("0.01")
# A booking whose seat was taken (the operator recorded the check-in) counts as attended for its whole slot:
# occupancy is measured in slots, the unit the room is booked in.
ROOM_ATTENDED_STATUSES = (ClosedRoomBooking.Status.CHECKED_IN, ClosedRoomBooking.Status.CHECKED_OUT)


def hours_of(delta: dt.timedelta) -> Decimal:
    return (Decimal(int(delta.total_seconds())) / Decimal(3600)).quantize(HOURS)


def day_start(day: dt.date) -> dt.datetime:
    return timeutils.kst(day.year, day.month, day.day)


# ---------------------------------------------------------------------------------------------------------
# Terms and grants
# ---------------------------------------------------------------------------------------------------------


def terms_datasets(version: AgreementVersion | None) -> list[AgreementDataset]:
    if version is None:
        return []
    return list(version.datasets.select_related("dataset__institution").order_by("pk"))


class GrantState:
    """The states ``access.selectors.grants.grant_state`` reports."""

    USABLE = "usable"
    NOT_STARTED = "not_started"
    EXPIRED = "expired"
    REVOKED = "revoked"
    CLOSED = "closed"
    AGREEMENT_NOT_IN_FORCE = "agreement_not_in_force"


# ---------------------------------------------------------------------------------------------------------
# GPU
# ---------------------------------------------------------------------------------------------------------


def allocations_latest(agreement_ids: Iterable[int]) -> dict[int, GpuAllocation]:
    """Per agreement, the allocation holding a GPU now, or else the last one it held: a report written
    after the end still names the GPU the company used."""
    found: dict[int, GpuAllocation] = {}
    allocations = (
        GpuAllocation.objects.filter(agreement_id__in=list(agreement_ids))
        .select_related("gpu__node")
        .order_by("-allocated_at", "-pk")
    )
    for allocation in allocations:
        current = found.get(allocation.agreement_id)
        holds = allocation.status in HOLDING_STATUSES
        if current is None or (holds and current.status not in HOLDING_STATUSES):
            found[allocation.agreement_id] = allocation
    return found


def allocation_label(allocation: GpuAllocation | None) -> str:
    if allocation is None:
        return ""
    node = allocation.gpu.node
    return f"{node.gpu_model} {node.gpu_memory_gb}GB · {node.name}/gpu{allocation.gpu.index}"


# ---------------------------------------------------------------------------------------------------------
# Closed learning room and online sessions
# ---------------------------------------------------------------------------------------------------------


@dataclass
class RoomHours:
    booked: Decimal = ZERO
    attended: Decimal = ZERO


def _bookings(
    *, agreement_ids: Iterable[int] | None = None, since: dt.date | None = None, until: dt.date | None = None
) -> QuerySet[ClosedRoomBooking]:
    bookings = ClosedRoomBooking.objects.exclude(status=ClosedRoomBooking.Status.CANCELLED)
    if agreement_ids is not None:
        bookings = bookings.filter(agreement_id__in=list(agreement_ids))
    if since is not None:
        bookings = bookings.filter(starts_at__gte=day_start(since))
    if until is not None:
        bookings = bookings.filter(starts_at__lt=day_start(until + dt.timedelta(days=1)))
    return bookings


def room_hours_by_agreement(
    agreement_ids: Iterable[int], *, since: dt.date | None = None, until: dt.date | None = None
) -> dict[int, RoomHours]:
    """Hours of seats booked (not cancelled) and attended (checked in) per agreement, by slot start day."""
    totals: dict[int, RoomHours] = defaultdict(RoomHours)
    rows = _bookings(agreement_ids=agreement_ids, since=since, until=until).values_list(
        "agreement_id", "status", "starts_at", "ends_at"
    )
    for agreement_id, status, starts_at, ends_at in rows:
        hours = hours_of(ends_at - starts_at)
        entry = totals[agreement_id]
        entry.booked += hours
        if status in ROOM_ATTENDED_STATUSES:
            entry.attended += hours
    return dict(totals)


def room_window_hours(*, call: Call, since: dt.date, until: dt.date) -> tuple[Decimal, Decimal, Decimal]:
    """(capacity, booked, attended) seat hours of the call's bookings whose slot falls on a day from
    ``since`` to ``until`` inclusive."""
    if until < since:
        return ZERO, ZERO, ZERO
    window = (day_start(since), day_start(until + dt.timedelta(days=1)))
    capacity = Decimal(room_capacity_hours(since=window[0], until=window[1])).quantize(HOURS)
    booked = Decimal(room_booked_hours(call=call, since=window[0], until=window[1])).quantize(HOURS)
    attended = sum(
        (
            hours_of(ends_at - starts_at)
            for starts_at, ends_at in _bookings(since=since, until=until)
            .filter(agreement__call=call, status__in=ROOM_ATTENDED_STATUSES)
            .values_list("starts_at", "ends_at")
        ),
        ZERO,
    )
    return capacity, booked, attended


def online_sessions_by_agreement(agreement_ids: Iterable[int]) -> dict[int, int]:
    rows = (
        OnlineSession.objects.filter(grant__agreement_id__in=list(agreement_ids))
        .values("grant__agreement_id")
        .order_by()
        .annotate(n=Count("pk"))
    )
    return {row["grant__agreement_id"]: row["n"] for row in rows}


def upcoming_bookings(agreement: Agreement, *, at: dt.datetime, limit: int = 5) -> list[ClosedRoomBooking]:
    return list(
        ClosedRoomBooking.objects.filter(
            agreement=agreement,
            ends_at__gt=at,
            status__in=(ClosedRoomBooking.Status.BOOKED, ClosedRoomBooking.Status.CHECKED_IN),
        )
        .select_related("seat__room")
        .order_by("starts_at", "seat__label")[:limit]
    )


# ---------------------------------------------------------------------------------------------------------
# One agreement, all together
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AgreementUsage:
    agreement: Agreement
    terms: AgreementVersion | None
    datasets: list[AgreementDataset]
    grants: list[AccessGrant]
    allocation: GpuAllocation | None
    gpu_hours: Decimal
    gpu_first_day: dt.date | None
    gpu_last_day: dt.date | None
    room: RoomHours
    online_sessions: int
    grants_by_mode: dict[str, int] = field(default_factory=dict)

    @property
    def cases(self) -> int:
        return sum(row.amount for row in self.datasets)

    @property
    def gpu_label(self) -> str:
        return allocation_label(self.allocation)


def agreement_usage(agreement: Agreement) -> AgreementUsage:
    terms = agreement_terms(agreement)
    grants = list(
        AccessGrant.objects.filter(agreement=agreement)
        .select_related("dataset", "agreement")
        .order_by("dataset__title", "pk")
    )
    usage = GpuUsageRecord.objects.filter(agreement=agreement).aggregate(first=Min("day"), last=Max("day"))
    modes: dict[str, int] = defaultdict(int)
    for grant in grants:
        modes[grant.mode] += 1
    return AgreementUsage(
        agreement=agreement,
        terms=terms,
        datasets=terms_datasets(terms),
        grants=grants,
        allocation=allocations_latest([agreement.pk]).get(agreement.pk),
        gpu_hours=gpu_hours_by_agreement([agreement.pk]).get(agreement.pk, ZERO),
        gpu_first_day=usage["first"],
        gpu_last_day=usage["last"],
        room=room_hours_by_agreement([agreement.pk]).get(agreement.pk, RoomHours()),
        online_sessions=online_sessions_by_agreement([agreement.pk]).get(agreement.pk, 0),
        grants_by_mode=dict(modes),
    )
