"""The operator's decision with its support scale, its snapshot, and the publication of the results."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal

import pytest
import time_machine

from medbroker.accounts.models import User
from medbroker.audit.models import AuditEvent
from medbroker.calls.models import Application, ApplicationDataset
from medbroker.catalog.tests.factories import DatasetFactory
from medbroker.core.errors import DomainError, PermissionDeniedError
from medbroker.core.timeutils import kst
from medbroker.reviews.models import Committee, Decision
from medbroker.reviews.services.decisions import decision_record, decisions_publish
from medbroker.reviews.tests.factories import committee_2025
from medbroker.reviews.tests.factories_ranking import (
    ScoredCommittee,
    close,
    revenue_bonus_verify,
    scored_committee,
)

D = Decimal
pytestmark = pytest.mark.django_db
DECIDED_AT = kst(2025, 8, 20, 14, 0, 0)
PUBLISHED_AT = kst(2025, 8, 25, 10, 0, 0)


@pytest.fixture
def scored(operator: User) -> ScoredCommittee:
    """가나의료 75.00 + 3 verified = 78.00 (rank 1); 다라헬스 59.99 (below the cut-off, rank 2); both closed."""
    committee = committee_2025(tie_breaks=["item_mean:technical_merit", "untrimmed_total"])
    scored = scored_committee(
        committee, operator=operator, totals={"가나의료": [80, 70], "다라헬스": ["59.99", "59.99"]}
    )
    revenue_bonus_verify(scored.applications["가나의료"], operator)
    for application, titles in (
        (scored.applications["가나의료"], ("위 내시경 영상", "대장 CT")),
        (scored.applications["다라헬스"], ("흉부 X-ray",)),
    ):
        for title in titles:
            application.requested_datasets.create(dataset=DatasetFactory(title=title), amount=1000)
    close(committee, operator)
    return scored


@pytest.fixture(autouse=True)
def _frozen_clock() -> Iterator[None]:
    with time_machine.travel(DECIDED_AT, tick=False):
        yield


def requested(application: Application) -> list[ApplicationDataset]:
    return list(application.requested_datasets.order_by("pk"))


def select(application: Application, operator: User, **overrides) -> Decision:
    values = {
        "outcome": "selected",
        "granted_dataset_ids": [requested(application)[0].pk],
        "granted_compute_code": "a100-32",
        "support_starts_on": dt.date(2025, 9, 1),
        "support_ends_on": None,
        "note": "",
        **overrides,
    }
    return decision_record(application=application, actor=operator, **values)


def test_operator_records_a_selection_with_its_scale_and_the_score_snapshot(
    scored: ScoredCommittee, operator: User
) -> None:
    application = scored.applications["가나의료"]
    first, second = requested(application)

    decision = select(application, operator, granted_dataset_ids=[second.pk, first.pk], note=" 1순위 ")

    decision.refresh_from_db()
    assert (
        decision.outcome,
        decision.review_score,
        decision.bonus_score,
        decision.final_score,
        decision.rank,
        sorted(decision.granted_datasets.values_list("pk", flat=True)),
        decision.granted_compute.code,
        decision.support_starts_on,
        decision.support_ends_on,
        decision.note,
        decision.decided_by,
        decision.decided_at,
        decision.published_at,
    ) == (
        "selected",
        D("75.00"),
        D("3.00"),
        D("78.00"),
        1,
        [first.pk, second.pk],
        "a100-32",
        dt.date(2025, 9, 1),
        # Left empty: the end of the call's support period (announcement: ~ 2025-11-28).
        dt.date(2025, 11, 28),
        "1순위",
        operator,
        DECIDED_AT,
        None,
    )
    breakdown = decision.score_breakdown
    assert (breakdown["review_score"], breakdown["bonus_score"], breakdown["final_score"]) == (
        "75.00",
        "3.00",
        "78.00",
    )
    assert (breakdown["reviewers"], breakdown["trimmed"]) == (2, False)
    assert [(i["code"], i["max_points"], i["mean"]) for i in breakdown["items"]] == [
        ("org_capability", 10, "10.00"),
        ("execution_capacity", 5, "5.00"),
        ("goal_clarity", 15, "15.00"),
        ("contents_strategy", 10, "10.00"),
        ("technical_merit", 30, "30.00"),
        ("industry_contribution", 30, "5.00"),
    ]
    assert [(i["key"], i["points"]) for i in breakdown["bonus"]["items"]] == [
        ("revenue", "3.00"),
        ("government_projects", "0.00"),
        ("certifications", "0.00"),
        ("intellectual_property", "0.00"),
    ]
    assert (
        breakdown["bonus"]["objective"],
        breakdown["bonus"]["technology"],
        breakdown["bonus"]["total"],
    ) == (
        "3.00",
        "0.00",
        "3.00",
    )
    event = AuditEvent.objects.get(action="reviews.decision_recorded")
    assert (event.actor, event.object_type, event.object_id) == (
        operator,
        "reviews.decision",
        str(decision.pk),
    )
    assert event.data == {
        "receipt_number": application.receipt_number,
        "outcome": "selected",
        "previous_outcome": None,
        "review_score": "75.00",
        "bonus_score": "3.00",
        "final_score": "78.00",
        "rank": 1,
        "granted_dataset_ids": [first.pk, second.pk],
        "granted_compute": "a100-32",
        "support_starts_on": "2025-09-01",
        "support_ends_on": "2025-11-28",
        "note": "1순위",
    }


def test_support_may_end_exactly_on_the_call_end(scored: ScoredCommittee, operator: User) -> None:
    decision = select(scored.applications["가나의료"], operator, support_ends_on=dt.date(2025, 11, 28))

    assert decision.support_ends_on == dt.date(2025, 11, 28)


def test_changing_a_decision_before_publication_records_the_previous_outcome(
    scored: ScoredCommittee, operator: User
) -> None:
    application = scored.applications["가나의료"]
    select(application, operator)

    decision_record(application=application, outcome="reserve", note="예산 확정 전", actor=operator)

    decision = Decision.objects.get(application=application)
    assert (decision.outcome, decision.granted_datasets.count(), decision.granted_compute) == (
        "reserve",
        0,
        None,
    )
    # A reserve's period is left open until it moves up; it ends with the call's period at the latest.
    assert (decision.support_starts_on, decision.support_ends_on) == (None, dt.date(2025, 11, 28))
    events = AuditEvent.objects.filter(action="reviews.decision_recorded").order_by("sequence")
    assert [(e.data["outcome"], e.data["previous_outcome"]) for e in events] == [
        ("selected", None),
        ("reserve", "selected"),
    ]


def _refused(scored: ScoredCommittee, code: str, call, *, field: str | None = None) -> None:
    audit_before = AuditEvent.objects.count()
    with pytest.raises(DomainError) as error:
        call()
    assert error.value.code == code
    if field is not None:
        assert error.value.field == field
    assert Decision.objects.count() == 0
    assert AuditEvent.objects.count() == audit_before


def test_a_dataset_the_company_did_not_request_is_refused(scored: ScoredCommittee, operator: User) -> None:
    other_company_row = requested(scored.applications["다라헬스"])[0]

    _refused(
        scored,
        "dataset_not_requested",
        lambda: select(scored.applications["가나의료"], operator, granted_dataset_ids=[other_company_row.pk]),
        field="granted_dataset_ids",
    )


def test_a_gpu_the_call_does_not_offer_is_refused(scored: ScoredCommittee, operator: User) -> None:
    _refused(
        scored,
        "compute_not_in_call",
        lambda: select(scored.applications["가나의료"], operator, granted_compute_code="h100-80"),
        field="granted_compute_code",
    )


def test_a_period_ending_after_the_call_is_refused(scored: ScoredCommittee, operator: User) -> None:
    _refused(
        scored,
        "support_after_call_end",
        lambda: select(scored.applications["가나의료"], operator, support_ends_on=dt.date(2025, 11, 29)),
        field="support_ends_on",
    )


def test_a_period_starting_after_its_end_is_refused(scored: ScoredCommittee, operator: User) -> None:
    _refused(
        scored,
        "support_period_invalid",
        lambda: select(
            scored.applications["가나의료"],
            operator,
            support_starts_on=dt.date(2025, 10, 2),
            support_ends_on=dt.date(2025, 10, 1),
        ),
    )


def test_a_selection_needs_a_scale_and_a_start(scored: ScoredCommittee, operator: User) -> None:
    application = scored.applications["가나의료"]

    _refused(
        scored,
        "support_missing",
        lambda: select(application, operator, granted_dataset_ids=[], granted_compute_code=""),
    )
    _refused(scored, "support_start_missing", lambda: select(application, operator, support_starts_on=None))


def test_below_the_cut_off_cannot_be_selected_but_can_be_not_selected(
    scored: ScoredCommittee, operator: User
) -> None:
    application = scored.applications["다라헬스"]

    _refused(scored, "below_cutoff", lambda: select(application, operator), field="outcome")
    decision = decision_record(application=application, outcome="not_selected", actor=operator)

    assert (decision.outcome, decision.review_score, decision.final_score, decision.rank) == (
        "not_selected",
        D("59.99"),
        D("59.99"),
        2,
    )


def test_not_selected_with_a_support_scale_is_refused(scored: ScoredCommittee, operator: User) -> None:
    _refused(
        scored,
        "support_for_not_selected",
        lambda: select(scored.applications["가나의료"], operator, outcome="not_selected"),
    )


def test_only_an_operator_decides(scored: ScoredCommittee, auditor: User) -> None:
    audit_before = AuditEvent.objects.count()

    with pytest.raises(PermissionDeniedError):
        select(scored.applications["가나의료"], auditor)

    assert (Decision.objects.count(), AuditEvent.objects.count()) == (0, audit_before)


def test_no_decision_while_the_committee_is_open(operator: User) -> None:
    committee = committee_2025()
    scored = scored_committee(committee, operator=operator, totals={"가나의료": [80]})

    _refused(
        scored,
        "committee_open",
        lambda: decision_record(
            application=scored.applications["가나의료"], outcome="not_selected", actor=operator
        ),
    )


def test_an_application_outside_the_review_is_refused(scored: ScoredCommittee, operator: User) -> None:
    application = scored.applications["다라헬스"]
    Application.objects.filter(pk=application.pk).update(status=Application.Status.WITHDRAWN)

    _refused(
        scored,
        "not_reviewed",
        lambda: decision_record(application=application, outcome="not_selected", actor=operator),
    )


# ---------------------------------------------------------------------------------------------------------
# Publication
# ---------------------------------------------------------------------------------------------------------


def test_publication_waits_for_every_decision(scored: ScoredCommittee, operator: User) -> None:
    select(scored.applications["가나의료"], operator)
    audit_before = AuditEvent.objects.count()

    with pytest.raises(DomainError) as error:
        decisions_publish(committee=scored.committee, actor=operator)

    assert error.value.code == "decisions_missing"
    assert (
        str(error.value)
        == f"선정 결과가 정해지지 않은 신청서가 있습니다: {scored.applications['다라헬스'].receipt_number}"
    )
    assert list(Decision.objects.values_list("published_at", flat=True)) == [None]
    assert AuditEvent.objects.count() == audit_before


def test_publication_makes_every_decision_visible_at_once_and_is_audited(
    scored: ScoredCommittee, operator: User
) -> None:
    selected = select(scored.applications["가나의료"], operator)
    rejected = decision_record(
        application=scored.applications["다라헬스"], outcome="not_selected", actor=operator
    )

    with time_machine.travel(PUBLISHED_AT, tick=False):
        count = decisions_publish(committee=scored.committee, actor=operator)

    assert count == 2
    assert sorted(Decision.objects.values_list("published_at", flat=True)) == [PUBLISHED_AT, PUBLISHED_AT]
    event = AuditEvent.objects.get(action="reviews.decisions_published")
    assert (event.actor, event.object_type, event.object_id) == (
        operator,
        "reviews.committee",
        str(scored.committee.pk),
    )
    assert event.data == {
        "call": "khealth-daegu-2025",
        "count": 2,
        "application_ids": sorted([selected.application_id, rejected.application_id]),
        "outcomes": {"selected": 1, "not_selected": 1, "reserve": 0},
    }


def test_a_published_decision_cannot_change_and_nothing_is_left_to_publish(
    scored: ScoredCommittee, operator: User
) -> None:
    select(scored.applications["가나의료"], operator)
    decision_record(application=scored.applications["다라헬스"], outcome="not_selected", actor=operator)
    decisions_publish(committee=scored.committee, actor=operator)
    audit_before = AuditEvent.objects.count()

    with pytest.raises(DomainError) as changed:
        decision_record(application=scored.applications["가나의료"], outcome="reserve", actor=operator)
    with pytest.raises(DomainError) as again:
        decisions_publish(committee=scored.committee, actor=operator)

    assert (changed.value.code, again.value.code) == ("decision_published", "already_published")
    assert Decision.objects.get(application=scored.applications["가나의료"]).outcome == "selected"
    assert AuditEvent.objects.count() == audit_before


def test_only_an_operator_publishes_and_only_a_closed_committee(
    scored: ScoredCommittee, operator: User, auditor: User
) -> None:
    with pytest.raises(PermissionDeniedError):
        decisions_publish(committee=scored.committee, actor=auditor)
    Committee.objects.filter(pk=scored.committee.pk).update(status=Committee.Status.OPEN)
    with pytest.raises(DomainError) as error:
        decisions_publish(committee=scored.committee, actor=operator)

    assert error.value.code == "committee_open"
