"""Evaluations: created for an accepted request on an active test set, the plan edited while a draft, locked
with its hash (the company is told), closed; nothing changes after the lock."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from medbroker.accounts.models import Notification, Organisation, User
from medbroker.agreements.models import PerformanceTestRequest
from medbroker.agreements.tests.factories import DURING_SUPPORT
from medbroker.audit.models import AuditEvent
from medbroker.core.errors import DomainError, PermissionDeniedError
from medbroker.evaluations import models
from medbroker.evaluations.plans import plan_default
from medbroker.evaluations.services import evaluations as services
from medbroker.evaluations.services.evaluations import (
    evaluation_close,
    evaluation_create,
    evaluation_plan_lock,
    evaluation_plan_update,
)
from medbroker.evaluations.tests.factories import (
    EvaluationFactory,
    EvaluationRunFactory,
    TestSetFactory,
    accepted_test_request,
)

pytestmark = pytest.mark.django_db

PLAN = {
    **plan_default("binary"),
    "secondary_metrics": ["specificity", "auroc"],
    "acceptance": [{"metric": "sensitivity", "bound": "lower", "operator": ">=", "value": 0.8}],
}


@pytest.fixture
def test_request(company: Organisation, applicant: User, operator: User) -> PerformanceTestRequest:
    return accepted_test_request(company)


@pytest.fixture
def active_set(operator: User) -> models.TestSet:
    return TestSetFactory(status=models.TestSet.Status.ACTIVE, content_sha256="c" * 64)


def _evaluation_state() -> list[tuple[Any, ...]]:
    return list(
        models.Evaluation.objects.order_by("pk").values_list(
            "status", "plan", "plan_sha256", "plan_locked_at"
        )
    )


def test_an_operator_opens_the_evaluation_of_an_accepted_request(
    operator: User,
    test_request: PerformanceTestRequest,
    active_set: models.TestSet,
    company: Organisation,
    clock: Any,
) -> None:
    evaluation = evaluation_create(actor=operator, test_request=test_request, test_set=active_set)

    assert (
        evaluation.number,
        evaluation.company,
        evaluation.test_set,
        evaluation.status,
        evaluation.plan,
        evaluation.created_by,
    ) == ("EV-2025-0001", company, active_set, "draft", plan_default("binary"), operator)
    test_request.refresh_from_db()
    assert test_request.evaluation_reference == "EV-2025-0001"
    event = AuditEvent.objects.get(action="evaluations.evaluation_created")
    assert event.data == {
        "number": "EV-2025-0001",
        "test_request": test_request.pk,
        "test_set": active_set.pk,
        "test_set_sha256": "c" * 64,
    }
    assert AuditEvent.objects.filter(action="agreements.test_request_evaluation_linked").count() == 1


def test_numbers_follow_the_largest_of_the_year(
    operator: User, company: Organisation, active_set: models.TestSet, clock: Any
) -> None:
    EvaluationFactory(number="EV-2024-0031", company=company)
    EvaluationFactory(number="EV-2025-0007", company=company, status=models.Evaluation.Status.CLOSED)

    evaluation = evaluation_create(
        actor=operator, test_request=accepted_test_request(company), test_set=active_set
    )

    assert evaluation.number == "EV-2025-0008"


def test_a_number_taken_meanwhile_is_skipped(
    operator: User,
    test_request: PerformanceTestRequest,
    active_set: models.TestSet,
    company: Organisation,
    monkeypatch: pytest.MonkeyPatch,
    clock: Any,
) -> None:
    EvaluationFactory(number="EV-2025-0001", company=company, status=models.Evaluation.Status.CLOSED)
    # As if another operator took EV-2025-0001 between reading the numbers and inserting.
    numbers = iter(["EV-2025-0001", "EV-2025-0002"])
    monkeypatch.setattr(services, "evaluation_number_next", lambda *, year: next(numbers))

    evaluation = evaluation_create(actor=operator, test_request=test_request, test_set=active_set)

    assert evaluation.number == "EV-2025-0002"


@pytest.mark.parametrize(
    ("case", "status_code", "message"),
    [
        ("applicant", 403, "성능시험 등록은(는) 운영자만 할 수 있습니다."),
        ("requested", 409, "수락된 성능시험 요청에만 시험을 등록할 수 있습니다 (현재 상태: 요청 접수)."),
        ("draft_set", 409, "사용 중(확정)인 시험셋으로만 시험을 등록할 수 있습니다."),
        ("open_evaluation", 409, "이 요청의 성능시험 EV-2025-0009이(가) 아직 진행 중입니다."),
    ],
)
def test_refused_evaluations(
    case: str,
    status_code: int,
    message: str,
    operator: User,
    applicant: User,
    test_request: PerformanceTestRequest,
    active_set: models.TestSet,
    company: Organisation,
    clock: Any,
) -> None:
    actor, test_set = operator, active_set
    if case == "applicant":
        actor = applicant
    elif case == "requested":
        test_request.status = PerformanceTestRequest.Status.REQUESTED
        test_request.save()
    elif case == "draft_set":
        test_set = TestSetFactory()
    else:
        EvaluationFactory(number="EV-2025-0009", company=company, test_request=test_request)
    before = models.Evaluation.objects.count()

    with pytest.raises(DomainError) as error:
        evaluation_create(actor=actor, test_request=test_request, test_set=test_set)

    assert (error.value.status_code, str(error.value)) == (status_code, message)
    assert models.Evaluation.objects.count() == before
    test_request.refresh_from_db()
    assert test_request.evaluation_reference == ""


def test_the_plan_is_validated_and_saved_while_a_draft(operator: User, company: Organisation) -> None:
    evaluation = EvaluationFactory(company=company)

    updated = evaluation_plan_update(actor=operator, evaluation=evaluation, plan={**PLAN, "threshold": 1})

    evaluation.refresh_from_db()
    assert evaluation.plan == updated.plan == {**PLAN, "threshold": 1.0}
    event = AuditEvent.objects.get(action="evaluations.plan_updated")
    assert event.data == {"plan": evaluation.plan}


def test_a_wrong_plan_changes_nothing(operator: User, company: Organisation, applicant: User) -> None:
    evaluation = EvaluationFactory(company=company)
    before = _evaluation_state()

    with pytest.raises(DomainError) as error:
        evaluation_plan_update(actor=operator, evaluation=evaluation, plan={**PLAN, "primary_metric": "dice"})
    with pytest.raises(PermissionDeniedError):
        evaluation_plan_update(actor=applicant, evaluation=evaluation, plan=PLAN)

    assert error.value.field == "primary_metric"
    assert _evaluation_state() == before


def test_locking_fixes_the_plan_and_tells_the_company(
    operator: User, applicant: User, company: Organisation, clock: Any
) -> None:
    evaluation = EvaluationFactory(company=company)
    evaluation_plan_update(actor=operator, evaluation=evaluation, plan=PLAN)

    locked = evaluation_plan_lock(actor=operator, evaluation=evaluation)

    canonical = json.dumps(PLAN, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    assert locked.plan_sha256 == hashlib.sha256(canonical).hexdigest()
    assert (locked.status, locked.plan_locked_at, locked.plan_locked_by) == (
        "locked",
        DURING_SUPPORT,
        operator,
    )
    event = AuditEvent.objects.get(action="evaluations.plan_locked")
    assert event.data == {"plan_sha256": locked.plan_sha256, "plan": PLAN}
    notice = Notification.objects.get(user=applicant)
    assert (notice.kind, notice.title, notice.link) == (
        "evaluation_plan_locked",
        f"성능시험 분석계획 확정: {evaluation.number}",
        f"/evaluations/{evaluation.pk}/",
    )
    assert locked.plan_sha256 in notice.body


def test_after_the_lock_the_plan_does_not_change(operator: User, company: Organisation) -> None:
    evaluation = EvaluationFactory(company=company, locked=True)
    before = _evaluation_state()

    with pytest.raises(DomainError) as update:
        evaluation_plan_update(actor=operator, evaluation=evaluation, plan=PLAN)
    with pytest.raises(DomainError) as lock:
        evaluation_plan_lock(actor=operator, evaluation=evaluation)

    assert (update.value.status_code, lock.value.status_code) == (409, 409)
    assert str(update.value) == "분석계획은 확정 전에만 고칠 수 있습니다 (현재 상태: 분석계획 확정)."
    assert _evaluation_state() == before


def test_closing_a_locked_evaluation(operator: User, company: Organisation) -> None:
    evaluation = EvaluationFactory(company=company, locked=True)

    closed = evaluation_close(actor=operator, evaluation=evaluation)

    assert closed.status == "closed"
    assert AuditEvent.objects.filter(action="evaluations.evaluation_closed").count() == 1


def test_closing_is_refused_while_a_run_is_active_or_before_the_lock(
    operator: User, company: Organisation
) -> None:
    draft = EvaluationFactory(company=company)
    run = EvaluationRunFactory(
        submission__evaluation__company=company, status=models.EvaluationRun.Status.RUNNING
    )

    with pytest.raises(DomainError) as early:
        evaluation_close(actor=operator, evaluation=draft)
    with pytest.raises(DomainError) as busy:
        evaluation_close(actor=operator, evaluation=run.submission.evaluation)

    assert (early.value.status_code, busy.value.code) == (409, "evaluation_runs_active")
    assert list(models.Evaluation.objects.order_by("pk").values_list("status", flat=True)) == [
        "draft",
        "locked",
    ]
