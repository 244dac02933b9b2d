"""The report reminder: reports open 7 days before the agreement's last day, the due-date notice goes out
once 7 days before the due date (2025-12-12 for the 2025 call), and running again does nothing more."""

from __future__ import annotations

import pytest
import time_machine

from medbroker.accounts.models import Notification, Organisation, Role, User
from medbroker.accounts.tests.factories import OrganisationFactory, UserFactory
from medbroker.agreements.models import Agreement
from medbroker.agreements.tests.factories import active_agreement, selected_decision
from medbroker.audit.models import AuditEvent
from medbroker.calls.tests.factories import call_2025
from medbroker.core.timeutils import kst
from medbroker.outcomes.models import ResultsReport
from medbroker.outcomes.services.reminders import reports_remind
from medbroker.outcomes.tasks import reports_remind as reports_remind_task

pytestmark = pytest.mark.django_db
NOTHING = {"reports_opened": 0, "reports_reminded": 0, "notifications_sent": 0}


@pytest.fixture
def agreement(company: Organisation, applicant: User) -> Agreement:
    UserFactory(username="colleague", organisation=company, roles=[Role.APPLICANT])
    return active_agreement(decision=selected_decision(company=company, call=call_2025()))


def test_reports_open_a_week_before_the_last_day_and_the_notice_goes_once(
    agreement: Agreement, applicant: User
) -> None:
    assert reports_remind(now=kst(2025, 11, 20, 23, 59, 59)) == NOTHING
    assert not ResultsReport.objects.exists()

    # 2025-11-21 is 7 days before the last day (2025-11-28): the report opens, the due date is still far.
    assert reports_remind(now=kst(2025, 11, 21, 0, 0, 0)) == {**NOTHING, "reports_opened": 1}
    report = ResultsReport.objects.get(agreement=agreement)
    assert (report.status, report.due_on.isoformat(), report.notified_due_at) == ("draft", "2025-12-12", None)
    assert reports_remind(now=kst(2025, 12, 4, 23, 59, 59)) == NOTHING
    assert not Notification.objects.exists()

    # 2025-12-05 is 7 days before the due date: each member of the company is told, once.
    notified_at = kst(2025, 12, 5, 9, 0, 0)
    assert reports_remind(now=notified_at) == {**NOTHING, "reports_reminded": 1, "notifications_sent": 2}
    assert reports_remind(now=kst(2025, 12, 5, 10, 0, 0)) == NOTHING
    assert reports_remind(now=kst(2025, 12, 20, 10, 0, 0)) == NOTHING

    notices = Notification.objects.filter(kind="report_due").order_by("user__username")
    assert [(n.user.username, n.title, n.link) for n in notices] == [
        ("applicant", "결과보고서 제출 기한 안내", f"/outcomes/reports/{report.pk}/"),
        ("colleague", "결과보고서 제출 기한 안내", f"/outcomes/reports/{report.pk}/"),
    ]
    assert "제출 기한은 2025-12-12입니다" in notices[0].body
    report.refresh_from_db()
    assert report.notified_due_at == notified_at
    event = AuditEvent.objects.get(action="outcomes.report_due_notified")
    assert (event.actor, event.data) == (None, {"due_on": "2025-12-12", "recipients": 2, "overdue": False})


def test_submitted_reports_and_unsigned_agreements_are_left_alone(
    agreement: Agreement, other_company: Organisation, other_applicant: User
) -> None:
    ResultsReport.objects.create(
        agreement=agreement, due_on=agreement.ends_on.replace(day=12, month=12), status="submitted"
    )
    decision = selected_decision(company=other_company, call=agreement.call, rank=2)
    Agreement.objects.create(
        number="AWAIT-AG",
        decision=decision,
        call=agreement.call,
        company=other_company,
        ends_on=agreement.ends_on,
        created_by=agreement.created_by,
    )

    assert reports_remind(now=kst(2025, 12, 10, 9, 0, 0)) == NOTHING
    assert ResultsReport.objects.count() == 1
    assert not Notification.objects.exists()


def test_an_overdue_report_is_still_told_once(agreement: Agreement) -> None:
    third = OrganisationFactory(name="늦은기업")
    UserFactory(organisation=third, roles=[Role.APPLICANT])
    late = active_agreement(decision=selected_decision(company=third, call=agreement.call, rank=2))

    with time_machine.travel(kst(2025, 12, 20, 9, 0, 0), tick=False):
        first = reports_remind_task.apply().get()
        second = reports_remind_task.apply().get()

    # Two members of the first company and one of the third.
    assert first == {"reports_opened": 2, "reports_reminded": 2, "notifications_sent": 3}
    assert second == NOTHING
    notice = Notification.objects.get(kind="report_due", user__organisation=third)
    assert notice.title == "결과보고서 제출 기한이 지났습니다"
    assert ResultsReport.objects.get(agreement=late).notified_due_at == kst(2025, 12, 20, 9, 0, 0)
