"""Forms of the outcomes pages. They only validate input; the services write."""

from __future__ import annotations

from typing import Any

from django import forms
from django.forms import BaseFormSet, formset_factory
from django.utils.translation import gettext_lazy as _

from medbroker.calls.services.documents import ACCEPT_ATTRIBUTE
from medbroker.core.forms import KrdsFormMixin
from medbroker.outcomes.models import ReportOutcome, ReportReview, ResultsReport
from medbroker.outcomes.services.reports import OUTCOME_FIELDS

DATE_WIDGET = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
SECTION_FIELDS = ("data_usage", "compute_usage", "model_performance", "summary")


class ReportForm(KrdsFormMixin, forms.ModelForm):
    """The report's sections; a draft may be saved with blanks, submission checks the required ones."""

    class Meta:
        model = ResultsReport
        fields = [*SECTION_FIELDS, "revenue_krw", "jobs_created"]
        widgets = {name: forms.Textarea(attrs={"rows": 8}) for name in SECTION_FIELDS}
        help_texts = {
            "data_usage": _(
                "미리 채운 내용은 플랫폼 기록(협약 데이터, 이용 권한, 학습실 예약·입실)입니다. 활용 내용을 덧붙여 주세요."
            ),
            "compute_usage": _(
                "미리 채운 내용은 GPU 배정과 클러스터 사용 기록입니다. 학습·실험 내용을 덧붙여 주세요."
            ),
            "model_performance": _(
                "과제, 평가 데이터, 지표(예: AUROC, 민감도, 특이도)와 결과를 적어 주세요."
            ),
            "summary": _("논문·특허·인증·인허가·매출·고용 등 성과를 요약해 주세요."),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["revenue_krw"].min_value = 0  # type: ignore[attr-defined]
        self.fields["jobs_created"].min_value = 0  # type: ignore[attr-defined]


class OutcomeRowForm(KrdsFormMixin, forms.Form):
    # An initial value, so a blank row whose select shows its first option still counts as untouched.
    kind = forms.ChoiceField(
        label=_("구분"), choices=ReportOutcome.Kind.choices, initial=ReportOutcome.Kind.PAPER
    )
    title = forms.CharField(label=_("제목·명칭"), max_length=300)
    reference = forms.CharField(label=_("번호·게재처"), max_length=200, required=False)
    achieved_on = forms.DateField(label=_("일자"), required=False, widget=DATE_WIDGET)
    note = forms.CharField(label=_("비고"), max_length=300, required=False)


class OutcomeFormSetBase(BaseFormSet):
    def rows(self) -> list[dict[str, Any]]:
        """The filled rows, without the deleted and the untouched blank ones."""
        return [
            {name: form.cleaned_data.get(name) for name in OUTCOME_FIELDS}
            for form in self.forms
            if form.cleaned_data and not form.cleaned_data.get("DELETE")
        ]


OutcomeFormSet = formset_factory(
    OutcomeRowForm, formset=OutcomeFormSetBase, extra=0, can_delete=True, max_num=100, validate_max=True
)
OUTCOME_PREFIX = "outcomes"


def outcome_formset(report: ResultsReport, data: Any = None) -> BaseFormSet:
    initial = [{name: getattr(row, name) for name in OUTCOME_FIELDS} for row in report.outcomes.all()]
    formset = OutcomeFormSet(data, initial=initial, prefix=OUTCOME_PREFIX)
    if data is None and not initial:
        # An empty list shows one blank row to fill in; untouched, it is ignored on saving.
        formset.extra = 1
    return formset


def outcome_empty_row(index: int) -> forms.Form:
    formset = OutcomeFormSet(prefix=OUTCOME_PREFIX)
    return formset._construct_form(index, **formset.get_form_kwargs(index))  # type: ignore[attr-defined]


class AttachmentForm(KrdsFormMixin, forms.Form):
    file = forms.FileField(
        label=_("첨부 파일"),
        widget=forms.ClearableFileInput(attrs={"accept": ACCEPT_ATTRIBUTE}),
        help_text=_("PDF, HWP, HWPX, DOCX, XLSX 파일 (논문, 특허 등록증, 인증서, 성능 시험 결과 등)"),
    )


class ReviewForm(KrdsFormMixin, forms.Form):
    verdict = forms.ChoiceField(
        label=_("검토 결과"), choices=ReportReview.Verdict.choices, widget=forms.RadioSelect
    )
    comment = forms.CharField(
        label=_("검토 의견"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("보완 요청에는 의견이 필요합니다. 기업에 그대로 전달됩니다."),
    )


class ReportFilterForm(KrdsFormMixin, forms.Form):
    STATE_CHOICES = [
        ("", _("전체")),
        ("late", _("기한 후 제출")),
        ("overdue", _("기한 경과(미제출)")),
    ]

    call = forms.ChoiceField(label=_("공모"), required=False)
    status = forms.ChoiceField(
        label=_("상태"), required=False, choices=[("", _("전체")), *ResultsReport.Status.choices]
    )
    due = forms.ChoiceField(label=_("기한"), required=False, choices=STATE_CHOICES)

    def __init__(self, *args: Any, calls: list[tuple[str, str]] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["call"].choices = [("", _("전체")), *(calls or [])]  # type: ignore[attr-defined]
