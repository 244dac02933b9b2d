"""Online use of low-sensitivity data (announcement §4 ⑤: SSL-VPN, VDI and OTP authentication).

The lab issues each company member a VPN and a VDI account; every session then starts only after a fresh
code from the member's own second-factor device, checked here and written to the audit log with the grant,
the dataset, the VPN account and the address the session came from. A session is never opened on the
strength of having signed in earlier: the code is asked again at each start.
"""

from __future__ import annotations

import datetime as dt

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext as _

from medbroker.access.models import AccessGrant, OnlineAccount, OnlineSession
from medbroker.access.selectors.grants import (
    grant_access_check,
    grant_online_conditions_refusal,
    online_account_live,
)
from medbroker.accounts.models import Role, User
from medbroker.accounts.permissions import operator_ensure
from medbroker.accounts.selectors import user_has_second_factor
from medbroker.accounts.services.second_factor import second_factor_verify
from medbroker.agreements.models import Agreement
from medbroker.agreements.selectors import agreement_in_force, agreement_terms, user_is_company_member
from medbroker.audit.services import audit_record
from medbroker.core import timeutils
from medbroker.core.errors import DomainError, PermissionDeniedError


def _second_factor_required() -> DomainError:
    return DomainError(
        "second_factor_required",
        _("온라인 이용에는 2단계 인증(OTP) 기기 등록이 필요합니다. 내 정보에서 인증 앱을 먼저 등록하세요."),
        status_code=403,
    )


def online_sessions_end(*, sessions: QuerySet[OnlineSession], at: dt.datetime) -> int:
    """End the open sessions among ``sessions`` at ``at`` (a revoked or expired grant ends its sessions)."""
    return sessions.filter(ended_at__isnull=True).update(ended_at=at)


@transaction.atomic
def online_account_issue(
    *,
    agreement: Agreement,
    user: User,
    vpn_account: str,
    vdi_account: str,
    actor: User,
    request: HttpRequest | None = None,
) -> OnlineAccount:
    """Record the SSL-VPN and VDI accounts the lab issued to one member of the company (operator)."""
    operator_ensure(actor)
    if not user_is_company_member(agreement, user):
        raise DomainError(
            "not_member",
            _("이 협약을 맺은 기업의 신청기업 담당자에게만 계정을 발급할 수 있습니다."),
            field="user",
        )
    if not user_has_second_factor(user):
        raise _second_factor_required()
    if not agreement_in_force(agreement, at=timeutils.now()):
        raise DomainError(
            "agreement_not_in_force",
            _("효력 중인 협약에만 온라인 이용 계정을 발급할 수 있습니다."),
            status_code=409,
        )
    vpn_account, vdi_account = vpn_account.strip(), vdi_account.strip()
    if not vpn_account or not vdi_account:
        raise DomainError(
            "account_required", _("SSL-VPN 계정과 VDI 계정을 모두 입력하세요."), field="vpn_account"
        )
    try:
        with transaction.atomic():
            account = OnlineAccount.objects.create(
                agreement=agreement,
                user=user,
                vpn_account=vpn_account,
                vdi_account=vdi_account,
                issued_by=actor,
            )
    except IntegrityError:
        raise DomainError(
            "online_account_exists",
            _("%(user)s 님에게 이미 발급한 온라인 이용 계정이 있습니다. 먼저 회수하세요.") % {"user": user},
            status_code=409,
        ) from None
    audit_record(
        action="access.online_account_issued",
        actor=actor,
        target=account,
        summary=f"온라인 이용 계정 발급: {agreement.number} · {user.username} (VPN {vpn_account})",
        data={
            "agreement": agreement.number,
            "user": user.username,
            "vpn_account": vpn_account,
            "vdi_account": vdi_account,
        },
        request=request,
    )
    return account


@transaction.atomic
def online_account_revoke(
    *, account: OnlineAccount, actor: User, request: HttpRequest | None = None
) -> OnlineAccount:
    """Take the accounts back at once (operator); the member's open sessions end with them."""
    operator_ensure(actor)
    account = OnlineAccount.objects.select_for_update().get(pk=account.pk)
    if account.revoked_at is not None:
        return account
    now = timeutils.now()
    account.revoked_at = now
    account.save(update_fields=["revoked_at", "updated_at"])
    ended = online_sessions_end(sessions=account.sessions.all(), at=now)
    audit_record(
        action="access.online_account_revoked",
        actor=actor,
        target=account,
        summary=f"온라인 이용 계정 회수: {account.agreement.number} · {account.user.username}",
        data={"vpn_account": account.vpn_account, "sessions_ended": ended},
        request=request,
    )
    return account


def _session_allowed(grant: AccessGrant, user: User) -> OnlineAccount:
    """The user's live account when an online session on ``grant`` may start now; refuse otherwise.

    The online conditions are judged again here, not only when the operator switched the grant: the dataset
    may have become more sensitive or an amendment may have withdrawn online use since then.
    """
    if grant.mode != AccessGrant.Mode.ONLINE:
        raise DomainError(
            "grant_not_online", _("이 데이터는 폐쇄형 학습실에서만 이용할 수 있습니다."), status_code=403
        )
    grant_access_check(grant=grant, user=user, at=timeutils.now())
    refusal = grant_online_conditions_refusal(grant, terms=agreement_terms(grant.agreement))
    if refusal is not None:
        raise DomainError(refusal.code, refusal.message, status_code=403)
    account = online_account_live(grant.agreement, user)
    if account is None:
        raise DomainError(
            "online_account_missing",
            _("발급된 SSL-VPN·VDI 계정이 없습니다. 운영자에게 온라인 이용 계정 발급을 요청하세요."),
            status_code=403,
        )
    return account


def online_session_start(
    *,
    grant: AccessGrant,
    user: User,
    otp_code: str,
    client_address: str | None = None,
    request: HttpRequest | None = None,
) -> OnlineSession:
    """Open an online session on ``grant`` after checking a fresh OTP code of ``user``.

    Not one transaction as a whole: the code check commits on its own (accounts.second_factor), so a wrong
    guess still counts towards django-otp's throttling while nothing of the session is recorded.
    """
    _session_allowed(grant, user)
    if not user_has_second_factor(user):
        raise _second_factor_required()
    try:
        device = second_factor_verify(user=user, code=otp_code, request=request)
    except DomainError as error:
        raise DomainError("otp_invalid", error.message, status_code=403, field="otp_code") from None
    with transaction.atomic():
        # Checked again under the lock: an operator may have revoked the grant while the code was typed.
        grant = AccessGrant.objects.select_for_update().get(pk=grant.pk)
        account = _session_allowed(grant, user)
        now = timeutils.now()
        # One open session per person and grant: starting again closes the one left open, and the log says
        # so, since a session's end is what the lab reads to know when the data was last open.
        superseded = list(OnlineSession.objects.filter(grant=grant, user=user, ended_at__isnull=True))
        online_sessions_end(sessions=OnlineSession.objects.filter(grant=grant, user=user), at=now)
        session = OnlineSession.objects.create(
            grant=grant,
            account=account,
            user=user,
            started_at=now,
            client_address=client_address,
            otp_device=device.persistent_id,
        )
        for previous in superseded:
            audit_record(
                action="access.online_session_ended",
                actor=user,
                target=previous,
                summary=f"온라인 이용 종료 (새 세션 시작): {grant.dataset}",
                data={
                    "grant": grant.pk,
                    "started_at": previous.started_at.isoformat(),
                    "reason": "superseded",
                    "superseded_by": session.pk,
                },
                request=request,
            )
        audit_record(
            action="access.online_session_started",
            actor=user,
            target=session,
            summary=f"온라인 이용 시작: {grant.agreement.number} · {grant.dataset} · VPN {account.vpn_account}",
            data={
                "grant": grant.pk,
                "agreement": grant.agreement.number,
                "dataset": grant.dataset_id,
                "dataset_title": grant.dataset.title,
                "vpn_account": account.vpn_account,
                "vdi_account": account.vdi_account,
                "client_address": client_address,
                "otp_device": device.persistent_id,
            },
            request=request,
        )
    return session


@transaction.atomic
def online_session_end(
    *, session: OnlineSession, actor: User, request: HttpRequest | None = None
) -> OnlineSession:
    """End a session (its own user, or an operator); ending an ended session changes nothing."""
    if actor.pk != session.user_id and not actor.has_role(Role.OPERATOR):
        raise PermissionDeniedError("forbidden", _("본인의 세션만 종료할 수 있습니다."))
    session = OnlineSession.objects.select_for_update().get(pk=session.pk)
    if session.ended_at is not None:
        return session
    session.ended_at = timeutils.now()
    session.save(update_fields=["ended_at"])
    audit_record(
        action="access.online_session_ended",
        actor=actor,
        target=session,
        summary=f"온라인 이용 종료: {session.grant.dataset}",
        data={"grant": session.grant_id, "started_at": session.started_at.isoformat()},
        request=request,
    )
    return session
