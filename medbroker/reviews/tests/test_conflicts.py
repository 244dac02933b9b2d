"""Conflicts of interest: 제척 detected by rule, 회피 by the reviewer, 기피 asked by the company and decided
by an operator; what each records, removes and audits, and what is refused."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import time_machine
from django.test import Client
from django.urls import reverse

from medbroker.accounts.models import User
from medbroker.audit.models import AuditEvent
from medbroker.core.errors import DomainError
from medbroker.core.timeutils import kst
from medbroker.reviews.models import Assignment, Conflict, ScoreSheet
from medbroker.reviews.services.committee import committee_close
from medbroker.reviews.services.conflicts import (
    conflict_challenge_decide,
    conflict_challenge_request,
    conflict_recuse,
    conflicts_detect,
)
from medbroker.reviews.tests.committee_scene import Scene, conflict_count, scene_build, scene_scored
from medbroker.reviews.tests.factories import member

pytestmark = pytest.mark.django_db

Login = Callable[[Client, User | None], Client]
DECISION_DAY = kst(2025, 8, 6, 11, 0, 0)


@pytest.fixture
def scene(applicant: User, operator: User) -> Scene:
    scene = scene_build(applicant=applicant, operator=operator)
    scene_scored(scene)
    return scene


# ----- 제척 ---------------------------------------------------------------------------------------------


def test_detect_records_exclusions_by_organisation_and_declared_relation(scene: Scene) -> None:
    same = member(scene.committee, username="choi", organisation=scene.target.company)
    declared = member(scene.committee, username="jung")
    declared.declared_relations.add(scene.other.company)

    found = conflicts_detect(scene.committee, actor=scene.operator)

    assert [(c.member, c.application, c.kind, c.status, c.reason) for c in found] == [
        (same, scene.target, "exclusion", "upheld", "위원 소속 기관이 신청 기업과 같음"),
        (declared, scene.other, "exclusion", "upheld", "위원이 신청 기업과의 이해관계를 신고함"),
    ]
    events = AuditEvent.objects.filter(action="reviews.conflict_detected").order_by("sequence")
    assert [e.data for e in events] == [
        {
            "conflict_id": found[0].pk,
            "kind": "exclusion",
            "status": "upheld",
            "member_id": same.pk,
            "application_id": scene.target.pk,
            "reason": "위원 소속 기관이 신청 기업과 같음",
        },
        {
            "conflict_id": found[1].pk,
            "kind": "exclusion",
            "status": "upheld",
            "member_id": declared.pk,
            "application_id": scene.other.pk,
            "reason": "위원이 신청 기업과의 이해관계를 신고함",
        },
    ]
    assert all(e.actor_id == scene.operator.pk for e in events)


def test_detect_is_idempotent(scene: Scene) -> None:
    member(scene.committee, username="choi", organisation=scene.target.company)
    conflicts_detect(scene.committee, actor=scene.operator)
    events = AuditEvent.objects.count()

    assert conflicts_detect(scene.committee, actor=scene.operator) == []
    assert conflict_count(scene) == 1
    assert AuditEvent.objects.count() == events


def test_detect_withdraws_an_assignment_and_its_sheet_with_a_trace(scene: Scene) -> None:
    scene.lee.declared_relations.add(scene.target.company)
    assignment = scene.assignment(scene.lee, scene.target)
    assert assignment is not None
    sheet_pk = assignment.sheet.pk

    (conflict,) = conflicts_detect(scene.committee, actor=scene.operator)

    assert not Assignment.objects.filter(pk=assignment.pk).exists()
    assert not ScoreSheet.objects.filter(pk=sheet_pk).exists()
    event = AuditEvent.objects.get(action="reviews.assignment_withdrawn")
    assert (event.object_type, event.object_id, event.actor_id) == (
        "reviews.assignment",
        str(assignment.pk),
        scene.operator.pk,
    )
    assert event.data == {
        "member_id": scene.lee.pk,
        "application_id": scene.target.pk,
        "conflict_id": conflict.pk,
        "conflict_kind": "exclusion",
        "sheet": {
            "sheet_id": sheet_pk,
            "status": "submitted",
            "points": {
                "org_capability": "8.00",
                "execution_capacity": "4.50",
                "goal_clarity": "12.00",
                "contents_strategy": "8.00",
                "technical_merit": "25.00",
                "industry_contribution": "24.00",
            },
            "grades": {},
        },
    }


# ----- 회피 ---------------------------------------------------------------------------------------------


def test_recusal_is_upheld_at_once_and_removes_the_assignment(scene: Scene) -> None:
    with time_machine.travel(DECISION_DAY, tick=False):
        conflict = conflict_recuse(scene.lee, scene.target, "  신청 기업 대표와 공동 연구 이력  ")

    assert (conflict.kind, conflict.status, conflict.reason, conflict.requested_by, conflict.decided_at) == (
        "recusal",
        "upheld",
        "신청 기업 대표와 공동 연구 이력",
        scene.lee.user,
        DECISION_DAY,
    )
    assert scene.assignment(scene.lee, scene.target) is None
    event = AuditEvent.objects.get(action="reviews.conflict_recused")
    assert (event.actor_id, event.object_type, event.object_id) == (
        scene.lee.user_id,
        "reviews.conflict",
        str(conflict.pk),
    )
    assert event.summary == f"회피 · {scene.lee.user} · {scene.target.receipt_number}"


def test_recusal_needs_a_reason_and_happens_once(scene: Scene) -> None:
    with pytest.raises(DomainError) as refused:
        conflict_recuse(scene.lee, scene.target, " ")
    assert refused.value.code == "reason_required"
    assert conflict_count(scene) == 0
    conflict_recuse(scene.lee, scene.target, "이해관계")

    with pytest.raises(DomainError) as refused:
        conflict_recuse(scene.lee, scene.target, "이해관계")

    assert refused.value.code == "already_recused"
    assert conflict_count(scene) == 1


def test_recuse_page(scene: Scene, client: Client, login: Login) -> None:
    assignment = scene.assignment(scene.lee, scene.target)
    assert assignment is not None
    login(client, scene.lee.user)

    empty = client.post(reverse("reviews:recuse", args=[assignment.pk]), {"reason": ""})
    assert (empty.status_code, conflict_count(scene)) == (302, 0)
    done = client.post(reverse("reviews:recuse", args=[assignment.pk]), {"reason": "자문 이력"})

    assert (done.status_code, done["Location"]) == (302, reverse("reviews:reviewer_queue"))
    assert Conflict.objects.get().kind == "recusal"


# ----- 기피 ---------------------------------------------------------------------------------------------


def test_challenge_request_is_pending_and_audited(scene: Scene) -> None:
    conflict = conflict_challenge_request(scene.target, scene.lee, "경쟁사 자문위원", scene.company_user)

    assert (conflict.kind, conflict.status, conflict.reason, conflict.requested_by) == (
        "challenge",
        "pending",
        "경쟁사 자문위원",
        scene.company_user,
    )
    # Pending: kept (the operator may reject it), but hidden from lee meanwhile.
    assert scene.assignment(scene.lee, scene.target) is not None
    event = AuditEvent.objects.get(action="reviews.conflict_challenge_requested")
    assert event.actor_id == scene.company_user.pk
    assert event.data == {
        "conflict_id": conflict.pk,
        "kind": "challenge",
        "status": "pending",
        "member_id": scene.lee.pk,
        "application_id": scene.target.pk,
        "reason": "경쟁사 자문위원",
    }


def test_challenge_request_refusals_change_nothing(
    scene: Scene, other_applicant: User, reviewer: User
) -> None:
    events = AuditEvent.objects.count()
    cases = [
        (lambda: conflict_challenge_request(scene.target, scene.lee, "사유", other_applicant), "forbidden"),
        (lambda: conflict_challenge_request(scene.target, scene.lee, "사유", reviewer), "forbidden"),
        (
            lambda: conflict_challenge_request(scene.target, scene.lee, "", scene.company_user),
            "reason_required",
        ),
    ]
    for attempt, code in cases:
        with pytest.raises(DomainError) as refused:
            attempt()
        assert refused.value.code == code
    assert (conflict_count(scene), AuditEvent.objects.count()) == (0, events)


def test_challenge_twice_or_of_an_excluded_member_is_refused(scene: Scene) -> None:
    conflict_challenge_request(scene.target, scene.lee, "사유", scene.company_user)
    with pytest.raises(DomainError) as refused:
        conflict_challenge_request(scene.target, scene.lee, "다른 사유", scene.company_user)
    assert (refused.value.code, str(refused.value.message)) == (
        "already_challenged",
        "이 위원에 대한 기피 신청이 이미 있습니다(결정 대기).",
    )
    conflict_recuse(scene.kim, scene.target, "이해관계")
    with pytest.raises(DomainError) as refused:
        conflict_challenge_request(scene.target, scene.kim, "사유", scene.company_user)
    assert refused.value.code == "already_excluded"
    assert conflict_count(scene) == 2


def test_challenge_after_close_is_refused(scene: Scene) -> None:
    committee_close(committee=scene.committee, actor=scene.operator)

    with pytest.raises(DomainError) as refused:
        conflict_challenge_request(scene.target, scene.lee, "사유", scene.company_user)

    assert refused.value.code == "committee_closed"
    assert conflict_count(scene) == 0


def test_upheld_challenge_removes_the_assignment_and_is_audited(scene: Scene) -> None:
    conflict = conflict_challenge_request(scene.target, scene.lee, "경쟁사 자문위원", scene.company_user)

    with time_machine.travel(DECISION_DAY, tick=False):
        decided = conflict_challenge_decide(conflict, True, "자문 계약서 확인", scene.operator)

    assert (decided.status, decided.decided_by, decided.decision_reason, decided.decided_at) == (
        "upheld",
        scene.operator,
        "자문 계약서 확인",
        DECISION_DAY,
    )
    assert scene.assignment(scene.lee, scene.target) is None
    event = AuditEvent.objects.get(action="reviews.conflict_challenge_decided")
    assert event.actor_id == scene.operator.pk
    assert event.data == {
        "conflict_id": conflict.pk,
        "kind": "challenge",
        "status": "upheld",
        "member_id": scene.lee.pk,
        "application_id": scene.target.pk,
        "reason": "경쟁사 자문위원",
        "decision_reason": "자문 계약서 확인",
    }
    withdrawn = AuditEvent.objects.get(action="reviews.assignment_withdrawn")
    assert (withdrawn.data["conflict_kind"], withdrawn.data["sheet"]["status"]) == ("challenge", "submitted")


def test_rejected_challenge_keeps_the_assignment(scene: Scene) -> None:
    conflict = conflict_challenge_request(scene.target, scene.lee, "막연한 우려", scene.company_user)

    decided = conflict_challenge_decide(conflict, False, "이해관계 없음", scene.operator)

    assert decided.status == "rejected"
    assert scene.assignment(scene.lee, scene.target) is not None
    assert not AuditEvent.objects.filter(action="reviews.assignment_withdrawn").exists()


def test_decide_refusals_change_nothing(scene: Scene, auditor: User) -> None:
    conflict = conflict_challenge_request(scene.target, scene.lee, "사유", scene.company_user)
    recusal = conflict_recuse(scene.kim, scene.other, "이해관계")
    events = AuditEvent.objects.count()
    cases = [
        (lambda: conflict_challenge_decide(conflict, True, "확인", auditor), "forbidden"),
        (lambda: conflict_challenge_decide(conflict, True, "확인", scene.lee.user), "forbidden"),
        (lambda: conflict_challenge_decide(conflict, True, "", scene.operator), "reason_required"),
        (lambda: conflict_challenge_decide(recusal, False, "확인", scene.operator), "not_a_challenge"),
    ]
    for attempt, code in cases:
        with pytest.raises(DomainError) as refused:
            attempt()
        assert refused.value.code == code
    conflict.refresh_from_db()
    assert (conflict.status, conflict.decided_by, AuditEvent.objects.count()) == ("pending", None, events)


def test_decided_challenge_cannot_be_decided_again(scene: Scene) -> None:
    conflict = conflict_challenge_request(scene.target, scene.lee, "사유", scene.company_user)
    conflict_challenge_decide(conflict, False, "기각", scene.operator)

    with pytest.raises(DomainError) as refused:
        conflict_challenge_decide(conflict, True, "번복", scene.operator)

    assert refused.value.code == "already_decided"
    conflict.refresh_from_db()
    assert (conflict.status, conflict.decision_reason) == ("rejected", "기각")


# ----- the company's page -------------------------------------------------------------------------------


def test_company_page_lists_members_and_files_a_challenge(scene: Scene, client: Client, login: Login) -> None:
    login(client, scene.company_user)
    url = reverse("reviews:challenge_new", args=[scene.target.pk])

    page = client.get(url)
    assert page.status_code == 200
    body = page.content.decode()
    assert f"{scene.kim.user} · {scene.kim.organisation}" in body
    assert f"{scene.lee.user} · {scene.lee.organisation}" in body

    response = client.post(url, {"member": scene.lee.pk, "reason": "경쟁사 자문위원"})

    assert (response.status_code, response["Location"]) == (302, url)
    conflict = Conflict.objects.get()
    assert (conflict.member, conflict.application, conflict.kind, conflict.status) == (
        scene.lee,
        scene.target,
        "challenge",
        "pending",
    )
    assert "결정 대기" in client.get(url).content.decode()


def test_company_page_refuses_without_reason_and_after_close(
    scene: Scene, client: Client, login: Login
) -> None:
    login(client, scene.company_user)
    url = reverse("reviews:challenge_new", args=[scene.target.pk])

    assert client.post(url, {"member": scene.lee.pk, "reason": ""}).status_code == 400
    committee_close(committee=scene.committee, actor=scene.operator)
    page = client.get(url)
    closed = client.post(url, {"member": scene.lee.pk, "reason": "사유"})

    assert "평가가 종료되어 기피를 신청할 수 없습니다." in page.content.decode()
    assert closed.status_code == 409
    assert conflict_count(scene) == 0


def test_operator_decides_on_the_committee_page(scene: Scene, client: Client, login: Login) -> None:
    conflict = conflict_challenge_request(scene.target, scene.lee, "사유", scene.company_user)
    login(client, scene.operator)
    url = reverse("reviews:conflict_decide", args=[scene.committee.pk, conflict.pk])

    missing = client.post(url, {"decision": "upheld", "decision_reason": ""})
    conflict.refresh_from_db()
    assert (missing.status_code, conflict.status) == (302, "pending")
    done = client.post(url, {"decision": "upheld", "decision_reason": "확인"})

    assert done.status_code == 302
    conflict.refresh_from_db()
    assert (conflict.status, conflict.decision_reason) == ("upheld", "확인")
