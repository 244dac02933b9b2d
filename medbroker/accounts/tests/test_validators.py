from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from medbroker.accounts.validators import (
    business_registration_number_check_digit,
    business_registration_number_validate,
    phone_validate,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1208147521", "1208147521"),
        ("2208162517", "2208162517"),
        ("120-81-47521", "1208147521"),
        ("220-81-62517", "2208162517"),
        ("  1208147521 ", "1208147521"),
        # d9 = 9: the extra floor(9 * 5 / 10) = 4 makes the check digit 1 (without it, 5).
        ("1234567891", "1234567891"),
        # weighted sum 160: check digit (10 - 0) % 10 = 0.
        ("3141592650", "3141592650"),
    ],
)
def test_valid_numbers_come_back_as_ten_digits(value, expected):
    assert business_registration_number_validate(value) == expected


@pytest.mark.parametrize(
    ("first_nine", "expected"),
    [("120814752", 1), ("220816251", 7), ("123456789", 1), ("100000001", 4), ("314159265", 0)],
)
def test_check_digit(first_nine, expected):
    assert business_registration_number_check_digit(first_nine) == expected


@pytest.mark.parametrize(
    "value",
    [
        "1208147520",
        "1208147522",
        "2208162510",
        "120-81-47529",
        # what the rule gives when the extra floor(d9 * 5 / 10) term is forgotten
        "1234567895",
    ],
)
def test_wrong_check_digit_is_refused(value):
    with pytest.raises(ValidationError) as excinfo:
        business_registration_number_validate(value)

    assert excinfo.value.code == "business_registration_number_check_digit"
    assert excinfo.value.messages == [
        "유효하지 않은 사업자등록번호입니다. 번호를 다시 확인해 주세요(검증 숫자 불일치)."
    ]


@pytest.mark.parametrize(
    "value",
    [
        "",
        "   ",
        "120814752",  # 9 digits
        "12081475211",  # 11 digits
        "12-081-47521",  # hyphens in the wrong places
        "120-8147521",
        "120-81-4752",
        "120 81 47521",
        "12O8147521",  # letter O
        "abcdefghij",
        "120-81-4752a",
        "１２０８１４７５２１",  # full-width digits
        "+1208147521",
        "-1208147521",
    ],
)
def test_wrong_shape_is_refused(value):
    with pytest.raises(ValidationError) as excinfo:
        business_registration_number_validate(value)

    assert excinfo.value.code == "business_registration_number_format"
    assert excinfo.value.messages == [
        "사업자등록번호는 숫자 10자리 또는 123-45-67890 형식으로 입력해 주세요."
    ]


def test_none_is_refused_as_a_wrong_shape():
    with pytest.raises(ValidationError) as excinfo:
        business_registration_number_validate(None)  # type: ignore[arg-type]

    assert excinfo.value.code == "business_registration_number_format"


@pytest.mark.parametrize(
    "value", ["053-281-0129", "010-1234-5678", "02-123-4567", "0532810129", " 010-1234-5678 "]
)
def test_phone_accepts_korean_numbers(value):
    assert phone_validate(value) == value.strip()


@pytest.mark.parametrize(
    "value", ["", "281-0129", "53-281-0129", "010-1234-56789", "010 1234 5678", "tel:0532810129"]
)
def test_phone_refuses_other_shapes(value):
    with pytest.raises(ValidationError) as excinfo:
        phone_validate(value)

    assert excinfo.value.code == "phone_format"
