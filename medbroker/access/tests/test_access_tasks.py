"""The grant reconciler: records expiry and grants the agreement no longer covers, sends each notice once."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator

import pytest
import time_machine

from medbroker.access import tasks
from medbroker.access.models import AccessGrant, OnlineAccount, OnlineSession
from medbroker.access.services.grants import grant_mode_set, grants_issue, grants_reconcile
from medbroker.access.services.viewing import viewing_request_create, viewing_request_decide
from medbroker.accounts.models import Notification, Organisation, User
from medbroker.agreements.models import Agreement, AgreementDataset, AgreementVersion
from medbroker.agreements.tests.factories import DURING_SUPPORT, active_agreement
from medbroker.audit.models import AuditEvent
from medbroker.catalog.models import Dataset, Sensitivity
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


def test_grants_of_a_terminated_agreement_are_closed_and_the_company_told_once(
    agreement: Agreement, operator: User, applicant: User
) -> None:
    first, second = grants_issue(agreement=agreement, actor=operator)
    Agreement.objects.filter(pk=agreement.pk).update(status=Agreement.Status.TERMINATED)

    result = grants_reconcile(now=DURING_SUPPORT)

    assert result == {**NOTHING, "closed": 2}
    assert _statuses() == [("closed", DURING_SUPPORT), ("closed", DURING_SUPPORT)]
    assert {e.data["reason"] for e in AuditEvent.objects.filter(action="access.grant_closed")} == {
        "agreement_ended"
    }
    assert grants_reconcile(now=DURING_SUPPORT) == NOTHING
    closed = Notification.objects.filter(user=applicant, kind="grant_closed").order_by("pk")
    assert [(n.dedupe_key, n.title, n.body) for n in closed] == [
        (
            f"access.grant_closed:{g.pk}",
            f"데이터 이용이 종료되었습니다: {g.dataset.title}",
            "협약이 종료되어 이 데이터의 이용도 함께 종료되었습니다.",
        )
        for g in (first, second)
    ]


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
    assert [(n.kind, n.dedupe_key, n.body) for n in Notification.objects.filter(kind="grant_closed")] == [
        (
            "grant_closed",
            f"access.grant_closed:{dropped.pk}",
            "협약 변경으로 이 데이터가 협약 범위에서 빠져 이용이 종료되었습니다.",
        )
    ]


def test_the_celery_task_runs_the_reconciler_now(agreement: Agreement, operator: User) -> None:
    grants_issue(agreement=agreement, actor=operator)

    with time_machine.travel(kst(2025, 11, 29), tick=False):
        result = tasks.grants_reconcile.delay().get()

    assert tasks.grants_reconcile.name == "medbroker.access.tasks.grants_reconcile"
    assert result == {**NOTHING, "expired": 2, "expiring_notices": 0}
    assert _statuses() == [("expired", kst(2025, 11, 29))] * 2


# ---------------------------------------------------------------------------------------------------------
# Online use whose conditions lapsed goes back to the closed room
# ---------------------------------------------------------------------------------------------------------


@pytest.fixture
def online(operator: User, applicant: User, company: Organisation) -> AccessGrant:
    """The low-sensitivity grant of an agreement that allows online use, online, with a session open."""
    agreement = active_agreement(company=company, allows_online=True)
    grants_issue(agreement=agreement, actor=operator)
    low = AccessGrant.objects.get(agreement=agreement, dataset__sensitivity=Sensitivity.LOW)
    low = grant_mode_set(grant=low, mode="online", actor=operator)
    account = OnlineAccount.objects.create(
        agreement=agreement, user=applicant, vpn_account="vpn", vdi_account="vdi", issued_by=operator
    )
    OnlineSession.objects.create(grant=low, account=account, user=applicant, started_at=DURING_SUPPORT)
    Notification.objects.all().delete()
    return low


def test_online_use_that_still_meets_its_conditions_stays_online(online: AccessGrant) -> None:
    assert grants_reconcile(now=DURING_SUPPORT) == NOTHING
    assert AccessGrant.objects.get(pk=online.pk).mode == "online"
    assert OnlineSession.objects.get().ended_at is None


def _withdraw_online(grant: AccessGrant) -> None:
    AgreementVersion.objects.filter(agreement=grant.agreement_id).update(allows_online=False)


def _raise_sensitivity(grant: AccessGrant) -> None:
    Dataset.objects.filter(pk=grant.dataset_id).update(sensitivity=Sensitivity.STANDARD)


@pytest.mark.parametrize(
    ("lapse", "condition", "why"),
    [
        (
            _withdraw_online,
            "online_not_agreed",
            "협약에서 온라인 이용을 허용하지 않았습니다. 협약 변경으로 온라인 이용을 정한 뒤에 바꿀 수 있습니다.",
        ),
        (
            _raise_sensitivity,
            "online_not_low_sensitivity",
            "민감도가 '보통'인 데이터는 폐쇄형 학습실에서만 이용할 수 있습니다. "
            "온라인 이용은 민감도 '낮음' 데이터에만 허용됩니다.",
        ),
    ],
    ids=["terms_withdraw_online", "dataset_more_sensitive"],
)
def test_online_use_whose_conditions_lapsed_goes_back_to_the_closed_room_once(
    online: AccessGrant,
    applicant: User,
    lapse: Callable[[AccessGrant], None],
    condition: str,
    why: str,
) -> None:
    lapse(online)
    at = kst(2025, 9, 16, 9, 0, 0)

    result = grants_reconcile(now=at)
    again = grants_reconcile(now=at + dt.timedelta(minutes=1))

    assert (result, again) == ({**NOTHING, "online_lapsed": 1}, NOTHING)
    grant = AccessGrant.objects.get(pk=online.pk)
    assert (grant.mode, grant.status) == ("closed_room", "active")
    assert OnlineSession.objects.get().ended_at == at
    event = AuditEvent.objects.filter(action="access.grant_mode_changed").order_by("sequence").last()
    assert event is not None
    assert (event.actor_id, event.object_id) == (None, str(online.pk))
    assert {
        key: event.data[key] for key in ("mode", "previous_mode", "reason", "condition", "sessions_ended")
    } == {
        "mode": "closed_room",
        "previous_mode": "online",
        "reason": "conditions_lapsed",
        "condition": condition,
        "sessions_ended": 1,
    }
    notice = Notification.objects.get(user=applicant)
    assert (notice.kind, notice.dedupe_key, notice.title) == (
        "grant_mode_changed",
        f"access.grant_mode_changed:{online.pk}:2025-09-16T09:00:00+09:00",
        f"폐쇄형 학습실에서만 이용할 수 있게 되었습니다: {online.dataset.title}",
    )
    assert notice.body == (
        f"{why}\n온라인 이용 조건을 더 이상 충족하지 않아 이용 방식이 폐쇄형 학습실로 바뀌었고, "
        "열려 있던 온라인 이용 세션은 종료되었습니다."
    )
