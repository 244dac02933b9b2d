"""The operator's verdict on one row of bonus evidence."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from medbroker.core.forms import KrdsFormMixin
from medbroker.reviews.models import EvidenceVerification


class EvidenceVerifyForm(KrdsFormMixin, forms.Form):
    kind = forms.ChoiceField(
        label=_("구분"), choices=EvidenceVerification.Kind.choices, widget=forms.HiddenInput
    )
    evidence_id = forms.IntegerField(label=_("증빙 ID"), min_value=1, widget=forms.HiddenInput)
    status = forms.ChoiceField(label=_("판정"), choices=EvidenceVerification.Status.choices)
    # Required for a rejection: the service says so, so the rule lives in one place.
    reason = forms.CharField(label=_("사유"), required=False, max_length=1000)
