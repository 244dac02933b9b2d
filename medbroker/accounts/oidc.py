"""The platform as an OpenID Connect provider (django-oauth-toolkit) for the workspace hub.

JupyterHub signs people in through the platform (oauthenticator's generic authenticator reads the user-info
claims below), so a hub account is always one person of the platform, with the platform's lockout and second
factor in front of it. Each person gets one hub user, named by :func:`hub_username`, and the hub groups of
their company (``company-<id>``), plus ``applicants`` for company members: the hub admits that group only.
"""

from __future__ import annotations

import re
from typing import Any

from oauth2_provider.oauth2_validators import OAuth2Validator

from medbroker.accounts.models import Organisation, Role, User

# JupyterHub lower-cases names and puts them in URLs (/user/<name>/): letters, digits, ".", "_" and "-".
_HUB_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,62}")
APPLICANTS_GROUP = "applicants"
# Set in the session when the person signs in to the hub through the platform: signing out of the platform
# then signs out of the hub too (a closed-room PC is shared).
HUB_SESSION_KEY = "medbroker_hub_signed_in"


def hub_username(user: User) -> str:
    """The hub user of ``user``: the platform's user name when the hub can use it as it is, else ``u-<id>``.

    The ``u-`` names cannot collide with the first kind: a user name that starts with ``u-`` followed by
    digits is itself mapped to its id form.
    """
    name = user.username.lower()
    if _HUB_NAME.fullmatch(name) and name == user.username and not re.fullmatch(r"u-\d+", name):
        return name
    return f"u-{user.pk}"


def company_group(organisation: Organisation) -> str:
    return f"company-{organisation.pk}"


def hub_groups(user: User) -> list[str]:
    """The hub groups of ``user``: ``applicants`` and their company's group for company members, else none."""
    organisation = user.organisation
    if (
        organisation is None
        or organisation.kind != Organisation.Kind.COMPANY
        or not user.has_role(Role.APPLICANT)
    ):
        return []
    return [APPLICANTS_GROUP, company_group(organisation)]


class ClaimsValidator(OAuth2Validator):
    """Adds the claims the hub maps users and groups with, all under the ``profile`` scope; nothing more (no
    e-mail address: the hub has no use for it)."""

    oidc_claim_scope = {
        **OAuth2Validator.oidc_claim_scope,
        "groups": "profile",
        "company": "profile",
    }

    def get_additional_claims(self, request: Any) -> dict[str, Any]:
        user: User = request.user
        organisation = user.organisation
        return {
            "preferred_username": hub_username(user),
            "name": user.display_name or user.get_full_name() or user.username,
            "groups": hub_groups(user),
            "company": organisation.name if organisation is not None else "",
        }
