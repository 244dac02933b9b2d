"""Online use: accounts only for members with a second factor, and a fresh OTP code at every session start."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import time_machine
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from medbroker.access.models import AccessGrant, OnlineAccount, OnlineSession
from medbroker.access.services.grants import grant_revoke
from medbroker.access.services.online import (
    online_account_issue,
    online_account_revoke,
    online_session_end,
    online_session_start,
)
from medbroker.access.tests.factories import grant
from medbroker.accounts.models import Organisation, Role, User
from medbroker.accounts.tests.factories import UserFactory
from medbroker.agreements.models import Agreement, AgreementVersion
from medbroker.agreements.tests.factories import DURING_SUPPORT, active_agreement
from medbroker.audit.models import AuditEvent
from medbroker.catalog.models import Dataset, Sensitivity
from medbroker.core.errors import DomainError, PermissionDeniedError
from medbroker.core.timeutils import kst

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def during_support() -> Iterator[None]:
    with time_machine.travel(DURING_SUPPORT, tick=False):
        yield


@pytest.fixture
def agreement(operator: User, applicant: User, company: Organisation) -> Agreement:
    return active_agreement(company=company, allows_online=True)


@pytest.fixture
def device(applicant: User) -> TOTPDevice:
    return TOTPDevice.objects.create(user=applicant, name="인증 앱", confirmed=True)


@pytest.fixture
def online_grant(agreement: Agreement) -> AccessGrant:
    low = agreement.versions.get().datasets.get(dataset__sensitivity=Sensitivity.LOW).dataset
    return grant(agreement, low, mode=AccessGrant.Mode.ONLINE)


@pytest.fixture
def account(agreement: Agreement, applicant: User, operator: User, device: TOTPDevice) -> OnlineAccount:
    return online_account_issue(
        agreement=agreement, user=applicant, vpn_account="ktl-vpn-017", vdi_account="vdi-017", actor=operator
    )


def code(device: TOTPDevice) -> str:
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits, drift=device.drift):06d}"


def wrong(device: TOTPDevice) -> str:
    return f"{(int(code(device)) + 500_000) % 1_000_000:06d}"


def _started_events() -> int:
    return AuditEvent.objects.filter(action="access.online_session_started").count()


# ---------------------------------------------------------------------------------------------------------
# Accounts
# ---------------------------------------------------------------------------------------------------------


def test_operator_issues_vpn_and_vdi_accounts_to_a_member_with_a_second_factor(
    agreement: Agreement, applicant: User, operator: User, device: TOTPDevice
) -> None:
    account = online_account_issue(
        agreement=agreement,
        user=applicant,
        vpn_account=" ktl-vpn-017 ",
        vdi_account="vdi-017",
        actor=operator,
    )

    assert (
        account.user,
        account.vpn_account,
        account.vdi_account,
        account.issued_by,
        account.revoked_at,
    ) == (
        applicant,
        "ktl-vpn-017",
        "vdi-017",
        operator,
        None,
    )
    event = AuditEvent.objects.get(action="access.online_account_issued")
    assert event.data == {
        "agreement": agreement.number,
        "user": applicant.username,
        "vpn_account": "ktl-vpn-017",
        "vdi_account": "vdi-017",
    }


def test_no_account_without_a_second_factor(agreement: Agreement, applicant: User, operator: User) -> None:
    with pytest.raises(DomainError) as refused:
        online_account_issue(
            agreement=agreement,
            user=applicant,
            vpn_account="ktl-vpn-017",
            vdi_account="vdi-017",
            actor=operator,
        )

    assert (refused.value.code, refused.value.status_code) == ("second_factor_required", 403)
    assert OnlineAccount.objects.count() == 0


def test_an_unconfirmed_device_is_no_second_factor(
    agreement: Agreement, applicant: User, operator: User
) -> None:
    TOTPDevice.objects.create(user=applicant, name="인증 앱", confirmed=False)

    with pytest.raises(DomainError) as refused:
        online_account_issue(
            agreement=agreement, user=applicant, vpn_account="v", vdi_account="d", actor=operator
        )

    assert refused.value.code == "second_factor_required"


def test_accounts_only_for_members_of_the_company(
    agreement: Agreement, other_applicant: User, operator: User
) -> None:
    TOTPDevice.objects.create(user=other_applicant, name="인증 앱", confirmed=True)

    with pytest.raises(DomainError) as refused:
        online_account_issue(
            agreement=agreement, user=other_applicant, vpn_account="v", vdi_account="d", actor=operator
        )

    assert refused.value.code == "not_member"
    assert OnlineAccount.objects.count() == 0


def test_one_live_account_per_member_and_only_operators_issue(
    account: OnlineAccount, agreement: Agreement, applicant: User, operator: User, auditor: User
) -> None:
    with pytest.raises(DomainError) as twice:
        online_account_issue(
            agreement=agreement, user=applicant, vpn_account="v2", vdi_account="d2", actor=operator
        )
    with pytest.raises(PermissionDeniedError):
        online_account_issue(
            agreement=agreement, user=applicant, vpn_account="v2", vdi_account="d2", actor=auditor
        )

    assert (twice.value.code, twice.value.status_code) == ("online_account_exists", 409)
    assert list(OnlineAccount.objects.values_list("vpn_account", flat=True)) == ["ktl-vpn-017"]


def test_revoking_the_account_ends_its_open_sessions(
    account: OnlineAccount, online_grant: AccessGrant, applicant: User, operator: User, device: TOTPDevice
) -> None:
    session = online_session_start(grant=online_grant, user=applicant, otp_code=code(device))

    with time_machine.travel(kst(2025, 9, 15, 12, 0, 0), tick=False):
        online_account_revoke(account=account, actor=operator)

    session.refresh_from_db()
    account.refresh_from_db()
    assert (account.revoked_at, session.ended_at) == (kst(2025, 9, 15, 12, 0, 0), kst(2025, 9, 15, 12, 0, 0))
    assert AuditEvent.objects.get(action="access.online_account_revoked").data["sessions_ended"] == 1


# ---------------------------------------------------------------------------------------------------------
# Sessions: a fresh OTP code at every start
# ---------------------------------------------------------------------------------------------------------


def test_a_session_starts_with_a_fresh_code_and_is_audited(
    account: OnlineAccount, online_grant: AccessGrant, applicant: User, device: TOTPDevice
) -> None:
    session = online_session_start(
        grant=online_grant, user=applicant, otp_code=code(device), client_address="203.0.113.7"
    )

    assert (session.grant, session.account, session.user, session.started_at, session.ended_at) == (
        online_grant,
        account,
        applicant,
        DURING_SUPPORT,
        None,
    )
    assert (session.client_address, session.otp_device) == ("203.0.113.7", device.persistent_id)
    event = AuditEvent.objects.get(action="access.online_session_started")
    assert (event.actor_id, event.object_id) == (applicant.pk, str(session.pk))
    assert event.data == {
        "grant": online_grant.pk,
        "agreement": online_grant.agreement.number,
        "dataset": online_grant.dataset_id,
        "dataset_title": "흉부 X-ray 공개 가능 영상",
        "vpn_account": "ktl-vpn-017",
        "vdi_account": "vdi-017",
        "client_address": "203.0.113.7",
        "otp_device": device.persistent_id,
    }


def test_a_wrong_code_records_no_session(
    account: OnlineAccount, online_grant: AccessGrant, applicant: User, device: TOTPDevice
) -> None:
    with pytest.raises(DomainError) as refused:
        online_session_start(grant=online_grant, user=applicant, otp_code=wrong(device))

    assert (refused.value.code, refused.value.field) == ("otp_invalid", "otp_code")
    assert OnlineSession.objects.count() == 0
    assert _started_events() == 0


def test_the_same_code_twice_is_not_fresh(
    account: OnlineAccount, online_grant: AccessGrant, applicant: User, device: TOTPDevice
) -> None:
    used = code(device)
    online_session_start(grant=online_grant, user=applicant, otp_code=used)

    with pytest.raises(DomainError) as replayed:
        online_session_start(grant=online_grant, user=applicant, otp_code=used)

    assert replayed.value.code == "otp_invalid"
    assert OnlineSession.objects.count() == 1


def test_starting_again_closes_the_session_left_open(
    account: OnlineAccount, online_grant: AccessGrant, applicant: User, device: TOTPDevice
) -> None:
    first = online_session_start(grant=online_grant, user=applicant, otp_code=code(device))

    with time_machine.travel(kst(2025, 9, 15, 14, 0, 0), tick=False):
        second = online_session_start(grant=online_grant, user=applicant, otp_code=code(device))

    first.refresh_from_db()
    assert (first.ended_at, second.started_at, second.ended_at) == (
        kst(2025, 9, 15, 14, 0, 0),
        kst(2025, 9, 15, 14, 0, 0),
        None,
    )
    ended = AuditEvent.objects.get(action="access.online_session_ended")
    assert (ended.actor_id, ended.object_id, ended.data) == (
        applicant.pk,
        str(first.pk),
        {
            "grant": online_grant.pk,
            "started_at": "2025-09-15T01:00:00+00:00",
            "reason": "superseded",
            "superseded_by": second.pk,
        },
    )
    sessions = AuditEvent.objects.filter(action__startswith="access.online_session_").order_by("sequence")
    assert list(sessions.values_list("action", flat=True)) == [
        "access.online_session_started",
        "access.online_session_ended",
        "access.online_session_started",
    ]


def test_no_device_means_no_session(
    account: OnlineAccount, online_grant: AccessGrant, applicant: User, device: TOTPDevice
) -> None:
    device.delete()

    with pytest.raises(DomainError) as refused:
        online_session_start(grant=online_grant, user=applicant, otp_code="123456")

    assert refused.value.code == "second_factor_required"
    assert OnlineSession.objects.count() == 0


def test_a_closed_room_grant_has_no_online_session(
    account: OnlineAccount, agreement: Agreement, applicant: User, device: TOTPDevice
) -> None:
    closed_room = grant(agreement)

    with pytest.raises(DomainError) as refused:
        online_session_start(grant=closed_room, user=applicant, otp_code=code(device))

    assert refused.value.code == "grant_not_online"
    assert OnlineSession.objects.count() == 0


def _terms_withdraw_online(grant_: AccessGrant) -> None:
    AgreementVersion.objects.filter(agreement=grant_.agreement_id).update(allows_online=False)


def _dataset_becomes_standard(grant_: AccessGrant) -> None:
    Dataset.objects.filter(pk=grant_.dataset_id).update(sensitivity=Sensitivity.STANDARD)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (_terms_withdraw_online, ("online_not_agreed", 403)),
        (_dataset_becomes_standard, ("online_not_low_sensitivity", 403)),
    ],
)
def test_a_session_is_refused_once_the_online_conditions_no_longer_hold(
    account: OnlineAccount,
    online_grant: AccessGrant,
    applicant: User,
    device: TOTPDevice,
    change: Callable[[AccessGrant], None],
    expected: tuple[str, int],
) -> None:
    change(online_grant)
    online_grant = AccessGrant.objects.get(pk=online_grant.pk)

    with pytest.raises(DomainError) as refused:
        online_session_start(grant=online_grant, user=applicant, otp_code=code(device))

    assert (refused.value.code, refused.value.status_code) == expected
    assert OnlineSession.objects.count() == 0
    assert _started_events() == 0
    assert AccessGrant.objects.get(pk=online_grant.pk).mode == "online"


def test_no_session_without_an_issued_account(
    online_grant: AccessGrant, applicant: User, device: TOTPDevice
) -> None:
    with pytest.raises(DomainError) as refused:
        online_session_start(grant=online_grant, user=applicant, otp_code=code(device))

    assert refused.value.code == "online_account_missing"


def test_another_member_without_an_account_cannot_use_a_colleagues_account(
    account: OnlineAccount, online_grant: AccessGrant, company: Organisation
) -> None:
    colleague = UserFactory(organisation=company, roles=[Role.APPLICANT])
    colleague_device = TOTPDevice.objects.create(user=colleague, name="인증 앱", confirmed=True)

    with pytest.raises(DomainError) as refused:
        online_session_start(grant=online_grant, user=colleague, otp_code=code(colleague_device))

    assert refused.value.code == "online_account_missing"


def test_a_valid_code_does_not_open_an_expired_or_revoked_grant(
    account: OnlineAccount, online_grant: AccessGrant, applicant: User, operator: User, device: TOTPDevice
) -> None:
    with time_machine.travel(kst(2025, 11, 29, 0, 0, 0), tick=False), pytest.raises(DomainError) as expired:
        online_session_start(grant=online_grant, user=applicant, otp_code=code(device))
    grant_revoke(grant=online_grant, actor=operator, reason="점검")
    online_grant.refresh_from_db()
    with pytest.raises(DomainError) as revoked:
        online_session_start(grant=online_grant, user=applicant, otp_code=code(device))

    assert (expired.value.code, revoked.value.code) == ("grant_expired", "grant_revoked")
    assert OnlineSession.objects.count() == 0
    assert _started_events() == 0


def test_sessions_end_by_their_user_or_an_operator_only(
    account: OnlineAccount,
    online_grant: AccessGrant,
    applicant: User,
    other_applicant: User,
    device: TOTPDevice,
) -> None:
    session = online_session_start(grant=online_grant, user=applicant, otp_code=code(device))

    with pytest.raises(PermissionDeniedError):
        online_session_end(session=session, actor=other_applicant)
    with time_machine.travel(kst(2025, 9, 15, 16, 0, 0), tick=False):
        ended = online_session_end(session=session, actor=applicant)
        online_session_end(session=ended, actor=applicant)

    assert ended.ended_at == kst(2025, 9, 15, 16, 0, 0)
    assert AuditEvent.objects.filter(action="access.online_session_ended").count() == 1
