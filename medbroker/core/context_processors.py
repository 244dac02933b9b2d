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
    ("reviews:company_results", _("평가 결과"), ("applicant",)),
    ("accounts:company", _("기업 정보"), ("applicant",)),
    ("catalog:steward_dataset_list", _("기관 데이터셋"), ("data_steward",)),
    ("calls:console", _("운영 콘솔"), ("operator", "auditor")),
    ("calls:console_consultations", _("협의 답변"), ("operator",)),
    ("reviews:committee_list", _("평가위원회"), ("operator", "auditor")),
    ("reviews:reviewer_queue", _("내 평가"), ("reviewer",)),
    ("audit:event_list", _("감사 기록"), ("operator", "auditor")),
]


def navigation(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    roles: frozenset[str] = frozenset()
    if user is not None and user.is_authenticated:
        roles = getattr(user, "role_codes", frozenset())
    entries = []
    best_url = ""
    for name, label, allowed in NAVIGATION:
        try:
            url = reverse(name)
        except NoReverseMatch:
            continue
        # The longest matching prefix over ALL entries wins, visible or not: an operator reading a
        # company's consultation (/calls/consultations/5/) is not on "공모 안내" (/calls/).
        if url != "/" and request.path.startswith(url) and len(url) > len(best_url):
            best_url = url
        if allowed is not None and not roles.intersection(allowed):
            continue
        entries.append({"url": url, "label": label, "active": False})
    for entry in entries:
        entry["active"] = entry["url"] == best_url
    return {"nav_entries": entries}
