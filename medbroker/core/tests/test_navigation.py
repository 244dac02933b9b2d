from __future__ import annotations

import pytest
from django.test import RequestFactory

from medbroker.core.context_processors import NAVIGATION, navigation

pytestmark = pytest.mark.django_db


def _labels(entries):
    return [str(e["label"]) for e in entries]


def test_every_navigation_entry_resolves():
    from django.urls import reverse

    for name, _label, _roles in NAVIGATION:
        assert reverse(name).startswith("/")


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("anonymous", ["데이터 카탈로그", "공모 안내"]),
        (
            "applicant",
            ["데이터 카탈로그", "공모 안내", "수요 데이터 협의", "지원 신청", "평가 결과", "기업 정보"],
        ),
        ("steward", ["데이터 카탈로그", "공모 안내", "기관 데이터셋"]),
        ("operator", ["데이터 카탈로그", "공모 안내", "운영 콘솔", "협의 답변", "평가위원회", "감사 기록"]),
        ("auditor", ["데이터 카탈로그", "공모 안내", "운영 콘솔", "평가위원회", "감사 기록"]),
        ("reviewer", ["데이터 카탈로그", "공모 안내", "내 평가"]),
    ],
)
def test_navigation_per_role(role, expected, users_by_role):
    from django.contrib.auth.models import AnonymousUser

    request = RequestFactory().get("/")
    request.user = users_by_role[role] or AnonymousUser()

    assert _labels(navigation(request)["nav_entries"]) == expected


def test_only_the_longest_matching_entry_is_active(steward):
    request = RequestFactory().get("/catalog/mine/")
    request.user = steward

    active = [str(e["label"]) for e in navigation(request)["nav_entries"] if e["active"]]

    assert active == ["기관 데이터셋"]


def test_a_page_under_an_entry_the_user_does_not_see_highlights_nothing(operator):
    request = RequestFactory().get("/calls/consultations/5/")
    request.user = operator

    assert [str(e["label"]) for e in navigation(request)["nav_entries"] if e["active"]] == []
