"""Reads of step ③'s outcome: the committee's ranking, reviewer statistics and a company's own breakdown.

Scores come only through ``submitted_sheets`` (submitted, never of a conflicted pair) and the bonus only as
verified by an operator; the decisions themselves are made by ``services.ranking`` over plain numbers.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404

from medbroker.accounts.models import Role, User
from medbroker.calls.models import Application, RubricItem
from medbroker.reviews.models import Committee, CommitteeMember, Decision, ScoreSheet
from medbroker.reviews.selectors.committee import (
    eligible_applications,
    member_for_user,
    member_is_conflicted,
    sheet_total,
    submitted_sheets,
)
from medbroker.reviews.services.evidence import bonus_for_application
from medbroker.reviews.services.ranking import (
    RankedRow,
    RankingCandidate,
    ReviewerStat,
    item_means,
    rank,
    review_score,
    reviewer_statistics,
    tie_break_label,
)

RANKING_STAFF_ROLES = (Role.OPERATOR, Role.AUDITOR)


@dataclass(frozen=True)
class RankingAccess:
    """Who opened the ranking: staff see everything; the chair reads it without buttons and without the
    applications the chair is conflicted on (a conflicted reviewer never sees their scores)."""

    committee: Committee
    chair: CommitteeMember | None
    hidden_application_ids: frozenset[int]

    @property
    def is_staff(self) -> bool:
        return self.chair is None


def ranking_access(*, user: User, pk: int) -> RankingAccess:
    """The committee ``pk`` for ``user``: 404 when it does not exist, 403 unless operator, auditor or chair."""
    committee = get_object_or_404(Committee.objects.select_related("call"), pk=pk)
    if user.has_role(*RANKING_STAFF_ROLES):
        return RankingAccess(committee=committee, chair=None, hidden_application_ids=frozenset())
    seat = member_for_user(user=user, committee=committee) if user.has_role(Role.REVIEWER) else None
    if seat is None or not seat.is_chair:
        raise PermissionDenied
    hidden = frozenset(
        application.pk
        for application in eligible_applications(committee)
        if member_is_conflicted(seat, application)
    )
    return RankingAccess(committee=committee, chair=seat, hidden_application_ids=hidden)


def rubric_items(committee: Committee) -> list[RubricItem]:
    return list(RubricItem.objects.filter(call_id=committee.call_id).order_by("order"))


def _sheets_by_application(committee: Committee) -> dict[int, list[ScoreSheet]]:
    sheets: dict[int, list[ScoreSheet]] = defaultdict(list)
    for sheet in submitted_sheets(committee):
        sheets[sheet.assignment.application_id].append(sheet)
    return sheets


def _item_points(sheets: list[ScoreSheet]) -> dict[str, list[Decimal]]:
    points: dict[str, list[Decimal]] = defaultdict(list)
    for sheet in sheets:
        for entry in sheet.entries.all():
            if entry.points is not None:
                points[entry.rubric_item.code].append(entry.points)
    return points


def application_label(application: Application) -> str:
    return f"{application.receipt_number or '-'} {application.company.name}"


def ranking_for_committee(committee: Committee) -> list[RankedRow]:
    """Every eligible application of the committee, ranked under the committee's settings.

    Each row's ``subject`` is the Application. The bonus is the verified one (``verified_only=True``).
    """
    sheets = _sheets_by_application(committee)
    candidates = []
    for application in eligible_applications(committee):
        own = sheets.get(application.pk, [])
        candidates.append(
            RankingCandidate(
                subject=application,
                label=application_label(application),
                aggregate=review_score(
                    [sheet_total(sheet) for sheet in own],
                    aggregation=committee.aggregation,
                    trim_min=committee.trim_min_reviewers,
                ),
                bonus=bonus_for_application(application, verified_only=True).total,
                item_means=item_means(_item_points(own)),
            )
        )
    return rank(
        candidates,
        cutoff=committee.cutoff_score,
        cutoff_basis=committee.cutoff_basis,
        tie_breaks=list(committee.tie_breaks or []),
        item_labels=item_labels(committee),
    )


def item_labels(committee: Committee) -> dict[str, str]:
    return {item.code: item.indicator for item in rubric_items(committee)}


def tie_break_labels(committee: Committee) -> list[str]:
    labels = item_labels(committee)
    return [tie_break_label(key, labels) for key in committee.tie_breaks or []]


def reviewer_statistics_for_committee(
    committee: Committee, *, hidden_application_ids: frozenset[int] = frozenset()
) -> list[ReviewerStat]:
    """Statistics per member with submitted sheets (``reviewer`` is the CommitteeMember), by seat order.

    ``hidden_application_ids`` leaves applications out of every figure: the chair's view, so that no score
    of an application the chair is conflicted on reaches the chair even inside a mean.
    """
    by_member: dict[CommitteeMember, dict[int, Decimal]] = {}
    for sheet in sorted(submitted_sheets(committee), key=lambda s: (s.assignment.member_id, s.pk)):
        application_id = sheet.assignment.application_id
        if application_id in hidden_application_ids:
            continue
        by_member.setdefault(sheet.assignment.member, {})[application_id] = sheet_total(sheet)
    return reviewer_statistics(by_member, threshold=committee.outlier_threshold)


def decisions_by_application(committee: Committee) -> dict[int, Decision]:
    decisions = Decision.objects.filter(application__call_id=committee.call_id).select_related(
        "granted_compute"
    )
    return {decision.application_id: decision for decision in decisions}


@dataclass(frozen=True)
class ItemBreakdown:
    """One rubric item of a company's result: the mean of the reviewers' points, never who gave what."""

    code: str
    area: str
    indicator: str
    max_points: int
    mean: Decimal | None


def item_breakdown(application: Application) -> list[ItemBreakdown]:
    """Per rubric item of the call, the mean over the submitted sheets of ``application``."""
    committee = Committee.objects.filter(call_id=application.call_id).first()
    means: dict[str, Decimal] = {}
    if committee is not None:
        means = item_means(
            _item_points(list(submitted_sheets(committee).filter(assignment__application=application)))
        )
    return [
        ItemBreakdown(
            code=item.code,
            area=item.area,
            indicator=item.indicator,
            max_points=item.max_points,
            mean=means.get(item.code),
        )
        for item in RubricItem.objects.filter(call_id=application.call_id).order_by("order")
    ]
