from __future__ import annotations

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from medbroker.accounts.models import ApiToken
from medbroker.accounts.services import api_token_authenticate, api_token_create, api_token_revoke
from medbroker.audit.models import AuditEvent
from medbroker.core.errors import DomainError
from medbroker.core.timeutils import kst

pytestmark = pytest.mark.django_db

CREATE_URL = reverse("accounts:api_token_create")
NOW = kst(2025, 7, 10, 9, 30)


# ── services ──────────────────────────────────────────────────────────────────────────────────────────


def test_create_stores_only_the_hash_and_audits_without_the_key(applicant):
    token, key = api_token_create(user=applicant, name=" 분석 서버 ")

    assert key.startswith("mbk_")
    assert len(key) == 4 + 43
    assert (token.name, token.prefix, token.key_hash) == ("분석 서버", key[:8], ApiToken.hash_key(key))
    assert token.revoked_at is None
    assert key not in str(ApiToken.objects.filter(pk=token.pk).values().get())
    event = AuditEvent.objects.get()
    assert (event.action, event.actor_id, event.object_type, event.object_id, event.data) == (
        "accounts.api_token_created",
        applicant.pk,
        "accounts.apitoken",
        str(token.pk),
        {"name": "분석 서버", "prefix": key[:8]},
    )
    assert key not in event.summary + str(event.data)


def test_create_refuses_a_blank_name(applicant):
    with pytest.raises(DomainError) as excinfo:
        api_token_create(user=applicant, name="   ")

    assert (excinfo.value.code, excinfo.value.field) == ("api_token_name_required", "name")
    assert ApiToken.objects.count() == 0


def test_revoke_sets_the_time_once(applicant):
    token, _key = api_token_create(user=applicant, name="a")
    with time_machine.travel(NOW, tick=False):
        api_token_revoke(token=token, actor=applicant)

    with pytest.raises(DomainError) as excinfo:
        api_token_revoke(token=token, actor=applicant)

    token.refresh_from_db()
    assert token.revoked_at == NOW
    assert excinfo.value.code == "api_token_already_revoked"
    assert list(AuditEvent.objects.order_by("sequence").values_list("action", flat=True)) == [
        "accounts.api_token_created",
        "accounts.api_token_revoked",
    ]


def test_revoke_refuses_someone_elses_token(applicant, other_applicant):
    token, _key = api_token_create(user=applicant, name="a")

    with pytest.raises(DomainError) as excinfo:
        api_token_revoke(token=token, actor=other_applicant)

    assert (excinfo.value.code, excinfo.value.status_code) == ("api_token_not_yours", 403)
    token.refresh_from_db()
    assert token.revoked_at is None


# ── pages ─────────────────────────────────────────────────────────────────────────────────────────────


def test_profile_creates_a_token_and_shows_the_key_once(client, login, applicant):
    login(client, applicant)

    response = client.post(CREATE_URL, {"token-name": "분석 서버"})
    later = client.get(reverse("accounts:profile"))

    assert response.status_code == 200
    token = ApiToken.objects.get(user=applicant)
    key = response.context["new_key"]
    assert ApiToken.hash_key(key) == token.key_hash
    assert f'<code class="mb-new-key" id="new-api-key">{key}</code>' in response.content.decode()
    assert key not in later.content.decode()
    assert token.prefix in later.content.decode()
    assert key not in str(dict(client.session))


def test_profile_refuses_a_token_without_a_name(client, login, applicant):
    login(client, applicant)

    response = client.post(CREATE_URL, {"token-name": ""})

    assert response.status_code == 200
    assert response.context["token_form"].errors == {"name": ["필수 항목입니다."]}
    assert ApiToken.objects.count() == 0


def test_profile_revokes_own_token(client, login, applicant):
    token, _key = api_token_create(user=applicant, name="a")
    login(client, applicant)

    response = client.post(reverse("accounts:api_token_revoke", args=[token.pk]))

    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:profile")
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_revoking_another_users_token_is_404_and_changes_nothing(client, login, applicant, other_applicant):
    token, _key = api_token_create(user=other_applicant, name="theirs")
    login(client, applicant)

    response = client.post(reverse("accounts:api_token_revoke", args=[token.pk]))

    assert response.status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None
    assert AuditEvent.objects.filter(action="accounts.api_token_revoked").count() == 0


def test_revoke_is_post_only(client, login, applicant):
    token, _key = api_token_create(user=applicant, name="a")
    login(client, applicant)

    response = client.get(reverse("accounts:api_token_revoke", args=[token.pk]))

    assert response.status_code == 405
    token.refresh_from_db()
    assert token.revoked_at is None


# ── api_auth ──────────────────────────────────────────────────────────────────────────────────────────

on_test_api = pytest.mark.urls("medbroker.accounts.tests.api_urls")


def _bearer(key: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {key}"}


@on_test_api
def test_valid_token_authenticates_and_records_its_use(client, applicant):
    token, key = api_token_create(user=applicant, name="a")

    with time_machine.travel(NOW, tick=False):
        response = client.get("/api/whoami", **_bearer(key))

    assert response.status_code == 200
    assert response.json() == {"username": "applicant", "request_user": "applicant", "verified": False}
    token.refresh_from_db()
    assert token.last_used_at == NOW


@on_test_api
def test_token_post_needs_no_csrf(applicant):
    _token, key = api_token_create(user=applicant, name="a")
    client = Client(enforce_csrf_checks=True)

    response = client.post("/api/echo", **_bearer(key))

    assert response.status_code == 200
    assert response.json() == {"username": "applicant"}


@on_test_api
def test_revoked_token_is_401(client, applicant):
    token, key = api_token_create(user=applicant, name="a")
    api_token_revoke(token=token, actor=applicant)

    response = client.get("/api/whoami", **_bearer(key))

    assert response.status_code == 401
    assert response.json() == {"detail": "Unauthorized"}
    token.refresh_from_db()
    assert token.last_used_at is None


@on_test_api
@pytest.mark.parametrize(
    "header",
    ["Bearer mbk_not-a-real-token", "Bearer ", "Bearer garbage", "Token mbk_x", "Basic YXBwbGljYW50OnB3"],
)
def test_garbage_credentials_are_401(client, applicant, header):
    response = client.get("/api/whoami", HTTP_AUTHORIZATION=header)

    assert response.status_code == 401
    assert response.json() == {"detail": "Unauthorized"}


@on_test_api
def test_missing_credentials_are_401(client):
    response = client.get("/api/whoami")

    assert response.status_code == 401


@on_test_api
def test_a_bad_token_is_401_even_with_a_valid_session(client, login, applicant):
    login(client, applicant)

    response = client.get("/api/whoami", **_bearer("mbk_wrong"))

    assert response.status_code == 401


@on_test_api
def test_token_of_an_inactive_user_is_401(client, applicant):
    _token, key = api_token_create(user=applicant, name="a")
    applicant.is_active = False
    applicant.save(update_fields=["is_active"])

    response = client.get("/api/whoami", **_bearer(key))

    assert response.status_code == 401


@on_test_api
def test_session_authenticates(client, login, applicant):
    login(client, applicant)

    response = client.get("/api/whoami")

    assert response.status_code == 200
    assert response.json()["username"] == "applicant"


@on_test_api
def test_session_post_without_csrf_token_is_403(login, applicant):
    client = Client(enforce_csrf_checks=True)
    login(client, applicant)

    response = client.post("/api/echo")

    assert response.status_code == 403
    assert response.json() == {"detail": "CSRF check Failed"}


@on_test_api
@pytest.mark.parametrize("role", ["operator", "steward"])
def test_operator_token_without_totp_device_is_403(client, users_by_role, role):
    _token, key = api_token_create(user=users_by_role[role], name="a")

    response = client.get("/api/whoami", **_bearer(key))

    assert response.status_code == 403
    assert response.json() == {
        "code": "second_factor_required",
        "message": "운영자와 데이터 관리자의 API 토큰은 인증 앱(OTP)을 등록한 뒤에만 쓸 수 있습니다.",
        "field": None,
    }


@on_test_api
def test_operator_token_with_totp_device_is_accepted_and_verified(client, operator):
    TOTPDevice.objects.create(user=operator, name="인증 앱", confirmed=True)
    _token, key = api_token_create(user=operator, name="a")

    response = client.get("/api/whoami", **_bearer(key))

    assert response.status_code == 200
    assert response.json() == {"username": "operator", "request_user": "operator", "verified": True}


@on_test_api
def test_operator_token_stops_when_the_device_is_removed(client, operator):
    device = TOTPDevice.objects.create(user=operator, name="인증 앱", confirmed=True)
    _token, key = api_token_create(user=operator, name="a")
    device.delete()

    response = client.get("/api/whoami", **_bearer(key))

    assert response.status_code == 403


def test_last_used_is_one_update_of_one_column(django_assert_num_queries, applicant):
    _token, key = api_token_create(user=applicant, name="a")

    with django_assert_num_queries(2) as captured:
        user = api_token_authenticate(key)

    assert user == applicant
    update = captured.captured_queries[1]["sql"]
    assert update.startswith('UPDATE "accounts_apitoken" SET "last_used_at" = ')
    assert update.count("=") == 2  # the column and the primary key, nothing else
