"""Who may open which accounts page: every role of the style guide's matrix, exact status and target."""

from __future__ import annotations

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db

ROLES = ("anonymous", "applicant", "other_applicant", "reviewer", "steward", "operator", "auditor")
SIGNED_IN = ROLES[1:]


def _login_redirect(url_name: str) -> tuple[int, str]:
    path = reverse(url_name)
    return 302, f"/accounts/login/?next={path}"


def _expect(
    default: tuple[int, str | None], **by_role: tuple[int, str | None]
) -> dict[str, tuple[int, str | None]]:
    return {role: by_role.get(role, default) for role in ROLES}


OK = (200, None)
FORBIDDEN = (403, None)
HOME = (302, "/")

MATRIX: list[tuple[str, str, dict[str, tuple[int, str | None]]]] = [
    ("get", "accounts:login", _expect(OK)),
    ("get", "accounts:signup", _expect(HOME, anonymous=OK)),
    ("get", "accounts:profile", _expect(OK, anonymous=_login_redirect("accounts:profile"))),
    ("get", "accounts:password_change", _expect(OK, anonymous=_login_redirect("accounts:password_change"))),
    ("get", "accounts:otp_setup", _expect(OK, anonymous=_login_redirect("accounts:otp_setup"))),
    (
        "get",
        "accounts:otp_verify",
        # Without a device there is nothing to verify; operators, stewards and auditors are verified already.
        _expect(
            (302, "/accounts/otp/setup/"),
            anonymous=_login_redirect("accounts:otp_verify"),
            steward=HOME,
            operator=HOME,
            auditor=HOME,
        ),
    ),
    (
        "get",
        "accounts:company",
        _expect(FORBIDDEN, anonymous=_login_redirect("accounts:company"), applicant=OK, other_applicant=OK),
    ),
    (
        "post",
        "accounts:api_token_create",
        _expect(OK, anonymous=_login_redirect("accounts:api_token_create")),
    ),
    ("post", "accounts:logout", _expect(HOME)),
]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("method", "url_name", "expected"), MATRIX, ids=[f"{m} {n}" for m, n, _ in MATRIX])
def test_accounts_pages(client, login, users_by_role, role, method, url_name, expected):
    login(client, users_by_role[role])
    data = {"token-name": "matrix"} if url_name == "accounts:api_token_create" else {}

    response = getattr(client, method)(reverse(url_name), data)

    status, location = expected[role]
    assert response.status_code == status
    if location is not None:
        assert response["Location"] == location


@pytest.mark.parametrize("role", SIGNED_IN)
def test_revoke_of_a_token_that_is_not_yours_is_404_for_everyone(
    client, login, users_by_role, role, applicant
):
    from medbroker.accounts.services import api_token_create

    token, _key = api_token_create(user=applicant, name="applicant's")
    login(client, users_by_role[role])

    response = client.post(reverse("accounts:api_token_revoke", args=[token.pk]))

    expected = 302 if role == "applicant" else 404
    assert response.status_code == expected
    token.refresh_from_db()
    assert (token.revoked_at is not None) == (role == "applicant")
