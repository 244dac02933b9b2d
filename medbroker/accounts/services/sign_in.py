"""Audit records of signing in and out. The lockout itself is django-axes'; these only write it down."""

from __future__ import annotations

import enum

from django.http import HttpRequest

from medbroker.accounts.models import ApiToken, User
from medbroker.audit.services import audit_record
from medbroker.core import timeutils


class LoginOutcome(enum.StrEnum):
    """How a refused sign-in ended; the value is the audit action."""

    FAILED = "accounts.login_failed"
    # This failure reached the limit: from now on the user name is locked at this address.
    LOCKED_OUT = "accounts.login_locked_out"
    # The pair was already locked: the password was not even checked.
    REFUSED_WHILE_LOCKED = "accounts.login_refused_locked_out"


_SUMMARIES = {
    LoginOutcome.FAILED: "로그인 실패",
    LoginOutcome.LOCKED_OUT: "로그인 잠김(연속 실패)",
    LoginOutcome.REFUSED_WHILE_LOCKED: "잠긴 계정의 로그인 시도 거부",
}


def login_success_record(*, request: HttpRequest, user: User) -> None:
    audit_record(
        action="accounts.login_succeeded",
        actor=user,
        target=user,
        summary=f"로그인: {user.username}",
        data={"username": user.username},
        request=request,
    )


def login_failure_record(
    *, request: HttpRequest, username: str, outcome: LoginOutcome, failures: int | None
) -> None:
    # Nobody is signed in, so the actor is empty; the user name typed is kept as data (never the password).
    audit_record(
        action=outcome.value,
        actor=None,
        object_type="accounts.user",
        summary=f"{_SUMMARIES[outcome]}: {username}",
        data={"username": username, "failures": failures},
        request=request,
    )


def logout_record(*, request: HttpRequest, user: User) -> None:
    audit_record(
        action="accounts.logout",
        actor=user,
        target=user,
        summary=f"로그아웃: {user.username}",
        request=request,
    )


def password_change_record(*, request: HttpRequest, user: User) -> None:
    """After a password change: revoke the user's API tokens and record both, in the caller's transaction.

    A changed password usually means the old one may be known to someone else; tokens made with it must not
    outlive it.
    """
    revoked = ApiToken.objects.filter(user=user, revoked_at__isnull=True).update(revoked_at=timeutils.now())
    audit_record(
        action="accounts.password_changed",
        actor=user,
        target=user,
        summary=f"비밀번호 변경: {user.username}",
        data={"api_tokens_revoked": revoked},
        request=request,
    )
