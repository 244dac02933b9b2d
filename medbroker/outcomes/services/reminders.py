"""The report reminder, run periodically (Celery beat, hourly): a report is opened for every agreement
whose last day is near or past, and the company is told once when the due date comes near.

Idempotent by construction: the report exists or is created (one per agreement, a database constraint), and
the due notice is claimed by setting ``notified_due_at`` in a conditional update before it is sent, so two
runs at once still send it once.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils.translation import gettext as _

from medbroker.accounts.services.notifications import notification_send, organisation_recipients
from medbroker.agreements.models import Agreement
from medbroker.audit.services import audit_record
from medbroker.core import timeutils
from medbroker.outcomes.models import ResultsReport
from medbroker.outcomes.selectors.reports import EDITABLE_STATUSES, REPORTABLE_AGREEMENT_STATUSES
from medbroker.outcomes.services.reports import report_create


def _report_due_notify(report: ResultsReport, *, now: dt.datetime) -> tuple[bool, int]:
    """Claim the report's notice and send it; (False, 0) when another run claimed it first."""
    with transaction.atomic():
        claimed = ResultsReport.objects.filter(pk=report.pk, notified_due_at__isnull=True).update(
            notified_due_at=now
        )
        if not claimed:
            return False, 0
        agreement = report.agreement
        overdue = timeutils.to_kst(now).date() > report.due_on
        title = _("결과보고서 제출 기한이 지났습니다") if overdue else _("결과보고서 제출 기한 안내")
        body = _(
            "%(number)s 결과보고서의 제출 기한은 %(due)s입니다. 데이터·GPU 이용 내역을 확인하고 성과를 적어 "
            "제출해 주세요."
        ) % {"number": agreement.number, "due": report.due_on.isoformat()}
        sent = notification_send(
            users=organisation_recipients(agreement.company),
            kind="report_due",
            title=str(title),
            body=body,
            link=reverse("outcomes:report_detail", args=[report.pk]),
            dedupe_key=f"report_due:{report.pk}",
        )
        audit_record(
            action="outcomes.report_due_notified",
            actor=None,
            target=report,
            summary=f"due-date notice for {agreement.number} ({report.due_on.isoformat()})",
            data={"due_on": report.due_on.isoformat(), "recipients": len(sent), "overdue": overdue},
        )
        return True, len(sent)


def reports_remind(*, now: dt.datetime) -> dict[str, int]:
    """Open the reports that are due soon and send each company's due-date notice once.

    Returns what this run did: reports opened, reports whose notice went out, notices sent (one per
    company member).
    """
    today = timeutils.to_kst(now).date()
    window = dt.timedelta(days=settings.MEDBROKER_REPORT_REMINDER_DAYS)
    result = {"reports_opened": 0, "reports_reminded": 0, "notifications_sent": 0}

    agreements = Agreement.objects.filter(
        status__in=REPORTABLE_AGREEMENT_STATUSES,
        ends_on__lte=today + window,
        results_report__isnull=True,
    ).select_related("company")
    for agreement in agreements:
        with transaction.atomic():
            _report, created = report_create(agreement=agreement, actor=None)
        result["reports_opened"] += int(created)

    due = ResultsReport.objects.filter(
        status__in=EDITABLE_STATUSES,
        notified_due_at__isnull=True,
        due_on__lte=today + window,
        agreement__status__in=REPORTABLE_AGREEMENT_STATUSES,
    ).select_related("agreement__company")
    for report in due:
        claimed, sent = _report_due_notify(report, now=now)
        result["reports_reminded"] += int(claimed)
        result["notifications_sent"] += sent
    return result
