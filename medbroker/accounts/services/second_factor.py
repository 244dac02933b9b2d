"""The second factor (django-otp): enrolling an authenticator app (TOTP) and checking codes at sign-in.

Failed checks raise ``DomainError`` only after their transaction has committed, so django-otp's throttling
counter (which slows down guessing) is kept even though the request fails.
"""

from __future__ import annotations

from django.db import transaction
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from django_otp import devices_for_user
from django_otp.models import Device
from django_otp.plugins.otp_totp.models import TOTPDevice

from medbroker.accounts.models import User
from medbroker.audit.services import audit_record
from medbroker.core.errors import DomainError

TOTP_DEVICE_NAME = "인증 앱"

CODE_INVALID = _("인증 코드가 올바르지 않습니다. 인증 앱에 표시된 최신 코드를 입력해 주세요.")
CODE_THROTTLED = _("잘못된 코드가 여러 번 입력되었습니다. 잠시 후 다시 시도해 주세요.")


def _normalise(code: str) -> str:
    # Authenticator apps show "123 456"; people paste with spaces or hyphens.
    return "".join(ch for ch in code if ch not in " -")


def totp_device_prepare(*, user: User) -> TOTPDevice:
    """The unconfirmed TOTP device whose secret the setup page shows; reloading the page reuses it."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("pk").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=TOTP_DEVICE_NAME, confirmed=False)
    return device


def totp_device_confirm(*, user: User, code: str, request: HttpRequest | None = None) -> TOTPDevice:
    """Confirm the pending TOTP device with a code from the app; it replaces any earlier TOTP device."""
    with transaction.atomic():
        device = (
            TOTPDevice.objects.select_for_update().filter(user=user, confirmed=False).order_by("pk").first()
        )
        if device is None:
            raise DomainError(
                "second_factor_setup_missing",
                _("등록 중인 인증 앱이 없습니다. 2단계 인증 등록 화면을 다시 열어 주세요."),
            )
        allowed, _info = device.verify_is_allowed()
        verified = allowed and device.verify_token(_normalise(code))
        if verified:
            device.confirmed = True
            device.save(update_fields=["confirmed"])
            # A lost or old phone must stop working once a new one is enrolled.
            replaced, _per_model = TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
            audit_record(
                action="accounts.second_factor_enrolled",
                actor=user,
                target=user,
                summary=f"2단계 인증(인증 앱) 등록: {user.username}",
                data={"device": "totp", "device_id": device.pk, "replaced_devices": replaced},
                request=request,
            )
        else:
            audit_record(
                action="accounts.second_factor_failed",
                actor=user,
                target=user,
                summary=f"2단계 인증 등록 코드 불일치: {user.username}",
                data={"stage": "enrolment", "throttled": not allowed},
                request=request,
            )
    if not verified:
        raise DomainError(
            "second_factor_code_invalid", CODE_INVALID if allowed else CODE_THROTTLED, field="code"
        )
    return device


def second_factor_verify(*, user: User, code: str, request: HttpRequest | None = None) -> Device:
    """Check a code against the user's confirmed devices; return the device that accepted it.

    A TOTP device is asked only when the code has its number of digits, so a backup code (8 digits)
    never counts as a failed guess against the authenticator app and throttles it.
    """
    code = _normalise(code)
    matched: Device | None = None
    throttled = False
    with transaction.atomic():
        for device in devices_for_user(user, confirmed=True, for_verify=True):
            if isinstance(device, TOTPDevice) and len(code) != device.digits:
                continue
            allowed, _info = device.verify_is_allowed()
            if not allowed:
                throttled = True
                continue
            if device.verify_token(code):
                matched = device
                break
        if matched is not None:
            kind = "totp" if isinstance(matched, TOTPDevice) else "static"
            audit_record(
                action="accounts.second_factor_verified",
                actor=user,
                target=user,
                summary=f"2단계 인증 통과: {user.username}",
                data={"device": kind, "device_id": matched.pk},
                request=request,
            )
        else:
            audit_record(
                action="accounts.second_factor_failed",
                actor=user,
                target=user,
                summary=f"2단계 인증 실패: {user.username}",
                data={"stage": "sign_in", "throttled": throttled},
                request=request,
            )
    if matched is None:
        raise DomainError(
            "second_factor_code_invalid", CODE_THROTTLED if throttled else CODE_INVALID, field="code"
        )
    return matched
