"""Data-access grants: issue from the terms in force, the window checked at every access, mode and revocation."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import time_machine

from medbroker.access.models import AccessGrant, OnlineAccount, OnlineSession
from medbroker.access.selectors.grants import (
    closed_room_grants_usable,
    grant_access_check,
    grant_is_usable,
    grant_row,
    grant_rows,
    grants_filter,
    grants_visible_to,
)
from medbroker.access.services.grants import grant_mode_set, grant_revoke, grants_issue
from medbroker.access.tests.factories import grant
from medbroker.accounts.models import Notification, Organisation, User
from medbroker.agreements.models import Agreement, AgreementDataset, AgreementVersion
from medbroker.agreements.tests.factories import DURING_SUPPORT, active_agreement
from medbroker.audit.models import AuditEvent
from medbroker.catalog.models import Sensitivity
from medbroker.catalog.tests.factories import DatasetFactory
from medbroker.core import timeutils
from medbroker.core.errors import DomainError, PermissionDeniedError
from medbroker.core.timeutils import kst

pytestmark = pytest.mark.django_db

PERIOD_END = kst(2025, 11, 29)  # 00:00:00 KST after the 2025 call's last support day, 2025-11-28


@pytest.fixture(autouse=True)
def during_support() -> Iterator[None]:
    with time_machine.travel(DURING_SUPPORT, tick=False):
        yield


@pytest.fixture
def agreement(operator: User, applicant: User, company: Organisation) -> Agreement:
    """Signed 2025-09-01, terms: one standard and one low-sensitivity dataset, online use allowed."""
    return active_agreement(company=company, allows_online=True)


def _grants() -> list[tuple[str, str, str, str, dt.datetime, dt.datetime]]:
    return [
        (g.dataset.sensitivity, g.kind, g.mode, g.status, g.starts_at, g.ends_at)
        for g in AccessGrant.objects.select_related("dataset").order_by("pk")
    ]


def _refusal(grant: AccessGrant, user: User, at: dt.datetime) -> str | None:
    try:
        grant_access_check(grant=grant, user=user, at=at)
    except DomainError as error:
        assert error.status_code == 403
        return error.code
    return None


def _low_grant(agreement: Agreement) -> AccessGrant:
    return AccessGrant.objects.get(agreement=agreement, dataset__sensitivity=Sensitivity.LOW)


# ---------------------------------------------------------------------------------------------------------
# Issuing
# ---------------------------------------------------------------------------------------------------------


def test_operator_issues_one_closed_room_grant_per_agreed_dataset_until_the_period_ends(
    agreement: Agreement, operator: User, applicant: User
) -> None:
    issued = grants_issue(agreement=agreement, actor=operator)

    assert len(issued) == 2
    assert _grants() == [
        ("standard", "agreed", "closed_room", "active", DURING_SUPPORT, PERIOD_END),
        ("low", "agreed", "closed_room", "active", DURING_SUPPORT, PERIOD_END),
    ]
    assert [g.notified_start_at for g in AccessGrant.objects.order_by("pk")] == [DURING_SUPPORT] * 2
    notices = Notification.objects.filter(user=applicant).order_by("pk")
    assert [(n.kind, n.dedupe_key) for n in notices] == [
        ("grant_started", f"access.grant_started:{issued[0].pk}"),
        ("grant_started", f"access.grant_started:{issued[1].pk}"),
    ]
    assert notices[0].link == "/access/grants/"
    events = AuditEvent.objects.filter(action="access.grant_issued").order_by("sequence")
    assert [(e.object_id, e.actor_id) for e in events] == [(str(g.pk), operator.pk) for g in issued]
    assert events[0].data["mode"] == "closed_room"
    assert events[0].data["ends_at"] == "2025-11-29T00:00:00+09:00"


def test_issuing_again_grants_only_the_datasets_without_an_active_grant(
    agreement: Agreement, operator: User
) -> None:
    _first, second = grants_issue(agreement=agreement, actor=operator)
    grant_revoke(grant=second, actor=operator, reason="보안 점검")

    again = grants_issue(agreement=agreement, actor=operator)
    nothing = grants_issue(agreement=agreement, actor=operator)

    assert [g.dataset_id for g in again] == [second.dataset_id]
    assert nothing == []
    assert list(AccessGrant.objects.order_by("pk").values_list("status", flat=True)) == [
        "active",
        "revoked",
        "active",
    ]


def test_a_later_start_begins_at_midnight_kst_and_is_announced_later(
    agreement: Agreement, operator: User, applicant: User
) -> None:
    issued = grants_issue(agreement=agreement, actor=operator, starts_on=dt.date(2025, 10, 1))

    assert [(g.starts_at, g.ends_at, g.notified_start_at) for g in issued] == [
        (kst(2025, 10, 1), PERIOD_END, None)
    ] * 2
    assert Notification.objects.filter(user=applicant).count() == 0


def test_a_start_before_the_signing_day_is_moved_to_the_signing_day(
    agreement: Agreement, operator: User
) -> None:
    issued = grants_issue(agreement=agreement, actor=operator, starts_on=dt.date(2025, 8, 1))

    assert {g.starts_at for g in issued} == {kst(2025, 9, 1)}


def test_a_start_after_the_period_is_refused(agreement: Agreement, operator: User) -> None:
    with pytest.raises(DomainError) as refused:
        grants_issue(agreement=agreement, actor=operator, starts_on=dt.date(2025, 11, 29))

    assert refused.value.code == "grant_start_after_end"
    assert AccessGrant.objects.count() == 0


def test_an_agreement_awaiting_signatures_grants_nothing(agreement: Agreement, operator: User) -> None:
    Agreement.objects.filter(pk=agreement.pk).update(status=Agreement.Status.AWAITING_SIGNATURES)
    agreement.refresh_from_db()

    with pytest.raises(DomainError) as refused:
        grants_issue(agreement=agreement, actor=operator)

    assert refused.value.code == "agreement_not_in_force"
    assert refused.value.status_code == 409
    assert AccessGrant.objects.count() == 0
    assert AuditEvent.objects.filter(action__startswith="access.").count() == 0
    assert Notification.objects.count() == 0


def test_only_operators_issue_grants(agreement: Agreement, applicant: User, auditor: User) -> None:
    for user in (applicant, auditor):
        with pytest.raises(PermissionDeniedError):
            grants_issue(agreement=agreement, actor=user)

    assert AccessGrant.objects.count() == 0


# ---------------------------------------------------------------------------------------------------------
# Every access compares the instant with the window
# ---------------------------------------------------------------------------------------------------------


def test_grant_works_until_23_59_59_kst_of_the_last_day_and_not_a_second_later_without_any_job(
    agreement: Agreement, operator: User, applicant: User
) -> None:
    issued = grants_issue(agreement=agreement, actor=operator)[0]

    with time_machine.travel(kst(2025, 11, 28, 23, 59, 59), tick=False):
        last_second = _refusal(issued, applicant, timeutils.now())
        usable_last_second = grant_is_usable(issued, at=timeutils.now())
    with time_machine.travel(kst(2025, 11, 29, 0, 0, 0), tick=False):
        next_day = _refusal(issued, applicant, timeutils.now())
        usable_next_day = grant_is_usable(issued, at=timeutils.now())

    assert (last_second, usable_last_second) == (None, True)
    assert (next_day, usable_next_day) == ("grant_expired", False)
    issued.refresh_from_db()
    assert issued.status == "active"  # nothing recorded the expiry, yet it is refused


def test_a_grant_before_its_start_is_refused_as_not_started(
    agreement: Agreement, operator: User, applicant: User
) -> None:
    issued = grants_issue(agreement=agreement, actor=operator, starts_on=dt.date(2025, 10, 1))[0]

    assert _refusal(issued, applicant, DURING_SUPPORT) == "grant_not_started"
    assert _refusal(issued, applicant, kst(2025, 10, 1)) is None


def test_only_members_of_the_company_may_use_the_data(
    agreement: Agreement, operator: User, other_applicant: User, auditor: User
) -> None:
    issued = grants_issue(agreement=agreement, actor=operator)[0]

    assert [_refusal(issued, user, DURING_SUPPORT) for user in (other_applicant, operator, auditor)] == [
        "not_member"
    ] * 3


def test_a_terminated_agreement_stops_its_grants_at_once(
    agreement: Agreement, operator: User, applicant: User
) -> None:
    issued = grants_issue(agreement=agreement, actor=operator)[0]
    Agreement.objects.filter(pk=agreement.pk).update(status=Agreement.Status.TERMINATED)
    issued.refresh_from_db()

    assert _refusal(issued, applicant, DURING_SUPPORT) == "agreement_not_in_force"
    assert grant_row(issued, at=DURING_SUPPORT).state == "agreement_not_in_force"


def _amend(agreement: Agreement, *, keep: list[AccessGrant], allows_online: bool = True) -> AgreementVersion:
    """Version 2 in force with only the datasets of ``keep``, as a signed amendment leaves it."""
    AgreementVersion.objects.filter(agreement=agreement).update(status=AgreementVersion.Status.SUPERSEDED)
    amended = AgreementVersion.objects.create(
        agreement=agreement,
        number=2,
        status=AgreementVersion.Status.EFFECTIVE,
        allows_online=allows_online,
        created_by=agreement.created_by,
    )
    for kept in keep:
        AgreementDataset.objects.create(version=amended, dataset=kept.dataset, amount=1000)
    return amended


def test_an_amendment_that_drops_a_dataset_refuses_its_grant_at_once_without_any_job(
    agreement: Agreement, operator: User, applicant: User
) -> None:
    kept, dropped = grants_issue(agreement=agreement, actor=operator)
    viewing = grant(agreement, DatasetFactory(), kind=AccessGrant.Kind.VIEWING, view_only=True)
    _amend(agreement, keep=[kept])

    refusals = [_refusal(g, applicant, DURING_SUPPORT) for g in (kept, dropped, viewing)]

    assert refusals == [None, "grant_closed", None]
    assert grant_row(dropped, at=DURING_SUPPORT).state_label == "종료"
    assert list(AccessGrant.objects.order_by("pk").values_list("status", flat=True)) == ["active"] * 3


def test_the_terms_cost_one_query_per_check_and_one_per_list(
    agreement: Agreement, operator: User, django_assert_num_queries: Callable[[int], Any]
) -> None:
    issued = grants_issue(agreement=agreement, actor=operator)
    grants = list(AccessGrant.objects.select_related("agreement", "dataset").order_by("pk"))

    with django_assert_num_queries(1):
        usable = grant_is_usable(issued[0], at=DURING_SUPPORT)
    with django_assert_num_queries(1):
        rows = grant_rows(grants, at=DURING_SUPPORT)

    assert usable is True
    assert [row.state for row in rows] == ["usable", "usable"]


def test_row_shows_days_left_and_the_share_of_the_window_left(agreement: Agreement, operator: User) -> None:
    issued = grants_issue(agreement=agreement, actor=operator)[0]

    during = grant_row(issued, at=DURING_SUPPORT)
    last_day = grant_row(issued, at=kst(2025, 11, 28, 12, 0, 0))
    after = grant_row(issued, at=PERIOD_END)

    assert (during.state, during.last_day, during.days_left, during.percent_left) == (
        "usable",
        dt.date(2025, 11, 28),
        75,
        100,
    )
    assert (last_day.state, last_day.days_left, last_day.percent_left) == ("usable", 1, 1)
    assert (after.state, after.state_label, after.days_left, after.percent_left) == (
        "expired",
        "기간 만료",
        0,
        0,
    )


def test_closed_room_grants_usable_covers_the_slot_only_inside_the_window(
    agreement: Agreement, operator: User
) -> None:
    standard, low = grants_issue(agreement=agreement, actor=operator)
    grant_mode_set(grant=low, mode="online", actor=operator)

    inside = closed_room_grants_usable(
        agreement, starts_at=kst(2025, 11, 28, 13), ends_at=kst(2025, 11, 28, 18)
    )
    crossing = closed_room_grants_usable(
        agreement, starts_at=kst(2025, 11, 28, 22), ends_at=kst(2025, 11, 29, 1)
    )
    before = closed_room_grants_usable(agreement, starts_at=kst(2025, 9, 15, 9), ends_at=kst(2025, 9, 15, 12))

    assert list(inside) == [standard]
    assert list(crossing) == []
    assert list(before) == []


def test_visibility_follows_the_company(
    agreement: Agreement,
    operator: User,
    applicant: User,
    other_applicant: User,
    auditor: User,
    reviewer: User,
    steward: User,
) -> None:
    issued = grants_issue(agreement=agreement, actor=operator)

    visible = {
        name: sorted(grants_visible_to(user).values_list("pk", flat=True))
        for name, user in {
            "applicant": applicant,
            "other_applicant": other_applicant,
            "operator": operator,
            "auditor": auditor,
            "reviewer": reviewer,
            "steward": steward,
        }.items()
    }

    everything = [g.pk for g in issued]
    assert visible == {
        "applicant": everything,
        "other_applicant": [],
        "operator": everything,
        "auditor": everything,
        "reviewer": [],
        "steward": [],
    }


def test_staff_filter_judges_expiry_by_the_clock(agreement: Agreement, operator: User) -> None:
    current, revoked = grants_issue(agreement=agreement, actor=operator)
    grant_revoke(grant=revoked, actor=operator, reason="점검")
    everything = AccessGrant.objects.all()

    def states(at: dt.datetime) -> dict[str, list[int]]:
        return {
            state: list(grants_filter(everything, at=at, state=state).values_list("pk", flat=True))
            for state in ("usable", "not_started", "expired", "revoked", "closed")
        }

    assert states(DURING_SUPPORT) == {
        "usable": [current.pk],
        "not_started": [],
        "expired": [],
        "revoked": [revoked.pk],
        "closed": [],
    }
    assert states(PERIOD_END)["usable"] == []
    assert states(PERIOD_END)["expired"] == [current.pk]


# ---------------------------------------------------------------------------------------------------------
# Mode: closed room by default, online only for low-sensitivity data the terms allow
# ---------------------------------------------------------------------------------------------------------


def test_online_mode_is_allowed_for_low_sensitivity_data_the_terms_allow(
    agreement: Agreement, operator: User
) -> None:
    grants_issue(agreement=agreement, actor=operator)

    changed = grant_mode_set(grant=_low_grant(agreement), mode="online", actor=operator)

    assert changed.mode == "online"
    event = AuditEvent.objects.get(action="access.grant_mode_changed")
    assert (event.object_id, event.data["mode"], event.data["previous_mode"]) == (
        str(changed.pk),
        "online",
        "closed_room",
    )


@pytest.mark.parametrize("tier", [Sensitivity.STANDARD, Sensitivity.HIGH])
def test_online_mode_is_refused_for_standard_and_high_sensitivity_data(
    operator: User, applicant: User, company: Organisation, tier: str
) -> None:
    agreement = active_agreement(
        company=company, allows_online=True, datasets=[DatasetFactory(sensitivity=tier)]
    )
    issued = grants_issue(agreement=agreement, actor=operator)[0]

    with pytest.raises(DomainError) as refused:
        grant_mode_set(grant=issued, mode="online", actor=operator)

    assert refused.value.code == "online_not_low_sensitivity"
    issued.refresh_from_db()
    assert issued.mode == "closed_room"
    assert AuditEvent.objects.filter(action="access.grant_mode_changed").count() == 0


def test_online_mode_is_refused_when_the_terms_do_not_allow_it(
    operator: User, applicant: User, company: Organisation
) -> None:
    agreement = active_agreement(company=company, allows_online=False)
    grants_issue(agreement=agreement, actor=operator)
    low = _low_grant(agreement)

    with pytest.raises(DomainError) as refused:
        grant_mode_set(grant=low, mode="online", actor=operator)

    assert refused.value.code == "online_not_agreed"
    low.refresh_from_db()
    assert low.mode == "closed_room"


def test_online_mode_is_refused_on_a_grant_past_its_end(agreement: Agreement, operator: User) -> None:
    grants_issue(agreement=agreement, actor=operator)
    low = _low_grant(agreement)

    with time_machine.travel(PERIOD_END, tick=False), pytest.raises(DomainError) as refused:
        grant_mode_set(grant=low, mode="online", actor=operator)

    assert refused.value.code == "grant_expired"
    low.refresh_from_db()
    assert low.mode == "closed_room"


def _revoked(grant_: AccessGrant, operator: User) -> dt.datetime:
    grant_revoke(grant=grant_, actor=operator, reason="점검")
    return DURING_SUPPORT


def _past_its_end(grant_: AccessGrant, operator: User) -> dt.datetime:
    return PERIOD_END


def _dataset_dropped(grant_: AccessGrant, operator: User) -> dt.datetime:
    _amend(grant_.agreement, keep=[])
    return DURING_SUPPORT


@pytest.mark.parametrize(
    ("unusable", "code"),
    [(_revoked, "grant_revoked"), (_past_its_end, "grant_expired"), (_dataset_dropped, "grant_closed")],
)
def test_the_mode_of_a_grant_that_no_longer_works_is_not_changed(
    agreement: Agreement,
    operator: User,
    applicant: User,
    unusable: Callable[[AccessGrant, User], dt.datetime],
    code: str,
) -> None:
    grants_issue(agreement=agreement, actor=operator)
    low = grant_mode_set(grant=_low_grant(agreement), mode="online", actor=operator)
    at = unusable(low, operator)
    modes_changed = AuditEvent.objects.filter(action="access.grant_mode_changed").count()

    with time_machine.travel(at, tick=False), pytest.raises(DomainError) as refused:
        grant_mode_set(grant=low, mode="closed_room", actor=operator)

    assert (refused.value.code, refused.value.status_code) == (code, 409)
    assert AccessGrant.objects.get(pk=low.pk).mode == "online"
    assert AuditEvent.objects.filter(action="access.grant_mode_changed").count() == modes_changed == 1


def test_back_to_the_closed_room_ends_open_online_sessions(
    agreement: Agreement, operator: User, applicant: User
) -> None:
    grants_issue(agreement=agreement, actor=operator)
    low = grant_mode_set(grant=_low_grant(agreement), mode="online", actor=operator)
    session = _open_session(low, applicant)

    with time_machine.travel(kst(2025, 9, 15, 11, 0, 0), tick=False):
        grant_mode_set(grant=low, mode="closed_room", actor=operator)

    session.refresh_from_db()
    assert session.ended_at == kst(2025, 9, 15, 11, 0, 0)
    events = AuditEvent.objects.filter(action="access.grant_mode_changed").order_by("sequence")
    assert [(e.data["mode"], e.data["sessions_ended"]) for e in events] == [("online", 0), ("closed_room", 1)]


def _open_session(grant_: AccessGrant, user: User) -> OnlineSession:
    account = OnlineAccount.objects.create(
        agreement=grant_.agreement,
        user=user,
        vpn_account="vpn-01",
        vdi_account="vdi-01",
        issued_by=grant_.issued_by,
    )
    return OnlineSession.objects.create(grant=grant_, account=account, user=user, started_at=DURING_SUPPORT)


# ---------------------------------------------------------------------------------------------------------
# Revocation takes effect at once
# ---------------------------------------------------------------------------------------------------------


def test_revocation_refuses_at_once_ends_sessions_and_tells_the_company(
    agreement: Agreement, operator: User, applicant: User
) -> None:
    issued = grant(agreement, mode="online")
    session = _open_session(issued, applicant)
    assert _refusal(issued, applicant, DURING_SUPPORT) is None

    revoked = grant_revoke(grant=issued, actor=operator, reason="  외부 반출 정황  ")

    assert (revoked.status, revoked.revoked_at, revoked.revoked_by, revoked.revoke_reason) == (
        "revoked",
        DURING_SUPPORT,
        operator,
        "외부 반출 정황",
    )
    assert _refusal(revoked, applicant, DURING_SUPPORT) == "grant_revoked"
    session.refresh_from_db()
    assert session.ended_at == DURING_SUPPORT
    notice = Notification.objects.get(user=applicant)
    assert (notice.kind, notice.body) == ("grant_revoked", "사유: 외부 반출 정황")
    event = AuditEvent.objects.get(action="access.grant_revoked")
    assert (event.actor_id, event.data["reason"], event.data["sessions_ended"]) == (
        operator.pk,
        "외부 반출 정황",
        1,
    )


def test_revocation_needs_a_reason_and_an_active_grant(agreement: Agreement, operator: User) -> None:
    issued = grant(agreement)

    with pytest.raises(DomainError) as no_reason:
        grant_revoke(grant=issued, actor=operator, reason="   ")
    issued.refresh_from_db()
    status_after_refusal = issued.status
    grant_revoke(grant=issued, actor=operator, reason="점검")
    with pytest.raises(DomainError) as twice:
        grant_revoke(grant=issued, actor=operator, reason="다시")

    assert (no_reason.value.code, status_after_refusal) == ("reason_required", "active")
    assert (twice.value.code, twice.value.status_code) == ("grant_not_active", 409)
    assert AuditEvent.objects.filter(action="access.grant_revoked").count() == 1
