"""Pages of the accounts app: sign-in and out, second factor, company sign-up, profile, API tokens."""

from __future__ import annotations

from base64 import b32encode
from typing import Any

import qrcode
import qrcode.image.svg
from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login as auth_login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse, reverse_lazy
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from medbroker.accounts import selectors, services
from medbroker.accounts.forms import (
    ApiTokenCreateForm,
    LoginForm,
    OrganisationProfileForm,
    PasswordChangeForm,
    SecondFactorCodeForm,
    SignupForm,
    UserProfileForm,
)
from medbroker.accounts.middleware import SECOND_FACTOR_SESSION_KEY, url_with_next
from medbroker.accounts.models import ApiToken, Organisation, Role, User
from medbroker.accounts.oidc import HUB_SESSION_KEY
from medbroker.accounts.permissions import role_required
from medbroker.accounts.services.profiles import ORGANISATION_EDITABLE_FIELDS, USER_EDITABLE_FIELDS
from medbroker.core.errors import DomainError

# A session may sign in with any backend; the one that checks passwords is the one a new account uses.
MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


def _safe_next(request: HttpRequest) -> str:
    """The ``next`` URL of the request when it stays on this site, else ""."""
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return ""


def _add_domain_error(form: forms.Form, exc: DomainError) -> None:
    form.add_error(exc.field if exc.field in form.fields else None, str(exc.message))


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)  # the views below are all behind login_required / role_required
    return user


# ── signing in and out ────────────────────────────────────────────────────────────────────────────────


class LoginView(auth_views.LoginView):
    """Sign-in; django-axes locks a user name at an address after AXES_FAILURE_LIMIT failures."""

    template_name = "accounts/login.html"
    form_class = LoginForm

    def form_valid(self, form: LoginForm) -> HttpResponse:  # type: ignore[override]
        response = super().form_valid(form)
        user = form.get_user()
        services.login_success_record(request=self.request, user=user)
        if selectors.user_has_second_factor(user):
            # Whoever enrolled a device, even voluntarily, is asked for a code (middleware).
            self.request.session[SECOND_FACTOR_SESSION_KEY] = True
        return response


class LogoutView(auth_views.LogoutView):
    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.user.is_authenticated:
            services.logout_record(request=request, user=_user(request))
        hub_signed_in = bool(request.session.get(HUB_SESSION_KEY))
        response = super().post(request, *args, **kwargs)
        if hub_signed_in:
            # The workspace hub's own sign-in ends too; it sends the person back to the platform's login.
            return redirect(f"{settings.MEDBROKER_HUB_URL.rstrip('/')}/hub/logout")
        return response


# ── second factor ─────────────────────────────────────────────────────────────────────────────────────


def _qr_svg(text: str) -> str:
    image = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage, box_size=10, border=2)
    # The SVG is produced here from our own otpauth URL (the XML writer escapes it): safe to inline.
    return mark_safe(image.to_string(encoding="unicode"))  # noqa: S308


def _secret_for_typing(device: TOTPDevice) -> str:
    secret = b32encode(device.bin_key).decode()
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


@login_required
@require_http_methods(["GET", "POST"])
def otp_setup(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    next_url = _safe_next(request)
    if selectors.user_has_second_factor(user) and not user.is_verified():  # type: ignore[attr-defined]
        # A new device may only be added once the enrolled one has been used in this session; otherwise a
        # stolen password alone would be enough to enrol the thief's phone.
        return redirect(url_with_next(reverse("accounts:otp_verify"), next_url))
    form = SecondFactorCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            device = services.totp_device_confirm(user=user, code=form.cleaned_data["code"], request=request)
        except DomainError as exc:
            _add_domain_error(form, exc)
        else:
            otp_login(request, device)
            request.session[SECOND_FACTOR_SESSION_KEY] = True
            messages.success(
                request, _("2단계 인증(인증 앱)이 등록되었습니다. 다음 로그인부터 인증 코드를 입력합니다.")
            )
            return redirect(next_url or "accounts:profile")
    device = services.totp_device_prepare(user=user)
    context = {
        "form": form,
        "next": next_url,
        "qr_svg": _qr_svg(device.config_url),
        "secret": _secret_for_typing(device),
        "issuer": settings.OTP_TOTP_ISSUER,
        "mandatory": user.needs_second_factor,
        "replacing": selectors.user_has_confirmed_totp(user),
    }
    return render(request, "accounts/otp_setup.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def otp_verify(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    next_url = _safe_next(request)
    if user.is_verified():  # type: ignore[attr-defined]
        return redirect(next_url or settings.LOGIN_REDIRECT_URL)
    if not selectors.user_has_second_factor(user):
        return redirect(url_with_next(reverse("accounts:otp_setup"), next_url))
    form = SecondFactorCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            device = services.second_factor_verify(user=user, code=form.cleaned_data["code"], request=request)
        except DomainError as exc:
            _add_domain_error(form, exc)
        else:
            otp_login(request, device)
            return redirect(next_url or settings.LOGIN_REDIRECT_URL)
    return render(request, "accounts/otp_verify.html", {"form": form, "next": next_url})


# ── company sign-up and profile ───────────────────────────────────────────────────────────────────────


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        messages.info(
            request, _("이미 로그인되어 있습니다. 다른 기업으로 가입하려면 먼저 로그아웃해 주세요.")
        )
        return redirect("home")
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            user = services.company_register(
                company_name=data["company_name"],
                business_registration_number=data["business_registration_number"],
                representative=data["representative"],
                address=data["address"],
                contact_name=data["contact_name"],
                contact_email=data["contact_email"],
                contact_phone=data["contact_phone"],
                username=data["username"],
                password=data["password"],
                display_name=data["display_name"],
                privacy_consent=data["privacy_consent"],
                request=request,
            )
        except DomainError as exc:
            _add_domain_error(form, exc)
        else:
            auth_login(request, user, backend=MODEL_BACKEND)
            messages.success(
                request,
                _("%(company)s 기업 회원가입이 완료되었습니다. 공모 안내에서 지원 신청을 시작할 수 있습니다.")
                % {"company": user.organisation},
            )
            return redirect("home")
    return render(request, "accounts/signup.html", {"form": form})


@role_required(Role.APPLICANT)
@require_http_methods(["GET", "POST"])
def company(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    # Always the signed-in member's own company: nothing in the request chooses the organisation, so a
    # forged id in the form cannot reach another company.
    if user.organisation_id is None or user.organisation.kind != Organisation.Kind.COMPANY:  # type: ignore[union-attr]
        raise Http404(_("소속 기업이 없습니다."))
    stored = Organisation.objects.get(pk=user.organisation_id)
    form = OrganisationProfileForm(request.POST or None, instance=stored)
    if request.method == "POST" and form.is_valid():
        services.organisation_profile_update(
            organisation=stored,
            actor=user,
            request=request,
            **{name: form.cleaned_data[name] for name in ORGANISATION_EDITABLE_FIELDS},
        )
        messages.success(request, _("기업 정보를 저장했습니다."))
        return redirect("accounts:company")
    organisation = Organisation.objects.get(pk=user.organisation_id)
    members = organisation.members.filter(is_active=True).order_by("username")
    return render(
        request, "accounts/company.html", {"form": form, "organisation": organisation, "members": members}
    )


def _profile_render(request: HttpRequest, *, status: int = 200, **context: Any) -> HttpResponse:
    user = _user(request)
    context.setdefault(
        "profile_form", UserProfileForm(instance=User.objects.get(pk=user.pk), prefix="profile")
    )
    context.setdefault("token_form", ApiTokenCreateForm(prefix="token"))
    context["tokens"] = selectors.api_tokens_for_user(user)
    context["second_factor"] = selectors.second_factor_status(user)
    context["roles"] = [Role(code).label for code in sorted(user.role_codes)]
    return render(request, "accounts/profile.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def profile(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    if request.method == "POST":
        # A copy, so a refused value never shows in the page header as if it were saved.
        form = UserProfileForm(request.POST, instance=User.objects.get(pk=user.pk), prefix="profile")
        if form.is_valid():
            services.user_profile_update(
                user=user, request=request, **{name: form.cleaned_data[name] for name in USER_EDITABLE_FIELDS}
            )
            messages.success(request, _("내 정보를 저장했습니다."))
            return redirect("accounts:profile")
        return _profile_render(request, profile_form=form)
    return _profile_render(request)


@login_required
@require_POST
def api_token_create(request: HttpRequest) -> HttpResponse:
    form = ApiTokenCreateForm(request.POST, prefix="token")
    if not form.is_valid():
        return _profile_render(request, token_form=form)
    try:
        token, key = services.api_token_create(
            user=_user(request), name=form.cleaned_data["name"], request=request
        )
    except DomainError as exc:
        _add_domain_error(form, exc)
        return _profile_render(request, token_form=form)
    # The plain key is shown in this response only: it is stored nowhere (not even in the session).
    return _profile_render(request, new_token=token, new_key=key)


@login_required
@require_POST
def api_token_revoke(request: HttpRequest, pk: int) -> HttpResponseBase:
    user = _user(request)
    token = get_object_or_404(ApiToken, pk=pk, user=user)
    try:
        services.api_token_revoke(token=token, actor=user, request=request)
    except DomainError as exc:
        messages.error(request, str(exc.message))
    else:
        messages.success(request, _("토큰 '%(name)s'을(를) 폐기했습니다.") % {"name": token.name})
    return redirect("accounts:profile")


class PasswordChangeView(auth_views.PasswordChangeView):
    template_name = "accounts/password_change.html"
    form_class = PasswordChangeForm
    success_url = reverse_lazy("accounts:profile")

    def form_valid(self, form: PasswordChangeForm) -> HttpResponse:  # type: ignore[override]
        # The new password, the revoked tokens and the audit entry stand or fall together.
        with transaction.atomic():
            response = super().form_valid(form)
            services.password_change_record(request=self.request, user=_user(self.request))
        messages.success(self.request, _("비밀번호를 변경했습니다."))
        return response
