"""The header's menu per role: exact top entries and dropdown children, the active entry, the markup."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser
from django.test import RequestFactory
from django.urls import NoReverseMatch, reverse

from medbroker.core import context_processors
from medbroker.core.context_processors import NAVIGATION, NavGroup, NavLink, navigation

pytestmark = pytest.mark.django_db


def _menu(entries):
    """Top labels, with a group written as (label, [child labels])."""
    return [
        (str(e["label"]), [str(c["label"]) for c in e["children"]]) if e["children"] else str(e["label"])
        for e in entries
    ]


def _menu_for(user, path="/"):
    request = RequestFactory().get(path)
    request.user = user or AnonymousUser()
    return navigation(request)["nav_entries"]


def _active(entries):
    found = []
    for entry in entries:
        if entry["active"]:
            found.append(str(entry["label"]))
        found += [str(c["label"]) for c in entry["children"] if c["active"]]
    return found


APPLICANT_MENU = [
    "데이터 카탈로그",
    "공모 안내",
    ("신청", ["수요 데이터 협의", "지원 신청", "평가 결과"]),
    ("지원 이용", ["지원 현황", "협약", "데이터 이용", "학습실 예약", "작업 공간", "결과보고", "성능시험"]),
    "기업 정보",
]
OPERATOR_MENU = [
    "데이터 카탈로그",
    "공모 안내",
    "운영 콘솔",
    "협의 답변",
    "평가위원회",
    (
        "선정 후 관리",
        [
            "협약",
            "협약 대기",
            "데이터 이용 권한",
            "추가 열람 요청",
            "학습실 현황",
            "GPU 자원",
            "작업 공간 현황",
            "성능시험 요청",
            "성능시험",
            "결과보고",
            "사업 현황",
        ],
    ),
    "감사 기록",
]
AUDITOR_MENU = [
    "데이터 카탈로그",
    "공모 안내",
    "운영 콘솔",
    "평가위원회",
    (
        "선정 후 관리",
        [
            "협약",
            "데이터 이용 권한",
            "학습실 현황",
            "GPU 자원",
            "작업 공간 현황",
            "성능시험 요청",
            "성능시험",
            "결과보고",
            "사업 현황",
        ],
    ),
    "감사 기록",
]


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("anonymous", ["데이터 카탈로그", "공모 안내"]),
        ("applicant", APPLICANT_MENU),
        ("other_applicant", APPLICANT_MENU),
        ("steward", ["데이터 카탈로그", "공모 안내", "기관 데이터셋"]),
        ("operator", OPERATOR_MENU),
        ("auditor", AUDITOR_MENU),
        ("reviewer", ["데이터 카탈로그", "공모 안내", "내 평가"]),
    ],
)
def test_navigation_per_role(role, expected, users_by_role):
    assert _menu(_menu_for(users_by_role[role])) == expected


def test_every_navigation_entry_resolves():
    for item in NAVIGATION:
        for link in item.children if isinstance(item, NavGroup) else (item,):
            assert reverse(link.url_name).startswith("/")


def test_an_entry_whose_route_does_not_exist_is_left_out(operator, monkeypatch):
    monkeypatch.setattr(
        context_processors,
        "NAVIGATION",
        [
            NavLink("calls:call_list", "공모 안내"),
            NavLink("nowhere:page", "없는 페이지"),
            NavGroup("빈 묶음", (NavLink("nowhere:other", "없는 하위 페이지", ("operator",)),)),
            NavGroup("묶음", (NavLink("nowhere:third", "없음"), NavLink("audit:event_list", "감사 기록"))),
        ],
    )
    with pytest.raises(NoReverseMatch):
        reverse("nowhere:page")

    assert _menu(_menu_for(operator)) == ["공모 안내", ("묶음", ["감사 기록"])]


def test_a_page_in_a_group_marks_the_child_and_its_group_active(operator):
    entries = _menu_for(operator, "/access/rooms/day/")

    assert _active(entries) == ["선정 후 관리", "학습실 현황"]


def test_the_longest_prefix_wins_inside_a_group(applicant):
    # "/outcomes/" (지원 현황) is a prefix of "/outcomes/reports/7/": only 결과보고 is current.
    entries = _menu_for(applicant, "/outcomes/reports/7/")

    assert _active(entries) == ["지원 이용", "결과보고"]


def test_the_workspace_pages_are_their_own_entries_not_the_gpu_page(applicant, operator):
    # "/compute/" (GPU 자원) is a prefix of both workspace pages.
    assert _active(_menu_for(applicant, "/compute/workspace/")) == ["지원 이용", "작업 공간"]
    assert _active(_menu_for(operator, "/compute/workspaces/")) == ["선정 후 관리", "작업 공간 현황"]


def test_a_child_the_user_does_not_see_activates_nothing(auditor):
    # The decision queue (/agreements/queue/) is the operator's: an auditor there is on no entry of theirs,
    # not on 협약 (/agreements/).
    assert _active(_menu_for(auditor, "/agreements/queue/")) == []


def test_only_the_longest_matching_entry_is_active(steward):
    assert _active(_menu_for(steward, "/catalog/mine/")) == ["기관 데이터셋"]


def test_a_page_under_an_entry_the_user_does_not_see_highlights_nothing(operator):
    assert _active(_menu_for(operator, "/calls/consultations/5/")) == []


def test_the_header_renders_groups_as_dropdowns_without_script(client, login, operator):
    login(client, operator)

    page = client.get(reverse("audit:event_list")).content.decode()

    assert '<details class="krds-drop-wrap drop-left">' in page
    assert "<summary>선정 후 관리</summary>" in page
    assert f'<a class="item-link" href="{reverse("compute:inventory")}">GPU 자원</a>' in page
    assert f'<a href="{reverse("audit:event_list")}" class="active" aria-current="page">감사 기록</a>' in page


def test_the_current_page_inside_a_group_is_marked_on_the_group_and_the_child(client, login, applicant):
    login(client, applicant)

    page = client.get(reverse("outcomes:report_list")).content.decode()

    assert '<summary class="active">지원 이용<span class="sr-only"> (현재 메뉴)</span></summary>' in page
    assert (
        f'<a class="item-link active" href="{reverse("outcomes:report_list")}" aria-current="page">결과보고</a>'
        in page
    )
    assert "<summary>신청</summary>" in page
