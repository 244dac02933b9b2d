"""The filters of the audit log page; its exports read the same query string through the same form."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from medbroker.audit.selectors import AuditEventFilter
from medbroker.core.forms import KrdsFormMixin


class AuditEventFilterForm(KrdsFormMixin, forms.Form):
    date_from = forms.DateField(
        label=_("시작일(KST)"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        label=_("종료일(KST)"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    actor = forms.CharField(
        label=_("행위자 아이디"), required=False, max_length=150, help_text=_("시스템 작업은 system")
    )
    app = forms.ChoiceField(label=_("업무 영역"), required=False)
    action = forms.ChoiceField(label=_("행위"), required=False)
    object_type = forms.ChoiceField(label=_("대상 종류"), required=False)
    q = forms.CharField(label=_("검색어"), required=False, max_length=200, help_text=_("요약·행위자·대상 ID"))

    def __init__(
        self, *args: Any, apps: list[str], actions: list[str], object_types: list[str], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["app"].choices = [("", _("전체")), *((app, app) for app in apps)]  # type: ignore[attr-defined]
        self.fields["action"].choices = [("", _("전체")), *((a, a) for a in actions)]  # type: ignore[attr-defined]
        self.fields["object_type"].choices = [  # type: ignore[attr-defined]
            ("", _("전체")),
            *((t, t) for t in object_types),
        ]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        start, end = cleaned.get("date_from"), cleaned.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", _("종료일은 시작일과 같거나 뒤여야 합니다."))
        return cleaned

    def filters(self) -> AuditEventFilter:
        """The valid filters; a field with an error is left out (the page says which)."""
        data = self.cleaned_data if hasattr(self, "cleaned_data") else {}
        return AuditEventFilter(
            date_from=data.get("date_from"),
            date_to=data.get("date_to"),
            actor=(data.get("actor") or "").strip(),
            app=data.get("app") or "",
            action=data.get("action") or "",
            object_type=data.get("object_type") or "",
            query=(data.get("q") or "").strip(),
        )
