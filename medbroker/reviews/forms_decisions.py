"""The operator's decision form. The rules (datasets among those requested, GPU of the call, period within
the call's) live in ``services.decisions``; the form only turns the POST into typed values, so a forged
dataset id or GPU code reaches the service and gets its message."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from medbroker.calls.models import Application
from medbroker.reviews.models import Decision


class _AnyIdMultipleChoiceField(forms.TypedMultipleChoiceField):
    def valid_value(self, value: Any) -> bool:
        return str(value).isdigit()


class _AnyCodeChoiceField(forms.ChoiceField):
    def valid_value(self, value: Any) -> bool:
        return True


class DecisionForm(forms.Form):
    outcome = forms.ChoiceField(label=_("결과"), choices=Decision.Outcome.choices, widget=forms.RadioSelect)
    granted_dataset_ids = _AnyIdMultipleChoiceField(
        label=_("지원 데이터"), coerce=int, required=False, widget=forms.CheckboxSelectMultiple
    )
    granted_compute_code = _AnyCodeChoiceField(label=_("지원 GPU"), required=False)
    support_starts_on = forms.DateField(
        label=_("지원 시작일"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    support_ends_on = forms.DateField(
        label=_("지원 종료일"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=_("비워 두면 공모의 지원기간 종료일로 정합니다."),
    )
    note = forms.CharField(label=_("비고"), required=False, widget=forms.Textarea(attrs={"rows": 3}))

    def __init__(self, *args: Any, application: Application, decision: Decision | None = None, **kwargs: Any):
        if decision is not None and "initial" not in kwargs:
            kwargs["initial"] = {
                "outcome": decision.outcome,
                "granted_dataset_ids": list(decision.granted_datasets.values_list("pk", flat=True)),
                "granted_compute_code": decision.granted_compute.code if decision.granted_compute else "",
                "support_starts_on": decision.support_starts_on,
                "support_ends_on": decision.support_ends_on,
                "note": decision.note,
            }
        super().__init__(*args, **kwargs)
        datasets_field = self.fields["granted_dataset_ids"]
        compute_field = self.fields["granted_compute_code"]
        assert isinstance(datasets_field, forms.ChoiceField) and isinstance(compute_field, forms.ChoiceField)
        datasets_field.choices = [
            (
                row.pk,
                f"{row.dataset.title} · {row.amount:,}건" + (" (Annotation)" if row.needs_annotated else ""),
            )
            for row in application.requested_datasets.select_related("dataset").order_by("pk")
        ]
        compute_field.choices = [
            ("", _("지원하지 않음")),
            *[
                (option.code, str(option))
                for option in application.call.compute_options.order_by("order", "pk")
            ],
        ]
