"""Performance-test requests: a company member asks while the agreement is in force, the operator decides."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import time_machine

from medbroker.accounts.models import Notification, Organisation, User
from medbroker.agreements.models import Agreement, PerformanceTestRequest
from medbroker.agreements.services import test_requests as services
from medbroker.agreements.tests.factories import DURING_SUPPORT, active_agreement, selected_decision
from medbroker.audit.models import AuditEvent
from medbroker.core.errors import DomainError, PermissionDeniedError
from medbroker.core.timeutils import kst

pytestmark = pytest.mark.django_db
Status = PerformanceTestRequest.Status
REQUEST = {
    "algorithm_name": "GastroFinder",
    "algorithm_version": "1.2.0",
    "task_description": "위 내시경 영상에서 병변 위치를 검출",
    "intended_use": "식약처 인허가 전 성능 확인",
    "preferred_period": "2025년 10월 둘째 주",
}


@pytest.fixture
def clock() -> Iterator[Any]:
    with time_machine.travel(DURING_SUPPORT, tick=False) as traveller:
        yield traveller


@pytest.fixture
def agreement(operator: User, applicant: User, company: Organisation, clock: Any) -> Agreement:
    return active_agreement(decision=selected_decision(company=company, operator=operator))


def _state() -> list[tuple[Any, ...]]:
    return list(
        PerformanceTestRequest.objects.order_by("pk").values_list(
            "status", "operator_comment", "decided_by", "evaluation_reference"
        )
    )


def test_a_member_asks_for_a_performance_test(agreement: Agreement, applicant: User, operator: User) -> None:
    created = services.test_request_create(agreement=agreement, actor=applicant, **REQUEST)

    assert (
        created.agreement,
        created.requested_by,
        created.status,
        created.algorithm_name,
        created.algorithm_version,
        created.task_description,
        created.preferred_period,
    ) == (
        agreement,
        applicant,
        Status.REQUESTED,
        "GastroFinder",
        "1.2.0",
        "위 내시경 영상에서 병변 위치를 검출",
        "2025년 10월 둘째 주",
    )
    event = AuditEvent.objects.get(action="agreements.test_request_created")
    assert (event.actor, event.object_id) == (applicant, str(created.pk))
    notice = Notification.objects.get(user=operator)
    assert (notice.kind, notice.link) == ("test_request_updated", f"/agreements/test-requests/{created.pk}/")


def test_only_a_member_of_the_company_asks(
    agreement: Agreement, operator: User, other_applicant: User
) -> None:
    for user in (operator, other_applicant):
        with pytest.raises(PermissionDeniedError) as error:
            services.test_request_create(agreement=agreement, actor=user, **REQUEST)
        assert error.value.code == "not_member"

    assert PerformanceTestRequest.objects.count() == 0


@pytest.mark.parametrize(
    "at", [kst(2025, 8, 31, 23, 59, 59), kst(2025, 11, 29, 0, 0, 0)], ids=["before", "after"]
)
def test_no_request_outside_the_period(agreement: Agreement, applicant: User, clock: Any, at: Any) -> None:
    clock.move_to(at)

    with pytest.raises(DomainError) as error:
        services.test_request_create(agreement=agreement, actor=applicant, **REQUEST)

    assert (error.value.code, error.value.status_code) == ("agreement_not_in_force", 409)
    assert PerformanceTestRequest.objects.count() == 0


def test_a_request_needs_the_algorithm_and_its_task(agreement: Agreement, applicant: User) -> None:
    with pytest.raises(DomainError) as error:
        services.test_request_create(
            agreement=agreement, actor=applicant, **{**REQUEST, "task_description": " "}
        )

    assert (error.value.code, error.value.field) == ("field_required", "task_description")


def test_the_operator_accepts_then_completes_with_the_evaluation_reference(
    agreement: Agreement, applicant: User, operator: User
) -> None:
    created = services.test_request_create(agreement=agreement, actor=applicant, **REQUEST)

    services.test_request_decide(
        test_request=created, actor=operator, status="accepted", comment="10월 14일 시험"
    )
    done = services.test_request_decide(
        test_request=created,
        actor=operator,
        status="completed",
        comment="",
        evaluation_reference="EV-2025-007",
    )

    assert (done.status, done.decided_by, done.decided_at, done.evaluation_reference) == (
        Status.COMPLETED,
        operator,
        DURING_SUPPORT,
        "EV-2025-007",
    )
    assert list(
        AuditEvent.objects.filter(action__startswith="agreements.test_request")
        .order_by("sequence")
        .values_list("action", flat=True)
    ) == [
        "agreements.test_request_created",
        "agreements.test_request_accepted",
        "agreements.test_request_completed",
    ]
    assert list(
        Notification.objects.filter(user=applicant, kind="test_request_updated")
        .order_by("pk")
        .values_list("title", flat=True)
    ) == ["성능시험 요청 수락: GastroFinder", "성능시험 요청 시험 완료: GastroFinder"]


@pytest.mark.parametrize(
    ("path", "target"),
    [
        ([], "completed"),
        ([], "withdrawn"),
        (["accepted"], "accepted"),
        (["rejected"], "accepted"),
        (["accepted", "completed"], "rejected"),
    ],
)
def test_only_allowed_steps(
    agreement: Agreement, applicant: User, operator: User, path: list[str], target: str
) -> None:
    created = services.test_request_create(agreement=agreement, actor=applicant, **REQUEST)
    for step in path:
        services.test_request_decide(test_request=created, actor=operator, status=step, comment="사유")
    before = _state()

    with pytest.raises(DomainError) as error:
        services.test_request_decide(test_request=created, actor=operator, status=target, comment="사유")

    assert error.value.code == "transition_invalid"
    assert _state() == before


def test_a_rejection_needs_a_reason_and_an_operator(
    agreement: Agreement, applicant: User, operator: User, auditor: User
) -> None:
    created = services.test_request_create(agreement=agreement, actor=applicant, **REQUEST)
    before = _state()

    with pytest.raises(DomainError) as missing:
        services.test_request_decide(test_request=created, actor=operator, status="rejected", comment="")
    with pytest.raises(PermissionDeniedError):
        services.test_request_decide(test_request=created, actor=auditor, status="accepted", comment="")

    assert missing.value.code == "comment_required"
    assert _state() == before


def test_the_company_withdraws_an_open_request_only(
    agreement: Agreement, applicant: User, other_applicant: User, operator: User
) -> None:
    created = services.test_request_create(agreement=agreement, actor=applicant, **REQUEST)
    with pytest.raises(PermissionDeniedError):
        services.test_request_withdraw(test_request=created, actor=other_applicant)

    services.test_request_withdraw(test_request=created, actor=applicant)

    created.refresh_from_db()
    assert created.status == Status.WITHDRAWN
    with pytest.raises(DomainError) as error:
        services.test_request_withdraw(test_request=created, actor=applicant)
    assert error.value.code == "test_request_closed"
