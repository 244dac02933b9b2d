"""Forms of the accounts pages. They validate input only; the writes are the services'."""

from __future__ import annotations

from typing import Any

from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_cool_off, get_credentials
from django import forms
from django.conf import settings
from django.contrib.auth import forms as auth_forms
from django.contrib.auth.password_validation import password_validators_help_texts, validate_password
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from medbroker.accounts.models import Organisation, User
from medbroker.accounts.services import LoginOutcome, login_failure_record
from medbroker.accounts.services.registration import BUSINESS_REGISTRATION_NUMBER_TAKEN, USERNAME_TAKEN
from medbroker.accounts.templatetags.accounts_ui import duration_ko
from medbroker.accounts.validators import business_registration_number_validate, phone_validate
from medbroker.core.forms import KrdsFormMixin


class LoginForm(KrdsFormMixin, auth_forms.AuthenticationForm):
    """Django's sign-in form that writes every refused attempt to the audit log.

    django-axes counts the failures and locks a user name at an address (settings.AXES_*); this form only
    reads its verdict from the request, after the attempt, to name the outcome in the audit log.
    """

    def __init__(self, request: Any = None, *args: Any, **kwargs: Any) -> None:
        super().__init__(request, *args, **kwargs)
        self.fields["username"].label = _("아이디")
        self.fields["password"].label = _("비밀번호")

    def get_invalid_login_error(self) -> ValidationError:
        # Say the limit before it bites, from the same settings axes uses.
        return ValidationError(
            _(
                "아이디 또는 비밀번호가 올바르지 않습니다. %(limit)d번 연속 틀리면 %(wait)s 동안 로그인이 제한됩니다."
            )
            % {"limit": settings.AXES_FAILURE_LIMIT, "wait": duration_ko(get_cool_off(self.request))},
            code="invalid_login",
        )

    def clean(self) -> dict[str, Any]:
        username = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if username is None or not password or self.request is None:
            super().clean()
            return self.cleaned_data
        already_locked = AxesProxyHandler.is_locked(self.request, get_credentials(username))
        try:
            super().clean()
        except ValidationError:
            if already_locked:
                outcome = LoginOutcome.REFUSED_WHILE_LOCKED
            elif getattr(self.request, "axes_locked_out", False):
                outcome = LoginOutcome.LOCKED_OUT
            else:
                outcome = LoginOutcome.FAILED
            login_failure_record(
                request=self.request,
                username=username,
                outcome=outcome,
                failures=getattr(self.request, "axes_failures_since_start", None),
            )
            raise
        return self.cleaned_data


class SecondFactorCodeForm(KrdsFormMixin, forms.Form):
    code = forms.CharField(
        label=_("인증 코드"),
        max_length=20,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}
        ),
    )


class SignupForm(KrdsFormMixin, forms.Form):
    """A company's sign-up: the company, its contact person, the first account and the consent."""

    company_name = forms.CharField(label=_("기업명"), max_length=200)
    business_registration_number = forms.CharField(
        label=_("사업자등록번호"),
        max_length=12,
        help_text=_("숫자 10자리 또는 123-45-67890 형식"),
        widget=forms.TextInput(attrs={"inputmode": "numeric", "placeholder": "123-45-67890"}),
    )
    representative = forms.CharField(label=_("대표자"), max_length=100)
    address = forms.CharField(
        label=_("주소"), max_length=300, help_text=_("본사 또는 지사 주소(대구 소재 여부 확인에 쓰입니다)")
    )
    contact_name = forms.CharField(label=_("담당자 이름"), max_length=100)
    contact_email = forms.EmailField(label=_("담당자 이메일"))
    contact_phone = forms.CharField(
        label=_("담당자 전화"),
        max_length=40,
        widget=forms.TextInput(attrs={"inputmode": "tel", "placeholder": "053-000-0000"}),
    )
    username = auth_forms.UsernameField(
        label=_("아이디"),
        max_length=150,
        validators=[User.username_validator],
        help_text=_("150자 이하의 영문, 숫자, @ . + - _"),
    )
    password = forms.CharField(
        label=_("비밀번호"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    password_confirm = forms.CharField(
        label=_("비밀번호 확인"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    display_name = forms.CharField(label=_("이름(표시 이름)"), max_length=100)
    privacy_consent = forms.BooleanField(
        label=_("개인정보 수집·이용에 동의합니다."),
        error_messages={"required": _("개인정보 수집·이용에 동의해야 가입할 수 있습니다.")},
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Plain text, in the request's language: the shared field template puts help text in a <p>,
        # where the validators' HTML list would not fit.
        self.fields["password"].help_text = " ".join(password_validators_help_texts())

    def clean_business_registration_number(self) -> str:
        number = business_registration_number_validate(self.cleaned_data["business_registration_number"])
        if Organisation.objects.filter(business_registration_number=number).exists():
            raise ValidationError(
                BUSINESS_REGISTRATION_NUMBER_TAKEN, code="business_registration_number_taken"
            )
        return number

    def clean_contact_phone(self) -> str:
        return phone_validate(self.cleaned_data["contact_phone"])

    def clean_username(self) -> str:
        username: str = self.cleaned_data["username"]
        if User.objects.filter(username__iexact=username).exists():
            raise ValidationError(USERNAME_TAKEN, code="username_taken")
        return username

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        password = cleaned.get("password")
        confirm = cleaned.get("password_confirm")
        if password and confirm and password != confirm:
            self.add_error("password_confirm", _("비밀번호가 서로 다릅니다."))
        elif password:
            candidate = User(
                username=cleaned.get("username") or "",
                email=cleaned.get("contact_email") or "",
                display_name=cleaned.get("display_name") or "",
            )
            try:
                validate_password(password, user=candidate)
            except ValidationError as exc:
                self.add_error("password", exc)
        return cleaned


class OrganisationProfileForm(KrdsFormMixin, forms.ModelForm):
    class Meta:
        model = Organisation
        fields = ("representative", "address", "contact_name", "contact_email", "contact_phone")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in self.Meta.fields:
            self.fields[name].required = True

    def clean_contact_phone(self) -> str:
        return phone_validate(self.cleaned_data["contact_phone"])


class UserProfileForm(KrdsFormMixin, forms.ModelForm):
    class Meta:
        model = User
        fields = ("display_name", "phone")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["display_name"].required = True

    def clean_phone(self) -> str:
        phone: str = self.cleaned_data["phone"]
        return phone_validate(phone) if phone.strip() else ""


class ApiTokenCreateForm(KrdsFormMixin, forms.Form):
    name = forms.CharField(
        label=_("토큰 이름"),
        max_length=100,
        help_text=_("어디에 쓰는 토큰인지 알아볼 수 있게 적어 주세요(예: 분석 서버)."),
    )


class PasswordChangeForm(KrdsFormMixin, auth_forms.PasswordChangeForm):
    pass
