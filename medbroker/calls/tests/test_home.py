"""The landing page: open call and deadline, the six steps, catalogue totals, shortcuts by role."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import time_machine
from django.test import Client
from django.urls import reverse

from medbroker.accounts.models import User
from medbroker.calls.selectors.calls import CatalogueTotals, catalogue_totals
from medbroker.calls.tests.factories import call_2025, call_with_window
from medbroker.catalog.models import Dataset, DataType
from medbroker.catalog.tests.factories import DatasetFactory, ModalityFactory
from medbroker.core.timeutils import kst

pytestmark = pytest.mark.django_db

Login = Callable[[Client, User | None], Client]


def test_home_shows_the_open_practice_call_with_its_deadline(client: Client) -> None:
    call_2025()
    call_with_window(opens_at=kst(2026, 3, 3, 9), closes_at=kst(2026, 3, 31, 16), slug="practice-2025")

    with time_machine.travel(kst(2026, 3, 10, 16), tick=False):
        response = client.get(reverse("home"))

    html = response.content.decode()
    assert [s.call.slug for s in response.context["current_calls"]] == ["practice-2025"]
    assert [s.call.slug for s in response.context["past_calls"]] == ["khealth-daegu-2025"]
    assert "2026-03-31 16:00:00 KST 마감" in html
    assert 'data-deadline="2026-03-31T16:00:00+09:00"' in html
    assert "21일 남음" in html
    assert '<span class="mb-badge practice">연습용</span>' in html
    assert "2025-07-21 16:00:00" in html  # the closed 2025 call, listed below


def test_home_without_an_open_call_says_so(client: Client) -> None:
    call_2025()

    with time_machine.travel(kst(2025, 8, 1), tick=False):
        response = client.get(reverse("home"))

    assert response.context["current_calls"] == []
    assert "현재 접수 중인 공모가 없습니다." in response.content.decode()


def test_six_steps_with_the_ones_this_platform_runs_highlighted(client: Client) -> None:
    response = client.get(reverse("home"))

    steps = response.context["steps"]
    assert [(s.number, s.symbol, s.title, s.live) for s in steps] == [
        (1, "①", "수요 데이터 협의", True),
        (2, "②", "사업계획서 제출", True),
        (3, "③", "검토위원회 선정", True),
        (4, "④", "협약", True),
        (5, "⑤", "데이터·컴퓨팅 자원 활용", True),
        (6, "⑥", "성과보고서", True),
    ]
    assert response.content.decode().count('<span class="mb-badge live">플랫폼에서 진행</span>') == 6


def test_catalogue_totals_count_published_datasets_only() -> None:
    DatasetFactory(annotated_count=10550, non_annotated_count=10950)
    DatasetFactory(annotated_count=500, non_annotated_count=1500)
    DatasetFactory(
        data_type=DataType.TIME_SERIES,
        modality=ModalityFactory(code="eeg", name="EEG", name_en="EEG", data_type=DataType.TIME_SERIES),
        annotated_count=0,
        non_annotated_count=100000,
    )
    DatasetFactory(publication=Dataset.Publication.DRAFT, annotated_count=999)

    assert catalogue_totals() == CatalogueTotals(
        datasets=3,
        institutions=3,
        imaging_cases=23500,
        time_series_cases=100000,
        imaging_modalities=["내시경"],
        time_series_modalities=["EEG"],
    )


def test_totals_are_shown_with_thousands_separators(client: Client) -> None:
    DatasetFactory(annotated_count=10550, non_annotated_count=10950)

    html = client.get(reverse("home")).content.decode()

    assert '<div class="mb-stat">21,500<small>건</small></div>' in html
    assert '<div class="mb-stat">1<small>개</small></div>' in html


@pytest.mark.parametrize(
    ("role", "labels"),
    [
        ("anonymous", []),
        (
            "applicant",
            [
                "내 수요 데이터 협의",
                "새 수요 데이터 협의",
                "내 지원 신청",
                "지원 현황",
                "학습실 예약",
                "기업 정보",
            ],
        ),
        ("operator", ["운영 콘솔", "협의 답변", "협약", "사업 현황", "감사 기록"]),
        ("auditor", ["운영 콘솔", "협약", "사업 현황", "수요 데이터 협의 현황", "감사 기록"]),
        ("steward", ["기관 데이터셋"]),
        ("reviewer", []),
    ],
)
def test_shortcuts_follow_the_roles(
    client: Client, login: Login, users_by_role: dict[str, User | None], role: str, labels: list[str]
) -> None:
    response = login(client, users_by_role[role]).get(reverse("home"))

    assert [s.label for s in response.context["shortcuts"]] == labels
