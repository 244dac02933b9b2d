"""The grant reconciler: records expiry and grants the agreement no longer covers, sends each notice once."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
import time_machine

from medbroker.access import tasks
from medbroker.access.models import AccessGrant, OnlineAccount, OnlineSession
from medbroker.access.services.grants import grants_issue, grants_reconcile
from medbroker.access.services.viewing import viewing_request_create, viewing_request_decide
from medbroker.accounts.models import Notification, Organisation, User
from medbroker.agreements.models import Agreement, AgreementDataset, AgreementVersion
from medbroker.agreements.tests.factories import DURING_SUPPORT, active_agreement
from medbroker.audit.models import AuditEvent
from medbroker.catalog.tests.factories import DatasetFactory
from medbroker.core.timeutils import kst

pytestmark = pytest.mark.django_db

NOTHING = {"expired": 0, "closed": 0, "online_lapsed": 0, "start_notices": 0, "expiring_notices": 0}


@pytest.fixture(autouse=True)
def during_support() -> Iterator[None]:
    with time_machine.travel(DURING_SUPPORT, tick=False):
        yield


@pytest.fixture
def agreement(operator: User, applicant: User, company: Organisation) -> Agreement:
    return active_agreement(company=company)


def _notices(user: User) -> list[tuple[str, str]]:
    return list(Notification.objects.filter(user=user).order_by("pk").values_list("kind", "dedupe_key"))


def _statuses() -> list[tuple[str, dt.datetime | None]]:
    return list(AccessGrant.objects.order_by("pk").values_list("status", "closed_at"))


def test_a_run_in_the_middle_of_the_period_changes_nothing(agreement: Agreement, operator: User) -> None:
    grants_issue(agreement=agreement, actor=operator)

    assert grants_reconcile(now=DURING_SUPPORT) == NOTHING
    assert _statuses() == [("active", None), ("active", None)]


def test_a_later_start_is_announced_once_on_its_first_day(
    agreement: Agreement, operator: User, applicant: User
) -> None:
    first, second = grants_issue(agreement=agreement, actor=operator, starts_on=dt.date(2025, 10, 1))

    before = grants_reconcile(now=kst(2025, 9, 30, 23, 59, 59))
    on_the_day = grants_reconcile(now=kst(2025, 10, 1))
    again = grants_reconcile(now=kst(2025, 10, 1, 0, 1))

    assert (before, on_the_day, again) == (NOTHING, {**NOTHING, "start_notices": 2}, NOTHING)
    assert _notices(applicant) == [
        ("grant_started", f"access.grant_started:{first.pk}"),
        ("grant_started", f"access.grant_started:{second.pk}"),
    ]
    assert list(AccessGrant.objects.values_list("notified_start_at", flat=True)) == [kst(2025, 10, 1)] * 2


def test_the_expiry_notice_goes_out_once_seven_days_before_the_end(
    agreement: Agreement, operator: User, applicant: User
) -> None:
    first, _second = grants_issue(agreement=agreement, actor=operator)
    Notification.objects.all().delete()

    early = grants_reconcile(now=kst(2025, 11, 21, 23, 59, 59))
    due = grants_reconcile(now=kst(2025, 11, 22))
    again = grants_reconcile(now=kst(2025, 11, 25))

    assert (early, due, again) == (NOTHING, {**NOTHING, "expiring_notices": 2}, NOTHING)
    notice = Notification.objects.filter(user=applicant).order_by("pk").first()
    assert notice is not None
    assert (notice.kind, notice.dedupe_key, notice.title) == (
        "grant_expiring",
        f"access.grant_expiring:{first.pk}",
        f"데이터 이용 기간이 7일 남았습니다: {first.dataset.title}",
    )
    assert notice.body == "마지막 날: 2025-11-28 23:59:59 (KST). 이후에는 데이터를 이용할 수 없습니다."
    assert Notification.objects.count() == 2


def test_grants_expire_at_midnight_after_the_last_day_once_and_end_their_sessions(
    agreement: Agreement, operator: User, applicant: User
) -> None:
    first, second = grants_issue(agreement=agreement, actor=operator)
    account = OnlineAccount.objects.create(
        agreement=agreement, user=applicant, vpn_account="vpn", vdi_account="vdi", issued_by=operator
    )
    session = OnlineSession.objects.create(
        grant=second, account=account, user=applicant, started_at=DURING_SUPPORT
    )
    Notification.objects.all().delete()
    end = kst(2025, 11, 29)

    last_second = grants_reconcile(now=end - dt.timedelta(seconds=1))
    at_end = grants_reconcile(now=end)
    again = grants_reconcile(now=end + dt.timedelta(minutes=1))

    # The 7-day notice was never sent before (no run then), so the last-second run sends it.
    assert last_second == {**NOTHING, "expiring_notices": 2}
    assert at_end == {**NOTHING, "expired": 2}
    assert again == NOTHING
    assert _statuses() == [("expired", end), ("expired", end)]
    session.refresh_from_db()
    assert session.ended_at == end
    assert [kind for kind, _key in _notices(applicant)] == [
        "grant_expiring",
        "grant_expiring",
        "grant_expired",
        "grant_expired",
    ]
    events = AuditEvent.objects.filter(action="access.grant_expired").order_by("sequence")
    assert [(e.object_id, e.actor_id, e.data["sessions_ended"]) for e in events] == [
        (str(first.pk), None, 0),
        (str(second.pk), None, 1),
    ]


def test_grants_of_a_terminated_agreement_are_closed(agreement: Agreement, operator: User) -> None:
    grants_issue(agreement=agreement, actor=operator)
    Agreement.objects.filter(pk=agreement.pk).update(status=Agreement.Status.TERMINATED)

    result = grants_reconcile(now=DURING_SUPPORT)

    assert result == {**NOTHING, "closed": 2}
    assert _statuses() == [("closed", DURING_SUPPORT), ("closed", DURING_SUPPORT)]
    assert {e.data["reason"] for e in AuditEvent.objects.filter(action="access.grant_closed")} == {
        "agreement_ended"
    }
    assert grants_reconcile(now=DURING_SUPPORT) == NOTHING


def test_an_amendment_that_drops_a_dataset_closes_only_its_agreed_grant(
    agreement: Agreement, operator: User, applicant: User
) -> None:
    kept, dropped = grants_issue(agreement=agreement, actor=operator)
    extra = DatasetFactory(title="대장 CT 영상")
    viewing_request = viewing_request_create(
        agreement=agreement, dataset=extra, actor=applicant, reason="비교"
    )
    viewing_request_decide(viewing_request=viewing_request, actor=operator, approve=True, note="")
    AgreementVersion.objects.filter(agreement=agreement).update(status=AgreementVersion.Status.SUPERSEDED)
    amended = AgreementVersion.objects.create(
        agreement=agreement, number=2, status=AgreementVersion.Status.EFFECTIVE, created_by=operator
    )
    AgreementDataset.objects.create(version=amended, dataset=kept.dataset, amount=1000)

    result = grants_reconcile(now=DURING_SUPPORT)

    assert result == {**NOTHING, "closed": 1}
    assert list(AccessGrant.objects.order_by("pk").values_list("dataset_id", "kind", "status")) == [
        (kept.dataset_id, "agreed", "active"),
        (dropped.dataset_id, "agreed", "closed"),
        (extra.pk, "viewing", "active"),
    ]
    assert AuditEvent.objects.get(action="access.grant_closed").data["reason"] == "dataset_left_terms"


def test_the_celery_task_runs_the_reconciler_now(agreement: Agreement, operator: User) -> None:
    grants_issue(agreement=agreement, actor=operator)

    with time_machine.travel(kst(2025, 11, 29), tick=False):
        result = tasks.grants_reconcile.delay().get()

    assert tasks.grants_reconcile.name == "medbroker.access.tasks.grants_reconcile"
    assert result == {**NOTHING, "expired": 2, "expiring_notices": 0}
    assert _statuses() == [("expired", kst(2025, 11, 29))] * 2
