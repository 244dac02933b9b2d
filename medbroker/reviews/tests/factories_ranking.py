"""Building blocks for the ranking, decision, result and export tests: scored committees, made through the
review services themselves (assignment, score sheets, evidence verification), so the tests see the same
rows a real committee leaves behind."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from medbroker.accounts.models import User
from medbroker.calls.models import Application, RevenueRecord
from medbroker.reviews.models import Assignment, Committee, CommitteeMember, ScoreSheet
from medbroker.reviews.services.assignments import assignments_generate
from medbroker.reviews.services.committee import committee_close
from medbroker.reviews.services.evidence import evidence_verify
from medbroker.reviews.services.scoring import score_sheet_for, score_sheet_save, score_sheet_submit
from medbroker.reviews.tests.factories import member, submitted_application

# The 2025 rubric, in order, with its maximum points (10/5/15/10/30/30).
RUBRIC_MAX = {
    "org_capability": 10,
    "execution_capacity": 5,
    "goal_clarity": 15,
    "contents_strategy": 10,
    "technical_merit": 30,
    "industry_contribution": 30,
}


REVIEWER_NAMES = ["김하늘", "이도윤", "박서준", "최지우", "정민재", "강유나"]


def sheet_points(
    total: Decimal | str | int, *, technical_merit: Decimal | str | None = None
) -> dict[str, Decimal]:
    """Points per item adding up to ``total``: technical merit as given (or as much as fits), then the other
    items filled in rubric order up to their maximum. Deterministic, so expected item means are known."""
    remaining = Decimal(total)
    points: dict[str, Decimal] = {}
    if technical_merit is not None:
        points["technical_merit"] = Decimal(technical_merit)
        remaining -= points["technical_merit"]
    for code, maximum in RUBRIC_MAX.items():
        if code in points:
            continue
        points[code] = min(Decimal(maximum), max(remaining, Decimal("0")))
        remaining -= points[code]
    assert remaining == 0, f"{total} does not fit the rubric"
    return {code: points[code] for code in RUBRIC_MAX}


def sheet_submit(
    seat: CommitteeMember,
    application: Application,
    points: Mapping[str, Decimal],
    *,
    comments: Mapping[str, str] | None = None,
    overall_comment: str = "",
) -> ScoreSheet:
    """The member scores the application through the scoring services and submits."""
    assignment = Assignment.objects.get(member=seat, application=application)
    sheet = score_sheet_for(assignment, actor=seat.user)
    entries = {
        code: {"points": value, "comment": (comments or {}).get(code, "")} for code, value in points.items()
    }
    score_sheet_save(sheet, entries=entries, overall_comment=overall_comment, actor=seat.user)
    return score_sheet_submit(sheet, actor=seat.user)


def revenue_bonus_verify(application: Application, operator: User) -> None:
    """2023 → 2024 revenue up (3 points, announcement §6.1), both records verified by the operator."""
    for year, amount in ((2023, 100_000_000), (2024, 150_000_000)):
        record = RevenueRecord.objects.create(application=application, year=year, amount_krw=amount)
        evidence_verify(
            application=application,
            kind="revenue",
            evidence_id=record.pk,
            status="verified",
            reason="",
            actor=operator,
        )


@dataclass
class ScoredCommittee:
    committee: Committee
    members: list[CommitteeMember]
    applications: dict[str, Application]
    applicants: dict[str, User]
    sheets: list[ScoreSheet] = field(default_factory=list)


def scored_committee(
    committee: Committee,
    *,
    operator: User,
    totals: Mapping[str, list[Decimal | str | int]],
    technical_merit: Mapping[str, list[Decimal | str | None]] | None = None,
    chair_index: int | None = 0,
) -> ScoredCommittee:
    """A committee whose members (r1, r2, …: as many as the longest list of totals) have scored each
    company: ``totals[company][i]`` is member i's total (None: member i does not submit)."""
    width = max(len(values) for values in totals.values())
    members = [member(committee, username=f"r{i + 1}", is_chair=(i == chair_index)) for i in range(width)]
    for seat, name in zip(members, REVIEWER_NAMES, strict=False):
        # Names that appear nowhere else, so a test can prove a page never shows who scored.
        seat.user.display_name = name
        seat.user.save(update_fields=["display_name"])
    applications: dict[str, Application] = {}
    applicants: dict[str, User] = {}
    for company in totals:
        applications[company], applicants[company] = submitted_application(
            committee.call, company_name=company
        )
    assignments_generate(committee, actor=operator)
    scored = ScoredCommittee(committee, members, applications, applicants)
    for company, values in totals.items():
        merits = (technical_merit or {}).get(company, [None] * len(values))
        for seat, total, merit in zip(members, values, merits, strict=False):
            if total is None:
                continue
            scored.sheets.append(
                sheet_submit(seat, applications[company], sheet_points(total, technical_merit=merit))
            )
    return scored


def close(committee: Committee, operator: User) -> Committee:
    return committee_close(committee=committee, actor=operator)
