"""Forms of the compute pages: releasing a GPU with a reason, and uploading a cluster usage CSV."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from medbroker.core.forms import KrdsFormMixin


class ReleaseForm(KrdsFormMixin, forms.Form):
    reason = forms.CharField(
        label=_("반납 사유"),
        max_length=300,
        help_text=_("기업에 보이고 감사 기록에 남습니다. 예: 과제 조기 종료, 협약 해지."),
    )


class UsageImportForm(KrdsFormMixin, forms.Form):
    file = forms.FileField(
        label=_("사용량 CSV 파일"),
        help_text=_("UTF-8 CSV, 머리글 date,node,gpu,agreement,gpu_hours"),
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}),
    )
