"""Forms of the data-demand consultation. They check types; the rules live in the services."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from medbroker.calls.models import Call, ConsultationItem
from medbroker.calls.selectors.calls import calls_accepting_consultations
from medbroker.calls.selectors.consultations import datasets_for_consultation
from medbroker.calls.services.consultations import ANSWERS, MESSAGE_MAX_LENGTH, PURPOSE_MAX_LENGTH
from medbroker.catalog.models import Dataset
from medbroker.catalog.selectors import dataset_counts_view
from medbroker.core.forms import KrdsFormMixin


class DatasetChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        dataset: Dataset = obj
        # The counts as the public sees them: after a scan, small counts are suppressed for companies.
        counts = dataset_counts_view(dataset=dataset, user=None)
        return _("%(title)s · %(institution)s (%(total)s건)") % {
            "title": dataset.display_title,
            "institution": dataset.institution.name,
            "total": counts.total.display,
        }


class ConsultationForm(KrdsFormMixin, forms.Form):
    call = forms.ModelChoiceField(
        label=_("공모"),
        queryset=Call.objects.none(),
        empty_label=None,
        help_text=_("접수 중이거나 접수 예정인 공모만 선택할 수 있습니다."),
    )
    purpose = forms.CharField(
        label=_("활용 목적"),
        max_length=PURPOSE_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text=_("개발하려는 AI 제품·서비스와 데이터가 필요한 이유를 적어 주세요."),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["call"].queryset = calls_accepting_consultations()  # type: ignore[attr-defined]


class ConsultationItemForm(KrdsFormMixin, forms.Form):
    dataset = DatasetChoiceField(
        label=_("데이터셋"), queryset=Dataset.objects.none(), required=False, empty_label=_("데이터셋 선택")
    )
    requested_amount = forms.IntegerField(label=_("희망 건수"), min_value=1, required=False)
    needs_annotated = forms.BooleanField(label=_("Annotation 데이터 필요"), required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["dataset"].queryset = datasets_for_consultation()  # type: ignore[attr-defined]
        # The rows sit in a table whose column headers are the only visible labels: name each input too.
        for name in ("dataset", "requested_amount"):
            self.fields[name].widget.attrs["aria-label"] = str(self.fields[name].label)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("dataset") and not data.get("requested_amount") and "requested_amount" not in self.errors:
            self.add_error("requested_amount", _("희망 건수를 입력해 주세요."))
        if data.get("requested_amount") and not data.get("dataset") and "dataset" not in self.errors:
            self.add_error("dataset", _("데이터셋을 선택해 주세요."))
        return data


ConsultationItemFormSet = forms.formset_factory(ConsultationItemForm, extra=0, max_num=50, validate_max=True)


class ConsultationMessageForm(KrdsFormMixin, forms.Form):
    body = forms.CharField(
        label=_("메시지"), max_length=MESSAGE_MAX_LENGTH, widget=forms.Textarea(attrs={"rows": 3})
    )


class ConsultationAnswerForm(KrdsFormMixin, forms.Form):
    answer = forms.ChoiceField(
        label=_("답변"),
        choices=[(value, label) for value, label in ConsultationItem.Answer.choices if value in ANSWERS],
        widget=forms.RadioSelect,
    )
    available_amount = forms.IntegerField(
        label=_("제공 가능 건수"),
        min_value=0,
        required=False,
        help_text=_("'보유'는 비워 두면 희망 건수로, '미보유'는 0건으로 기록됩니다."),
    )
    note = forms.CharField(
        label=_("답변 내용"), required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2})
    )
