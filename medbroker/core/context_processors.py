"""The navigation of every page, chosen by the user's roles.

After selection a company and the lab staff each have a handful of pages more (agreement, grants, room,
GPU, report, dashboard). Those sit in groups, rendered as a dropdown in the header, so the top bar stays
one line: a group shows only the children the user may open, and a group with no such child is not shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext_lazy as _

# Role codes (accounts.models.Role); core imports nothing of ours, so they are spelled out here.
APPLICANT = ("applicant",)
OPERATOR = ("operator",)
STAFF = ("operator", "auditor")


@dataclass(frozen=True)
class NavLink:
    """One page: its URL name, label and the roles that see it (None = everyone)."""

    url_name: str
    label: Any
    roles: tuple[str, ...] | None = None


@dataclass(frozen=True)
class NavGroup:
    """A top entry with children, shown as a dropdown; visible when at least one child is."""

    label: Any
    children: tuple[NavLink, ...]


NAVIGATION: list[NavLink | NavGroup] = [
    NavLink("catalog:dataset_list", _("데이터 카탈로그")),
    NavLink("calls:call_list", _("공모 안내")),
    NavGroup(
        _("신청"),
        (
            NavLink("calls:consultation_list", _("수요 데이터 협의"), APPLICANT),
            NavLink("calls:application_list", _("지원 신청"), APPLICANT),
            NavLink("reviews:company_results", _("평가 결과"), APPLICANT),
        ),
    ),
    NavGroup(
        _("지원 이용"),
        (
            NavLink("outcomes:company_overview", _("지원 현황"), APPLICANT),
            NavLink("agreements:agreement_list", _("협약"), APPLICANT),
            NavLink("access:grant_list", _("데이터 이용"), APPLICANT),
            NavLink("access:booking_list", _("학습실 예약"), APPLICANT),
            NavLink("compute:workspace", _("작업 공간"), APPLICANT),
            NavLink("outcomes:report_list", _("결과보고"), APPLICANT),
            NavLink("evaluations:evaluation_list", _("성능시험"), APPLICANT),
        ),
    ),
    NavLink("accounts:company", _("기업 정보"), APPLICANT),
    NavLink("catalog:steward_dataset_list", _("기관 데이터셋"), ("data_steward",)),
    NavLink("calls:console", _("운영 콘솔"), STAFF),
    NavLink("calls:console_consultations", _("협의 답변"), OPERATOR),
    NavLink("reviews:committee_list", _("평가위원회"), STAFF),
    NavLink("reviews:reviewer_queue", _("내 평가"), ("reviewer",)),
    NavGroup(
        _("선정 후 관리"),
        (
            NavLink("agreements:agreement_list", _("협약"), STAFF),
            NavLink("agreements:decision_queue", _("협약 대기"), OPERATOR),
            NavLink("access:grant_list", _("데이터 이용 권한"), STAFF),
            NavLink("access:viewing_request_list", _("추가 열람 요청"), OPERATOR),
            NavLink("access:room_day", _("학습실 현황"), STAFF),
            NavLink("compute:inventory", _("GPU 자원"), STAFF),
            NavLink("compute:workspace_list", _("작업 공간 현황"), STAFF),
            NavLink("agreements:test_request_list", _("성능시험 요청"), STAFF),
            NavLink("evaluations:evaluation_list", _("성능시험"), STAFF),
            NavLink("outcomes:report_list", _("결과보고"), STAFF),
            NavLink("outcomes:dashboard", _("사업 현황"), STAFF),
        ),
    ),
    NavLink("audit:event_list", _("감사 기록"), STAFF),
]


def _url(link: NavLink) -> str | None:
    # A page whose app has no route under that name yet is left out rather than breaking every page.
    try:
        return reverse(link.url_name)
    except NoReverseMatch:
        return None


def _visible(link: NavLink, roles: frozenset[str]) -> bool:
    return link.roles is None or bool(roles.intersection(link.roles))


def _longest_prefix(path: str, urls: list[str]) -> str:
    # The longest matching prefix over ALL entries wins, visible or not: an operator reading a company's
    # consultation (/calls/consultations/5/) is not on "공모 안내" (/calls/).
    best = ""
    for url in urls:
        if url != "/" and path.startswith(url) and len(url) > len(best):
            best = url
    return best


def navigation(request: HttpRequest) -> dict[str, Any]:
    """``nav_entries``: top entries, each ``{"label", "url", "active", "children"}``.

    A link has ``url`` and no children; a group has ``url`` None and its visible links as ``children``,
    and is active when one of them is.
    """
    user = getattr(request, "user", None)
    roles: frozenset[str] = frozenset()
    if user is not None and user.is_authenticated:
        roles = getattr(user, "role_codes", frozenset())

    urls: dict[str, str] = {}
    for item in NAVIGATION:
        for link in item.children if isinstance(item, NavGroup) else (item,):
            url = _url(link)
            if url is not None:
                urls[link.url_name] = url
    best_url = _longest_prefix(request.path, list(urls.values()))

    def shown(link: NavLink) -> bool:
        return link.url_name in urls and _visible(link, roles)

    def link_entry(link: NavLink) -> dict[str, Any]:
        url = urls[link.url_name]
        return {"label": link.label, "url": url, "active": url == best_url, "children": []}

    entries: list[dict[str, Any]] = []
    for item in NAVIGATION:
        if isinstance(item, NavLink):
            if shown(item):
                entries.append(link_entry(item))
            continue
        children = [link_entry(link) for link in item.children if shown(link)]
        if children:
            entries.append(
                {
                    "label": item.label,
                    "url": None,
                    "active": any(child["active"] for child in children),
                    "children": children,
                }
            )
    return {"nav_entries": entries}
