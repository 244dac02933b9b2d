"""The reviewer's API: own non-conflicted assignments with sheet status, and one application's summary."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.test import Client

from medbroker.accounts.models import User
from medbroker.accounts.services import api_token_create
from medbroker.reviews.services.assignments import assignments_generate
from medbroker.reviews.tests.committee_scene import Scene, scene_build, sheet_fill

pytestmark = pytest.mark.django_db

Login = Callable[[Client, User | None], Client]


@pytest.fixture
def scene(applicant: User, operator: User) -> Scene:
    scene = scene_build(applicant=applicant, operator=operator)
    assignments_generate(scene.committee, actor=operator)
    return scene


def test_list_gives_each_assignment_with_its_sheet_state(scene: Scene, client: Client, login: Login) -> None:
    on_target = scene.assignment(scene.kim, scene.target)
    on_other = scene.assignment(scene.kim, scene.other)
    assert on_target and on_other
    sheet_fill(on_target)
    sheet_fill(on_other, submit=False, points={"org_capability": "6.5"})
    login(client, scene.kim.user)

    response = client.get("/api/v1/reviews/assignments")

    assert response.status_code == 200
    rows = sorted(response.json(), key=lambda r: r["id"])
    assert [
        (r["id"], r["application_id"], r["receipt_number"], r["company"], r["sheet_status"], r["sheet_total"])
        for r in rows
    ] == sorted(
        [
            (
                on_target.pk,
                scene.target.pk,
                scene.target.receipt_number,
                scene.target.company.name,
                "submitted",
                "81.50",
            ),
            (
                on_other.pk,
                scene.other.pk,
                scene.other.receipt_number,
                scene.other.company.name,
                "draft",
                "6.50",
            ),
        ]
    )
    assert {r["committee"] for r in rows} == {scene.committee.name}
    assert {r["committee_status"] for r in rows} == {"open"}


def test_detail_gives_the_plan_and_documents(scene: Scene, client: Client, login: Login) -> None:
    assignment = scene.assignment(scene.kim, scene.target)
    assert assignment is not None
    login(client, scene.kim.user)

    body = client.get(f"/api/v1/reviews/assignments/{assignment.pk}").json()

    assert (body["sheet_status"], body["sheet_total"], body["project_title"]) == (
        "none",
        None,
        "유방 촬영술 병변 분류 보조 AI",
    )
    assert body["summary"] == "위 내시경 영상으로 병변을 검출하는 AI를 제품화합니다."
    assert [section["field"] for section in body["plan"]] == [
        "project_title",
        "summary",
        "organisation_plan",
        "staffing_plan",
        "objectives",
        "contents_strategy",
        "technology",
        "expected_effects",
    ]
    assert sorted(d["requirement"] for d in body["documents"]) == [
        "application_plan",
        "eligibility_confirmation",
        "participation_agreement",
        "privacy_consent",
    ]


def test_token_works_and_another_reviewers_assignment_is_not_found(scene: Scene, client: Client) -> None:
    mine = scene.assignment(scene.kim, scene.target)
    theirs = scene.assignment(scene.lee, scene.target)
    assert mine and theirs
    _token, key = api_token_create(user=scene.kim.user, name="cli")
    auth = {"HTTP_AUTHORIZATION": f"Bearer {key}"}

    assert client.get(f"/api/v1/reviews/assignments/{mine.pk}", **auth).status_code == 200
    assert client.get(f"/api/v1/reviews/assignments/{theirs.pk}", **auth).status_code == 404
    assert client.get("/api/v1/reviews/assignments", HTTP_AUTHORIZATION="Bearer mbk_wrong").status_code == 401
