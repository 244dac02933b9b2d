"""Assignment: every non-conflicted member × every eligible application by default, changes by hand."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.test import Client
from django.urls import reverse

from medbroker.accounts.models import User
from medbroker.audit.models import AuditEvent
from medbroker.calls.models import Application, EligibilityDeclaration
from medbroker.core.errors import DomainError
from medbroker.reviews.models import Assignment, ScoreSheet
from medbroker.reviews.selectors.committee import eligible_applications
from medbroker.reviews.services.assignments import assignment_add, assignment_remove, assignments_generate
from medbroker.reviews.services.committee import committee_close
from medbroker.reviews.tests.committee_scene import Scene, scene_build, sheet_fill
from medbroker.reviews.tests.factories import member, submitted_application

pytestmark = pytest.mark.django_db

Login = Callable[[Client, User | None], Client]


@pytest.fixture
def scene(applicant: User, operator: User) -> Scene:
    return scene_build(applicant=applicant, operator=operator)


def _pairs(scene: Scene) -> set[tuple[str, str]]:
    return {
        (a.member.user.username, str(a.application.receipt_number))
        for a in Assignment.objects.filter(member__committee=scene.committee).select_related(
            "member__user", "application"
        )
    }


def test_generate_assigns_every_member_to_every_eligible_application(scene: Scene) -> None:
    created = assignments_generate(scene.committee, actor=scene.operator)

    t, o = str(scene.target.receipt_number), str(scene.other.receipt_number)
    assert _pairs(scene) == {("kim", t), ("kim", o), ("lee", t), ("lee", o)}
    assert len(created) == 4
    assert all(a.assigned_by == scene.operator for a in created)
    event = AuditEvent.objects.get(action="reviews.assignments_generated")
    assert (event.actor_id, event.object_type, event.object_id, event.summary) == (
        scene.operator.pk,
        "reviews.committee",
        str(scene.committee.pk),
        "평가 배정 4건 생성",
    )
    assert event.data == {
        "created": 4,
        "pairs": sorted([m.pk, a.pk] for m in (scene.kim, scene.lee) for a in (scene.target, scene.other)),
    }


def test_generate_is_idempotent_and_keeps_sheets(scene: Scene) -> None:
    assignments_generate(scene.committee, actor=scene.operator)
    assignment = scene.assignment(scene.kim, scene.target)
    assert assignment is not None
    sheet = sheet_fill(assignment)
    events = AuditEvent.objects.count()

    assert assignments_generate(scene.committee, actor=scene.operator) == []
    assert Assignment.objects.count() == 4
    assert ScoreSheet.objects.get(pk=sheet.pk).status == "submitted"
    assert AuditEvent.objects.count() == events


def test_generate_adds_only_what_is_missing_for_a_late_member(scene: Scene) -> None:
    assignments_generate(scene.committee, actor=scene.operator)
    late = member(scene.committee, username="late")

    created = assignments_generate(scene.committee, actor=scene.operator)

    assert {(a.member, a.application) for a in created} == {(late, scene.target), (late, scene.other)}


def test_generate_leaves_out_ineligible_and_unsubmitted_applications(scene: Scene) -> None:
    # Submitted, then found not to meet eligibility (the operator corrected the declaration on review).
    ineligible, _ = submitted_application(scene.committee.call, company_name="동대구헬스 주식회사")
    EligibilityDeclaration.objects.filter(application=ineligible).update(declared=False)
    Application.objects.filter(pk=scene.other.pk).update(status=Application.Status.WITHDRAWN)

    assignments_generate(scene.committee, actor=scene.operator)

    assert [a.pk for a in eligible_applications(scene.committee)] == [scene.target.pk]
    assert _pairs(scene) == {
        ("kim", str(scene.target.receipt_number)),
        ("lee", str(scene.target.receipt_number)),
    }


def test_generate_is_refused_to_non_operators_and_after_close(scene: Scene, auditor: User) -> None:
    for actor in (auditor, scene.kim.user):
        with pytest.raises(DomainError) as refused:
            assignments_generate(scene.committee, actor=actor)
        assert refused.value.code == "forbidden"
    committee_close(committee=scene.committee, actor=scene.operator)
    with pytest.raises(DomainError) as refused:
        assignments_generate(scene.committee, actor=scene.operator)
    assert refused.value.code == "committee_closed"
    assert Assignment.objects.count() == 0


def test_operator_adds_and_removes_by_hand(scene: Scene) -> None:
    assignment = assignment_add(member=scene.kim, application=scene.target, actor=scene.operator)

    assert (assignment.member, assignment.application, assignment.assigned_by) == (
        scene.kim,
        scene.target,
        scene.operator,
    )
    added = AuditEvent.objects.get(action="reviews.assignment_added")
    assert added.data == {"member_id": scene.kim.pk, "application_id": scene.target.pk}

    assignment_remove(assignment=assignment, actor=scene.operator)

    assert Assignment.objects.count() == 0
    removed = AuditEvent.objects.get(action="reviews.assignment_removed")
    assert removed.data == {"member_id": scene.kim.pk, "application_id": scene.target.pk, "sheet": None}


def test_add_refuses_a_duplicate_and_another_calls_application(scene: Scene) -> None:
    assignment_add(member=scene.kim, application=scene.target, actor=scene.operator)

    with pytest.raises(DomainError) as refused:
        assignment_add(member=scene.kim, application=scene.target, actor=scene.operator)
    assert refused.value.code == "already_assigned"
    Application.objects.filter(pk=scene.other.pk).update(status=Application.Status.WITHDRAWN)
    scene.other.refresh_from_db()
    with pytest.raises(DomainError) as refused:
        assignment_add(member=scene.kim, application=scene.other, actor=scene.operator)
    assert refused.value.code == "not_reviewable"
    assert Assignment.objects.count() == 1


def test_remove_refuses_an_assignment_with_a_submitted_sheet(scene: Scene) -> None:
    assignment = assignment_add(member=scene.kim, application=scene.target, actor=scene.operator)
    sheet_fill(assignment)

    with pytest.raises(DomainError) as refused:
        assignment_remove(assignment=assignment, actor=scene.operator)

    assert refused.value.code == "sheet_submitted"
    assert Assignment.objects.filter(pk=assignment.pk).exists()


def test_remove_of_a_draft_keeps_its_points_in_the_audit(scene: Scene) -> None:
    assignment = assignment_add(member=scene.kim, application=scene.target, actor=scene.operator)
    sheet = sheet_fill(assignment, submit=False, points={"org_capability": "6"})

    assignment_remove(assignment=assignment, actor=scene.operator)

    event = AuditEvent.objects.get(action="reviews.assignment_removed")
    assert event.data["sheet"] == {
        "sheet_id": sheet.pk,
        "status": "draft",
        "points": {"org_capability": "6.00"},
        "grades": {},
    }
    assert not ScoreSheet.objects.filter(pk=sheet.pk).exists()


def test_generate_button_on_the_committee_page(scene: Scene, client: Client, login: Login) -> None:
    login(client, scene.operator)

    response = client.post(reverse("reviews:assignments_generate", args=[scene.committee.pk]), follow=True)

    assert response.status_code == 200
    assert "평가 배정 4건을 새로 만들었습니다." in response.content.decode()
    assert Assignment.objects.count() == 4


def test_queue_shows_progress(scene: Scene, client: Client, login: Login) -> None:
    assignments_generate(scene.committee, actor=scene.operator)
    assignment = scene.assignment(scene.kim, scene.target)
    assert assignment is not None
    sheet_fill(assignment)
    login(client, scene.kim.user)

    body = client.get(reverse("reviews:reviewer_queue")).content.decode()

    assert "제출 1 / 배정 2" in body
    assert 'aria-valuenow="50"' in body
    assert "81.50" in body
    assert str(scene.other.receipt_number) in body
