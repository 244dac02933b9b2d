from __future__ import annotations

import pytest
from django.conf import settings

pytestmark = pytest.mark.django_db


def test_korean_is_the_default_even_for_an_english_browser(client):
    response = client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9")

    assert response.status_code == 200
    assert response["Content-Language"] == "ko"
    assert '<html lang="ko">' in response.content.decode()


def test_the_language_switch_sets_english(client):
    response = client.post("/i18n/setlang/", {"language": "en", "next": "/accounts/login/"})

    assert response.status_code == 302
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "en"
    page = client.get("/accounts/login/")
    assert page["Content-Language"] == "en"
    assert '<html lang="en">' in page.content.decode()


def test_an_unknown_language_cookie_falls_back_to_korean(client):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "xx"

    response = client.get("/accounts/login/")

    assert response["Content-Language"] == "ko"


def test_times_are_korea_time():
    assert settings.TIME_ZONE == "Asia/Seoul"
    assert settings.USE_TZ is True


def test_passwords_are_hashed_with_argon2_in_the_settings():
    from django.contrib.auth.hashers import Argon2PasswordHasher

    import config.settings as project_settings

    assert project_settings.PASSWORD_HASHERS[0] == "django.contrib.auth.hashers.Argon2PasswordHasher"
    hasher = Argon2PasswordHasher()
    encoded = hasher.encode("correct-horse-battery-42", hasher.salt())
    assert encoded.startswith("argon2$argon2id$")
    assert hasher.verify("correct-horse-battery-42", encoded) is True
    assert hasher.verify("wrong-password", encoded) is False


def test_english_pages_are_translated(client):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"

    page = client.get("/accounts/login/").content.decode()

    assert "Data catalogue" in page
    assert "데이터 카탈로그" not in page
