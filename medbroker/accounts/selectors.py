"""Reads of the accounts app."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import QuerySet
from django_otp import user_has_device
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from medbroker.accounts.models import ApiToken, User


def api_tokens_for_user(user: User) -> QuerySet[ApiToken]:
    """The user's tokens, live ones first, newest first."""
    return ApiToken.objects.filter(user=user).order_by("revoked_at", "-created_at", "-pk")


def user_has_confirmed_totp(user: User) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def user_has_second_factor(user: User) -> bool:
    """Whether the user has any confirmed device (authenticator app or backup codes)."""
    return bool(user_has_device(user, confirmed=True))


@dataclass(frozen=True)
class SecondFactorStatus:
    totp_device: TOTPDevice | None
    backup_codes_left: int

    @property
    def enrolled(self) -> bool:
        return self.totp_device is not None or self.backup_codes_left > 0


def second_factor_status(user: User) -> SecondFactorStatus:
    return SecondFactorStatus(
        totp_device=TOTPDevice.objects.filter(user=user, confirmed=True).order_by("-pk").first(),
        backup_codes_left=StaticToken.objects.filter(device__user=user, device__confirmed=True).count(),
    )
