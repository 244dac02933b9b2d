"""The aggregation and ranking rules over plain numbers: no database."""

from __future__ import annotations

from decimal import Decimal

import pytest

from medbroker.core.errors import DomainError
from medbroker.reviews.services.ranking import (
    RankingCandidate,
    ScoreAggregate,
    rank,
    review_score,
    reviewer_statistics,
)

D = Decimal
TIE_BREAKS = ["item_mean:technical_merit", "untrimmed_total"]
LABELS = {"technical_merit": "사업내용의 기술성"}


def totals(*values: str) -> list[Decimal]:
    return [D(v) for v in values]


# ---------------------------------------------------------------------------------------------------------
# review_score
# ---------------------------------------------------------------------------------------------------------


def test_trimmed_mean_with_fewer_reviewers_than_the_minimum_is_the_plain_mean() -> None:
    aggregate = review_score(totals("90", "70", "80", "60"), aggregation="trimmed_mean", trim_min=5)

    assert aggregate == ScoreAggregate(
        score=D("75.00"), untrimmed_mean=D("75.00"), dropped_high=None, dropped_low=None, n=4
    )
    assert aggregate.is_trimmed is False


def test_trimmed_mean_at_the_minimum_drops_one_highest_and_one_lowest() -> None:
    aggregate = review_score(totals("90", "70", "80", "60", "95"), aggregation="trimmed_mean", trim_min=5)

    # (90 + 70 + 80) / 3 = 80; all five: 395 / 5 = 79.
    assert aggregate == ScoreAggregate(
        score=D("80.00"), untrimmed_mean=D("79.00"), dropped_high=D("95"), dropped_low=D("60"), n=5
    )
    assert aggregate.is_trimmed is True


def test_trimmed_mean_with_equal_extremes_drops_only_one_of_each() -> None:
    aggregate = review_score(
        totals("90", "90", "60", "60", "75", "80"), aggregation="trimmed_mean", trim_min=5
    )

    # Left: 90, 60, 75, 80 → 305 / 4 = 76.25 (not the mean of 75 and 80 only).
    assert aggregate == ScoreAggregate(
        score=D("76.25"), untrimmed_mean=D("75.83"), dropped_high=D("90"), dropped_low=D("60"), n=6
    )


def test_plain_mean_ignores_the_minimum() -> None:
    aggregate = review_score(totals("90", "70", "80", "60", "95"), aggregation="mean", trim_min=5)

    assert aggregate == ScoreAggregate(
        score=D("79.00"), untrimmed_mean=D("79.00"), dropped_high=None, dropped_low=None, n=5
    )


def test_mean_rounds_half_up_once_at_the_end() -> None:
    # 164.25 / 2 = 82.125: half-up gives 82.13 (Python's half-even would give 82.12).
    assert review_score(totals("82.12", "82.13"), aggregation="mean", trim_min=5).score == D("82.13")
    # 250 / 3 = 83.333…: 83.33.
    assert review_score(totals("83", "83", "84"), aggregation="mean", trim_min=5).score == D("83.33")
    # 251 / 3 = 83.666…: 83.67.
    assert review_score(totals("83", "84", "84"), aggregation="mean", trim_min=5).score == D("83.67")


def test_trimmed_mean_rounds_the_middle_mean_half_up() -> None:
    # Middle three: 70.01 + 70.02 + 70.02 = 210.05 → 70.0166… → 70.02.
    aggregate = review_score(
        totals("10", "70.01", "70.02", "70.02", "99"), aggregation="trimmed_mean", trim_min=5
    )

    assert aggregate.score == D("70.02")
    assert aggregate.untrimmed_mean == D("63.81")  # 319.05 / 5 = 63.81


def test_no_totals_gives_no_score() -> None:
    assert review_score([], aggregation="trimmed_mean", trim_min=5) == ScoreAggregate(
        score=None, untrimmed_mean=None, dropped_high=None, dropped_low=None, n=0
    )


def test_unknown_aggregation_is_refused() -> None:
    with pytest.raises(DomainError) as error:
        review_score(totals("80"), aggregation="median", trim_min=5)

    assert error.value.code == "unknown_aggregation"


# ---------------------------------------------------------------------------------------------------------
# rank: cut-off
# ---------------------------------------------------------------------------------------------------------


def candidate(
    subject: str,
    review: str | None,
    bonus: str = "0",
    *,
    untrimmed: str | None = None,
    technical_merit: str | None = None,
) -> RankingCandidate:
    score = None if review is None else D(review)
    return RankingCandidate(
        subject=subject,
        label=subject,
        aggregate=ScoreAggregate(
            score=score,
            untrimmed_mean=D(untrimmed) if untrimmed else score,
            dropped_high=None,
            dropped_low=None,
            n=0 if review is None else 3,
        ),
        bonus=D(bonus),
        item_means={"technical_merit": D(technical_merit)} if technical_merit else {},
    )


def summary(rows: list) -> list[tuple]:
    return [
        (
            row.subject,
            row.rank,
            row.review_score,
            row.bonus_score,
            row.final_score,
            row.status_label,
            row.tie_note,
        )
        for row in rows
    ]


def test_review_score_exactly_at_the_cut_off_passes_and_one_hundredth_below_fails() -> None:
    rows = rank(
        [candidate("below", "59.99", "10"), candidate("at", "60.00", "0"), candidate("high", "70.00", "1")],
        cutoff=D("60"),
        cutoff_basis="review",
        tie_breaks=TIE_BREAKS,
        item_labels=LABELS,
    )

    # "below" has the highest final score (69.99) but the bonus does not lift it over the review cut-off.
    assert summary(rows) == [
        ("high", 1, D("70.00"), D("1"), D("71.00"), "기준 충족", ""),
        ("at", 2, D("60.00"), D("0"), D("60.00"), "기준 충족", ""),
        ("below", 3, D("59.99"), D("10"), D("69.99"), "기준 미달", ""),
    ]
    assert [row.passes_cutoff for row in rows] == [True, True, False]


def test_cut_off_on_the_total_counts_the_bonus() -> None:
    rows = rank(
        [candidate("lifted", "55.00", "5"), candidate("short", "59.98", "0.01"), candidate("plain", "65.00")],
        cutoff=D("60"),
        cutoff_basis="total",
        tie_breaks=TIE_BREAKS,
    )

    assert summary(rows) == [
        ("plain", 1, D("65.00"), D("0"), D("65.00"), "기준 충족", ""),
        ("lifted", 2, D("55.00"), D("5"), D("60.00"), "기준 충족", ""),
        ("short", 3, D("59.98"), D("0.01"), D("59.99"), "기준 미달", ""),
    ]


def test_unscored_applications_come_last_without_a_rank() -> None:
    rows = rank(
        [candidate("none", None, "3"), candidate("weak", "40.00"), candidate("good", "80.00")],
        cutoff=D("60"),
        cutoff_basis="review",
        tie_breaks=TIE_BREAKS,
    )

    assert summary(rows) == [
        ("good", 1, D("80.00"), D("0"), D("80.00"), "기준 충족", ""),
        ("weak", 2, D("40.00"), D("0"), D("40.00"), "기준 미달", ""),
        ("none", None, None, D("3"), None, "평가 없음", ""),
    ]


def test_unknown_cutoff_basis_and_tie_break_are_refused() -> None:
    with pytest.raises(DomainError) as basis:
        rank([], cutoff=D("60"), cutoff_basis="bonus", tie_breaks=[])
    with pytest.raises(DomainError) as key:
        rank([], cutoff=D("60"), cutoff_basis="review", tie_breaks=["reviewer_count"])

    assert (basis.value.code, key.value.code) == ("unknown_cutoff_basis", "unknown_tie_break")


# ---------------------------------------------------------------------------------------------------------
# rank: tie-breaks
# ---------------------------------------------------------------------------------------------------------


def test_first_tie_break_decides() -> None:
    rows = rank(
        [
            candidate("a", "80.00", "2", technical_merit="24.00", untrimmed="90.00"),
            candidate("b", "81.00", "1", technical_merit="25.50", untrimmed="70.00"),
        ],
        cutoff=D("60"),
        cutoff_basis="review",
        tie_breaks=TIE_BREAKS,
        item_labels=LABELS,
    )

    assert [(row.subject, row.rank, row.final_score, row.shares_rank, row.tie_note) for row in rows] == [
        ("b", 1, D("82.00"), False, "동점: 사업내용의 기술성 항목 평균 25.50"),
        ("a", 2, D("82.00"), False, "동점: 사업내용의 기술성 항목 평균 24.00"),
    ]


def test_second_tie_break_decides_when_the_first_is_equal() -> None:
    rows = rank(
        [
            candidate("a", "80.00", technical_merit="25.00", untrimmed="79.50"),
            candidate("b", "80.00", technical_merit="25.00", untrimmed="80.25"),
        ],
        cutoff=D("60"),
        cutoff_basis="review",
        tie_breaks=TIE_BREAKS,
        item_labels=LABELS,
    )

    assert [(row.subject, row.rank, row.tie_note) for row in rows] == [
        ("b", 1, "동점: 사업내용의 기술성 항목 평균 25.00, 제외 전 총점 평균 80.25"),
        ("a", 2, "동점: 사업내용의 기술성 항목 평균 25.00, 제외 전 총점 평균 79.50"),
    ]


def test_rows_equal_on_every_key_share_the_rank_and_the_next_rank_is_skipped() -> None:
    rows = rank(
        [
            candidate("first", "90.00"),
            candidate("tied-1", "80.00", technical_merit="25.00", untrimmed="80.00"),
            candidate("tied-2", "80.00", technical_merit="25.00", untrimmed="80.00"),
            candidate("fourth", "70.00"),
        ],
        cutoff=D("60"),
        cutoff_basis="review",
        tie_breaks=TIE_BREAKS,
        item_labels=LABELS,
    )

    assert [(row.subject, row.rank, row.shares_rank) for row in rows] == [
        ("first", 1, False),
        ("tied-1", 2, True),
        ("tied-2", 2, True),
        ("fourth", 4, False),
    ]
    assert (
        rows[1].tie_note
        == "동점: 사업내용의 기술성 항목 평균 25.00, 제외 전 총점 평균 80.00 모두 같아 공동 순위"
    )
    assert rows[2].tie_note == rows[1].tie_note
    assert (rows[0].tie_note, rows[3].tie_note) == ("", "")


def test_without_tie_breaks_equal_finals_share_the_rank() -> None:
    rows = rank(
        [candidate("a", "80.00"), candidate("b", "80.00")],
        cutoff=D("60"),
        cutoff_basis="review",
        tie_breaks=[],
    )

    assert [(row.rank, row.tie_note) for row in rows] == [(1, "동점: 공동 순위"), (1, "동점: 공동 순위")]


def test_a_tie_across_the_cut_off_is_no_tie() -> None:
    # Same final score 62.00, but only one passes the review cut-off: no tie note, passing first.
    rows = rank(
        [candidate("bonus", "59.00", "3"), candidate("plain", "62.00")],
        cutoff=D("60"),
        cutoff_basis="review",
        tie_breaks=TIE_BREAKS,
    )

    assert [(row.subject, row.rank, row.tie_note) for row in rows] == [("plain", 1, ""), ("bonus", 2, "")]


# ---------------------------------------------------------------------------------------------------------
# reviewer_statistics
# ---------------------------------------------------------------------------------------------------------


def test_reviewer_statistics_flag_the_reviewer_far_from_the_panel() -> None:
    scores = {
        "kim": {"A": D("80"), "B": D("70")},
        "lee": {"A": D("82"), "B": D("68")},
        "park": {"A": D("50"), "B": D("38")},
    }

    stats = reviewer_statistics(scores, threshold=D("15"))

    # Panel means: A = 212 / 3 = 70.666…, B = 176 / 3 = 58.666….
    assert [
        (s.reviewer, s.n, s.mean_total, s.standard_deviation, s.mean_deviation, s.is_outlier) for s in stats
    ] == [
        ("kim", 2, D("75.00"), D("5.00"), D("10.33"), False),
        ("lee", 2, D("75.00"), D("7.00"), D("10.33"), False),
        ("park", 2, D("44.00"), D("6.00"), D("-20.67"), True),
    ]


def test_reviewer_statistics_compare_only_on_the_applications_each_reviewer_scored() -> None:
    # "choi" scores only B, which everyone rates low: a low mean total, but no deviation from the panel.
    scores = {
        "kim": {"A": D("90"), "B": D("40")},
        "choi": {"B": D("40")},
    }

    stats = reviewer_statistics(scores, threshold=D("15"))

    assert [(s.reviewer, s.mean_total, s.mean_deviation, s.is_outlier) for s in stats] == [
        ("kim", D("65.00"), D("0.00"), False),
        ("choi", D("40.00"), D("0.00"), False),
    ]


def test_deviation_equal_to_the_threshold_is_not_flagged() -> None:
    scores = {"kim": {"A": D("90")}, "lee": {"A": D("60")}}

    stats = reviewer_statistics(scores, threshold=D("15"))

    assert [(s.mean_deviation, s.is_outlier) for s in stats] == [(D("15.00"), False), (D("-15.00"), False)]
