"""Validators for Korean identifiers that other apps reuse (forms, imports, the API)."""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

# The two forms a person types: ten digits, or the printed form on the certificate (123-45-67890).
_BUSINESS_REGISTRATION_NUMBER_FORMS = (re.compile(r"[0-9]{10}"), re.compile(r"[0-9]{3}-[0-9]{2}-[0-9]{5}"))
_BUSINESS_REGISTRATION_NUMBER_WEIGHTS = (1, 3, 7, 1, 3, 7, 1, 3, 5)

PHONE_PATTERN = re.compile(r"0[0-9]{1,2}-?[0-9]{3,4}-?[0-9]{4}")


def business_registration_number_check_digit(first_nine: str) -> int:
    """The check digit (10th digit) of a business registration number, from its first nine digits.

    National Tax Service rule: multiply the digits by 1,3,7,1,3,7,1,3,5 and add them up; the ninth digit
    also adds floor(d9 × 5 / 10) (the tens of its product with 5); the check digit makes the sum a
    multiple of ten.
    """
    digits = [int(c) for c in first_nine]
    total = sum(d * w for d, w in zip(digits, _BUSINESS_REGISTRATION_NUMBER_WEIGHTS, strict=True))
    total += digits[8] * 5 // 10
    return (10 - total % 10) % 10


def business_registration_number_validate(value: str) -> str:
    """Return the ten digits of a valid business registration number, or raise ``ValidationError``.

    Accepts "1208147521" and "120-81-47521" (surrounding spaces are ignored); anything else, including a
    number whose check digit does not match, is refused with a message that says what is wrong.
    """
    text = (value or "").strip()
    if not any(pattern.fullmatch(text) for pattern in _BUSINESS_REGISTRATION_NUMBER_FORMS):
        raise ValidationError(
            _("사업자등록번호는 숫자 10자리 또는 123-45-67890 형식으로 입력해 주세요."),
            code="business_registration_number_format",
        )
    digits = text.replace("-", "")
    if business_registration_number_check_digit(digits[:9]) != int(digits[9]):
        raise ValidationError(
            _("유효하지 않은 사업자등록번호입니다. 번호를 다시 확인해 주세요(검증 숫자 불일치)."),
            code="business_registration_number_check_digit",
        )
    return digits


def phone_validate(value: str) -> str:
    """A Korean phone number (053-281-0129, 010-1234-5678, 0212345678); returned as typed, trimmed."""
    text = (value or "").strip()
    if not PHONE_PATTERN.fullmatch(text):
        raise ValidationError(
            _("전화번호는 053-281-0129 또는 010-1234-5678 형식으로 입력해 주세요."), code="phone_format"
        )
    return text
