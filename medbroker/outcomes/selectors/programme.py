"""The programme dashboard's figures for one call, in one dataclass, so that the page, the
Excel workbook, the PDF and the API all show the same numbers.

Definitions, so a figure can be explained to an auditor:
- companies supported: distinct companies with an agreement that was signed (active, ended or terminated);
- datasets and cases used: distinct datasets in the terms in force of those agreements, and their amounts;
- GPU hours: the usage records imported from the cluster;
- room occupancy: seat hours booked (not cancelled) and attended (checked in) by the call's agreements, against
  the room's capacity (active seats × slot hours × days) from the first agreement's start to today or the
  end of the support period, whichever comes first;
- reports: by status; "overdue" (never submitted, past due) and "late" (first submitted after the due date)
  overlap the statuses, and "not opened" counts agreements that owe a report but have none yet.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal

from django.utils.translation import gettext as _

from medbroker.access.models import AccessGrant
from medbroker.access.selectors.grants import grant_state
from medbroker.agreements.models import Agreement, AgreementDataset, AgreementVersion, PerformanceTestRequest
from medbroker.calls.models import Call
from medbroker.compute.models import GpuAllocation, GpuWaitlistEntry
from medbroker.compute.selectors import gpu_hours_by_agreement
from medbroker.core import timeutils
from medbroker.outcomes.models import ResultsReport
from medbroker.outcomes.selectors.reports import (
    REPORTABLE_AGREEMENT_STATUSES,
    report_is_late,
    report_is_overdue,
)
from medbroker.outcomes.selectors.usage import (
    ZERO,
    GrantState,
    RoomHours,
    allocation_label,
    allocations_latest,
    online_sessions_by_agreement,
    room_hours_by_agreement,
    room_window_hours,
)

SUPPORTED_STATUSES = (Agreement.Status.ACTIVE, Agreement.Status.ENDED, Agreement.Status.TERMINATED)
REPORT_COUNT_KEYS = ("draft", "submitted", "returned", "accepted", "overdue", "late", "not_opened")


def _percent(part: Decimal, whole: Decimal) -> Decimal:
    if not whole:
        return Decimal("0.0")
    return (part * 100 / whole).quantize(Decimal("0.1"))


@dataclass(frozen=True)
class CompanyRow:
    agreement: Agreement
    datasets: list[str]
    cases: int
    gpu: str
    gpu_hours: Decimal
    room_booked_hours: Decimal
    room_attended_hours: Decimal
    online_sessions: int
    report: ResultsReport | None
    report_late: bool
    report_overdue: bool

    @property
    def report_status(self) -> str:
        return self.report.status if self.report is not None else ""

    @property
    def report_status_label(self) -> str:
        if self.report is None:
            return _("미작성")
        return str(self.report.get_status_display())


@dataclass(frozen=True)
class ProgrammeSummary:
    call: Call
    at: dt.datetime
    agreements_by_status: dict[str, int]
    companies_supported: int
    datasets_used: int
    cases_used: int
    grants_by_status: dict[str, int]
    grants_by_mode: dict[str, int]
    grants_usable_now: int
    online_sessions: int
    gpu_hours_total: Decimal
    allocations_by_status: dict[str, int]
    gpu_waiting: int
    room_since: dt.date | None
    room_until: dt.date | None
    room_capacity_hours: Decimal
    room_booked_hours: Decimal
    room_attended_hours: Decimal
    reports_by_status: dict[str, int]
    test_requests_by_status: dict[str, int]
    companies: list[CompanyRow]

    @property
    def as_of(self) -> dt.date:
        return timeutils.to_kst(self.at).date()

    @property
    def room_booked_percent(self) -> Decimal:
        return _percent(self.room_booked_hours, self.room_capacity_hours)

    @property
    def room_attended_percent(self) -> Decimal:
        return _percent(self.room_attended_hours, self.room_capacity_hours)

    @property
    def gpu_hours_by_company(self) -> list[tuple[str, Decimal]]:
        return [(row.agreement.company.name, row.gpu_hours) for row in self.companies]


def dashboard_calls() -> list[Call]:
    """Calls that have agreements, newest first: the ones the dashboard can show."""
    return list(Call.objects.filter(agreements__isnull=False).distinct().order_by("-intake_opens_at", "-pk"))


def dashboard_call(slug: str | None) -> Call | None:
    """The call named by ``slug``, or else the latest call that has agreements."""
    if slug:
        return Call.objects.filter(slug=slug).first()
    calls = dashboard_calls()
    return calls[0] if calls else None


def _counts(values: list[str], keys: list[str]) -> dict[str, int]:
    counter = Counter(values)
    return {key: counter.get(key, 0) for key in keys}


def _room_window(agreements: list[Agreement], call: Call, today: dt.date) -> tuple[dt.date | None, dt.date]:
    supported = [a for a in agreements if a.status in SUPPORTED_STATUSES and a.starts_on is not None]
    if not supported:
        return None, today
    since = min(a.starts_on for a in supported if a.starts_on is not None)
    period_end = max(a.ends_on for a in supported) or call.support_ends_on
    return since, min(today, period_end)


def programme_summary(call: Call, *, at: dt.datetime | None = None) -> ProgrammeSummary:
    at = at or timeutils.now()
    today = timeutils.to_kst(at).date()
    agreements = list(
        Agreement.objects.filter(call=call).select_related("company", "call").order_by("number", "pk")
    )
    ids = [a.pk for a in agreements]
    supported_ids = [a.pk for a in agreements if a.status in SUPPORTED_STATUSES]

    terms_rows = list(
        AgreementDataset.objects.filter(
            version__agreement_id__in=ids, version__status=AgreementVersion.Status.EFFECTIVE
        )
        .select_related("dataset")
        .order_by("version__agreement_id", "pk")
    )
    datasets_by_agreement: dict[int, list[AgreementDataset]] = {}
    for row in terms_rows:
        datasets_by_agreement.setdefault(row.version.agreement_id, []).append(row)
    supported_rows = [r for r in terms_rows if r.version.agreement_id in supported_ids]

    grants = list(AccessGrant.objects.filter(agreement_id__in=ids).select_related("agreement"))
    allocations = list(GpuAllocation.objects.filter(agreement_id__in=ids).values_list("status", flat=True))
    latest = allocations_latest(ids)
    gpu_hours = gpu_hours_by_agreement(ids)
    sessions = online_sessions_by_agreement(ids)
    room_since, room_until = _room_window(agreements, call, today)
    capacity, booked, attended = (
        room_window_hours(call=call, since=room_since, until=room_until)
        if room_since is not None
        else (ZERO, ZERO, ZERO)
    )
    room_all = room_hours_by_agreement(ids)
    reports = {r.agreement_id: r for r in ResultsReport.objects.filter(agreement_id__in=ids)}

    report_counts = _counts([r.status for r in reports.values()], list(REPORT_COUNT_KEYS))
    report_counts["overdue"] = sum(1 for r in reports.values() if report_is_overdue(r, at=at))
    report_counts["late"] = sum(1 for r in reports.values() if report_is_late(r))
    report_counts["not_opened"] = sum(
        1 for a in agreements if a.status in REPORTABLE_AGREEMENT_STATUSES and a.pk not in reports
    )

    companies = []
    for agreement in agreements:
        rows = datasets_by_agreement.get(agreement.pk, [])
        room = room_all.get(agreement.pk, RoomHours())
        report = reports.get(agreement.pk)
        companies.append(
            CompanyRow(
                agreement=agreement,
                datasets=[row.dataset.title for row in rows],
                cases=sum(row.amount for row in rows),
                gpu=allocation_label(latest.get(agreement.pk)),
                gpu_hours=gpu_hours.get(agreement.pk, ZERO),
                room_booked_hours=room.booked,
                room_attended_hours=room.attended,
                online_sessions=sessions.get(agreement.pk, 0),
                report=report,
                report_late=report is not None and report_is_late(report),
                report_overdue=report is not None and report_is_overdue(report, at=at),
            )
        )

    return ProgrammeSummary(
        call=call,
        at=at,
        agreements_by_status=_counts([a.status for a in agreements], list(Agreement.Status.values)),
        companies_supported=len({a.company_id for a in agreements if a.status in SUPPORTED_STATUSES}),
        datasets_used=len({row.dataset_id for row in supported_rows}),
        cases_used=sum(row.amount for row in supported_rows),
        grants_by_status=_counts([g.status for g in grants], list(AccessGrant.Status.values)),
        grants_by_mode=_counts([g.mode for g in grants], list(AccessGrant.Mode.values)),
        grants_usable_now=sum(1 for g in grants if grant_state(g, at=at) == GrantState.USABLE),
        online_sessions=sum(sessions.values()),
        gpu_hours_total=sum(gpu_hours.values(), ZERO),
        allocations_by_status=_counts(allocations, list(GpuAllocation.Status.values)),
        gpu_waiting=GpuWaitlistEntry.objects.filter(
            agreement_id__in=ids, status=GpuWaitlistEntry.Status.WAITING
        ).count(),
        room_since=room_since,
        room_until=room_until if room_since is not None else None,
        room_capacity_hours=capacity,
        room_booked_hours=booked,
        room_attended_hours=attended,
        reports_by_status=report_counts,
        test_requests_by_status=_counts(
            list(
                PerformanceTestRequest.objects.filter(agreement_id__in=ids).values_list("status", flat=True)
            ),
            list(PerformanceTestRequest.Status.values),
        ),
        companies=companies,
    )
