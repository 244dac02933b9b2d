"""Authentication of the REST API (django-ninja): a personal API token, or the browser session.

Use ``auth=api_auth`` on a router or an operation::

    from medbroker.accounts.api_auth import api_auth
    router = Router(auth=api_auth)

``request.auth`` and ``request.user`` are then the signed-in :class:`~medbroker.accounts.models.User`.
Without credentials, with an unknown or revoked token: 401. A session POST without its CSRF token: 403.

The rule for operators and data stewards: their API token counts as a factor they possess only if they
have enrolled an authenticator app (a confirmed TOTP device). A token can only be created from the
profile page, which they reach after passing that second factor, so the token stands in for the code;
if the device is later removed (lost phone, reset by an operator), the tokens stop working too (403)
until the user enrols again. Backup codes alone do not count: they exist to recover, not to delegate.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from ninja.errors import AuthenticationError
from ninja.security import HttpBearer, SessionAuth

from medbroker.accounts.models import User
from medbroker.accounts.selectors import user_has_confirmed_totp
from medbroker.accounts.services import api_token_authenticate
from medbroker.core.errors import PermissionDeniedError


class ApiTokenAuth(HttpBearer):
    """``Authorization: Bearer mbk_…``: a live personal token of an active user."""

    def authenticate(self, request: HttpRequest, token: str) -> User:
        user = api_token_authenticate(token.strip())
        if user is None:
            # A request that presents a token is judged by that token alone: no falling back to the
            # session, so a bad token is always 401, whatever cookies the client also sends.
            raise AuthenticationError()
        has_totp = user_has_confirmed_totp(user)
        if user.needs_second_factor and not has_totp:
            raise PermissionDeniedError(
                "second_factor_required",
                _("운영자와 데이터 관리자의 API 토큰은 인증 앱(OTP)을 등록한 뒤에만 쓸 수 있습니다."),
            )
        # Views may ask request.user.is_verified() as on a session (django-otp); a token is verified
        # exactly when it counts as a possessed factor under the rule above.
        user.is_verified = lambda: has_totp  # type: ignore[attr-defined]
        user.otp_device = None  # type: ignore[attr-defined]
        request.user = user
        return user


# Token first: the session check runs Django's CSRF check on unsafe methods, which a token client (no
# cookies) would fail with 403 before its token was even looked at.
api_auth: list[Any] = [ApiTokenAuth(), SessionAuth()]
