"""Aggregation and ranking of a committee's scores, as pure functions over plain data.

Nothing here reads the database: the selector (``reviews.selectors.ranking``) gathers the submitted sheets
and the verified bonus, and these functions decide. That keeps every rule of the call testable with numbers
alone, and lets the exports, the minutes and the decision snapshot show exactly what the page shows.

Rounding rule: every mean is computed exactly in ``Decimal`` and rounded once, at the end, half-up to two
places (82.125 → 82.13). Rounding the intermediate sums instead could move a company across the cut-off
by a hundredth, and a half-up rule is the one a Korean reviewer checks with a calculator (ROUND_HALF_EVEN,
Python's default, would give 82.12).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.utils.translation import gettext as _

from medbroker.core.errors import DomainError

TWO_PLACES = Decimal("0.01")

AGGREGATION_MEAN = "mean"
AGGREGATION_TRIMMED_MEAN = "trimmed_mean"
CUTOFF_BASIS_REVIEW = "review"
CUTOFF_BASIS_TOTAL = "total"

TIE_BREAK_ITEM_MEAN = "item_mean:"
TIE_BREAK_UNTRIMMED_TOTAL = "untrimmed_total"


def round_half_up(value: Decimal) -> Decimal:
    """The one rounding step of the module (see the module docstring)."""
    return value.quantize(TWO_PLACES, rounding=ROUND_HALF_UP)


def _mean(values: Sequence[Decimal]) -> Decimal:
    return sum(values, Decimal("0")) / Decimal(len(values))


# ---------------------------------------------------------------------------------------------------------
# Review score of one application
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScoreAggregate:
    """The review score of one application and how it was obtained from the reviewers' totals.

    ``score`` and ``untrimmed_mean`` are ``None`` when no reviewer submitted a sheet; ``dropped_high`` and
    ``dropped_low`` are the totals left out by the trimmed mean (``None`` when nothing was dropped).
    """

    score: Decimal | None
    untrimmed_mean: Decimal | None
    dropped_high: Decimal | None
    dropped_low: Decimal | None
    n: int

    @property
    def is_trimmed(self) -> bool:
        return self.dropped_high is not None


def review_score(totals: Sequence[Decimal], *, aggregation: str, trim_min: int) -> ScoreAggregate:
    """Mean of the reviewers' totals, or — with ``trimmed_mean`` and at least ``trim_min`` totals — the
    mean after dropping exactly one highest and one lowest total (one of each even when several reviewers
    gave the same extreme: the rule of the call removes one reviewer at each end, not a value)."""
    if aggregation not in (AGGREGATION_MEAN, AGGREGATION_TRIMMED_MEAN):
        raise DomainError(
            "unknown_aggregation", _("알 수 없는 점수 집계 방식입니다: %(a)s") % {"a": aggregation}
        )
    values = [Decimal(value) for value in totals]
    n = len(values)
    if n == 0:
        return ScoreAggregate(score=None, untrimmed_mean=None, dropped_high=None, dropped_low=None, n=0)
    untrimmed = _mean(values)
    # trim_min below 3 would leave nothing to average; the trimmed mean needs at least one middle total.
    if aggregation == AGGREGATION_TRIMMED_MEAN and n >= max(trim_min, 3):
        ordered = sorted(values)
        return ScoreAggregate(
            score=round_half_up(_mean(ordered[1:-1])),
            untrimmed_mean=round_half_up(untrimmed),
            dropped_high=ordered[-1],
            dropped_low=ordered[0],
            n=n,
        )
    score = round_half_up(untrimmed)
    return ScoreAggregate(score=score, untrimmed_mean=score, dropped_high=None, dropped_low=None, n=n)


def item_means(points_by_item: Mapping[str, Sequence[Decimal]]) -> dict[str, Decimal]:
    """Per rubric item, the mean of the reviewers' points (all reviewers, never trimmed), half-up to 2 places."""
    return {code: round_half_up(_mean(points)) for code, points in points_by_item.items() if points}


# ---------------------------------------------------------------------------------------------------------
# Ranking
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RankingCandidate:
    """One application to rank: the ranked thing (an Application; any value in tests), a label, its scores and per-item means."""

    subject: Any
    label: str
    aggregate: ScoreAggregate
    bonus: Decimal
    item_means: Mapping[str, Decimal] = field(default_factory=dict)


@dataclass(frozen=True)
class RankedRow:
    subject: Any
    label: str
    aggregate: ScoreAggregate
    review_score: Decimal | None
    bonus_score: Decimal
    final_score: Decimal | None
    item_means: Mapping[str, Decimal]
    # Whether the cut-off is met on the configured basis; False also when nobody scored the application.
    passes_cutoff: bool
    # Competition ranking over the listed order (1, 2, 2, 4); None when nobody scored the application.
    rank: int | None
    shares_rank: bool
    # Why this row sits where it does among rows with the same final score ("" when its final is unique).
    tie_note: str

    @property
    def status_label(self) -> str:
        if self.review_score is None:
            return _("평가 없음")
        return _("기준 충족") if self.passes_cutoff else _("기준 미달")


def tie_break_label(key: str, item_labels: Mapping[str, str] | None = None) -> str:
    if key == TIE_BREAK_UNTRIMMED_TOTAL:
        return _("제외 전 총점 평균")
    if key.startswith(TIE_BREAK_ITEM_MEAN):
        code = key.removeprefix(TIE_BREAK_ITEM_MEAN)
        return _("%(item)s 항목 평균") % {"item": (item_labels or {}).get(code, code)}
    raise DomainError("unknown_tie_break", _("알 수 없는 동점 처리 기준입니다: %(k)s") % {"k": key})


def _tie_break_value(candidate: RankingCandidate, key: str) -> Decimal:
    # A missing value ranks below any real one, so a row without that item never wins a tie by absence.
    missing = Decimal("-1")
    if key == TIE_BREAK_UNTRIMMED_TOTAL:
        value = candidate.aggregate.untrimmed_mean
        return missing if value is None else value
    return candidate.item_means.get(key.removeprefix(TIE_BREAK_ITEM_MEAN), missing)


def _value_text(value: Decimal) -> str:
    return "-" if value < 0 else f"{value:.2f}"


def rank(
    rows: Iterable[RankingCandidate],
    *,
    cutoff: Decimal,
    cutoff_basis: str,
    tie_breaks: Sequence[str],
    item_labels: Mapping[str, str] | None = None,
) -> list[RankedRow]:
    """Order the applications and give each its rank.

    final = review score + verified bonus. The cut-off is met when the review score (``cutoff_basis``
    "review", the call's default: the bonus must not lift a weak plan over the line) or the final score
    ("total") is at least ``cutoff``; rows that miss it are listed after all passing ones, marked 기준 미달.
    Within each group the higher final score comes first; equal finals are ordered by ``tie_breaks`` in
    order (each higher first), and rows still equal on every key share the rank (1, 2, 2, 4).
    Applications nobody scored are listed last, without a rank.
    """
    if cutoff_basis not in (CUTOFF_BASIS_REVIEW, CUTOFF_BASIS_TOTAL):
        raise DomainError(
            "unknown_cutoff_basis", _("알 수 없는 기준 점수 적용 대상입니다: %(b)s") % {"b": cutoff_basis}
        )
    labels = {key: tie_break_label(key, item_labels) for key in tie_breaks}
    cutoff = Decimal(cutoff)

    scored: list[tuple[tuple[Any, ...], RankingCandidate, Decimal, Decimal, bool]] = []
    unscored: list[RankingCandidate] = []
    for candidate in rows:
        review = candidate.aggregate.score
        if review is None:
            unscored.append(candidate)
            continue
        bonus = Decimal(candidate.bonus)
        final = review + bonus
        passes = (review if cutoff_basis == CUTOFF_BASIS_REVIEW else final) >= cutoff
        values = tuple(_tie_break_value(candidate, key) for key in tie_breaks)
        scored.append(((passes, final, *values), candidate, bonus, final, passes))
    # Python's sort is stable: rows equal on every key keep the caller's order (by receipt number).
    scored.sort(key=lambda entry: entry[0], reverse=True)

    ranked: list[RankedRow] = []
    for index, (sort_key, candidate, bonus, final, passes) in enumerate(scored):
        previous = scored[index - 1][0] if index > 0 else None
        following = scored[index + 1][0] if index + 1 < len(scored) else None
        shares = sort_key in (previous, following)
        position = index + 1
        if previous == sort_key:
            position = ranked[-1].rank or position
        ranked.append(
            RankedRow(
                subject=candidate.subject,
                label=candidate.label,
                aggregate=candidate.aggregate,
                review_score=candidate.aggregate.score,
                bonus_score=bonus,
                final_score=final,
                item_means=dict(candidate.item_means),
                passes_cutoff=passes,
                rank=position,
                shares_rank=shares,
                tie_note=_tie_note(sort_key, previous, following, tie_breaks, labels),
            )
        )
    for candidate in unscored:
        ranked.append(
            RankedRow(
                subject=candidate.subject,
                label=candidate.label,
                aggregate=candidate.aggregate,
                review_score=None,
                bonus_score=Decimal(candidate.bonus),
                final_score=None,
                item_means=dict(candidate.item_means),
                passes_cutoff=False,
                rank=None,
                shares_rank=False,
                tie_note="",
            )
        )
    return ranked


def _tie_note(
    key: tuple[Any, ...],
    previous: tuple[Any, ...] | None,
    following: tuple[Any, ...] | None,
    tie_breaks: Sequence[str],
    labels: Mapping[str, str],
) -> str:
    """The reason shown next to a row whose final score equals a neighbour's (same cut-off group).

    Names the tie-break keys, up to the one that separated the row from its tied neighbours, with the
    row's own values, e.g. "동점: 사업내용의 기술성 항목 평균 25.50"; or says the rank is shared.
    """
    tied = [other for other in (previous, following) if other is not None and other[:2] == key[:2]]
    if not tied:
        return ""
    values = key[2:]
    deciding = 0
    shared = False
    for other in tied:
        differing = [
            i for i, (mine, theirs) in enumerate(zip(values, other[2:], strict=True)) if mine != theirs
        ]
        if differing:
            deciding = max(deciding, differing[0] + 1)
        else:
            shared = True
    shown = [f"{labels[tie_breaks[i]]} {_value_text(values[i])}" for i in range(deciding)]
    if shared:
        # Every key equal: show them all so the reader sees nothing was left to decide.
        shown = [f"{labels[k]} {_value_text(v)}" for k, v in zip(tie_breaks, values, strict=True)]
        if not shown:
            return _("동점: 공동 순위")
        return _("동점: %(values)s 모두 같아 공동 순위") % {"values": ", ".join(shown)}
    return _("동점: %(values)s") % {"values": ", ".join(shown)}


# ---------------------------------------------------------------------------------------------------------
# Reviewer statistics
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReviewerStat:
    reviewer: Any
    n: int
    mean_total: Decimal
    # Population standard deviation of the reviewer's totals: how widely this reviewer spreads companies.
    standard_deviation: Decimal
    # Mean of (reviewer's total − panel mean) over the applications this reviewer scored: negative = severe.
    mean_deviation: Decimal
    is_outlier: bool


def reviewer_statistics(
    scores_by_reviewer: Mapping[Any, Mapping[Any, Decimal]], *, threshold: Decimal
) -> list[ReviewerStat]:
    """Per reviewer (in the given order): mean total, spread, and how far the reviewer sits from the panel.

    The panel mean of an application is the plain mean of every submitted total for it, the reviewer's own
    included, so it is the "제외 전 평균" shown on the ranking. A reviewer is flagged to the chair when the
    mean deviation is further than ``threshold`` points from 0 (strictly).
    """
    panel: dict[Any, list[Decimal]] = {}
    for scores in scores_by_reviewer.values():
        for application, total in scores.items():
            panel.setdefault(application, []).append(Decimal(total))
    panel_mean = {application: _mean(totals) for application, totals in panel.items()}
    threshold = Decimal(threshold)

    statistics = []
    for reviewer, scores in scores_by_reviewer.items():
        totals = [Decimal(total) for total in scores.values()]
        if not totals:
            continue
        mean = _mean(totals)
        variance = _mean([(total - mean) ** 2 for total in totals])
        deviation = round_half_up(_mean([Decimal(t) - panel_mean[a] for a, t in scores.items()]))
        statistics.append(
            ReviewerStat(
                reviewer=reviewer,
                n=len(totals),
                mean_total=round_half_up(mean),
                standard_deviation=round_half_up(variance.sqrt()),
                mean_deviation=deviation,
                is_outlier=abs(deviation) > threshold,
            )
        )
    return statistics
