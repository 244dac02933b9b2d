"""Exports: score sheets per reviewer and the ranking to Excel (read back with openpyxl), minutes as a PDF.
Every export is audit-logged; a conflicted pair's sheet never reaches a file."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterator
from decimal import Decimal

import pytest
import time_machine
from django.template.loader import render_to_string
from openpyxl import load_workbook

from medbroker.accounts.models import User
from medbroker.audit.models import AuditEvent
from medbroker.core.timeutils import kst
from medbroker.reviews.models import Conflict
from medbroker.reviews.services.decisions import decision_record
from medbroker.reviews.services.exports import (
    MINUTES_TEMPLATE,
    minutes_context,
    minutes_pdf,
    ranking_workbook,
    score_sheets_workbook,
)
from medbroker.reviews.tests.factories import committee_2025
from medbroker.reviews.tests.factories_ranking import (
    ScoredCommittee,
    close,
    revenue_bonus_verify,
    scored_committee,
    sheet_submit,
)

D = Decimal
pytestmark = pytest.mark.django_db
NOW = kst(2025, 8, 20, 14, 0, 0)
SHEET_HEADERS = [
    "접수번호",
    "기업명",
    "과제명",
    "추진 조직 역량 및 의지(10)",
    "추진 조직 역량 및 의지 의견",
    "사업추진 수행역량(5)",
    "사업추진 수행역량 의견",
    "사업목표의 명확성(15)",
    "사업목표의 명확성 의견",
    "사업내용 및 추진전략(10)",
    "사업내용 및 추진전략 의견",
    "사업내용의 기술성(30)",
    "사업내용의 기술성 의견",
    "의료산업 공헌도(30)",
    "의료산업 공헌도 의견",
    "합계",
    "종합 의견",
    "제출 시각(KST)",
]


@pytest.fixture(autouse=True)
def _frozen_clock() -> Iterator[None]:
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def scored(operator: User) -> ScoredCommittee:
    """r1 (chair) and r2 score 가나의료; only r2 scores 다라헬스: r1 recused (회피) before scoring it."""
    committee = committee_2025(tie_breaks=["item_mean:technical_merit", "untrimmed_total"])
    scored = scored_committee(
        committee, operator=operator, totals={"가나의료": [80, 70], "다라헬스": [None, 65]}
    )
    Conflict.objects.create(
        member=scored.members[0],
        application=scored.applications["다라헬스"],
        kind=Conflict.Kind.RECUSAL,
        reason="최근 3년 내 자문",
    )
    revenue_bonus_verify(scored.applications["가나의료"], operator)
    return scored


def _workbook(content: bytes):
    return load_workbook(io.BytesIO(content))


def test_score_sheets_workbook_has_one_sheet_per_reviewer_with_points_and_comments(
    operator: User, auditor: User
) -> None:
    committee = committee_2025()
    scored = scored_committee(committee, operator=operator, totals={"가나의료": [None, 70]})
    r1 = scored.members[0]
    sheet_submit(
        r1,
        scored.applications["가나의료"],
        {
            "org_capability": D("8"),
            "execution_capacity": D("4.5"),
            "goal_clarity": D("12"),
            "contents_strategy": D("7"),
            "technical_merit": D("25"),
            "industry_contribution": D("20"),
        },
        comments={"technical_merit": "차별성이 뚜렷함"},
        overall_comment="상용화 계획이 구체적",
    )

    workbook = _workbook(score_sheets_workbook(committee, actor=auditor))

    assert workbook.sheetnames == ["1. 김하늘", "2. 이도윤"]
    first = list(workbook["1. 김하늘"].iter_rows(values_only=True))
    receipt = scored.applications["가나의료"].receipt_number
    assert first[0] == tuple(SHEET_HEADERS)
    assert first[1:] == [
        (
            receipt,
            "가나의료",
            "위 내시경 병변 검출 AI",
            8,
            None,
            4.5,
            None,
            12,
            None,
            7,
            None,
            25,
            "차별성이 뚜렷함",
            20,
            None,
            76.5,
            "상용화 계획이 구체적",
            NOW.replace(tzinfo=None),  # Excel holds the KST wall-clock time, naive
        )
    ]
    second = list(workbook["2. 이도윤"].iter_rows(values_only=True))
    assert [row[0] for row in second[1:]] == [receipt]
    assert second[1][15] == 70
    event = AuditEvent.objects.get(action="reviews.score_sheets_exported")
    assert (event.actor, event.object_type, event.object_id) == (
        auditor,
        "reviews.committee",
        str(committee.pk),
    )
    assert event.data == {"call": "khealth-daegu-2025", "sheets": 2, "sheets_by_reviewer": {"r1": 1, "r2": 1}}


def test_score_sheets_workbook_never_holds_a_conflicted_pair(scored: ScoredCommittee, operator: User) -> None:
    # r1 had also submitted for 다라헬스 before the recusal was recorded: the sheet exists, but not in the file.
    Conflict.objects.all().delete()
    sheet_submit(
        scored.members[0],
        scored.applications["다라헬스"],
        {
            "org_capability": D("1"),
            **{
                code: D("0")
                for code in (
                    "execution_capacity",
                    "goal_clarity",
                    "contents_strategy",
                    "technical_merit",
                    "industry_contribution",
                )
            },
        },
    )
    Conflict.objects.create(
        member=scored.members[0],
        application=scored.applications["다라헬스"],
        kind=Conflict.Kind.RECUSAL,
        reason="자문",
    )

    workbook = _workbook(score_sheets_workbook(scored.committee, actor=operator))

    receipts = {
        name: [row[1] for row in workbook[name].iter_rows(min_row=2, values_only=True)]
        for name in workbook.sheetnames
    }
    assert receipts == {"1. 김하늘": ["가나의료"], "2. 이도윤": ["가나의료", "다라헬스"]}


def test_ranking_workbook_reads_back_with_exact_values(scored: ScoredCommittee, operator: User) -> None:
    close(scored.committee, operator)
    decision_record(application=scored.applications["다라헬스"], outcome="reserve", actor=operator)

    workbook = _workbook(ranking_workbook(scored.committee, actor=operator))

    assert workbook.sheetnames == ["순위", "평가 방식"]
    rows = list(workbook["순위"].iter_rows(values_only=True))
    assert rows[0] == (
        "순위",
        "접수번호",
        "기업명",
        "과제명",
        "평가위원 수",
        "서면평가 점수",
        "제외 전 평균",
        "제외한 최고점",
        "제외한 최저점",
        "우대사항 점수(확인분)",
        "최종 점수",
        "기준 점수",
        "동점 처리",
        "추진 조직 역량 및 의지 평균",
        "사업추진 수행역량 평균",
        "사업목표의 명확성 평균",
        "사업내용 및 추진전략 평균",
        "사업내용의 기술성 평균",
        "의료산업 공헌도 평균",
        "선정 결과",
    )
    ga, da = scored.applications["가나의료"], scored.applications["다라헬스"]
    assert rows[1:] == [
        (
            1,
            ga.receipt_number,
            "가나의료",
            "위 내시경 병변 검출 AI",
            2,
            75,
            75,
            None,
            None,
            3,
            78,
            "기준 충족",
            None,
            10,
            5,
            15,
            10,
            30,
            5,
            None,
        ),
        (
            2,
            da.receipt_number,
            "다라헬스",
            "위 내시경 병변 검출 AI",
            1,
            65,
            65,
            None,
            None,
            0,
            65,
            "기준 충족",
            None,
            10,
            5,
            15,
            10,
            25,
            0,
            "예비",
        ),
    ]
    method = list(workbook["평가 방식"].iter_rows(values_only=True))
    assert method[:9] == [
        ("항목", "내용"),
        ("공모", scored.committee.call.title),
        ("평가위원회", "2025 K-Health 대구 서면평가위원회"),
        ("채점 방식", "점수 직접 입력(0~배점)"),
        ("점수 집계", "평균"),
        ("선정 기준 점수", "60.00"),
        ("기준 점수 적용 대상", "서면평가 점수(우대사항 제외)"),
        ("동점 처리 순서", "최종 점수 → 사업내용의 기술성 항목 평균 → 제외 전 총점 평균"),
        ("편차 경고 기준(점)", "15.00"),
    ]
    event = AuditEvent.objects.get(action="reviews.ranking_exported")
    assert (event.actor, event.data) == (operator, {"call": "khealth-daegu-2025", "applications": 2})


def test_minutes_state_members_conflicts_method_and_outcomes(scored: ScoredCommittee, operator: User) -> None:
    with time_machine.travel(kst(2025, 8, 14, 17, 0, 0), tick=False):
        committee = close(scored.committee, operator)
    decision_record(application=scored.applications["다라헬스"], outcome="reserve", actor=operator)

    context = minutes_context(committee)
    html = render_to_string(MINUTES_TEMPLATE, context)

    assert context["held_on"] == dt.date(2025, 8, 14)
    assert [m.user.display_name for m in context["members"]] == ["김하늘", "이도윤"]
    assert context["chair"] == scored.members[0]
    for text in (
        "평가위원회 회의록",
        scored.committee.call.title,
        "2025년 8월 14일",
        "김하늘",
        "이도윤",
        "회피",
        "최근 3년 내 자문",
        "위원 본인 회피",
        "최종 점수 → 사업내용의 기술성 항목 평균 → 제외 전 총점 평균",
        "78.00",
        "예비",
        "(서명)",
    ):
        assert text in html, text


def test_minutes_pdf_is_a_pdf_and_is_audited(scored: ScoredCommittee, auditor: User) -> None:
    content = minutes_pdf(scored.committee, actor=auditor)

    assert content.startswith(b"%PDF-")
    assert len(content) > 5000
    event = AuditEvent.objects.get(action="reviews.minutes_exported")
    assert (event.actor, event.object_type, event.data) == (
        auditor,
        "reviews.committee",
        {"call": "khealth-daegu-2025", "applications": 2, "conflicts": 1},
    )
