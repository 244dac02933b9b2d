"""Forms of the grant pages (operator and company), online sessions and extra viewing requests."""

from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from medbroker.access.models import AccessGrant
from medbroker.access.selectors.grants import GRANT_FILTER_STATES, STATE_LABELS
from medbroker.accounts.models import Organisation, Role, User
from medbroker.agreements.models import Agreement
from medbroker.calls.models import Call
from medbroker.catalog.models import Dataset
from medbroker.core.forms import KrdsFormMixin


class GrantFilterForm(KrdsFormMixin, forms.Form):
    call = forms.ChoiceField(label=_("공모"), required=False)
    company = forms.ModelChoiceField(label=_("기업"), required=False, queryset=Organisation.objects.none())
    state = forms.ChoiceField(
        label=_("상태"),
        required=False,
        choices=[("", _("전체 상태")), *((state, STATE_LABELS[state]) for state in GRANT_FILTER_STATES)],
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        calls = Call.objects.filter(agreements__isnull=False).distinct().order_by("-intake_opens_at")
        self.fields["call"].choices = [("", _("전체 공모")), *((c.slug, c.title) for c in calls)]  # type: ignore[attr-defined]
        self.fields["company"].queryset = (  # type: ignore[attr-defined]
            Organisation.objects.filter(agreements__isnull=False).distinct().order_by("name")
        )
        self.fields["company"].empty_label = _("전체 기업")  # type: ignore[attr-defined]

    def filters(self) -> dict[str, Any]:
        if not self.is_valid():
            return {"call_slug": "", "company_id": None, "state": ""}
        company = self.cleaned_data.get("company")
        return {
            "call_slug": self.cleaned_data.get("call") or "",
            "company_id": company.pk if company else None,
            "state": self.cleaned_data.get("state") or "",
        }


class GrantIssueForm(KrdsFormMixin, forms.Form):
    starts_on = forms.DateField(
        label=_("이용 시작일"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=_("비워 두면 지금부터 이용할 수 있습니다. 협약 시작일보다 앞설 수 없습니다."),
    )


class GrantRevokeForm(KrdsFormMixin, forms.Form):
    reason = forms.CharField(label=_("중지 사유"), max_length=1000, widget=forms.Textarea(attrs={"rows": 2}))


class GrantModeForm(KrdsFormMixin, forms.Form):
    mode = forms.ChoiceField(label=_("이용 방식"), choices=AccessGrant.Mode.choices)


class OnlineAccountForm(KrdsFormMixin, forms.Form):
    user = forms.ModelChoiceField(label=_("기업 담당자"), queryset=User.objects.none())
    vpn_account = forms.CharField(label=_("SSL-VPN 계정"), max_length=100)
    vdi_account = forms.CharField(label=_("VDI 계정"), max_length=100)

    def __init__(self, *args: Any, agreement: Agreement, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["user"].queryset = (  # type: ignore[attr-defined]
            User.objects.filter(
                organisation_id=agreement.company_id, is_active=True, role_assignments__role=Role.APPLICANT
            )
            .distinct()
            .order_by("username")
        )


class OnlineSessionStartForm(KrdsFormMixin, forms.Form):
    otp_code = forms.CharField(
        label=_("인증 코드(OTP)"),
        max_length=12,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "size": 8, "spellcheck": "false"}
        ),
        help_text=_("인증 앱에 표시된 최신 6자리 코드를 세션을 시작할 때마다 입력합니다."),
    )


class ViewingRequestForm(KrdsFormMixin, forms.Form):
    agreement = forms.ModelChoiceField(label=_("협약"), queryset=Agreement.objects.none())
    dataset = forms.ModelChoiceField(label=_("열람할 데이터셋"), queryset=Dataset.objects.none())
    reason = forms.CharField(label=_("열람 목적"), max_length=2000, widget=forms.Textarea(attrs={"rows": 4}))

    def __init__(
        self, *args: Any, agreements: list[Agreement], datasets: QuerySet[Dataset], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        agreement_field = self.fields["agreement"]
        agreement_field.queryset = Agreement.objects.filter(pk__in=[a.pk for a in agreements])  # type: ignore[attr-defined]
        if len(agreements) == 1:
            agreement_field.initial = agreements[0].pk
            agreement_field.widget = forms.HiddenInput()
        self.fields["dataset"].queryset = datasets  # type: ignore[attr-defined]


class ViewingDecideForm(KrdsFormMixin, forms.Form):
    decision = forms.ChoiceField(
        label=_("결정"),
        choices=[("approve", _("승인(폐쇄형 학습실 열람 전용)")), ("reject", _("반려"))],
        widget=forms.RadioSelect,
    )
    note = forms.CharField(
        label=_("처리 의견"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("반려할 때는 사유를 입력하세요."),
    )
