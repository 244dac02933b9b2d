"""Forms of the agreements pages: input only; the services decide what is allowed."""

from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from medbroker.agreements.models import Agreement, AgreementVersion, PerformanceTestRequest
from medbroker.calls.models import ComputeOption
from medbroker.catalog.models import Dataset
from medbroker.core.forms import KrdsFormMixin


class AgreementCreateForm(KrdsFormMixin, forms.Form):
    allows_online = forms.BooleanField(
        label=_("온라인 이용 허용"),
        required=False,
        help_text=_("민감도 '낮음' 데이터에 한해 SSL-VPN·VDI·OTP로 이용할 수 있게 합니다."),
    )


class SignUploadForm(KrdsFormMixin, forms.Form):
    upload = forms.FileField(
        label=_("서명한 협약서(PDF)"),
        widget=forms.ClearableFileInput(attrs={"accept": ".pdf,application/pdf"}),
    )


class SignOtpForm(KrdsFormMixin, forms.Form):
    otp_code = forms.CharField(
        label=_("인증 코드"),
        max_length=20,
        help_text=_("인증 앱에 표시된 6자리 코드 또는 백업 코드"),
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )


class ReasonForm(KrdsFormMixin, forms.Form):
    reason = forms.CharField(label=_("사유"), widget=forms.Textarea(attrs={"rows": 3}))


class AmendForm(KrdsFormMixin, forms.Form):
    compute_option = forms.ModelChoiceField(
        label=_("지원 GPU"),
        queryset=ComputeOption.objects.none(),
        required=False,
        empty_label=_("지원 안 함"),
    )
    allows_online = forms.BooleanField(label=_("온라인 이용 허용"), required=False)
    reason = forms.CharField(label=_("변경 사유"), widget=forms.Textarea(attrs={"rows": 3}))

    def __init__(self, *args: Any, agreement: Agreement, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["compute_option"].queryset = ComputeOption.objects.filter(  # type: ignore[attr-defined]
            call_id=agreement.call_id
        )


class AmendDatasetForm(KrdsFormMixin, forms.Form):
    dataset = forms.ModelChoiceField(label=_("데이터셋"), queryset=Dataset.objects.none(), required=False)
    amount = forms.IntegerField(label=_("지원 건수"), min_value=1, required=False)
    needs_annotated = forms.BooleanField(label=_("Annotation"), required=False)

    def __init__(self, *args: Any, dataset_ids: list[int] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Any published dataset may be added; the ones already agreed stay choosable even if withdrawn.
        self.fields["dataset"].queryset = Dataset.objects.filter(  # type: ignore[attr-defined]
            Q(publication=Dataset.Publication.PUBLISHED) | Q(pk__in=dataset_ids or [])
        ).order_by("title")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("dataset") is not None and not data.get("amount"):
            self.add_error("amount", _("지원 건수를 입력해 주세요."))
        return data


AmendDatasetFormSet = forms.formset_factory(AmendDatasetForm, extra=2)


def amend_dataset_initial(version: AgreementVersion | None) -> list[dict[str, Any]]:
    if version is None:
        return []
    return [
        {"dataset": row.dataset_id, "amount": row.amount, "needs_annotated": row.needs_annotated}
        for row in version.datasets.all()
    ]


class TestRequestForm(KrdsFormMixin, forms.ModelForm):
    class Meta:
        model = PerformanceTestRequest
        fields = [
            "algorithm_name",
            "algorithm_version",
            "task_description",
            "intended_use",
            "preferred_period",
        ]
        widgets = {
            "task_description": forms.Textarea(attrs={"rows": 5}),
            "intended_use": forms.Textarea(attrs={"rows": 3}),
        }
        help_texts = {
            "task_description": _("입력 데이터, 출력, 수행 과제(예: 위 내시경 영상에서 병변 위치 검출)"),
            "preferred_period": _("예: 2025년 10월 둘째 주"),
        }


class TestRequestDecideForm(KrdsFormMixin, forms.Form):
    status = forms.ChoiceField(
        label=_("처리"),
        choices=[
            (PerformanceTestRequest.Status.ACCEPTED, _("수락")),
            (PerformanceTestRequest.Status.COMPLETED, _("시험 완료")),
            (PerformanceTestRequest.Status.REJECTED, _("반려")),
        ],
    )
    comment = forms.CharField(
        label=_("의견"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("반려할 때는 사유를 꼭 적어 주세요."),
    )
    evaluation_reference = forms.CharField(label=_("시험 기록 번호"), max_length=60, required=False)


# Form classes named Test* are not test cases.
TestRequestForm.__test__ = False  # type: ignore[attr-defined]
TestRequestDecideForm.__test__ = False  # type: ignore[attr-defined]
