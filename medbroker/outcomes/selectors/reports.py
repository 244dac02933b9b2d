"""Who sees which results report, what a report still lacks, and whether it came in on time.

The deadline is met by the first submission: ``submitted_at`` keeps it, so a report returned for corrections
and resubmitted after the due date is not late because of the lab's return. Every later submission is in the
report's history (the audit log).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet
from django.utils.translation import gettext as _

from medbroker.accounts.models import Role, User
from medbroker.accounts.permissions import STAFF_READ_ROLES
from medbroker.agreements.models import Agreement
from medbroker.audit.models import AuditEvent
from medbroker.core import timeutils
from medbroker.core.errors import NotFoundError
from medbroker.outcomes.models import ReportAttachment, ResultsReport
from medbroker.outcomes.selectors.usage import day_start

Status = ResultsReport.Status
# The sections the lab needs before it can review a report (data and compute used, model
# performance, outcomes summary).
REQUIRED_SECTIONS = ("data_usage", "compute_usage", "model_performance", "summary")
EDITABLE_STATUSES = (Status.DRAFT, Status.RETURNED)
# An agreement that has run (or runs now) owes a report; one never signed or terminated early does not.
REPORTABLE_AGREEMENT_STATUSES = (Agreement.Status.ACTIVE, Agreement.Status.ENDED)


def section_label(name: str) -> str:
    return str(ResultsReport._meta.get_field(name).verbose_name)  # type: ignore[union-attr]


def report_for_agreement(agreement: Agreement) -> ResultsReport | None:
    return ResultsReport.objects.filter(agreement=agreement).first()


def reports_visible_to(user: User) -> QuerySet[ResultsReport]:
    reports = ResultsReport.objects.select_related("agreement__call", "agreement__company", "submitted_by")
    if user.has_role(*STAFF_READ_ROLES):
        return reports
    if user.has_role(Role.APPLICANT) and user.organisation_id is not None:
        return reports.filter(agreement__company_id=user.organisation_id)
    return reports.none()


def report_for_user(user: User, pk: int) -> ResultsReport:
    """One report; another company's is not found (its existence is none of this company's business)."""
    report = reports_visible_to(user).filter(pk=pk).first()
    if report is None:
        raise NotFoundError("report_not_found", _("결과보고서를 찾을 수 없습니다."))
    return report


def report_attachment_for_user(user: User, pk: int) -> ReportAttachment:
    attachment = (
        ReportAttachment.objects.filter(pk=pk, report__in=reports_visible_to(user))
        .select_related("report__agreement")
        .first()
    )
    if attachment is None:
        raise NotFoundError("attachment_not_found", _("첨부 파일을 찾을 수 없습니다."))
    return attachment


def report_missing_sections(report: ResultsReport) -> list[str]:
    """The required sections still blank, in the order of the form."""
    return [name for name in REQUIRED_SECTIONS if not str(getattr(report, name) or "").strip()]


def report_deadline(report: ResultsReport) -> dt.datetime:
    """The first instant after the due date: 00:00:00 KST of the next day (the due date counts in full)."""
    return day_start(report.due_on + dt.timedelta(days=1))


def report_is_late(report: ResultsReport) -> bool:
    return report.submitted_at is not None and report.submitted_at >= report_deadline(report)


def reports_filter(
    reports: QuerySet[ResultsReport], *, call_slug: str = "", status: str = "", due: str = ""
) -> QuerySet[ResultsReport]:
    """The report list's filters: call, status, and "overdue" (never submitted, due date over) or "late"
    (submitted after the due date)."""
    if call_slug:
        reports = reports.filter(agreement__call__slug=call_slug)
    if status:
        reports = reports.filter(status=status)
    if due == "overdue":
        # The due date counts in full, to 23:59:59 KST.
        reports = reports.filter(submitted_at__isnull=True, due_on__lt=timeutils.today_kst())
    elif due == "late":
        submitted = (
            reports.filter(submitted_at__isnull=False)
            .select_related(None)
            .only("pk", "due_on", "submitted_at")
        )
        reports = reports.filter(pk__in=[report.pk for report in submitted if report_is_late(report)])
    return reports


def report_is_overdue(report: ResultsReport, *, at: dt.datetime) -> bool:
    """Never submitted and past its due date."""
    return report.submitted_at is None and at >= report_deadline(report)


def report_is_editable(report: ResultsReport) -> bool:
    return report.status in EDITABLE_STATUSES


@dataclass(frozen=True)
class HistoryEntry:
    occurred_at: dt.datetime
    action: str
    label: str
    actor: str
    detail: str


def _history_label(action: str) -> str:
    labels = {
        "outcomes.report_opened": _("작성 시작"),
        "outcomes.report_submitted": _("제출"),
        "outcomes.report_returned": _("보완 요청"),
        "outcomes.report_accepted": _("승인"),
        "outcomes.report_due_notified": _("제출 기한 알림"),
    }
    return labels.get(action, action)


def _history_detail(event: AuditEvent) -> str:
    data: dict[str, Any] = event.data or {}
    if event.action == "outcomes.report_submitted":
        parts = [_("재제출") if data.get("resubmission") else _("최초 제출")]
        if data.get("late"):
            parts.append(_("기한 후 제출"))
        return " · ".join(parts)
    if event.action in ("outcomes.report_returned", "outcomes.report_accepted"):
        return str(data.get("comment") or "")
    return ""


def report_history(report: ResultsReport) -> list[HistoryEntry]:
    """The report's steps from the audit log: opened, each submission, each review, the due-date notice."""
    events = AuditEvent.objects.filter(
        object_type=ResultsReport._meta.label_lower,
        object_id=str(report.pk),
        action__in=[
            "outcomes.report_opened",
            "outcomes.report_submitted",
            "outcomes.report_returned",
            "outcomes.report_accepted",
            "outcomes.report_due_notified",
        ],
    ).order_by("sequence")
    return [
        HistoryEntry(
            occurred_at=event.occurred_at,
            action=event.action,
            label=_history_label(event.action),
            actor=event.actor_label if event.actor_id else _("시스템"),
            detail=_history_detail(event),
        )
        for event in events
    ]
