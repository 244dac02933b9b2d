"""A committee with work in it, shared by the committee, conflict, assignment, scoring and permission tests.

Two submitted applications: ``target`` (of the ``applicant`` fixture's company, so the company-side pages
can be tested with the shared role fixtures) and ``other`` (another Daegu company). Two members: ``kim``
(never conflicted) and ``lee`` (made conflicted on ``target`` by each test in one of the five ways).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import time_machine

from medbroker.accounts.models import User
from medbroker.calls.models import Application
from medbroker.calls.services.applications import application_submit
from medbroker.calls.tests.factories import call_2025
from medbroker.calls.tests.factories_applications import application_ready
from medbroker.reviews.models import Assignment, Committee, CommitteeMember, Conflict, ScoreSheet
from medbroker.reviews.services.assignments import assignments_generate
from medbroker.reviews.services.conflicts import (
    conflict_challenge_decide,
    conflict_challenge_request,
    conflict_recuse,
)
from medbroker.reviews.services.scoring import score_sheet_for, score_sheet_save, score_sheet_submit
from medbroker.reviews.tests.factories import DURING_INTAKE, committee_2025, member, submitted_application

# Points that fill every item of the 2025 rubric (10/5/15/10/30/30): total 81.50.
FULL_POINTS = {
    "org_capability": "8",
    "execution_capacity": "4.5",
    "goal_clarity": "12",
    "contents_strategy": "8",
    "technical_merit": "25",
    "industry_contribution": "24",
}
FULL_TOTAL = Decimal("81.50")

# The five ways a member comes to be conflicted on an application.
CONFLICT_FORMS = [
    "same_organisation",
    "declared_relation",
    "recusal",
    "challenge_upheld",
    "challenge_pending",
]

# How the operator's matrix names each.
CONFLICT_LABELS = {
    "same_organisation": "제척",
    "declared_relation": "제척",
    "recusal": "회피",
    "challenge_upheld": "기피",
    "challenge_pending": "기피(결정 대기)",
}


@dataclass
class Scene:
    committee: Committee
    target: Application
    other: Application
    company_user: User
    kim: CommitteeMember
    lee: CommitteeMember
    operator: User

    def assignment(self, member: CommitteeMember, application: Application) -> Assignment | None:
        return Assignment.objects.filter(member=member, application=application).first()


def submitted_for(applicant: User, *, project_title: str = "유방 촬영술 병변 분류 보조 AI") -> Application:
    """A submitted 2025 application of ``applicant``'s company."""
    with time_machine.travel(DURING_INTAKE, tick=False):
        application = application_ready(call=call_2025(), applicant=applicant, project_title=project_title)
        return application_submit(application=application, actor=applicant)


def scene_build(*, applicant: User, operator: User, **committee_settings: object) -> Scene:
    committee = committee_2025(**committee_settings)
    target = submitted_for(applicant)
    other, _ = submitted_application(committee.call, company_name="메디웨이브 주식회사")
    kim = member(committee, username="kim", expertise="의료영상 AI")
    lee = member(committee, username="lee", expertise="의료기기 인허가")
    return Scene(committee, target, other, applicant, kim, lee, operator)


def sheet_fill(
    assignment: Assignment, *, submit: bool = True, points: dict[str, str] | None = None
) -> ScoreSheet:
    user = assignment.member.user
    sheet = score_sheet_save(
        score_sheet_for(assignment, actor=user),
        entries={code: {"points": value, "comment": ""} for code, value in (points or FULL_POINTS).items()},
        overall_comment="",
        actor=user,
    )
    return score_sheet_submit(sheet, actor=user) if submit else sheet


def scene_scored(scene: Scene) -> None:
    """Assign by default and let both members submit a full sheet for both applications."""
    assignments_generate(scene.committee, actor=scene.operator)
    for assignment in Assignment.objects.filter(member__committee=scene.committee):
        sheet_fill(assignment)


def conflict_make(scene: Scene, form: str) -> None:
    """Make ``lee`` conflicted on ``target`` in one of the five ways, after the work has started."""
    lee, target = scene.lee, scene.target
    if form == "same_organisation":
        # Joined the company after being seated (or the organisation was entered late): the rule applies at once.
        lee.organisation = target.company
        lee.save(update_fields=["organisation"])
    elif form == "declared_relation":
        lee.declared_relations.add(target.company)
    elif form == "recusal":
        conflict_recuse(lee, target, "신청 기업의 자문위원으로 활동한 적이 있음")
    elif form in ("challenge_upheld", "challenge_pending"):
        conflict = conflict_challenge_request(target, lee, "경쟁사 임원과 공동 연구 중", scene.company_user)
        if form == "challenge_upheld":
            conflict_challenge_decide(conflict, True, "공동 연구 사실 확인", scene.operator)
    else:  # pragma: no cover
        raise AssertionError(form)


def conflict_count(scene: Scene) -> int:
    return Conflict.objects.filter(member__committee=scene.committee).count()
