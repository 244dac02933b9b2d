"""Performance-test requests (announcement §4 ⑤): a company asks the lab to test its AI algorithm on the
internal test PC. Recorded here while its agreement is in force; the evaluations app carries the test out
and its record number is kept on the request (``evaluation_reference``).
"""

from __future__ import annotations

from django.db import transaction
from django.http import HttpRequest
from django.urls import reverse
from django.utils.translation import gettext as _

from medbroker.accounts.models import User
from medbroker.accounts.permissions import operator_ensure
from medbroker.accounts.services.notifications import (
    notification_send,
    operator_recipients,
    organisation_recipients,
)
from medbroker.agreements.models import Agreement, PerformanceTestRequest
from medbroker.agreements.selectors import agreement_in_force, agreement_member_ensure
from medbroker.audit.services import audit_record
from medbroker.core import timeutils
from medbroker.core.errors import DomainError

Status = PerformanceTestRequest.Status

# What the operator may decide from each state; a request ends completed, rejected or withdrawn.
DECISIONS: dict[str, tuple[str, ...]] = {
    Status.REQUESTED: (Status.ACCEPTED, Status.REJECTED),
    Status.ACCEPTED: (Status.COMPLETED, Status.REJECTED),
}
WITHDRAWABLE = (Status.REQUESTED, Status.ACCEPTED)


def _link(test_request: PerformanceTestRequest) -> str:
    return reverse("agreements:test_request_detail", args=[test_request.pk])


def _required(value: str, field: str, label: str) -> str:
    value = (value or "").strip()
    if not value:
        raise DomainError(
            "field_required", _("%(label)s을(를) 입력해 주세요.") % {"label": label}, field=field
        )
    return value


def test_request_create(
    *,
    agreement: Agreement,
    actor: User,
    algorithm_name: str,
    algorithm_version: str = "",
    task_description: str,
    intended_use: str = "",
    preferred_period: str = "",
    request: HttpRequest | None = None,
) -> PerformanceTestRequest:
    """Record a company's request; only a member of the company, only while the agreement is in force."""
    agreement_member_ensure(agreement, actor)
    algorithm_name = _required(algorithm_name, "algorithm_name", _("알고리즘 이름"))
    task_description = _required(task_description, "task_description", _("알고리즘 설명"))
    with transaction.atomic():
        agreement = (
            Agreement.objects.select_for_update(of=("self",)).select_related("company").get(pk=agreement.pk)
        )
        if not agreement_in_force(agreement, at=timeutils.now()):
            raise DomainError(
                "agreement_not_in_force",
                _("협약 기간 중에만 성능시험을 요청할 수 있습니다."),
                status_code=409,
            )
        test_request = PerformanceTestRequest.objects.create(
            agreement=agreement,
            requested_by=actor,
            algorithm_name=algorithm_name,
            algorithm_version=(algorithm_version or "").strip(),
            task_description=task_description,
            intended_use=(intended_use or "").strip(),
            preferred_period=(preferred_period or "").strip(),
        )
        audit_record(
            action="agreements.test_request_created",
            actor=actor,
            target=test_request,
            summary=f"{agreement.number}: {algorithm_name}",
            data={"agreement_id": agreement.pk, "algorithm": algorithm_name, "version": algorithm_version},
            request=request,
        )
        notification_send(
            users=operator_recipients(),
            kind="test_request_updated",
            title=_("성능시험 요청: %(company)s") % {"company": agreement.company.name},
            body=_("%(number)s 협약의 '%(algorithm)s' 알고리즘 성능시험 요청이 접수되었습니다.")
            % {"number": agreement.number, "algorithm": algorithm_name},
            link=_link(test_request),
        )
    return test_request


def _lock(test_request: PerformanceTestRequest) -> PerformanceTestRequest:
    return (
        PerformanceTestRequest.objects.select_for_update(of=("self",))
        .select_related("agreement__company")
        .get(pk=test_request.pk)
    )


def test_request_withdraw(
    *, test_request: PerformanceTestRequest, actor: User, request: HttpRequest | None = None
) -> PerformanceTestRequest:
    """The company takes its request back, as long as the test has not been done or refused."""
    agreement_member_ensure(test_request.agreement, actor)
    with transaction.atomic():
        test_request = _lock(test_request)
        if test_request.status not in WITHDRAWABLE:
            raise DomainError(
                "test_request_closed",
                _("처리가 끝난 요청은 철회할 수 없습니다 (현재 상태: %(status)s).")
                % {"status": test_request.get_status_display()},
                status_code=409,
            )
        previous = test_request.status
        test_request.status = Status.WITHDRAWN
        test_request.save(update_fields=["status", "updated_at"])
        audit_record(
            action="agreements.test_request_withdrawn",
            actor=actor,
            target=test_request,
            summary=f"{test_request.agreement.number}: {test_request.algorithm_name}",
            data={"previous_status": previous},
            request=request,
        )
        notification_send(
            users=operator_recipients(),
            kind="test_request_updated",
            title=_("성능시험 요청 철회: %(company)s") % {"company": test_request.agreement.company.name},
            body=_("'%(algorithm)s' 알고리즘 성능시험 요청이 철회되었습니다.")
            % {"algorithm": test_request.algorithm_name},
            link=_link(test_request),
        )
    return test_request


def test_request_decide(
    *,
    test_request: PerformanceTestRequest,
    actor: User,
    status: str,
    comment: str = "",
    evaluation_reference: str = "",
    request: HttpRequest | None = None,
) -> PerformanceTestRequest:
    """The operator accepts, rejects (with a reason) or marks the test completed; allowed steps only."""
    operator_ensure(actor, _("성능시험 요청 처리"))
    comment = (comment or "").strip()
    evaluation_reference = (evaluation_reference or "").strip()
    if status == Status.REJECTED and not comment:
        raise DomainError("comment_required", _("반려 사유를 입력해 주세요."), field="comment")
    with transaction.atomic():
        test_request = _lock(test_request)
        allowed = DECISIONS.get(test_request.status, ())
        if status not in allowed:
            raise DomainError(
                "transition_invalid",
                _("'%(current)s' 상태의 요청은 '%(target)s'(으)로 바꿀 수 없습니다.")
                % {
                    "current": test_request.get_status_display(),
                    "target": Status(status).label if status in Status.values else status,
                },
                status_code=409,
                field="status",
            )
        previous = test_request.status
        test_request.status = status
        test_request.operator_comment = comment
        test_request.decided_by = actor
        test_request.decided_at = timeutils.now()
        if evaluation_reference:
            test_request.evaluation_reference = evaluation_reference
        test_request.save(
            update_fields=[
                "status",
                "operator_comment",
                "decided_by",
                "decided_at",
                "evaluation_reference",
                "updated_at",
            ]
        )
        audit_record(
            action=f"agreements.test_request_{status}",
            actor=actor,
            target=test_request,
            summary=f"{test_request.agreement.number}: {test_request.algorithm_name} → {status}",
            data={
                "previous_status": previous,
                "status": status,
                "comment": comment,
                "evaluation_reference": test_request.evaluation_reference,
            },
            request=request,
        )
        notification_send(
            users=organisation_recipients(test_request.agreement.company),
            kind="test_request_updated",
            title=_("성능시험 요청 %(status)s: %(algorithm)s")
            % {"status": test_request.get_status_display(), "algorithm": test_request.algorithm_name},
            body=comment or _("성능시험 요청의 상태가 바뀌었습니다."),
            link=_link(test_request),
        )
    return test_request


def test_request_evaluation_link(
    *, test_request: PerformanceTestRequest, actor: User, reference: str, request: HttpRequest | None = None
) -> PerformanceTestRequest:
    """Record the number of the performance test that carries an accepted request out."""
    operator_ensure(actor, _("성능시험 요청 처리"))
    with transaction.atomic():
        test_request = _lock(test_request)
        if test_request.status != Status.ACCEPTED:
            raise DomainError(
                "test_request_not_accepted",
                _("수락된 성능시험 요청에만 시험을 등록할 수 있습니다 (현재 상태: %(status)s).")
                % {"status": test_request.get_status_display()},
                status_code=409,
            )
        previous = test_request.evaluation_reference
        test_request.evaluation_reference = reference
        test_request.save(update_fields=["evaluation_reference", "updated_at"])
        audit_record(
            action="agreements.test_request_evaluation_linked",
            actor=actor,
            target=test_request,
            summary=f"{test_request.agreement.number}: {test_request.algorithm_name} → {reference}",
            data={"previous_reference": previous, "reference": reference},
            request=request,
        )
    return test_request


# pytest collects any module-level function named test_* that a test module imports; these are services.
for _service in (
    test_request_create,
    test_request_withdraw,
    test_request_decide,
    test_request_evaluation_link,
):
    _service.__test__ = False  # type: ignore[union-attr]
