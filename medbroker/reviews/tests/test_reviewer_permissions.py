"""Permission matrix (style guide): every role × every committee, reviewer and company page and API endpoint.

Besides the shared roles, two committee members: ``assigned_reviewer`` (kim, assigned to ``target``) and
``conflicted_reviewer`` (lee, with a pending 기피 on ``target``: assigned before the company asked, so the
assignment exists and must still be invisible). The plain ``reviewer`` sits on no committee.
Anonymous users go to the login page (302) or get 401 from the API; roles with no business there get 403;
a reviewer reaching for an assignment that is not theirs, or one they are conflicted on, gets 404.
Auditors read the committee pages and change nothing: every POST is 403 and leaves no trace.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from medbroker.accounts.models import User
from medbroker.audit.models import AuditEvent
from medbroker.calls.tests.factories import call_with_window
from medbroker.core.timeutils import kst
from medbroker.reviews.models import Assignment, Committee, CommitteeMember, Conflict, ScoreSheet
from medbroker.reviews.services.conflicts import conflict_challenge_request
from medbroker.reviews.tests.committee_scene import Scene, scene_build, scene_scored
from medbroker.reviews.tests.factories import member

pytestmark = pytest.mark.django_db

ROLES = [
    "anonymous",
    "applicant",
    "other_applicant",
    "reviewer",
    "assigned_reviewer",
    "conflicted_reviewer",
    "steward",
    "operator",
    "auditor",
]

# Status per role, in the order of ROLES.
STAFF_GET = (302, 403, 403, 403, 403, 403, 403, 200, 200)
OPERATOR_POST = (302, 403, 403, 403, 403, 403, 403, 302, 403)
REVIEWER_GET = (302, 403, 403, 200, 200, 200, 403, 403, 403)
OWN_ASSIGNMENT = (302, 403, 403, 404, 200, 404, 403, 403, 403)
OWN_ASSIGNMENT_POST = (302, 403, 403, 404, 302, 404, 403, 403, 403)
CONFLICTED_ASSIGNMENT = (302, 403, 403, 404, 404, 404, 403, 403, 403)
COMPANY_PAGE = (302, 200, 404, 403, 403, 403, 403, 403, 403)
API_LIST = (401, 403, 403, 200, 200, 200, 403, 403, 403)
API_OWN = (401, 403, 403, 404, 200, 404, 403, 403, 403)
API_CONFLICTED = (401, 403, 403, 404, 404, 404, 403, 403, 403)

EXPECTED: dict[str, tuple[int, ...]] = {
    "committee_list": STAFF_GET,
    "committee_detail": STAFF_GET,
    "committee_new": OPERATOR_POST,
    "committee_settings": OPERATOR_POST,
    "member_add": OPERATOR_POST,
    "member_remove": OPERATOR_POST,
    "conflicts_detect": OPERATOR_POST,
    "conflict_decide": OPERATOR_POST,
    "assignments_generate": OPERATOR_POST,
    "assignment_add": OPERATOR_POST,
    "assignment_remove": OPERATOR_POST,
    "sheet_reopen": OPERATOR_POST,
    "committee_close": OPERATOR_POST,
    "reviewer_queue": REVIEWER_GET,
    "score_sheet": OWN_ASSIGNMENT,
    "score_sheet_save": OWN_ASSIGNMENT_POST,
    "reviewer_document": OWN_ASSIGNMENT,
    "recuse": OWN_ASSIGNMENT_POST,
    "score_sheet_conflicted": CONFLICTED_ASSIGNMENT,
    "reviewer_document_conflicted": CONFLICTED_ASSIGNMENT,
    "recuse_conflicted": CONFLICTED_ASSIGNMENT,
    "challenge_new": COMPANY_PAGE,
    "api_assignments": API_LIST,
    "api_assignment_detail": API_OWN,
    "api_assignment_detail_conflicted": API_CONFLICTED,
}


@pytest.fixture
def scene(applicant: User, operator: User) -> Scene:
    scene = scene_build(applicant=applicant, operator=operator)
    scene_scored(scene)
    # lee is conflicted on target by a 기피 the company asked for after the sheets were in.
    conflict_challenge_request(scene.target, scene.lee, "공동 연구 중", scene.company_user)
    return scene


def _requests(scene: Scene) -> dict[str, tuple[str, str, dict[str, Any]]]:
    committee = scene.committee
    kim_target = scene.assignment(scene.kim, scene.target)
    lee_target = scene.assignment(scene.lee, scene.target)
    lee_other = scene.assignment(scene.lee, scene.other)
    assert kim_target and lee_target and lee_other
    document = scene.target.documents.order_by("pk").first()
    assert document is not None
    challenge = Conflict.objects.get(kind=Conflict.Kind.CHALLENGE)
    # A member with no submitted sheet, so the operator's removal succeeds.
    spare = member(committee, username="spare")
    # kim's sheet on other, submitted: the one an operator reopens.
    sheet = ScoreSheet.objects.get(assignment=scene.assignment(scene.kim, scene.other))
    # lee's sheet on other goes back to draft so the operator may take the assignment back.
    ScoreSheet.objects.filter(assignment=lee_other).update(status=ScoreSheet.Status.DRAFT, submitted_at=None)
    # kim's sheet on target back to draft too, so the reviewer can save.
    ScoreSheet.objects.filter(assignment=kim_target).update(status=ScoreSheet.Status.DRAFT, submitted_at=None)
    settings = {
        "name": committee.name,
        "scale": "points",
        "aggregation": "mean",
        "trim_min_reviewers": "5",
        "cutoff_score": "60",
        "cutoff_basis": "review",
        "tie_breaks": '["item_mean:technical_merit", "untrimmed_total"]',
        "outlier_threshold": "15",
    }
    spare_call = call_with_window(opens_at=kst(2025, 9, 1), closes_at=kst(2025, 9, 15, 16), slug="autumn")
    new_member = User.objects.get(username="reviewer")  # the plain reviewer, seated on no committee
    pk = committee.pk
    return {
        "committee_list": ("get", reverse("reviews:committee_list"), {}),
        "committee_detail": ("get", reverse("reviews:committee_detail", args=[pk]), {}),
        "committee_new": (
            "post",
            reverse("reviews:committee_new"),
            {"call": spare_call.pk, "name": "가을 위원회"},
        ),
        "committee_settings": ("post", reverse("reviews:committee_settings", args=[pk]), settings),
        "member_add": (
            "post",
            reverse("reviews:member_add", args=[pk]),
            {"user": new_member.pk, "expertise": "병리"},
        ),
        "member_remove": ("post", reverse("reviews:member_remove", args=[pk, spare.pk]), {}),
        "conflicts_detect": ("post", reverse("reviews:conflicts_detect", args=[pk]), {}),
        "conflict_decide": (
            "post",
            reverse("reviews:conflict_decide", args=[pk, challenge.pk]),
            {"decision": "upheld", "decision_reason": "확인"},
        ),
        "assignments_generate": ("post", reverse("reviews:assignments_generate", args=[pk]), {}),
        "assignment_add": (
            "post",
            reverse("reviews:assignment_add", args=[pk]),
            {"member": spare.pk, "application": scene.other.pk},
        ),
        "assignment_remove": ("post", reverse("reviews:assignment_remove", args=[pk, lee_other.pk]), {}),
        "sheet_reopen": (
            "post",
            reverse("reviews:sheet_reopen", args=[pk, sheet.pk]),
            {"reason": "오기 정정"},
        ),
        "committee_close": ("post", reverse("reviews:committee_close", args=[pk]), {}),
        "reviewer_queue": ("get", reverse("reviews:reviewer_queue"), {}),
        "score_sheet": ("get", reverse("reviews:score_sheet", args=[kim_target.pk]), {}),
        "score_sheet_save": (
            "post",
            reverse("reviews:score_sheet", args=[kim_target.pk]),
            {"action": "save", "points_org_capability": "9"},
        ),
        "reviewer_document": (
            "get",
            reverse("reviews:reviewer_document", args=[kim_target.pk, document.pk]),
            {},
        ),
        "recuse": ("post", reverse("reviews:recuse", args=[kim_target.pk]), {"reason": "자문 이력"}),
        "score_sheet_conflicted": ("get", reverse("reviews:score_sheet", args=[lee_target.pk]), {}),
        "reviewer_document_conflicted": (
            "get",
            reverse("reviews:reviewer_document", args=[lee_target.pk, document.pk]),
            {},
        ),
        "recuse_conflicted": ("post", reverse("reviews:recuse", args=[lee_target.pk]), {"reason": "x"}),
        "challenge_new": ("get", reverse("reviews:challenge_new", args=[scene.target.pk]), {}),
        "api_assignments": ("get", "/api/v1/reviews/assignments", {}),
        "api_assignment_detail": ("get", f"/api/v1/reviews/assignments/{kim_target.pk}", {}),
        "api_assignment_detail_conflicted": ("get", f"/api/v1/reviews/assignments/{lee_target.pk}", {}),
    }


def _user_for(role: str, scene: Scene, users_by_role: dict[str, User | None]) -> User | None:
    if role == "assigned_reviewer":
        return scene.kim.user
    if role == "conflicted_reviewer":
        return scene.lee.user
    return users_by_role[role]


def _state() -> tuple[object, ...]:
    """Everything a refused request could have changed."""
    return (
        AuditEvent.objects.count(),
        list(Committee.objects.values_list("pk", "status", "name", "cutoff_score")),
        list(CommitteeMember.objects.values_list("pk", flat=True).order_by("pk")),
        list(Assignment.objects.values_list("pk", flat=True).order_by("pk")),
        list(Conflict.objects.values_list("pk", "status").order_by("pk")),
        list(ScoreSheet.objects.values_list("pk", "status").order_by("pk")),
    )


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("page", list(EXPECTED))
def test_permission_matrix(
    page: str,
    role: str,
    scene: Scene,
    users_by_role: dict[str, User | None],
    operator: User,
    client: Client,
    login: Callable[[Client, User | None], Client],
) -> None:
    method, url, data = _requests(scene)[page]
    login(client, _user_for(role, scene, users_by_role))
    before = _state()

    response = getattr(client, method)(url, data)

    expected = EXPECTED[page][ROLES.index(role)]
    assert response.status_code == expected, (page, role, response.status_code)
    if expected in (302, 401, 403, 404) and not (expected == 302 and role != "anonymous"):
        # Refused (or sent to log in): nothing changed, not even the audit log.
        assert _state() == before
    if expected == 302 and role == "anonymous":
        assert response["Location"].startswith("/accounts/login/")


def test_sheet_of_a_submitted_assignment_shows_to_its_reviewer_only(
    scene: Scene, client: Client, login: Callable[[Client, User | None], Client]
) -> None:
    assignment = scene.assignment(scene.kim, scene.other)
    assert assignment is not None
    login(client, scene.kim.user)
    assert client.get(reverse("reviews:score_sheet", args=[assignment.pk])).status_code == 200
    login(client, scene.lee.user)
    # lee is assigned to other too, but kim's sheet is kim's: "not found".
    assert client.get(reverse("reviews:score_sheet", args=[assignment.pk])).status_code == 404
