"""The platform as the workspace hub's OpenID Connect provider: hub user names and groups, the discovery
document, and the authorisation-code flow with PKCE as JupyterHub runs it, through Django's test client."""

from __future__ import annotations

import base64
import hashlib
import json
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.contrib.auth.hashers import check_password
from django.test import Client
from jwcrypto import jwk, jwt

from medbroker.accounts.models import Organisation, Role, User
from medbroker.accounts.oidc import hub_groups, hub_username
from medbroker.accounts.tests.factories import UserFactory
from medbroker.audit.models import AuditEvent
from medbroker.compute.services.hub import HUB_CLIENT_ID, hub_oauth_application_ensure, hub_secret

pytestmark = pytest.mark.django_db

CALLBACK = "http://127.0.0.1:8001/hub/oauth_callback"
VERIFIER = "a-verifier-of-the-hub-that-is-long-enough-0123456789"
ISSUER = "http://testserver/o"


def challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def authorize_url(redirect_uri: str = CALLBACK, **changes: str) -> str:
    query = {
        "response_type": "code",
        "client_id": HUB_CLIENT_ID,
        "redirect_uri": redirect_uri,
        "scope": "openid profile",
        "state": "s",
        "code_challenge": challenge(VERIFIER),
        "code_challenge_method": "S256",
        **changes,
    }
    return f"/o/authorize/?{urlencode(query)}"


def token_request(client: Client, code: str, **changes: str) -> dict[str, object]:
    response = client.post(
        "/o/token/",
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": CALLBACK,
            "client_id": HUB_CLIENT_ID,
            "client_secret": hub_secret("oauth_client_secret"),
            "code_verifier": VERIFIER,
            **changes,
        },
    )
    return {"status": response.status_code, **response.json()}


def code_for(client: Client, user: User) -> str:
    client.force_login(user)
    response = client.get(authorize_url())
    assert response.status_code == 302
    return parse_qs(urlsplit(response["Location"]).query)["code"][0]


# ---------------------------------------------------------------------------------------------------------
# Hub user names and groups
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("username", "kept"),
    [
        ("applicant", True),
        ("kim.lee_2-x", True),
        ("u-abc", True),
        ("a" * 63, True),
        ("a" * 64, False),
        ("Kim", False),
        ("김철수", False),
        ("u-12", False),
        ("u-0", False),
        ("-lead", False),
        ("kim@example.com", False),
        ("kim lee", False),
    ],
)
def test_hub_username_keeps_plain_names_and_maps_the_rest_to_the_id(
    username: str, kept: bool, company: Organisation
) -> None:
    user = UserFactory(username=username, organisation=company, roles=[Role.APPLICANT])

    assert hub_username(user) == (username if kept else f"u-{user.pk}")


def test_hub_groups_of_a_company_member(applicant: User, company: Organisation) -> None:
    assert hub_groups(applicant) == ["applicants", f"company-{company.pk}"]


@pytest.mark.parametrize("role", ["operator", "auditor", "reviewer", "steward"])
def test_hub_groups_of_staff_are_empty(role: str, users_by_role: dict[str, User | None]) -> None:
    user = users_by_role[role]
    assert user is not None

    assert hub_groups(user) == []


def test_hub_groups_need_both_the_role_and_a_company(company: Organisation, lab: Organisation) -> None:
    without_role = UserFactory(organisation=company, roles=[])
    applicant_of_a_lab = UserFactory(organisation=lab, roles=[Role.APPLICANT])
    applicant_without_organisation = UserFactory(organisation=None, roles=[Role.APPLICANT])

    assert [hub_groups(u) for u in (without_role, applicant_of_a_lab, applicant_without_organisation)] == [
        [],
        [],
        [],
    ]


# ---------------------------------------------------------------------------------------------------------
# Discovery
# ---------------------------------------------------------------------------------------------------------


def test_the_discovery_document_names_the_endpoints_and_rs256(client: Client) -> None:
    response = client.get("/o/.well-known/openid-configuration")

    document = response.json()
    assert response.status_code == 200
    assert {
        key: document[key]
        for key in (
            "issuer",
            "authorization_endpoint",
            "token_endpoint",
            "userinfo_endpoint",
            "jwks_uri",
        )
    } == {
        "issuer": ISSUER,
        "authorization_endpoint": f"{ISSUER}/authorize/",
        "token_endpoint": f"{ISSUER}/token/",
        "userinfo_endpoint": f"{ISSUER}/userinfo/",
        "jwks_uri": f"{ISSUER}/.well-known/jwks.json",
    }
    assert "RS256" in document["id_token_signing_alg_values_supported"]
    assert "code" in document["response_types_supported"]
    assert "S256" in document["code_challenge_methods_supported"]


def test_the_jwks_publishes_one_rsa_signing_key(client: Client) -> None:
    keys = client.get("/o/.well-known/jwks.json").json()["keys"]

    assert [(key["kty"], key["alg"], key["use"]) for key in keys] == [("RSA", "RS256", "sig")]


# ---------------------------------------------------------------------------------------------------------
# The hub's client
# ---------------------------------------------------------------------------------------------------------


def test_the_hub_client_is_made_once_and_kept_in_line_with_the_settings() -> None:
    first = hub_oauth_application_ensure()
    first.redirect_uris = "https://elsewhere.example/callback"
    first.skip_authorization = False
    first.save()

    again = hub_oauth_application_ensure()

    assert again.pk == first.pk
    assert (
        again.client_id,
        again.client_type,
        again.authorization_grant_type,
        again.redirect_uris,
        again.skip_authorization,
        again.algorithm,
        again.hash_client_secret,
    ) == (HUB_CLIENT_ID, "confidential", "authorization-code", CALLBACK, True, "RS256", True)
    # The secret is kept hashed, never as it is given to the hub.
    assert again.client_secret != hub_secret("oauth_client_secret")
    assert check_password(hub_secret("oauth_client_secret"), again.client_secret)
    # Made, then brought back in line: each in the audit log; a third call with nothing to change is not.
    hub_oauth_application_ensure()
    assert [
        (event.data["changed"], event.data["redirect_uris"])
        for event in AuditEvent.objects.filter(action="compute.hub_client_registered").order_by("pk")
    ] == [(["created"], CALLBACK), (["redirect_uris", "skip_authorization"], CALLBACK)]


# ---------------------------------------------------------------------------------------------------------
# The authorisation-code flow with PKCE
# ---------------------------------------------------------------------------------------------------------


def test_the_full_flow_signs_the_member_in_with_their_claims(
    applicant: User, company: Organisation, client: Client
) -> None:
    hub_oauth_application_ensure()
    client.force_login(applicant)

    authorized = client.get(authorize_url())
    location = urlsplit(authorized["Location"])
    query = parse_qs(location.query)
    client.logout()
    tokens = token_request(client, query["code"][0])
    userinfo = client.get("/o/userinfo/", HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}")

    # Straight back to the hub: no consent page.
    assert authorized.status_code == 302
    assert f"{location.scheme}://{location.netloc}{location.path}" == CALLBACK
    assert (sorted(query), query["state"]) == (["code", "state"], ["s"])
    assert (tokens["status"], tokens["token_type"], tokens["scope"]) == (200, "Bearer", "openid profile")
    # Exactly these: "email" belongs to the "email" scope, which the hub does not ask for.
    claims = {
        "sub": str(applicant.pk),
        "preferred_username": "applicant",
        "name": applicant.display_name,
        "groups": ["applicants", f"company-{company.pk}"],
        "company": "대구메디AI",
    }
    assert (userinfo.status_code, userinfo.json()) == (200, claims)
    # The ID token is signed RS256 with the published key and carries the same claims.
    keys = jwk.JWKSet.from_json(client.get("/o/.well-known/jwks.json").content)
    id_token = jwt.JWT(jwt=tokens["id_token"], key=keys, algs=["RS256"])
    payload = json.loads(id_token.claims)
    assert {key: payload[key] for key in (*claims, "iss", "aud")} == {
        **claims,
        "iss": ISSUER,
        "aud": HUB_CLIENT_ID,
    }


def test_the_email_scope_is_not_offered(applicant: User, client: Client) -> None:
    # The e-mail address is a claim of the "email" scope (django-oauth-toolkit's claim map), which is not
    # among the platform's scopes: with "openid profile" it is not in the claims above.
    hub_oauth_application_ensure()
    client.force_login(applicant)

    response = client.get(authorize_url(scope="openid profile email"))

    query = parse_qs(urlsplit(response["Location"]).query)
    assert (response.status_code, query["error"]) == (302, ["invalid_scope"])


def test_a_code_is_exchanged_only_with_its_verifier(applicant: User, client: Client) -> None:
    hub_oauth_application_ensure()
    code = code_for(client, applicant)
    client.logout()

    wrong_verifier = token_request(client, code, code_verifier="another-verifier-" + "x" * 40)
    wrong_secret = token_request(client, code, client_secret="not-the-secret")

    assert (wrong_verifier["status"], wrong_verifier["error"]) == (400, "invalid_grant")
    assert (wrong_secret["status"], wrong_secret["error"]) == (401, "invalid_client")


def test_a_code_is_exchanged_once(applicant: User, client: Client) -> None:
    hub_oauth_application_ensure()
    code = code_for(client, applicant)
    client.logout()

    first = token_request(client, code)
    second = token_request(client, code)

    assert (first["status"], second["status"], second["error"]) == (200, 400, "invalid_grant")


def test_a_start_without_pkce_is_refused(applicant: User, client: Client) -> None:
    hub_oauth_application_ensure()
    client.force_login(applicant)

    query = {
        "response_type": "code",
        "client_id": HUB_CLIENT_ID,
        "redirect_uri": CALLBACK,
        "scope": "openid profile",
        "state": "s",
    }

    response = client.get(f"/o/authorize/?{urlencode(query)}")

    location = urlsplit(response["Location"])
    assert (response.status_code, f"{location.scheme}://{location.netloc}{location.path}") == (302, CALLBACK)
    assert parse_qs(location.query)["error"] == ["invalid_request"]
    assert "code" not in parse_qs(location.query)


def test_an_unknown_redirect_uri_is_refused_without_going_there(applicant: User, client: Client) -> None:
    hub_oauth_application_ensure()
    client.force_login(applicant)

    response = client.get(authorize_url(redirect_uri="https://attacker.example/hub/oauth_callback"))

    assert response.status_code == 400
    assert "attacker.example" not in response.get("Location", "")


def test_an_unknown_client_is_refused(applicant: User, client: Client) -> None:
    hub_oauth_application_ensure()
    client.force_login(applicant)

    response = client.get(authorize_url(client_id="someone-else"))

    assert response.status_code == 400
    assert response.get("Location") is None


def test_an_anonymous_person_is_sent_to_the_platform_login(client: Client) -> None:
    hub_oauth_application_ensure()
    url = authorize_url()

    response = client.get(url)

    location = urlsplit(response["Location"])
    assert (response.status_code, location.path, parse_qs(location.query)) == (
        302,
        "/accounts/login/",
        {"next": [url]},
    )


def test_an_operator_must_pass_the_second_factor_first(operator: User, client: Client) -> None:
    hub_oauth_application_ensure()
    client.force_login(operator)
    url = authorize_url()

    response = client.get(url)

    assert response.status_code == 302
    assert urlsplit(response["Location"]).path.startswith("/accounts/otp/")
    assert parse_qs(urlsplit(response["Location"]).query)["next"] == [url]


@pytest.mark.parametrize(
    "path",
    ["/o/applications/", "/o/applications/register/", "/o/authorized_tokens/", "/o/register/"],
)
def test_no_client_registration_nor_token_pages_for_signed_in_people(
    path: str, applicant: User, client: Client
) -> None:
    client.force_login(applicant)

    assert client.get(path).status_code == 404


def test_userinfo_without_a_token_is_refused(client: Client) -> None:
    assert client.get("/o/userinfo/").status_code == 401
    assert client.get("/o/userinfo/", HTTP_AUTHORIZATION="Bearer not-a-token").status_code == 401
