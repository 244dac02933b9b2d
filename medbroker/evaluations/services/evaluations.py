"""Evaluations: one company's performance test on one test set, and its analysis plan.

An operator creates the evaluation for an accepted performance-test request, edits the plan while it is a
draft and locks it: the plan's SHA-256 is stored and the company is told, and from then on the plan cannot
change, so results are always judged against criteria fixed before any of them existed. Submissions are
taken only while the evaluation is locked; closing it ends the test.
"""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils.translation import gettext as _

from medbroker.accounts.models import User
from medbroker.accounts.permissions import operator_ensure
from medbroker.accounts.services.notifications import notification_send, organisation_recipients
from medbroker.agreements.models import PerformanceTestRequest
from medbroker.agreements.services.test_requests import test_request_evaluation_link
from medbroker.audit.services import audit_record
from medbroker.core import timeutils
from medbroker.core.errors import DomainError
from medbroker.evaluations.models import Evaluation, EvaluationRun, TestSet
from medbroker.evaluations.plans import plan_default, plan_sha256, plan_validate

# Two operators creating at the same moment may pick the same number; the unique constraint refuses the
# second, which takes the next one.
NUMBER_ATTEMPTS = 5


def evaluation_link(evaluation: Evaluation) -> str:
    return f"/evaluations/{evaluation.pk}/"


def evaluation_number_next(*, year: int) -> str:
    """``EV-<year>-<4 digits>``: one past the largest number of ``year``."""
    prefix = f"EV-{year}-"
    sequences = [
        int(number.removeprefix(prefix))
        for number in Evaluation.objects.filter(number__startswith=prefix).values_list("number", flat=True)
        if number.removeprefix(prefix).isdigit()
    ]
    return f"{prefix}{max(sequences, default=0) + 1:04d}"


def _locked(evaluation: Evaluation) -> Evaluation:
    return (
        Evaluation.objects.select_for_update(of=("self",))
        .select_related("test_set", "company")
        .get(pk=evaluation.pk)
    )


def _status_required(evaluation: Evaluation, status: str, message: str) -> None:
    if evaluation.status != status:
        raise DomainError(
            "evaluation_status",
            message % {"status": evaluation.get_status_display()},
            status_code=409,
        )


def evaluation_create(
    *,
    actor: User,
    test_request: PerformanceTestRequest,
    test_set: TestSet,
    request: HttpRequest | None = None,
) -> Evaluation:
    """Open the performance test of an accepted request on an active test set, with the default plan."""
    operator_ensure(actor, _("성능시험 등록"))
    with transaction.atomic():
        test_request = (
            PerformanceTestRequest.objects.select_for_update(of=("self",))
            .select_related("agreement__company")
            .get(pk=test_request.pk)
        )
        if test_request.status != PerformanceTestRequest.Status.ACCEPTED:
            raise DomainError(
                "test_request_not_accepted",
                _("수락된 성능시험 요청에만 시험을 등록할 수 있습니다 (현재 상태: %(status)s).")
                % {"status": test_request.get_status_display()},
                status_code=409,
            )
        test_set = TestSet.objects.get(pk=test_set.pk)
        if test_set.status != TestSet.Status.ACTIVE:
            raise DomainError(
                "test_set_not_active",
                _("사용 중(확정)인 시험셋으로만 시험을 등록할 수 있습니다."),
                status_code=409,
                field="test_set",
            )
        open_one = (
            Evaluation.objects.filter(test_request=test_request)
            .exclude(status=Evaluation.Status.CLOSED)
            .values_list("number", flat=True)
            .first()
        )
        if open_one:
            raise DomainError(
                "evaluation_exists",
                _("이 요청의 성능시험 %(number)s이(가) 아직 진행 중입니다.") % {"number": open_one},
                status_code=409,
            )
        year = timeutils.to_kst(timeutils.now()).year
        for attempt in range(NUMBER_ATTEMPTS):
            try:
                with transaction.atomic():
                    evaluation = Evaluation.objects.create(
                        number=evaluation_number_next(year=year),
                        test_request=test_request,
                        company=test_request.agreement.company,
                        test_set=test_set,
                        plan=plan_default(test_set.task_type),
                        created_by=actor,
                    )
                break
            except IntegrityError:
                if attempt == NUMBER_ATTEMPTS - 1:
                    raise
        audit_record(
            action="evaluations.evaluation_created",
            actor=actor,
            target=evaluation,
            summary=f"성능시험 등록: {evaluation.number} ({evaluation.company.name}, {test_set})",
            data={
                "number": evaluation.number,
                "test_request": test_request.pk,
                "test_set": test_set.pk,
                "test_set_sha256": test_set.content_sha256,
            },
            request=request,
        )
        test_request_evaluation_link(
            test_request=test_request, actor=actor, reference=evaluation.number, request=request
        )
    return evaluation


def evaluation_plan_update(
    *, actor: User, evaluation: Evaluation, plan: dict[str, Any], request: HttpRequest | None = None
) -> Evaluation:
    """Replace the plan of a draft evaluation with ``plan``, validated and normalised."""
    operator_ensure(actor, _("분석계획 수정"))
    with transaction.atomic():
        evaluation = _locked(evaluation)
        _status_required(
            evaluation,
            Evaluation.Status.DRAFT,
            _("분석계획은 확정 전에만 고칠 수 있습니다 (현재 상태: %(status)s)."),
        )
        evaluation.plan = plan_validate(plan, test_set=evaluation.test_set)
        evaluation.save(update_fields=["plan", "updated_at"])
        audit_record(
            action="evaluations.plan_updated",
            actor=actor,
            target=evaluation,
            summary=f"분석계획 수정: {evaluation.number}",
            data={"plan": evaluation.plan},
            request=request,
        )
    return evaluation


def evaluation_plan_lock(
    *, actor: User, evaluation: Evaluation, request: HttpRequest | None = None
) -> Evaluation:
    """Fix the plan: its SHA-256, who and when; the company may submit from now on and is told so."""
    operator_ensure(actor, _("분석계획 확정"))
    with transaction.atomic():
        evaluation = _locked(evaluation)
        _status_required(
            evaluation,
            Evaluation.Status.DRAFT,
            _("이미 확정된 분석계획입니다 (현재 상태: %(status)s)."),
        )
        # Validated again: a plan saved before the rules changed must not be locked unchecked.
        evaluation.plan = plan_validate(evaluation.plan, test_set=evaluation.test_set)
        evaluation.plan_sha256 = plan_sha256(evaluation.plan)
        evaluation.plan_locked_at = timeutils.now()
        evaluation.plan_locked_by = actor
        evaluation.status = Evaluation.Status.LOCKED
        evaluation.save(
            update_fields=["plan", "plan_sha256", "plan_locked_at", "plan_locked_by", "status", "updated_at"]
        )
        audit_record(
            action="evaluations.plan_locked",
            actor=actor,
            target=evaluation,
            summary=f"분석계획 확정: {evaluation.number}",
            data={"plan_sha256": evaluation.plan_sha256, "plan": evaluation.plan},
            request=request,
        )
        notification_send(
            users=organisation_recipients(evaluation.company),
            kind="evaluation_plan_locked",
            title=_("성능시험 분석계획 확정: %(number)s") % {"number": evaluation.number},
            body=_(
                "성능시험 %(number)s의 분석계획이 확정되었습니다(SHA-256 %(hash)s). 이제 모델 또는 예측 결과 "
                "파일을 제출할 수 있습니다."
            )
            % {"number": evaluation.number, "hash": evaluation.plan_sha256},
            link=evaluation_link(evaluation),
        )
    return evaluation


def evaluation_close(
    *, actor: User, evaluation: Evaluation, request: HttpRequest | None = None
) -> Evaluation:
    """End a locked evaluation: no more submissions or runs. Refused while a run is queued or running."""
    operator_ensure(actor, _("성능시험 종료"))
    with transaction.atomic():
        evaluation = _locked(evaluation)
        _status_required(
            evaluation,
            Evaluation.Status.LOCKED,
            _("분석계획이 확정된 시험만 종료할 수 있습니다 (현재 상태: %(status)s)."),
        )
        active = EvaluationRun.objects.filter(
            submission__evaluation=evaluation,
            status__in=(EvaluationRun.Status.QUEUED, EvaluationRun.Status.RUNNING),
        )
        if active.exists():
            raise DomainError(
                "evaluation_runs_active",
                _("대기 중이거나 진행 중인 실행이 있어 시험을 종료할 수 없습니다."),
                status_code=409,
            )
        evaluation.status = Evaluation.Status.CLOSED
        evaluation.save(update_fields=["status", "updated_at"])
        audit_record(
            action="evaluations.evaluation_closed",
            actor=actor,
            target=evaluation,
            summary=f"성능시험 종료: {evaluation.number}",
            data={"plan_sha256": evaluation.plan_sha256},
            request=request,
        )
    return evaluation
