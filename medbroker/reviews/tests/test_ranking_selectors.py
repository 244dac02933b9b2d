"""The committee's ranking assembled from the database: submitted sheets only, never a conflicted pair's,
plus the verified bonus; reviewer statistics; what the chair may see."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied
from django.http import Http404

from medbroker.accounts.models import User
from medbroker.reviews.models import Assignment, Conflict
from medbroker.reviews.selectors.ranking import (
    item_breakdown,
    ranking_access,
    ranking_for_committee,
    reviewer_statistics_for_committee,
    tie_break_labels,
)
from medbroker.reviews.services.scoring import score_sheet_for, score_sheet_save
from medbroker.reviews.tests.factories import committee_2025, member
from medbroker.reviews.tests.factories_ranking import (
    revenue_bonus_verify,
    scored_committee,
    sheet_points,
)

D = Decimal
pytestmark = pytest.mark.django_db


def rows_summary(committee) -> list[tuple]:
    return [
        (
            row.subject.company.name,
            row.rank,
            row.aggregate.n,
            row.review_score,
            row.bonus_score,
            row.final_score,
        )
        for row in ranking_for_committee(committee)
    ]


def test_ranking_uses_the_mean_of_submitted_totals_plus_verified_bonus(operator: User) -> None:
    committee = committee_2025(tie_breaks=["item_mean:technical_merit", "untrimmed_total"])
    scored = scored_committee(
        committee, operator=operator, totals={"가나의료": [80, 70, 75], "다라헬스": [90, 85, 86]}
    )
    revenue_bonus_verify(scored.applications["가나의료"], operator)

    assert rows_summary(committee) == [
        ("다라헬스", 1, 3, D("87.00"), D("0"), D("87.00")),
        ("가나의료", 2, 3, D("75.00"), D("3"), D("78.00")),
    ]


def test_unverified_bonus_evidence_does_not_count(operator: User) -> None:
    committee = committee_2025()
    scored = scored_committee(committee, operator=operator, totals={"가나의료": [80, 70]})
    application = scored.applications["가나의료"]
    application.revenues.create(year=2023, amount_krw=100_000_000)
    application.revenues.create(year=2024, amount_krw=150_000_000)

    assert rows_summary(committee) == [("가나의료", 1, 2, D("75.00"), D("0"), D("75.00"))]


def test_draft_sheets_do_not_count(operator: User) -> None:
    committee = committee_2025()
    scored = scored_committee(committee, operator=operator, totals={"가나의료": [80, None]})
    draft_member = scored.members[1]
    assignment = Assignment.objects.get(member=draft_member, application=scored.applications["가나의료"])
    sheet = score_sheet_for(assignment, actor=draft_member.user)
    score_sheet_save(
        sheet,
        entries={code: {"points": v, "comment": ""} for code, v in sheet_points(20).items()},
        actor=draft_member.user,
    )

    assert rows_summary(committee) == [("가나의료", 1, 1, D("80.00"), D("0"), D("80.00"))]


def test_a_conflict_upheld_after_submission_removes_that_score(operator: User) -> None:
    committee = committee_2025()
    scored = scored_committee(committee, operator=operator, totals={"가나의료": [80, 40]})
    # A relation declared late: the pair is conflicted from now on, its submitted sheet no longer counts.
    Conflict.objects.create(
        member=scored.members[1],
        application=scored.applications["가나의료"],
        kind=Conflict.Kind.RECUSAL,
        reason="지분 보유",
    )

    assert rows_summary(committee) == [("가나의료", 1, 1, D("80.00"), D("0"), D("80.00"))]


def test_trimmed_mean_setting_applies_from_five_reviewers(operator: User) -> None:
    committee = committee_2025(aggregation="trimmed_mean", trim_min_reviewers=5)
    scored_committee(
        committee,
        operator=operator,
        totals={"다섯명": [95, 60, 80, 70, 90], "네명": [95, 60, 80, 70]},
    )

    rows = ranking_for_committee(committee)

    assert [
        (
            r.subject.company.name,
            r.review_score,
            r.aggregate.untrimmed_mean,
            r.aggregate.dropped_high,
            r.aggregate.dropped_low,
        )
        for r in rows
    ] == [
        ("다섯명", D("80.00"), D("79.00"), D("95.00"), D("60.00")),
        ("네명", D("76.25"), D("76.25"), None, None),
    ]


def test_item_means_feed_the_tie_break_and_the_company_breakdown(operator: User) -> None:
    committee = committee_2025(tie_breaks=["item_mean:technical_merit", "untrimmed_total"])
    scored = scored_committee(
        committee,
        operator=operator,
        totals={"가나의료": [80, 80], "다라헬스": [80, 80]},
        technical_merit={"가나의료": ["20", "21.5"], "다라헬스": ["25", "24"]},
    )

    rows = ranking_for_committee(committee)

    assert [(r.subject.company.name, r.rank, r.item_means["technical_merit"], r.tie_note) for r in rows] == [
        ("다라헬스", 1, D("24.50"), "동점: 사업내용의 기술성 항목 평균 24.50"),
        ("가나의료", 2, D("20.75"), "동점: 사업내용의 기술성 항목 평균 20.75"),
    ]
    # 80 − 20 = 60 spread in rubric order: 10, 5, 15, 10, then 20 on industry contribution.
    assert [
        (item.code, item.max_points, item.mean) for item in item_breakdown(scored.applications["가나의료"])
    ] == [
        ("org_capability", 10, D("10.00")),
        ("execution_capacity", 5, D("5.00")),
        ("goal_clarity", 15, D("15.00")),
        ("contents_strategy", 10, D("10.00")),
        ("technical_merit", 30, D("20.75")),
        ("industry_contribution", 30, D("19.25")),
    ]
    assert tie_break_labels(committee) == ["사업내용의 기술성 항목 평균", "제외 전 총점 평균"]


def test_reviewer_statistics_of_the_committee_flag_the_severe_reviewer(operator: User) -> None:
    committee = committee_2025(outlier_threshold=D("15"))
    scored = scored_committee(
        committee, operator=operator, totals={"가나의료": [80, 82, 50], "다라헬스": [70, 68, 38]}
    )

    stats = reviewer_statistics_for_committee(committee)

    assert [
        (s.reviewer, s.n, s.mean_total, s.standard_deviation, s.mean_deviation, s.is_outlier) for s in stats
    ] == [
        (scored.members[0], 2, D("75.00"), D("5.00"), D("10.33"), False),
        (scored.members[1], 2, D("75.00"), D("7.00"), D("10.33"), False),
        (scored.members[2], 2, D("44.00"), D("6.00"), D("-20.67"), True),
    ]


def test_the_chair_sees_the_ranking_without_the_applications_of_their_conflicts(operator: User) -> None:
    committee = committee_2025()
    scored = scored_committee(
        committee, operator=operator, totals={"가나의료": [80, 70], "다라헬스": [None, 60]}
    )
    chair = scored.members[0]
    Conflict.objects.create(
        member=chair, application=scored.applications["다라헬스"], kind=Conflict.Kind.RECUSAL, reason="자문"
    )

    access = ranking_access(user=chair.user, pk=committee.pk)

    assert access.chair == chair
    assert access.hidden_application_ids == frozenset({scored.applications["다라헬스"].pk})
    # The other member's 60 for 다라헬스 is left out of every figure the chair reads.
    stats = reviewer_statistics_for_committee(committee, hidden_application_ids=access.hidden_application_ids)
    assert [(s.reviewer, s.n, s.mean_total) for s in stats] == [
        (scored.members[0], 1, D("80.00")),
        (scored.members[1], 1, D("70.00")),
    ]


def test_ranking_access_refuses_members_who_are_not_chair_and_unknown_committees(
    operator: User, auditor: User, reviewer: User
) -> None:
    committee = committee_2025()
    plain = member(committee, username="plain")

    assert ranking_access(user=operator, pk=committee.pk).is_staff is True
    assert ranking_access(user=auditor, pk=committee.pk).is_staff is True
    with pytest.raises(PermissionDenied):
        ranking_access(user=plain.user, pk=committee.pk)
    with pytest.raises(PermissionDenied):
        ranking_access(user=reviewer, pk=committee.pk)
    with pytest.raises(Http404):
        ranking_access(user=operator, pk=committee.pk + 1)
