"""Score sheets: validation of points, the five-grade scale, drafts, submission, locks and their audit."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest
import time_machine
from django.test import Client
from django.urls import reverse

from medbroker.accounts.models import User
from medbroker.audit.models import AuditEvent
from medbroker.core.errors import DomainError
from medbroker.core.timeutils import kst
from medbroker.reviews.models import Assignment, Committee, ScoreEntry, ScoreSheet
from medbroker.reviews.selectors.committee import sheet_total
from medbroker.reviews.services.assignments import assignments_generate
from medbroker.reviews.services.committee import committee_close
from medbroker.reviews.services.scoring import (
    grade_points,
    score_sheet_for,
    score_sheet_reopen,
    score_sheet_save,
    score_sheet_submit,
)
from medbroker.reviews.tests.committee_scene import FULL_POINTS, FULL_TOTAL, Scene, scene_build, sheet_fill

pytestmark = pytest.mark.django_db

Login = Callable[[Client, User | None], Client]
REVIEW_DAY = kst(2025, 8, 4, 14, 0, 0)


@pytest.fixture
def scene(applicant: User, operator: User) -> Scene:
    scene = scene_build(applicant=applicant, operator=operator)
    assignments_generate(scene.committee, actor=operator)
    return scene


@pytest.fixture
def assignment(scene: Scene) -> Assignment:
    assignment = scene.assignment(scene.kim, scene.target)
    assert assignment is not None
    return assignment


def _save(
    assignment: Assignment, entries: dict[str, dict[str, str]], actor: User | None = None
) -> ScoreSheet:
    actor = actor or assignment.member.user
    return score_sheet_save(score_sheet_for(assignment, actor=actor), entries=entries, actor=actor)


def _points(sheet: ScoreSheet) -> dict[str, Decimal | None]:
    return {e.rubric_item.code: e.points for e in sheet.entries.select_related("rubric_item")}


# ----- points -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "stored"),
    [("0", Decimal("0.00")), ("30", Decimal("30.00")), ("29.99", Decimal("29.99")), ("7.5", Decimal("7.50"))],
)
def test_points_within_zero_and_max_are_stored_to_two_places(
    assignment: Assignment, typed: str, stored: Decimal
) -> None:
    sheet = _save(assignment, {"technical_merit": {"points": typed, "comment": "명확한 차별성"}})

    entry = ScoreEntry.objects.get(sheet=sheet)
    assert (entry.rubric_item.code, entry.points, entry.grade, entry.comment) == (
        "technical_merit",
        stored,
        "",
        "명확한 차별성",
    )


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("30.01", "0점부터 30점 사이로 입력하세요."),
        ("-1", "0점부터 30점 사이로 입력하세요."),
        ("-0.01", "0점부터 30점 사이로 입력하세요."),
        ("abc", "숫자로 입력하세요."),
        ("NaN", "숫자로 입력하세요."),
        ("1,5", "숫자로 입력하세요."),
        ("12.345", "소수점 둘째 자리까지만 입력할 수 있습니다."),
    ],
)
def test_points_out_of_range_or_not_numbers_are_refused_and_nothing_is_saved(
    assignment: Assignment, typed: str, message: str
) -> None:
    sheet = _save(assignment, {"org_capability": {"points": "8"}})
    events = AuditEvent.objects.count()

    with pytest.raises(DomainError) as refused:
        score_sheet_save(
            sheet,
            entries={"org_capability": {"points": "9"}, "technical_merit": {"points": typed}},
            actor=assignment.member.user,
        )

    assert refused.value.code == "invalid_scores"
    assert refused.value.details == {"errors": {"technical_merit": message}}
    # All or nothing: the valid item in the same save did not change either.
    assert _points(sheet) == {"org_capability": Decimal("8.00")}
    assert AuditEvent.objects.count() == events


def test_max_plus_one_hundredth_is_refused_on_the_five_point_item(assignment: Assignment) -> None:
    with pytest.raises(DomainError) as refused:
        _save(assignment, {"execution_capacity": {"points": "5.01"}})

    assert refused.value.details == {"errors": {"execution_capacity": "0점부터 5점 사이로 입력하세요."}}
    assert ScoreEntry.objects.count() == 0


def test_unknown_rubric_item_is_refused(assignment: Assignment) -> None:
    with pytest.raises(DomainError) as refused:
        _save(assignment, {"charisma": {"points": "3"}})

    assert refused.value.details == {"errors": {"charisma": "이 공모의 평가 항목이 아닙니다."}}


def test_submit_requires_every_item(assignment: Assignment) -> None:
    partial = {
        code: {"points": value} for code, value in FULL_POINTS.items() if code != "industry_contribution"
    }
    sheet = _save(assignment, partial)

    with pytest.raises(DomainError) as refused:
        score_sheet_submit(sheet, actor=assignment.member.user)

    assert refused.value.code == "items_missing"
    assert refused.value.details == {"missing": ["industry_contribution"]}
    assert str(refused.value.message) == "채점하지 않은 항목이 있습니다: 지역산업 활성화(의료산업 공헌도)"
    sheet.refresh_from_db()
    assert (sheet.status, sheet.submitted_at) == ("draft", None)


def test_an_item_cleared_in_a_draft_counts_as_missing(assignment: Assignment) -> None:
    sheet = _save(assignment, {code: {"points": value} for code, value in FULL_POINTS.items()})
    _save(assignment, {"goal_clarity": {"points": ""}})

    with pytest.raises(DomainError) as refused:
        score_sheet_submit(sheet, actor=assignment.member.user)

    assert refused.value.details == {"missing": ["goal_clarity"]}


def test_submit_stores_the_time_and_total_and_audits_it(assignment: Assignment) -> None:
    with time_machine.travel(REVIEW_DAY, tick=False):
        sheet = sheet_fill(assignment)

    assert (sheet.status, sheet.submitted_at) == ("submitted", REVIEW_DAY)
    assert sheet_total(sheet) == FULL_TOTAL
    event = AuditEvent.objects.filter(action="reviews.score_sheet_submitted").get()
    assert (event.actor_id, event.object_type, event.object_id) == (
        assignment.member.user_id,
        "reviews.scoresheet",
        str(sheet.pk),
    )
    assert event.data == {
        "assignment_id": assignment.pk,
        "points": {
            "org_capability": "8.00",
            "execution_capacity": "4.50",
            "goal_clarity": "12.00",
            "contents_strategy": "8.00",
            "technical_merit": "25.00",
            "industry_contribution": "24.00",
        },
        "grades": {},
        "total": "81.50",
    }


def test_each_draft_save_is_audited(assignment: Assignment) -> None:
    _save(assignment, {"org_capability": {"points": "7", "comment": "의지 보통"}})

    event = AuditEvent.objects.filter(action="reviews.score_sheet_saved").get()
    assert event.actor_id == assignment.member.user_id
    assert event.data == {
        "assignment_id": assignment.pk,
        "points": {"org_capability": "7.00"},
        "grades": {},
        "total": "7.00",
    }


# ----- five grades --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("grade", "on_5", "on_10", "on_15", "on_30"),
    [
        ("A", "5.00", "10.00", "15.00", "30.00"),
        ("B", "4.00", "8.00", "12.00", "24.00"),
        ("C", "3.00", "6.00", "9.00", "18.00"),
        ("D", "2.00", "4.00", "6.00", "12.00"),
        ("E", "1.00", "2.00", "3.00", "6.00"),
    ],
)
def test_grade_maps_to_its_share_of_the_item(
    grade: str, on_5: str, on_10: str, on_15: str, on_30: str
) -> None:
    assert [grade_points(grade, m) for m in (5, 10, 15, 30)] == [
        Decimal(on_5),
        Decimal(on_10),
        Decimal(on_15),
        Decimal(on_30),
    ]


def test_five_grade_sheet_stores_grade_and_derived_points(scene: Scene, assignment: Assignment) -> None:
    Committee.objects.filter(pk=scene.committee.pk).update(scale=Committee.Scale.FIVE_GRADES)
    assignment.member.committee.refresh_from_db()
    grades = {
        "org_capability": "A",
        "execution_capacity": "b",
        "goal_clarity": "C",
        "contents_strategy": "D",
        "technical_merit": "E",
        "industry_contribution": "B",
    }

    sheet = _save(assignment, {code: {"grade": g, "points": "999"} for code, g in grades.items()})
    sheet = score_sheet_submit(sheet, actor=assignment.member.user)

    assert _points(sheet) == {
        "org_capability": Decimal("10.00"),
        "execution_capacity": Decimal("4.00"),
        "goal_clarity": Decimal("9.00"),
        "contents_strategy": Decimal("4.00"),
        "technical_merit": Decimal("6.00"),
        "industry_contribution": Decimal("24.00"),
    }
    assert sheet_total(sheet) == Decimal("57.00")
    assert dict(sheet.entries.values_list("rubric_item__code", "grade")) == {
        code: g.upper() for code, g in grades.items()
    }


def test_five_grade_sheet_refuses_another_letter(scene: Scene, assignment: Assignment) -> None:
    Committee.objects.filter(pk=scene.committee.pk).update(scale=Committee.Scale.FIVE_GRADES)
    assignment.member.committee.refresh_from_db()

    with pytest.raises(DomainError) as refused:
        _save(assignment, {"org_capability": {"grade": "F"}})

    assert refused.value.details == {"errors": {"org_capability": "A~E 중 하나를 선택하세요."}}
    assert ScoreEntry.objects.count() == 0


# ----- who may write, and when --------------------------------------------------------------------------


def test_only_the_assigned_member_can_write(scene: Scene, assignment: Assignment) -> None:
    for intruder in (scene.lee.user, scene.operator):
        with pytest.raises(DomainError) as refused:
            score_sheet_for(assignment, actor=intruder)
        assert (refused.value.code, refused.value.status_code) == ("sheet_not_found", 404)
    sheet = _save(assignment, {"org_capability": {"points": "5"}})

    with pytest.raises(DomainError) as refused:
        score_sheet_save(sheet, entries={"org_capability": {"points": "1"}}, actor=scene.lee.user)

    assert refused.value.code == "sheet_not_found"
    assert _points(sheet) == {"org_capability": Decimal("5.00")}


def test_submitted_sheet_is_locked(assignment: Assignment) -> None:
    sheet = sheet_fill(assignment)
    events = AuditEvent.objects.count()

    for attempt in (
        lambda: score_sheet_save(
            sheet, entries={"org_capability": {"points": "1"}}, actor=assignment.member.user
        ),
        lambda: score_sheet_submit(sheet, actor=assignment.member.user),
    ):
        with pytest.raises(DomainError) as refused:
            attempt()
        assert (refused.value.code, refused.value.status_code) == ("sheet_submitted", 409)

    assert _points(sheet)["org_capability"] == Decimal("8.00")
    assert AuditEvent.objects.count() == events


def test_closed_committee_locks_every_sheet_and_opens_no_new_one(
    scene: Scene, assignment: Assignment
) -> None:
    draft = _save(assignment, {"org_capability": {"points": "5"}})
    committee_close(committee=scene.committee, actor=scene.operator)
    other = scene.assignment(scene.lee, scene.other)
    assert other is not None

    with pytest.raises(DomainError) as refused:
        score_sheet_save(draft, entries={"org_capability": {"points": "6"}}, actor=assignment.member.user)
    assert refused.value.code == "committee_closed"
    with pytest.raises(DomainError) as refused:
        score_sheet_for(other, actor=scene.lee.user)
    assert refused.value.code == "committee_closed"

    assert _points(draft) == {"org_capability": Decimal("5.00")}
    assert not ScoreSheet.objects.filter(assignment=other).exists()


def test_operator_reopens_a_submitted_sheet_with_a_reason(scene: Scene, assignment: Assignment) -> None:
    with time_machine.travel(REVIEW_DAY, tick=False):
        sheet = sheet_fill(assignment)

    sheet = score_sheet_reopen(sheet, actor=scene.operator, reason="항목 점수 오기")

    assert (sheet.status, sheet.submitted_at) == ("draft", None)
    event = AuditEvent.objects.filter(action="reviews.score_sheet_reopened").get()
    assert event.actor_id == scene.operator.pk
    assert event.data["reason"] == "항목 점수 오기"
    assert event.data["submitted_at"] == "2025-08-04T05:00:00+00:00"
    assert event.data["total"] == "81.50"
    # The reviewer can correct it now.
    score_sheet_save(sheet, entries={"org_capability": {"points": "9"}}, actor=assignment.member.user)
    assert sheet_total(sheet) == Decimal("82.50")


def test_reopen_is_refused_to_reviewers_without_reason_and_after_close(
    scene: Scene, assignment: Assignment
) -> None:
    sheet = sheet_fill(assignment)

    with pytest.raises(DomainError) as refused:
        score_sheet_reopen(sheet, actor=assignment.member.user, reason="제가 틀렸습니다")
    assert refused.value.code == "forbidden"
    with pytest.raises(DomainError) as refused:
        score_sheet_reopen(sheet, actor=scene.operator, reason="  ")
    assert refused.value.code == "reason_required"
    committee_close(committee=scene.committee, actor=scene.operator)
    with pytest.raises(DomainError) as refused:
        score_sheet_reopen(sheet, actor=scene.operator, reason="오기")
    assert refused.value.code == "committee_closed"

    sheet.refresh_from_db()
    assert sheet.status == "submitted"
    assert not AuditEvent.objects.filter(action="reviews.score_sheet_reopened").exists()


# ----- the page -----------------------------------------------------------------------------------------


def test_sheet_page_shows_plan_documents_and_rubric(
    assignment: Assignment, client: Client, login: Login
) -> None:
    login(client, assignment.member.user)

    response = client.get(reverse("reviews:score_sheet", args=[assignment.pk]))

    body = response.content.decode()
    assert response.status_code == 200
    assert "유방 촬영술 병변 분류 보조 AI" in body
    assert "위 내시경 영상으로 병변을 검출하는 AI를 제품화합니다." in body
    assert "보유 기술 및 차별성·상용화 계획" in body
    for document in assignment.application.documents.all():
        assert reverse("reviews:reviewer_document", args=[assignment.pk, document.pk]) in body
    for code in FULL_POINTS:
        assert f'name="points_{code}"' in body
    assert "기업의 추진의지 및 역량" in body
    # Opening the page creates nothing.
    assert not ScoreSheet.objects.filter(assignment=assignment).exists()


def test_sheet_page_refuses_bad_points_and_keeps_what_was_typed(
    assignment: Assignment, client: Client, login: Login
) -> None:
    login(client, assignment.member.user)

    response = client.post(
        reverse("reviews:score_sheet", args=[assignment.pk]),
        {
            "action": "save",
            "points_org_capability": "11",
            "comment_org_capability": "역량 우수",
            "points_goal_clarity": "12",
        },
    )

    body = response.content.decode()
    assert response.status_code == 400
    assert "0점부터 10점 사이로 입력하세요." in body
    assert 'value="11"' in body and "역량 우수" in body
    assert ScoreEntry.objects.count() == 0


def test_sheet_page_submit_with_a_missing_item_keeps_the_draft(
    assignment: Assignment, client: Client, login: Login
) -> None:
    login(client, assignment.member.user)
    data = {f"points_{code}": value for code, value in FULL_POINTS.items() if code != "goal_clarity"}

    response = client.post(reverse("reviews:score_sheet", args=[assignment.pk]), {**data, "action": "submit"})

    assert response.status_code == 302
    sheet = ScoreSheet.objects.get(assignment=assignment)
    assert (sheet.status, sheet_total(sheet)) == ("draft", Decimal("69.50"))


def test_sheet_page_submits(assignment: Assignment, client: Client, login: Login) -> None:
    login(client, assignment.member.user)
    data = {f"points_{code}": value for code, value in FULL_POINTS.items()}

    response = client.post(
        reverse("reviews:score_sheet", args=[assignment.pk]),
        {**data, "overall_comment": "우수", "action": "submit"},
    )

    assert (response.status_code, response["Location"]) == (302, reverse("reviews:reviewer_queue"))
    sheet = ScoreSheet.objects.get(assignment=assignment)
    assert (sheet.status, sheet.overall_comment, sheet_total(sheet)) == ("submitted", "우수", FULL_TOTAL)


def test_sheet_page_after_submit_is_read_only_and_post_changes_nothing(
    assignment: Assignment, client: Client, login: Login
) -> None:
    sheet_fill(assignment)
    login(client, assignment.member.user)

    page = client.get(reverse("reviews:score_sheet", args=[assignment.pk]))
    post = client.post(reverse("reviews:score_sheet", args=[assignment.pk]), {"points_org_capability": "1"})

    assert page.status_code == 200
    assert 'value="submit"' not in page.content.decode()
    assert post.status_code == 302
    assert _points(ScoreSheet.objects.get(assignment=assignment))["org_capability"] == Decimal("8.00")


def test_document_download_streams_and_is_audited(
    assignment: Assignment, client: Client, login: Login
) -> None:
    document = assignment.application.documents.order_by("pk").first()
    assert document is not None
    login(client, assignment.member.user)

    response = client.get(reverse("reviews:reviewer_document", args=[assignment.pk, document.pk]))

    assert response.status_code == 200
    assert response["Cache-Control"] == "private, no-store"
    assert b"".join(response.streaming_content).startswith(b"%PDF")  # type: ignore[attr-defined]
    event = AuditEvent.objects.filter(action="reviews.reviewer_document_downloaded").get()
    assert (event.actor_id, event.object_type, event.object_id) == (
        assignment.member.user_id,
        "calls.application",
        str(assignment.application_id),
    )
    assert event.data == {
        "assignment_id": assignment.pk,
        "member_id": assignment.member_id,
        "document_id": document.pk,
        "requirement": document.requirement.code,
        "sha256": document.sha256,
        "receipt_number": assignment.application.receipt_number,
    }
