"""Extra viewing (announcement §4 ⑤): a supported company may ask to view lab data beyond what it applied for.

The request names one published dataset and the purpose; an operator approves or rejects it. Approval is a
view-only grant in the closed learning room, from the decision to the end of the agreement's period, kept
apart from the agreed data (kind "viewing") so the terms of the agreement stay as they were signed.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.urls import reverse
from django.utils.translation import gettext as _

from medbroker.access.models import AccessGrant, ViewingRequest
from medbroker.access.services.grants import grant_notify, grant_window_text
from medbroker.accounts.models import User
from medbroker.accounts.permissions import operator_ensure
from medbroker.accounts.services.notifications import notification_send, organisation_recipients
from medbroker.agreements.models import Agreement
from medbroker.agreements.selectors import agreement_in_force, agreement_member_ensure, agreement_terms
from medbroker.audit.services import audit_record
from medbroker.catalog.models import Dataset
from medbroker.core import timeutils
from medbroker.core.errors import DomainError


def _agreement_in_force_ensure(agreement: Agreement) -> None:
    if not agreement_in_force(agreement, at=timeutils.now()):
        raise DomainError(
            "agreement_not_in_force",
            _("효력 중인 협약 기간에만 추가 열람을 요청하고 승인할 수 있습니다."),
            status_code=409,
        )


def _dataset_grantable_ensure(agreement: Agreement, dataset: Dataset) -> None:
    terms = agreement_terms(agreement)
    if terms is not None and terms.datasets.filter(dataset=dataset).exists():
        raise DomainError(
            "dataset_in_terms",
            _("협약에 포함된 데이터입니다. 데이터 이용 권한에서 이용하세요."),
            field="dataset",
        )
    if AccessGrant.objects.filter(
        agreement=agreement, dataset=dataset, status=AccessGrant.Status.ACTIVE
    ).exists():
        raise DomainError(
            "dataset_already_granted", _("이미 열람 권한이 있는 데이터입니다."), field="dataset"
        )


@transaction.atomic
def viewing_request_create(
    *,
    agreement: Agreement,
    dataset: Dataset,
    actor: User,
    reason: str,
    request: HttpRequest | None = None,
) -> ViewingRequest:
    """A company member asks to view one more published dataset in the closed room."""
    agreement_member_ensure(agreement, actor)
    _agreement_in_force_ensure(agreement)
    if dataset.publication != Dataset.Publication.PUBLISHED:
        raise DomainError(
            "dataset_not_published", _("공개된 데이터셋만 열람을 요청할 수 있습니다."), field="dataset"
        )
    _dataset_grantable_ensure(agreement, dataset)
    reason = reason.strip()
    if not reason:
        raise DomainError("reason_required", _("열람 목적을 입력하세요."), field="reason")
    try:
        with transaction.atomic():
            viewing_request = ViewingRequest.objects.create(
                agreement=agreement, dataset=dataset, requested_by=actor, reason=reason
            )
    except IntegrityError:
        raise DomainError(
            "viewing_request_pending",
            _("이 데이터에 대한 요청이 이미 승인을 기다리고 있습니다."),
            status_code=409,
        ) from None
    audit_record(
        action="access.viewing_request_created",
        actor=actor,
        target=viewing_request,
        summary=f"추가 열람 요청: {agreement.number} · {dataset.title}",
        data={"agreement": agreement.number, "dataset": dataset.pk, "reason": reason},
        request=request,
    )
    return viewing_request


@transaction.atomic
def viewing_request_decide(
    *,
    viewing_request: ViewingRequest,
    actor: User,
    approve: bool,
    note: str,
    request: HttpRequest | None = None,
) -> ViewingRequest:
    """Approve (a view-only closed-room grant from now to the period's end) or reject with a note (operator)."""
    operator_ensure(actor)
    viewing_request = ViewingRequest.objects.select_for_update().get(pk=viewing_request.pk)
    if viewing_request.status != ViewingRequest.Status.PENDING:
        raise DomainError(
            "viewing_request_decided",
            _("이미 처리된 요청입니다 (%(status)s).") % {"status": viewing_request.get_status_display()},
            status_code=409,
        )
    note = note.strip()
    if not approve and not note:
        raise DomainError("reason_required", _("반려 사유를 입력하세요."), field="note")
    agreement = viewing_request.agreement
    now = timeutils.now()
    grant = None
    if approve:
        _agreement_in_force_ensure(agreement)
        _dataset_grantable_ensure(agreement, viewing_request.dataset)
        grant = AccessGrant.objects.create(
            agreement=agreement,
            dataset=viewing_request.dataset,
            kind=AccessGrant.Kind.VIEWING,
            mode=AccessGrant.Mode.CLOSED_ROOM,
            view_only=True,
            viewing_request=viewing_request,
            starts_at=now,
            ends_at=agreement.period_ends_at,
            issued_by=actor,
            notified_start_at=now,
        )
    viewing_request.status = ViewingRequest.Status.APPROVED if approve else ViewingRequest.Status.REJECTED
    viewing_request.decided_by = actor
    viewing_request.decided_at = now
    viewing_request.decision_note = note
    viewing_request.save(update_fields=["status", "decided_by", "decided_at", "decision_note", "updated_at"])
    dataset_title = viewing_request.dataset.title
    if grant is not None:
        grant_notify(
            grant,
            kind="grant_started",
            title=_("추가 열람이 승인되었습니다: %(dataset)s") % {"dataset": dataset_title},
            body=_("폐쇄형 학습실에서 열람만 할 수 있습니다. 이용 기간: %(window)s")
            % {"window": grant_window_text(grant)},
        )
        audit_record(
            action="access.grant_issued",
            actor=actor,
            target=grant,
            summary=f"추가 열람 권한 부여: {agreement.number} · {dataset_title}",
            data={
                "agreement": agreement.number,
                "dataset": grant.dataset_id,
                "kind": grant.kind,
                "mode": grant.mode,
                "view_only": True,
                "viewing_request": viewing_request.pk,
                "starts_at": grant.starts_at.isoformat(),
                "ends_at": grant.ends_at.isoformat(),
            },
            request=request,
        )
    else:
        notification_send(
            users=organisation_recipients(agreement.company),
            kind="viewing_request_rejected",
            title=_("추가 열람 요청이 반려되었습니다: %(dataset)s") % {"dataset": dataset_title},
            body=_("사유: %(note)s") % {"note": note},
            link=reverse("access:viewing_request_detail", args=[viewing_request.pk]),
            dedupe_key=f"access.viewing_request_rejected:{viewing_request.pk}",
        )
    audit_record(
        action=f"access.viewing_request_{viewing_request.status}",
        actor=actor,
        target=viewing_request,
        summary=f"추가 열람 요청 {viewing_request.get_status_display()}: {agreement.number} · {dataset_title}",
        data={"grant": grant.pk if grant else None, "note": note},
        request=request,
    )
    return viewing_request
