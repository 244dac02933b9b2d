from __future__ import annotations

import datetime as dt

import pytest
from axes.models import AccessAttempt
from django.urls import reverse

from medbroker.accounts.templatetags.accounts_ui import duration_ko
from medbroker.accounts.tests.factories import TEST_PASSWORD
from medbroker.audit.models import AuditEvent

pytestmark = pytest.mark.django_db

LOGIN_URL = reverse("accounts:login")
LOCKED_STATUS = 429


def _actions() -> list[str]:
    return list(AuditEvent.objects.order_by("sequence").values_list("action", flat=True))


def test_login_succeeds_and_is_audited(client, applicant):
    response = client.post(LOGIN_URL, {"username": "applicant", "password": TEST_PASSWORD, "next": "/calls/"})

    assert response.status_code == 302
    assert response["Location"] == "/calls/"
    assert int(client.session["_auth_user_id"]) == applicant.pk
    event = AuditEvent.objects.get()
    assert (event.action, event.actor_id, event.object_id, event.summary, event.data, event.ip_address) == (
        "accounts.login_succeeded",
        applicant.pk,
        str(applicant.pk),
        "로그인: applicant",
        {"username": "applicant"},
        "127.0.0.1",
    )


def test_login_refuses_an_external_next(client, applicant):
    response = client.post(
        LOGIN_URL, {"username": "applicant", "password": TEST_PASSWORD, "next": "https://evil.example/"}
    )

    assert response.status_code == 302
    assert response["Location"] == "/"


def test_wrong_password_is_refused_and_audited(client, applicant):
    response = client.post(LOGIN_URL, {"username": "applicant", "password": "wrong-password"})

    assert response.status_code == 200
    assert response.context["form"].non_field_errors() == [
        "아이디 또는 비밀번호가 올바르지 않습니다. 5번 연속 틀리면 30분 동안 로그인이 제한됩니다."
    ]
    assert "_auth_user_id" not in client.session
    event = AuditEvent.objects.get()
    assert (event.action, event.actor_id, event.object_type, event.summary, event.data) == (
        "accounts.login_failed",
        None,
        "accounts.user",
        "로그인 실패: applicant",
        {"username": "applicant", "failures": 1},
    )
    assert "wrong-password" not in str(event.data) + event.summary


def test_empty_form_is_not_an_attempt(client, applicant):
    response = client.post(LOGIN_URL, {"username": "applicant", "password": ""})

    assert response.status_code == 200
    assert response.context["form"].errors == {"password": ["필수 항목입니다."]}
    assert AuditEvent.objects.count() == 0
    assert AccessAttempt.objects.count() == 0


def test_five_failures_lock_the_user_name_even_for_the_right_password(client, applicant):
    for attempt in range(1, 5):
        response = client.post(LOGIN_URL, {"username": "applicant", "password": f"wrong-{attempt}"})
        assert response.status_code == 200

    fifth = client.post(LOGIN_URL, {"username": "applicant", "password": "wrong-5"})
    sixth = client.post(LOGIN_URL, {"username": "applicant", "password": TEST_PASSWORD})

    assert fifth.status_code == LOCKED_STATUS
    assert sixth.status_code == LOCKED_STATUS
    assert "_auth_user_id" not in client.session
    html = sixth.content.decode()
    assert "로그인이 잠시 제한되었습니다" in html
    assert "30분 뒤에 다시 로그인해 주세요." in html
    assert "053-281-0129" in html
    assert "비밀번호가 5번 연속 틀려" in html
    assert "accounts/locked_out.html" in [t.name for t in sixth.templates]
    assert _actions() == [
        "accounts.login_failed",
        "accounts.login_failed",
        "accounts.login_failed",
        "accounts.login_failed",
        "accounts.login_locked_out",
        "accounts.login_refused_locked_out",
    ]
    locked, refused = AuditEvent.objects.order_by("sequence")[4:6]
    assert (locked.summary, locked.data) == (
        "로그인 잠김(연속 실패): applicant",
        {"username": "applicant", "failures": 5},
    )
    assert (refused.summary, refused.data["username"]) == (
        "잠긴 계정의 로그인 시도 거부: applicant",
        "applicant",
    )


def test_lockout_is_per_user_name_and_address(client, applicant, other_applicant):
    for attempt in range(5):
        client.post(LOGIN_URL, {"username": "applicant", "password": f"wrong-{attempt}"})

    same_name_other_address = client.post(
        LOGIN_URL, {"username": "applicant", "password": TEST_PASSWORD}, REMOTE_ADDR="10.0.0.7"
    )
    client.logout()
    other_name_same_address = client.post(
        LOGIN_URL, {"username": "other_applicant", "password": TEST_PASSWORD}
    )

    assert same_name_other_address.status_code == 302
    assert other_name_same_address.status_code == 302


def test_success_resets_the_failure_count(client, applicant):
    for attempt in range(4):
        client.post(LOGIN_URL, {"username": "applicant", "password": f"wrong-{attempt}"})
    client.post(LOGIN_URL, {"username": "applicant", "password": TEST_PASSWORD})
    client.logout()

    response = client.post(LOGIN_URL, {"username": "applicant", "password": "wrong-again"})

    assert response.status_code == 200
    assert AuditEvent.objects.order_by("-sequence").first().data == {"username": "applicant", "failures": 1}


def test_logout_is_post_only_and_audited(client, login, applicant):
    login(client, applicant)

    refused = client.get(reverse("accounts:logout"))
    response = client.post(reverse("accounts:logout"))

    assert refused.status_code == 405
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert "_auth_user_id" not in client.session
    assert _actions() == ["accounts.logout"]
    assert AuditEvent.objects.get().actor_id == applicant.pk


def test_messages_follow_the_lockout_settings(client, settings, applicant):
    settings.AXES_FAILURE_LIMIT = 3
    settings.AXES_COOLOFF_TIME = 1.5  # hours

    first = client.post(LOGIN_URL, {"username": "applicant", "password": "wrong-1"})
    client.post(LOGIN_URL, {"username": "applicant", "password": "wrong-2"})
    third = client.post(LOGIN_URL, {"username": "applicant", "password": "wrong-3"})

    assert first.context["form"].non_field_errors() == [
        "아이디 또는 비밀번호가 올바르지 않습니다. 3번 연속 틀리면 1시간 30분 동안 로그인이 제한됩니다."
    ]
    assert third.status_code == LOCKED_STATUS
    assert "1시간 30분 뒤에 다시 로그인해 주세요." in third.content.decode()


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (dt.timedelta(minutes=30), "30분"),
        (dt.timedelta(hours=1), "1시간"),
        (dt.timedelta(minutes=90), "1시간 30분"),
        (dt.timedelta(seconds=20), "1분"),
        (dt.timedelta(0), "0분"),
        (None, ""),
    ],
)
def test_duration_in_korean(delta, text):
    assert duration_ko(delta) == text
