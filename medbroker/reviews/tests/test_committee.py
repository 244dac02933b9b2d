"""The committee: creation, settings, members, closing; the operator's pages; the selectors others use."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest
import time_machine
from django.http import Http404
from django.test import Client
from django.urls import reverse

from medbroker.accounts.models import User
from medbroker.audit.models import AuditEvent
from medbroker.calls.tests.factories import call_with_window
from medbroker.core.errors import DomainError
from medbroker.core.timeutils import kst
from medbroker.reviews.models import Committee, CommitteeMember, ScoreSheet
from medbroker.reviews.selectors.committee import committee_for_call, sheet_total, submitted_sheets
from medbroker.reviews.services.assignments import assignments_generate
from medbroker.reviews.services.committee import (
    committee_close,
    committee_create,
    committee_update,
    member_add,
    member_remove,
)
from medbroker.reviews.services.conflicts import conflict_challenge_request
from medbroker.reviews.tests.committee_scene import (
    FULL_TOTAL,
    Scene,
    scene_build,
    scene_scored,
    sheet_fill,
)

pytestmark = pytest.mark.django_db

Login = Callable[[Client, User | None], Client]
CLOSING_DAY = kst(2025, 8, 8, 17, 0, 0)


@pytest.fixture
def scene(applicant: User, operator: User) -> Scene:
    return scene_build(applicant=applicant, operator=operator)


# ----- create and settings ------------------------------------------------------------------------------


def test_create_with_defaults_is_audited(operator: User) -> None:
    call = call_with_window(opens_at=kst(2025, 9, 1), closes_at=kst(2025, 9, 15, 16), slug="autumn")

    committee = committee_create(call=call, name=" 가을 서면평가위원회 ", actor=operator)

    assert (committee.name, committee.status, committee.scale, committee.cutoff_score) == (
        "가을 서면평가위원회",
        "open",
        "points",
        Decimal("60"),
    )
    event = AuditEvent.objects.get(action="reviews.committee_created")
    assert event.data == {
        "call": "autumn",
        "name": "가을 서면평가위원회",
        "scale": "points",
        "aggregation": "mean",
        "trim_min_reviewers": 5,
        "cutoff_score": "60.00",
        "cutoff_basis": "review",
        "tie_breaks": [],
        "outlier_threshold": "15.00",
    }


def test_create_refuses_a_second_committee_and_non_operators(scene: Scene, auditor: User) -> None:
    with pytest.raises(DomainError) as refused:
        committee_create(call=scene.committee.call, name="또 하나", actor=scene.operator)
    assert refused.value.code == "committee_exists"
    with pytest.raises(DomainError) as refused:
        committee_create(call=scene.committee.call, name="또 하나", actor=auditor)
    assert refused.value.code == "forbidden"
    assert Committee.objects.count() == 1


def test_update_records_each_change_before_and_after(scene: Scene) -> None:
    committee_update(
        committee=scene.committee,
        actor=scene.operator,
        aggregation="trimmed_mean",
        cutoff_score=Decimal("70.00"),
        scale="points",
    )

    scene.committee.refresh_from_db()
    assert (scene.committee.aggregation, scene.committee.cutoff_score) == ("trimmed_mean", Decimal("70.00"))
    event = AuditEvent.objects.get(action="reviews.committee_updated")
    assert event.data == {
        "changed": {"aggregation": ["mean", "trimmed_mean"], "cutoff_score": ["60.00", "70.00"]}
    }


def test_update_refuses_a_scale_change_once_scoring_started(scene: Scene) -> None:
    assignments_generate(scene.committee, actor=scene.operator)
    assignment = scene.assignment(scene.kim, scene.target)
    assert assignment is not None
    sheet_fill(assignment, submit=False, points={"org_capability": "7"})

    with pytest.raises(DomainError) as refused:
        committee_update(committee=scene.committee, actor=scene.operator, scale="five_grades")

    assert refused.value.code == "scale_in_use"
    scene.committee.refresh_from_db()
    assert scene.committee.scale == "points"


def test_update_refuses_an_invalid_value_and_unknown_settings(scene: Scene) -> None:
    with pytest.raises(DomainError) as refused:
        committee_update(committee=scene.committee, actor=scene.operator, aggregation="median")
    assert (refused.value.code, refused.value.field) == ("invalid_setting", "aggregation")
    with pytest.raises(DomainError) as refused:
        committee_update(committee=scene.committee, actor=scene.operator, status="closed")
    assert refused.value.code == "unknown_setting"
    scene.committee.refresh_from_db()
    assert (scene.committee.aggregation, scene.committee.status) == ("mean", "open")
    assert not AuditEvent.objects.filter(action="reviews.committee_updated").exists()


# ----- members ------------------------------------------------------------------------------------------


def test_member_add_defaults_to_the_users_organisation(scene: Scene, reviewer: User) -> None:
    seated = member_add(
        committee=scene.committee,
        user=reviewer,
        expertise=" 병리 ",
        declared_relations=[scene.other.company],
        actor=scene.operator,
    )

    assert (seated.organisation, seated.expertise, list(seated.declared_relations.all())) == (
        reviewer.organisation,
        "병리",
        [scene.other.company],
    )
    event = AuditEvent.objects.get(action="reviews.member_added")
    assert event.data == {
        "committee_id": scene.committee.pk,
        "user_id": reviewer.pk,
        "organisation_id": reviewer.organisation_id,
        "is_chair": False,
        "declared_relations": [scene.other.company_id],
    }


def test_member_add_refuses_non_reviewers_and_duplicates(scene: Scene, applicant: User) -> None:
    with pytest.raises(DomainError) as refused:
        member_add(committee=scene.committee, user=applicant, actor=scene.operator)
    assert refused.value.code == "not_a_reviewer"
    with pytest.raises(DomainError) as refused:
        member_add(committee=scene.committee, user=scene.kim.user, actor=scene.operator)
    assert refused.value.code == "already_member"
    assert CommitteeMember.objects.count() == 2


def test_member_remove_refuses_a_member_with_submitted_sheets(scene: Scene) -> None:
    assignments_generate(scene.committee, actor=scene.operator)
    assignment = scene.assignment(scene.kim, scene.target)
    assert assignment is not None
    sheet_fill(assignment)

    with pytest.raises(DomainError) as refused:
        member_remove(member=scene.kim, actor=scene.operator)
    assert (refused.value.code, str(refused.value.message)) == (
        "member_has_submitted",
        "제출된 평가표가 1건 있는 위원은 해촉할 수 없습니다.",
    )
    member_remove(member=scene.lee, actor=scene.operator)

    assert list(scene.committee.members.all()) == [scene.kim]
    event = AuditEvent.objects.get(action="reviews.member_removed")
    assert event.data == {"committee_id": scene.committee.pk, "user_id": scene.lee.user_id, "assignments": 2}


# ----- close --------------------------------------------------------------------------------------------


def test_close_locks_and_is_audited_with_counts(scene: Scene) -> None:
    scene_scored(scene)
    ScoreSheet.objects.filter(assignment__member=scene.lee).update(status="draft", submitted_at=None)

    with time_machine.travel(CLOSING_DAY, tick=False):
        committee = committee_close(committee=scene.committee, actor=scene.operator)

    assert (committee.status, committee.closed_at) == ("closed", CLOSING_DAY)
    event = AuditEvent.objects.get(action="reviews.committee_closed")
    assert event.data == {"submitted_sheets": 2, "draft_sheets": 2}
    for attempt in (
        lambda: committee_close(committee=scene.committee, actor=scene.operator),
        lambda: committee_update(committee=scene.committee, actor=scene.operator, cutoff_score=Decimal("1")),
        lambda: member_remove(member=scene.lee, actor=scene.operator),
    ):
        with pytest.raises(DomainError) as refused:
            attempt()
        assert refused.value.code == "committee_closed"


# ----- selectors used by ranking ------------------------------------------------------------------------


def test_committee_for_call(scene: Scene) -> None:
    assert committee_for_call(scene.committee.call) == scene.committee
    with pytest.raises(Http404):
        committee_for_call(call_with_window(opens_at=kst(2025, 9, 1), closes_at=kst(2025, 9, 2), slug="x"))


def test_submitted_sheets_and_totals(scene: Scene) -> None:
    scene_scored(scene)
    ScoreSheet.objects.filter(assignment__member=scene.lee, assignment__application=scene.other).update(
        status="draft"
    )

    sheets = list(submitted_sheets(scene.committee))

    assert [(s.assignment.member, s.assignment.application) for s in sheets] == [
        (scene.kim, scene.target),
        (scene.lee, scene.target),
        (scene.kim, scene.other),
    ]
    assert [sheet_total(s) for s in sheets] == [FULL_TOTAL] * 3


def test_sheet_total_counts_an_unscored_item_as_zero(scene: Scene) -> None:
    assignments_generate(scene.committee, actor=scene.operator)
    assignment = scene.assignment(scene.kim, scene.target)
    assert assignment is not None

    sheet = sheet_fill(assignment, submit=False, points={"org_capability": "7.25", "goal_clarity": "10.5"})

    assert sheet_total(sheet) == Decimal("17.75")


# ----- pages --------------------------------------------------------------------------------------------


def test_committee_page_shows_members_conflicts_and_matrix(
    scene: Scene, client: Client, login: Login
) -> None:
    scene_scored(scene)
    conflict_challenge_request(scene.target, scene.lee, "경쟁사 자문위원", scene.company_user)
    login(client, scene.operator)

    response = client.get(reverse("reviews:committee_detail", args=[scene.committee.pk]))

    body = response.content.decode()
    assert response.status_code == 200
    assert "의료기기 인허가" in body
    assert "경쟁사 자문위원" in body
    assert "기피(결정 대기)" in body
    assert 'name="decision_reason"' in body
    assert body.count('class="mb-cell-submitted"') == 3
    assert reverse("reviews:committee_close", args=[scene.committee.pk]) in body


def test_auditor_reads_the_page_without_any_form(
    scene: Scene, client: Client, login: Login, auditor: User
) -> None:
    scene_scored(scene)
    login(client, auditor)

    response = client.get(reverse("reviews:committee_detail", args=[scene.committee.pk]))

    body = response.content.decode()
    assert response.status_code == 200
    assert "읽기 전용입니다(감사자)." in body
    assert 'method="post" action="/reviews/' not in body
    assert body.count('class="mb-cell-submitted"') == 4


def test_list_page_counts(scene: Scene, client: Client, login: Login) -> None:
    scene_scored(scene)
    login(client, scene.operator)

    body = client.get(reverse("reviews:committee_list")).content.decode()

    assert scene.committee.name in body
    assert '<td class="mb-num">2</td>' in body  # members
    assert body.count('<td class="mb-num">4</td>') == 2  # assignments, submitted sheets


def test_settings_form_saves_and_refuses_bad_values(scene: Scene, client: Client, login: Login) -> None:
    login(client, scene.operator)
    url = reverse("reviews:committee_settings", args=[scene.committee.pk])
    data = {
        "name": scene.committee.name,
        "scale": "five_grades",
        "aggregation": "trimmed_mean",
        "trim_min_reviewers": "5",
        "cutoff_score": "65",
        "cutoff_basis": "review",
        "tie_breaks": '["item_mean:technical_merit"]',
        "outlier_threshold": "12",
    }

    bad = client.post(url, {**data, "cutoff_score": "abc"})
    assert bad.status_code == 400
    scene.committee.refresh_from_db()
    assert scene.committee.cutoff_score == Decimal("60")
    good = client.post(url, data)

    assert good.status_code == 302
    scene.committee.refresh_from_db()
    assert (scene.committee.scale, scene.committee.cutoff_score, scene.committee.tie_breaks) == (
        "five_grades",
        Decimal("65"),
        ["item_mean:technical_merit"],
    )


def test_member_add_form(scene: Scene, client: Client, login: Login, reviewer: User) -> None:
    login(client, scene.operator)

    response = client.post(
        reverse("reviews:member_add", args=[scene.committee.pk]),
        {
            "user": reviewer.pk,
            "expertise": "병리",
            "is_chair": "on",
            "declared_relations": [scene.target.company_id],
        },
    )

    assert response.status_code == 302
    seated = CommitteeMember.objects.get(user=reviewer)
    assert (seated.is_chair, seated.expertise, list(seated.declared_relations.all())) == (
        True,
        "병리",
        [scene.target.company],
    )


def test_close_button(scene: Scene, client: Client, login: Login) -> None:
    login(client, scene.operator)

    response = client.post(reverse("reviews:committee_close", args=[scene.committee.pk]), follow=True)

    assert "평가를 종료했습니다. 평가표가 잠겼습니다." in response.content.decode()
    scene.committee.refresh_from_db()
    assert scene.committee.status == "closed"
