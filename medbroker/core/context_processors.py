"""The navigation of every page, chosen by the user's roles."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext_lazy as _

# (url name, label, roles that see it; None = everyone, "authenticated" = any signed-in user)
NAVIGATION: list[tuple[str, Any, tuple[str, ...] | None]] = [
    ("catalog:dataset_list", _("데이터 카탈로그"), None),
    ("calls:call_list", _("공모 안내"), None),
    ("calls:consultation_list", _("수요 데이터 협의"), ("applicant",)),
    ("calls:application_list", _("지원 신청"), ("applicant",)),
    ("accounts:company", _("기업 정보"), ("applicant",)),
    ("catalog:steward_dataset_list", _("기관 데이터셋"), ("data_steward",)),
    ("calls:console", _("운영 콘솔"), ("operator", "auditor")),
    ("calls:console_consultations", _("협의 답변"), ("operator",)),
    ("audit:event_list", _("감사 기록"), ("operator", "auditor")),
]


def navigation(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    roles: frozenset[str] = frozenset()
    if user is not None and user.is_authenticated:
        roles = getattr(user, "role_codes", frozenset())
    entries = []
    for name, label, allowed in NAVIGATION:
        if allowed is not None and not roles.intersection(allowed):
            continue
        try:
            url = reverse(name)
        except NoReverseMatch:
            continue
        entries.append({"url": url, "label": label, "active": False})
    # Highlight only the entry with the longest matching prefix (/catalog/mine/ is not /catalog/).
    matching = [e for e in entries if e["url"] != "/" and request.path.startswith(e["url"])]
    if matching:
        max(matching, key=lambda e: len(e["url"]))["active"] = True
    return {"nav_entries": entries}
