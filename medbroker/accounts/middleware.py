"""The second factor (OTP) is checked before anything else a signed-in user does.

Who must pass it: operators and data stewards always (they hold the keys to applications and to the data
itself), and anyone who has enrolled a device voluntarily, once they sign in through the login page (it
records that in the session, so other roles pay no device query on every request).

A user who must pass it and has not yet in this session is sent to enrol an authenticator app when they
have no confirmed device, otherwise to enter a code; the page they asked for comes back as ``next``.
API calls get 403 with a JSON error instead of a redirect.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _

from medbroker.accounts.selectors import user_has_second_factor

EXEMPT_PREFIXES = ("/static/", "/i18n/", "/accounts/otp/", "/accounts/login/", "/accounts/logout/")
# Set by the login view when the user signing in has a confirmed device (voluntary enrolment).
SECOND_FACTOR_SESSION_KEY = "medbroker_second_factor_enrolled"


def second_factor_required(request: HttpRequest) -> bool:
    user = request.user
    if not user.is_authenticated:
        return False
    return bool(getattr(user, "needs_second_factor", False) or request.session.get(SECOND_FACTOR_SESSION_KEY))


def url_with_next(url: str, next_url: str) -> str:
    return f"{url}?{urlencode({'next': next_url})}" if next_url else url


class SecondFactorRequiredMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if (
            not request.path.startswith(EXEMPT_PREFIXES)
            and second_factor_required(request)
            and not request.user.is_verified()  # type: ignore[union-attr]
        ):
            if request.path.startswith("/api/"):
                return JsonResponse(
                    {"code": "second_factor_required", "message": _("2단계 인증(OTP)이 필요합니다.")},
                    status=403,
                )
            target = "accounts:otp_verify" if user_has_second_factor(request.user) else "accounts:otp_setup"  # type: ignore[arg-type]
            return redirect(url_with_next(reverse(target), request.get_full_path()))
        return self.get_response(request)
