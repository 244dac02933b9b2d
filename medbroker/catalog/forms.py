"""The data steward's dataset form. It only validates input; the view hands ``cleaned_data`` to a service."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.db.models import QuerySet
from django.forms.models import model_to_dict
from django.utils.translation import gettext_lazy as _

from medbroker.catalog.models import Dataset, Institution
from medbroker.catalog.services import DATASET_EDITABLE_FIELDS
from medbroker.core.forms import KrdsFormMixin


class DatasetForm(KrdsFormMixin, forms.ModelForm):
    # Typed as "DICOM, JPEG" rather than as JSON: stewards are not expected to write JSON for a list.
    formats = forms.CharField(
        label=_("파일 형식"),
        required=False,
        help_text=_("쉼표로 구분해 입력합니다. 예: DICOM, JPEG"),
    )
    key_information = forms.CharField(
        label=_("주요 정보"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text=_('항목 이름과 값의 JSON 객체입니다. 예: {"촬영 기간": "2019–2023", "해상도": "512×512"}'),
    )

    class Meta:
        model = Dataset
        fields = list(DATASET_EDITABLE_FIELDS)
        widgets = {
            "description": forms.Textarea(attrs={"rows": 4}),
            "annotation_description": forms.Textarea(attrs={"rows": 3}),
        }

    def __init__(
        self,
        data: Any = None,
        *,
        dataset: Dataset | None = None,
        institutions: QuerySet[Institution] | None = None,
    ) -> None:
        # Bound to no instance on purpose: the services write the model, and ModelForm would otherwise copy
        # the input onto the dataset object the view still holds before the service has checked it.
        initial: dict[str, Any] = {}
        if dataset is not None:
            initial = model_to_dict(dataset, fields=DATASET_EDITABLE_FIELDS)
            initial["formats"] = ", ".join(dataset.formats or [])
            initial["key_information"] = (
                json.dumps(dataset.key_information, ensure_ascii=False, indent=2)
                if dataset.key_information
                else ""
            )
        super().__init__(data, initial=initial)
        if institutions is not None:
            # Only when creating: the holder of an existing dataset does not change.
            self.fields["institution"] = forms.ModelChoiceField(
                label=_("보유기관"), queryset=institutions, empty_label=None
            )
            self.fields["institution"].widget.attrs["class"] = "krds-form-select"
            self.order_fields(["institution", *DATASET_EDITABLE_FIELDS])

    def clean_formats(self) -> list[str]:
        raw: str = self.cleaned_data.get("formats") or ""
        return list(dict.fromkeys(part.strip() for part in raw.split(",") if part.strip()))

    def clean_key_information(self) -> dict[str, Any]:
        raw: str = (self.cleaned_data.get("key_information") or "").strip()
        if not raw:
            return {}
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as error:
            raise forms.ValidationError(
                _("JSON 형식이 올바르지 않습니다(%(line)s번째 줄): %(message)s"),
                params={"line": error.lineno, "message": error.msg},
            ) from error
        if not isinstance(value, dict):
            raise forms.ValidationError(_('{"항목": "값"} 형태의 JSON 객체로 입력해 주세요.'))
        return value

    def service_data(self) -> dict[str, Any]:
        return {
            name: self.cleaned_data[name] for name in DATASET_EDITABLE_FIELDS if name in self.cleaned_data
        }


class DatasetWithdrawForm(forms.Form):
    reason = forms.CharField(label=_("공개 중단 사유"), required=False, max_length=500)
