"""The key property of the conflict rules: a conflicted reviewer never sees the application, its documents or its
scores, anywhere, and never appears assigned to it. Proven for each of the five ways to be conflicted:
제척 (same organisation), 제척 (declared relation), 회피, 기피 upheld and 기피 still pending.

In each case ``lee`` had been assigned and had submitted a sheet for ``target`` before the conflict arose,
which is the hard case: the rows existed, and must still not show.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.test import Client
from django.urls import reverse

from medbroker.accounts.models import User
from medbroker.core.errors import DomainError
from medbroker.reviews.models import Assignment
from medbroker.reviews.selectors.committee import (
    applications_for_reviewer,
    assignment_matrix,
    member_is_conflicted,
    members_visible_for,
    submitted_sheets,
)
from medbroker.reviews.services.assignments import assignment_add, assignments_generate
from medbroker.reviews.tests.committee_scene import (
    CONFLICT_FORMS,
    CONFLICT_LABELS,
    Scene,
    conflict_make,
    scene_build,
    scene_scored,
)

pytestmark = pytest.mark.django_db

Login = Callable[[Client, User | None], Client]


@pytest.fixture
def scene(applicant: User, operator: User) -> Scene:
    scene = scene_build(applicant=applicant, operator=operator)
    scene_scored(scene)
    return scene


def _before(scene: Scene) -> tuple[int, int]:
    """The pk of lee's assignment for target and of one of its documents, taken before the conflict."""
    assignment = scene.assignment(scene.lee, scene.target)
    assert assignment is not None
    return assignment.pk, scene.target.documents.order_by("pk").first().pk  # type: ignore[union-attr]


def _text_of(scene: Scene) -> list[str]:
    # What would betray the application on a page: its receipt number, company and title.
    target = scene.target
    return [str(target.receipt_number), target.company.name, target.project_title]


@pytest.mark.parametrize("form", CONFLICT_FORMS)
def test_selectors_hide_the_application_and_its_scores(scene: Scene, form: str) -> None:
    conflict_make(scene, form)

    assert member_is_conflicted(scene.lee, scene.target) is True
    assert member_is_conflicted(scene.lee, scene.other) is False
    assert member_is_conflicted(scene.kim, scene.target) is False
    assert list(applications_for_reviewer(user=scene.lee.user, committee=scene.committee)) == [scene.other]
    assert list(applications_for_reviewer(user=scene.kim.user, committee=scene.committee)) == sorted(
        [scene.target, scene.other], key=lambda a: a.receipt_number or ""
    )
    assert list(members_visible_for(scene.target)) == [scene.kim]
    assert list(members_visible_for(scene.other)) == [scene.kim, scene.lee]
    pairs = {(s.assignment.member_id, s.assignment.application_id) for s in submitted_sheets(scene.committee)}
    assert pairs == {
        (scene.kim.pk, scene.target.pk),
        (scene.kim.pk, scene.other.pk),
        (scene.lee.pk, scene.other.pk),
    }


@pytest.mark.parametrize("form", CONFLICT_FORMS)
def test_queue_page_does_not_show_the_application(
    scene: Scene, form: str, client: Client, login: Login
) -> None:
    conflict_make(scene, form)
    login(client, scene.lee.user)

    response = client.get(reverse("reviews:reviewer_queue"))

    assert response.status_code == 200
    body = response.content.decode()
    for text in _text_of(scene):
        assert text not in body
    assert str(scene.other.receipt_number) in body
    assert "제출 1 / 배정 1" in body


@pytest.mark.parametrize("form", CONFLICT_FORMS)
def test_sheet_page_and_documents_are_not_found(
    scene: Scene, form: str, client: Client, login: Login
) -> None:
    assignment_pk, document_pk = _before(scene)
    conflict_make(scene, form)
    login(client, scene.lee.user)

    sheet = client.get(reverse("reviews:score_sheet", args=[assignment_pk]))
    post = client.post(reverse("reviews:score_sheet", args=[assignment_pk]), {"action": "save"})
    document = client.get(reverse("reviews:reviewer_document", args=[assignment_pk, document_pk]))
    recuse = client.post(reverse("reviews:recuse", args=[assignment_pk]), {"reason": "x"})

    assert (sheet.status_code, post.status_code, document.status_code, recuse.status_code) == (
        404,
        404,
        404,
        404,
    )
    for response in (sheet, post, document, recuse):
        for text in _text_of(scene):
            assert text not in response.content.decode()


@pytest.mark.parametrize("form", CONFLICT_FORMS)
def test_api_lists_without_it_and_detail_is_not_found(
    scene: Scene, form: str, client: Client, login: Login
) -> None:
    assignment_pk, _document_pk = _before(scene)
    conflict_make(scene, form)
    login(client, scene.lee.user)

    listing = client.get("/api/v1/reviews/assignments")
    detail = client.get(f"/api/v1/reviews/assignments/{assignment_pk}")

    assert listing.status_code == 200
    assert [row["application_id"] for row in listing.json()] == [scene.other.pk]
    assert detail.status_code == 404
    assert detail.json() == {
        "code": "assignment_not_found",
        "message": "평가 배정을 찾을 수 없습니다.",
        "field": None,
    }


@pytest.mark.parametrize("form", CONFLICT_FORMS)
def test_operator_matrix_never_shows_the_member_assigned(scene: Scene, form: str) -> None:
    conflict_make(scene, form)

    matrix = assignment_matrix(scene.committee)

    column = [c.application for c in matrix.columns].index(scene.target)
    lee_row = next(row for row in matrix.rows if row.member == scene.lee)
    cell = lee_row.cells[column]
    assert (cell.state, cell.label, cell.assignment) == ("conflict", CONFLICT_LABELS[form], None)
    assert (lee_row.submitted, lee_row.assigned) == (1, 1)


@pytest.mark.parametrize("form", CONFLICT_FORMS)
def test_operator_cannot_assign_a_conflicted_pair(scene: Scene, form: str) -> None:
    conflict_make(scene, form)
    Assignment.objects.filter(member=scene.lee, application=scene.target).delete()
    before = Assignment.objects.count()

    with pytest.raises(DomainError) as refused:
        assignment_add(member=scene.lee, application=scene.target, actor=scene.operator)

    assert refused.value.code == "conflicted"
    assert Assignment.objects.count() == before
    assert not Assignment.objects.filter(member=scene.lee, application=scene.target).exists()


@pytest.mark.parametrize("form", CONFLICT_FORMS)
def test_generating_assignments_again_skips_the_conflicted_pair(scene: Scene, form: str) -> None:
    conflict_make(scene, form)
    Assignment.objects.filter(member=scene.lee, application=scene.target).delete()

    created = assignments_generate(scene.committee, actor=scene.operator)

    assert created == []
    assert not Assignment.objects.filter(member=scene.lee, application=scene.target).exists()


@pytest.mark.parametrize("form", CONFLICT_FORMS)
def test_operator_assignment_page_refuses_a_conflicted_pair(
    scene: Scene, form: str, client: Client, login: Login
) -> None:
    conflict_make(scene, form)
    Assignment.objects.filter(member=scene.lee, application=scene.target).delete()
    login(client, scene.operator)

    response = client.post(
        reverse("reviews:assignment_add", args=[scene.committee.pk]),
        {"member": scene.lee.pk, "application": scene.target.pk},
        follow=True,
    )

    assert response.status_code == 200
    assert (
        "이해충돌(제척·회피·기피)이 있는 위원에게는 이 신청서를 배정할 수 없습니다."
        in response.content.decode()
    )
    assert not Assignment.objects.filter(member=scene.lee, application=scene.target).exists()


def test_rejected_challenge_shows_the_application_again(scene: Scene, client: Client, login: Login) -> None:
    from medbroker.reviews.services.conflicts import conflict_challenge_decide, conflict_challenge_request

    conflict = conflict_challenge_request(scene.target, scene.lee, "근거 없는 우려", scene.company_user)
    assert member_is_conflicted(scene.lee, scene.target) is True

    conflict_challenge_decide(conflict, False, "이해관계 확인되지 않음", scene.operator)

    assert member_is_conflicted(scene.lee, scene.target) is False
    login(client, scene.lee.user)
    assignment = scene.assignment(scene.lee, scene.target)
    assert assignment is not None
    assert client.get(reverse("reviews:score_sheet", args=[assignment.pk])).status_code == 200
    assert submitted_sheets(scene.committee).count() == 4
