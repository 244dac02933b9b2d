"""Step ① of the call: the data-demand consultation (수요 데이터 협의).

A company asks whether the data it wants is in KTL's database; an operator answers item by item. Status:
open → answered (every item has an answer) → closed (the operator closes it). Every change is audit-logged
in the same transaction, and a refused request changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.http import HttpRequest
from django.utils.translation import gettext as _

from medbroker.accounts.models import Role, User
from medbroker.audit.services import audit_record
from medbroker.calls.models import Call, Consultation, ConsultationItem, ConsultationMessage
from medbroker.catalog.models import Dataset
from medbroker.core import timeutils
from medbroker.core.errors import DomainError, PermissionDeniedError

PURPOSE_MAX_LENGTH = 4000
MESSAGE_MAX_LENGTH = 4000


@dataclass(frozen=True)
class ConsultationItemInput:
    dataset_id: int
    requested_amount: int
    needs_annotated: bool = False


def _require_applicant(actor: User) -> int:
    """The id of the company ``actor`` asks for; only an applicant who belongs to a company may ask."""
    if not actor.has_role(Role.APPLICANT) or actor.organisation_id is None:
        raise PermissionDeniedError(
            "consultation_not_applicant", _("수요 데이터 협의는 신청기업 담당자만 요청할 수 있습니다.")
        )
    return actor.organisation_id


def _require_operator(actor: User, message: str) -> None:
    if not actor.has_role(Role.OPERATOR):
        raise PermissionDeniedError("consultation_not_operator", message)


def _require_not_closed(consultation: Consultation) -> None:
    if consultation.status == Consultation.Status.CLOSED:
        raise DomainError("consultation_closed", _("종료된 협의입니다. 새 협의를 요청해 주세요."))


def _locked(consultation: Consultation) -> Consultation:
    # Re-read under a row lock so two operators answering at once see each other's answers.
    return Consultation.objects.select_for_update().get(pk=consultation.pk)


@transaction.atomic
def consultation_create(
    *,
    actor: User,
    call: Call,
    purpose: str,
    items: list[ConsultationItemInput],
    request: HttpRequest | None = None,
) -> Consultation:
    """An applicant asks about one or more published datasets for ``call`` (before its intake closes)."""
    company_id = _require_applicant(actor)
    purpose = purpose.strip()
    if not purpose:
        raise DomainError("consultation_purpose_required", _("활용 목적을 입력해 주세요."), field="purpose")
    if len(purpose) > PURPOSE_MAX_LENGTH:
        raise DomainError(
            "consultation_purpose_too_long",
            _("활용 목적은 %(limit)d자 이내로 입력해 주세요.") % {"limit": PURPOSE_MAX_LENGTH},
            field="purpose",
        )
    if not call.is_published:
        raise DomainError("consultation_call_unavailable", _("공개되지 않은 공모입니다."), field="call")
    if timeutils.now() >= call.intake_closes_at:
        raise DomainError(
            "consultation_call_closed",
            _("접수가 마감된 공모에는 수요 데이터 협의를 요청할 수 없습니다."),
            field="call",
        )
    if not items:
        raise DomainError(
            "consultation_items_required", _("데이터셋을 1개 이상 선택해 주세요."), field="items"
        )
    dataset_ids = [item.dataset_id for item in items]
    if len(set(dataset_ids)) != len(dataset_ids):
        raise DomainError(
            "consultation_dataset_duplicate", _("같은 데이터셋을 두 번 선택했습니다."), field="items"
        )
    datasets = Dataset.objects.in_bulk(dataset_ids)
    for item in items:
        dataset = datasets.get(item.dataset_id)
        if dataset is None or dataset.publication != Dataset.Publication.PUBLISHED:
            raise DomainError(
                "consultation_dataset_unpublished",
                _("공개된 데이터셋만 협의할 수 있습니다(데이터셋 번호 %(id)s).") % {"id": item.dataset_id},
                field="items",
            )
        if item.requested_amount <= 0:
            raise DomainError(
                "consultation_amount_invalid",
                _("희망 건수는 1건 이상이어야 합니다(%(dataset)s).") % {"dataset": dataset.title},
                field="items",
            )
    consultation = Consultation.objects.create(
        call=call, company_id=company_id, created_by=actor, purpose=purpose
    )
    ConsultationItem.objects.bulk_create(
        ConsultationItem(
            consultation=consultation,
            dataset=datasets[item.dataset_id],
            requested_amount=item.requested_amount,
            needs_annotated=item.needs_annotated,
        )
        for item in items
    )
    audit_record(
        action="calls.consultation_created",
        actor=actor,
        target=consultation,
        summary=f"consultation for {call.slug}: {len(items)} dataset(s)",
        data={
            "call": call.slug,
            "company_id": consultation.company_id,
            "items": [
                {
                    "dataset_id": item.dataset_id,
                    "requested_amount": item.requested_amount,
                    "needs_annotated": item.needs_annotated,
                }
                for item in items
            ],
        },
        request=request,
    )
    return consultation


def _may_post(actor: User, consultation: Consultation) -> bool:
    if actor.has_role(Role.OPERATOR):
        return True
    return actor.has_role(Role.APPLICANT) and actor.organisation_id == consultation.company_id


@transaction.atomic
def consultation_message_post(
    *, actor: User, consultation: Consultation, body: str, request: HttpRequest | None = None
) -> ConsultationMessage:
    """The company or an operator adds a message to the thread (not once the consultation is closed)."""
    if not _may_post(actor, consultation):
        raise PermissionDeniedError(
            "consultation_message_forbidden", _("이 협의에 메시지를 남길 권한이 없습니다.")
        )
    consultation = _locked(consultation)
    _require_not_closed(consultation)
    body = body.strip()
    if not body:
        raise DomainError("consultation_message_empty", _("메시지 내용을 입력해 주세요."), field="body")
    if len(body) > MESSAGE_MAX_LENGTH:
        raise DomainError(
            "consultation_message_too_long",
            _("메시지는 %(limit)d자 이내로 입력해 주세요.") % {"limit": MESSAGE_MAX_LENGTH},
            field="body",
        )
    message = ConsultationMessage.objects.create(consultation=consultation, author=actor, body=body)
    consultation.save(update_fields=["updated_at"])
    audit_record(
        action="calls.consultation_message_posted",
        actor=actor,
        target=consultation,
        summary=f"message #{message.pk} on consultation #{consultation.pk}",
        data={"message_id": message.pk, "length": len(body)},
        request=request,
    )
    return message


ANSWERS = (
    ConsultationItem.Answer.AVAILABLE,
    ConsultationItem.Answer.PARTIAL,
    ConsultationItem.Answer.UNAVAILABLE,
)


def _available_amount(item: ConsultationItem, answer: str, available_amount: int | None) -> int:
    """The amount KTL can provide, checked against the answer."""
    if answer == ConsultationItem.Answer.UNAVAILABLE:
        return 0
    if answer == ConsultationItem.Answer.AVAILABLE:
        # "Available" without a number means the whole request can be provided.
        amount = item.requested_amount if available_amount is None else available_amount
        if amount < item.requested_amount:
            raise DomainError(
                "consultation_answer_amount_invalid",
                _(
                    "'보유' 답변의 제공 가능 건수는 희망 건수(%(requested)s건) 이상이어야 합니다. 일부만 제공할 수 있으면 '일부 보유'로 답변해 주세요."
                )
                % {"requested": f"{item.requested_amount:,}"},
                field="available_amount",
            )
        return amount
    if available_amount is None or not 0 < available_amount < item.requested_amount:
        raise DomainError(
            "consultation_answer_amount_invalid",
            _(
                "'일부 보유' 답변에는 1건 이상, 희망 건수(%(requested)s건) 미만의 제공 가능 건수를 입력해 주세요."
            )
            % {"requested": f"{item.requested_amount:,}"},
            field="available_amount",
        )
    return available_amount


@transaction.atomic
def consultation_item_answer(
    *,
    actor: User,
    item: ConsultationItem,
    answer: str,
    available_amount: int | None = None,
    note: str = "",
    request: HttpRequest | None = None,
) -> ConsultationItem:
    """An operator answers one item: available / partly / not in the database, with the amount and a note.

    When every item has an answer the consultation becomes "answered"; a later correction keeps it so.
    """
    _require_operator(actor, _("협의 항목에는 운영자만 답변할 수 있습니다."))
    consultation = _locked(item.consultation)
    _require_not_closed(consultation)
    if answer not in ANSWERS:
        raise DomainError(
            "consultation_answer_invalid",
            _("답변은 보유, 일부 보유, 미보유 중 하나여야 합니다."),
            field="answer",
        )
    item = ConsultationItem.objects.select_for_update().get(pk=item.pk)
    amount = _available_amount(item, answer, available_amount)
    now = timeutils.now()
    previous = item.answer
    item.answer = answer
    item.available_amount = amount
    item.answer_note = note.strip()
    item.answered_by = actor
    item.answered_at = now
    item.save(update_fields=["answer", "available_amount", "answer_note", "answered_by", "answered_at"])
    pending = consultation.items.filter(answer=ConsultationItem.Answer.PENDING).exists()
    if not pending and consultation.status == Consultation.Status.OPEN:
        consultation.status = Consultation.Status.ANSWERED
        consultation.answered_at = now
    consultation.save(update_fields=["status", "answered_at", "updated_at"])
    audit_record(
        action="calls.consultation_item_answered",
        actor=actor,
        target=consultation,
        summary=f"item #{item.pk} ({item.dataset_id}) answered {answer}",
        data={
            "item_id": item.pk,
            "dataset_id": item.dataset_id,
            "answer": answer,
            "previous_answer": previous,
            "available_amount": amount,
            "status": consultation.status,
        },
        request=request,
    )
    return item


@transaction.atomic
def consultation_close(
    *, actor: User, consultation: Consultation, request: HttpRequest | None = None
) -> Consultation:
    """An operator closes the consultation; no more messages or answers after that."""
    _require_operator(actor, _("협의는 운영자만 종료할 수 있습니다."))
    consultation = _locked(consultation)
    _require_not_closed(consultation)
    previous = consultation.status
    consultation.status = Consultation.Status.CLOSED
    consultation.save(update_fields=["status", "updated_at"])
    audit_record(
        action="calls.consultation_closed",
        actor=actor,
        target=consultation,
        summary=f"consultation #{consultation.pk} closed",
        data={"previous_status": previous},
        request=request,
    )
    return consultation
