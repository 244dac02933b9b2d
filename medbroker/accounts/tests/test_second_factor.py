from __future__ import annotations

import datetime as dt
from base64 import b32encode

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import totp
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from medbroker.accounts.demo import DEMO_BACKUP_CODES
from medbroker.accounts.tests.factories import TEST_PASSWORD
from medbroker.audit.models import AuditEvent

pytestmark = pytest.mark.django_db

SETUP_URL = reverse("accounts:otp_setup")
VERIFY_URL = reverse("accounts:otp_verify")
PROFILE_URL = reverse("accounts:profile")


def totp_code(device: TOTPDevice) -> str:
    value = totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits, drift=device.drift)
    return f"{value:0{device.digits}d}"


def static_device(user) -> StaticDevice:
    device = StaticDevice.objects.create(user=user, name="백업 코드", confirmed=True)
    for code in DEMO_BACKUP_CODES:
        StaticToken.objects.create(device=device, token=code)
    return device


def _actions() -> list[str]:
    return list(AuditEvent.objects.order_by("sequence").values_list("action", flat=True))


@pytest.mark.parametrize("role", ["operator", "steward"])
def test_mandatory_role_without_device_is_sent_to_setup_with_next(client, users_by_role, role):
    client.force_login(users_by_role[role])

    response = client.get("/accounts/profile/?tab=tokens")

    assert response.status_code == 302
    assert response["Location"] == "/accounts/otp/setup/?next=%2Faccounts%2Fprofile%2F%3Ftab%3Dtokens"


@pytest.mark.parametrize("role", ["operator", "steward"])
def test_mandatory_role_with_device_is_sent_to_verify(client, users_by_role, role):
    user = users_by_role[role]
    static_device(user)
    client.force_login(user)

    response = client.get("/audit/")

    assert response.status_code == 302
    assert response["Location"] == "/accounts/otp/verify/?next=%2Faudit%2F"


def test_unverified_operator_gets_403_json_on_the_api(client, operator):
    client.force_login(operator)

    response = client.get("/api/v1/datasets/")

    assert response.status_code == 403
    assert response.json() == {"code": "second_factor_required", "message": "2단계 인증(OTP)이 필요합니다."}


@pytest.mark.parametrize("role", ["applicant", "reviewer"])
def test_other_roles_need_no_second_factor(client, users_by_role, role):
    client.force_login(users_by_role[role])

    assert client.get(PROFILE_URL).status_code == 200


def test_an_auditor_without_a_device_is_sent_to_enrol_one(client, auditor):
    client.force_login(auditor)

    response = client.get(PROFILE_URL)

    assert response.status_code == 302
    assert response["Location"] == "/accounts/otp/setup/?next=%2Faccounts%2Fprofile%2F"


def test_setup_page_shows_qr_code_and_secret_and_reuses_the_pending_device(client, operator):
    client.force_login(operator)

    first = client.get(SETUP_URL)
    second = client.get(SETUP_URL)

    assert first.status_code == 200
    device = TOTPDevice.objects.get(user=operator)
    assert device.confirmed is False
    html = first.content.decode()
    assert html.count("<svg ") == 1
    assert 'xmlns="http://www.w3.org/2000/svg"' in html
    assert first.context["secret"].replace(" ", "") == b32encode(device.bin_key).decode()
    assert first.context["secret"] in html
    assert "운영자와 데이터 관리자는 2단계 인증을 등록해야 플랫폼을 쓸 수 있습니다." in html
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert second.context["secret"] == first.context["secret"]
    assert TOTPDevice.objects.filter(user=operator).count() == 1


def test_setup_with_a_valid_code_confirms_the_device_and_verifies_the_session(client, operator):
    client.force_login(operator)
    client.get(SETUP_URL)
    device = TOTPDevice.objects.get(user=operator)

    response = client.post(SETUP_URL, {"code": totp_code(device), "next": "/audit/"})

    assert response.status_code == 302
    assert response["Location"] == "/audit/"
    device.refresh_from_db()
    assert device.confirmed is True
    assert client.session[DEVICE_ID_SESSION_KEY] == device.persistent_id
    assert client.get(PROFILE_URL).status_code == 200
    event = AuditEvent.objects.get()
    assert (event.action, event.actor_id, event.data) == (
        "accounts.second_factor_enrolled",
        operator.pk,
        {"device": "totp", "device_id": device.pk, "replaced_devices": 0},
    )


def test_setup_accepts_a_code_typed_with_a_space(client, applicant):
    client.force_login(applicant)
    client.get(SETUP_URL)
    device = TOTPDevice.objects.get(user=applicant)
    code = totp_code(device)

    response = client.post(SETUP_URL, {"code": f"{code[:3]} {code[3:]}"})

    assert response.status_code == 302
    assert response["Location"] == PROFILE_URL
    assert TOTPDevice.objects.get(user=applicant).confirmed is True


def test_setup_with_a_wrong_code_is_refused(client, operator):
    client.force_login(operator)
    client.get(SETUP_URL)
    device = TOTPDevice.objects.get(user=operator)
    wrong = f"{(int(totp_code(device)) + 500_000) % 1_000_000:06d}"

    response = client.post(SETUP_URL, {"code": wrong})

    assert response.status_code == 200
    assert response.context["form"].errors == {
        "code": ["인증 코드가 올바르지 않습니다. 인증 앱에 표시된 최신 코드를 입력해 주세요."]
    }
    device.refresh_from_db()
    assert device.confirmed is False
    assert DEVICE_ID_SESSION_KEY not in client.session
    assert _actions() == ["accounts.second_factor_failed"]
    assert client.get(PROFILE_URL).status_code == 302


def test_setup_cannot_add_a_device_past_an_unverified_one(client, operator):
    static_device(operator)
    client.force_login(operator)

    response = client.get(f"{SETUP_URL}?next=/audit/")

    assert response.status_code == 302
    assert response["Location"] == "/accounts/otp/verify/?next=%2Faudit%2F"
    assert TOTPDevice.objects.filter(user=operator).count() == 0


def test_enrolling_again_replaces_the_old_app(client, login, operator):
    login(client, operator)  # verified with a confirmed TOTP device named "test"
    old = TOTPDevice.objects.get(user=operator)
    client.get(SETUP_URL)
    new = TOTPDevice.objects.get(user=operator, confirmed=False)

    response = client.post(SETUP_URL, {"code": totp_code(new)})

    assert response.status_code == 302
    assert list(TOTPDevice.objects.filter(user=operator).values_list("pk", "confirmed")) == [(new.pk, True)]
    assert not TOTPDevice.objects.filter(pk=old.pk).exists()
    assert AuditEvent.objects.get().data["replaced_devices"] == 1


def test_verify_with_a_static_backup_code_uses_it_up(client, operator):
    device = static_device(operator)
    client.force_login(operator)

    response = client.post(VERIFY_URL, {"code": "11111111", "next": "/audit/"})

    assert response.status_code == 302
    assert response["Location"] == "/audit/"
    assert client.session[DEVICE_ID_SESSION_KEY] == device.persistent_id
    assert sorted(device.token_set.values_list("token", flat=True)) == sorted(DEMO_BACKUP_CODES[1:])
    assert client.get("/audit/").status_code == 200
    event = AuditEvent.objects.get()
    assert (event.action, event.data) == (
        "accounts.second_factor_verified",
        {"device": "static", "device_id": device.pk},
    )


def test_verify_with_a_totp_code(client, operator):
    device = TOTPDevice.objects.create(user=operator, name="인증 앱", confirmed=True)
    client.force_login(operator)

    response = client.post(VERIFY_URL, {"code": totp_code(device)})

    assert response.status_code == 302
    assert response["Location"] == "/"
    assert client.session[DEVICE_ID_SESSION_KEY] == device.persistent_id


def test_verify_with_a_wrong_code_is_refused_and_nothing_is_used(client, operator):
    device = static_device(operator)
    client.force_login(operator)

    response = client.post(VERIFY_URL, {"code": "99999999", "next": "/audit/"})

    assert response.status_code == 200
    assert response.context["form"].errors == {
        "code": ["인증 코드가 올바르지 않습니다. 인증 앱에 표시된 최신 코드를 입력해 주세요."]
    }
    assert DEVICE_ID_SESSION_KEY not in client.session
    assert device.token_set.count() == 5
    assert _actions() == ["accounts.second_factor_failed"]
    assert 'name="next" value="/audit/"' in response.content.decode()
    assert client.get("/audit/").status_code == 302


def test_a_failed_code_slows_down_the_next_try(client, operator):
    device = static_device(operator)
    client.force_login(operator)
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        client.post(VERIFY_URL, {"code": "99999999"})
        throttled = client.post(VERIFY_URL, {"code": "11111111"})
    with time_machine.travel(start + dt.timedelta(seconds=2), tick=False):
        accepted = client.post(VERIFY_URL, {"code": "11111111"})

    assert throttled.status_code == 200
    assert throttled.context["form"].errors == {
        "code": ["잘못된 코드가 여러 번 입력되었습니다. 잠시 후 다시 시도해 주세요."]
    }
    assert accepted.status_code == 302
    assert device.token_set.count() == 4


def test_verify_ignores_an_external_next(client, operator):
    static_device(operator)
    client.force_login(operator)

    response = client.post(VERIFY_URL, {"code": "11111111", "next": "//evil.example/steal"})

    assert response.status_code == 302
    assert response["Location"] == "/"


def test_verify_without_a_device_goes_to_setup(client, operator):
    client.force_login(operator)

    response = client.get(f"{VERIFY_URL}?next=/audit/")

    assert response.status_code == 302
    assert response["Location"] == "/accounts/otp/setup/?next=%2Faudit%2F"


def test_voluntary_enrolment_is_asked_for_at_the_next_login(client, applicant):
    TOTPDevice.objects.create(user=applicant, name="인증 앱", confirmed=True)

    client.post(reverse("accounts:login"), {"username": "applicant", "password": TEST_PASSWORD})
    response = client.get(PROFILE_URL)

    assert response.status_code == 302
    assert response["Location"] == "/accounts/otp/verify/?next=%2Faccounts%2Fprofile%2F"


def test_operator_login_goes_through_the_second_factor_to_next(client, operator):
    static_device(operator)

    login = client.post(
        reverse("accounts:login"), {"username": "operator", "password": TEST_PASSWORD, "next": "/audit/"}
    )
    gate = client.get(login["Location"])
    verified = client.post(VERIFY_URL, {"code": "22222222", "next": "/audit/"})

    assert (login.status_code, login["Location"]) == (302, "/audit/")
    assert (gate.status_code, gate["Location"]) == (302, "/accounts/otp/verify/?next=%2Faudit%2F")
    assert (verified.status_code, verified["Location"]) == (302, "/audit/")
    assert client.get("/audit/").status_code == 200
    assert _actions() == ["accounts.login_succeeded", "accounts.second_factor_verified"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("flags", "roles", "expected"),
    [
        ({"is_staff": True}, [], True),
        ({"is_superuser": True}, [], True),
        ({}, ["auditor"], True),
        ({}, ["operator"], True),
        ({}, ["data_steward"], True),
        ({}, ["applicant"], False),
        ({}, ["reviewer"], False),
    ],
)
def test_who_must_pass_a_second_factor(flags, roles, expected) -> None:
    from medbroker.accounts.tests.factories import UserFactory

    user = UserFactory(roles=roles, **flags)

    assert user.needs_second_factor is expected


@pytest.mark.django_db
def test_a_superuser_without_a_second_factor_cannot_reach_the_admin(client) -> None:
    from medbroker.accounts.tests.factories import UserFactory

    admin = UserFactory(username="root", is_staff=True, is_superuser=True)
    client.force_login(admin)

    response = client.get("/admin/")

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/otp/")
