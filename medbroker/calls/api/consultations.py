"""API of the data-demand consultation: the same rules as the pages.

An applicant sees and asks for its own company's consultations; operators and auditors read all, and only
operators answer (answering stays on the pages). Another company's consultation is 404; a role that has
nothing to do with consultations gets 403. Errors come back as ``{"code", "message"}``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import Http404, HttpRequest
from django.utils.translation import gettext as _
from ninja import Router, Schema, Status

from medbroker.accounts.api_auth import api_auth
from medbroker.accounts.models import Role, User
from medbroker.calls.models import Call, Consultation
from medbroker.calls.selectors.calls import call_default_for_consultation, calls_public
from medbroker.calls.selectors.consultations import (
    CONSULTATION_READ_ROLES,
    consultation_get_for_user,
    consultations_visible_to,
)
from medbroker.calls.services.consultations import (
    ConsultationItemInput,
    consultation_create,
    consultation_message_post,
)
from medbroker.core.errors import DomainError, NotFoundError, PermissionDeniedError

router = Router(tags=["consultations"], auth=api_auth)


class ConsultationItemIn(Schema):
    dataset_id: int
    requested_amount: int
    needs_annotated: bool = False


class ConsultationIn(Schema):
    call: str | None = None  # slug; the currently open call when left out
    purpose: str
    items: list[ConsultationItemIn]


class MessageIn(Schema):
    body: str


class ConsultationItemOut(Schema):
    id: int
    dataset_id: int
    dataset_title: str
    requested_amount: int
    needs_annotated: bool
    answer: str
    available_amount: int | None
    answer_note: str
    answered_at: dt.datetime | None


class MessageOut(Schema):
    id: int
    author: str
    author_is_staff: bool
    body: str
    created_at: dt.datetime


class ConsultationOut(Schema):
    id: int
    call: str
    company: str
    status: str
    purpose: str
    created_at: dt.datetime
    answered_at: dt.datetime | None
    items: list[ConsultationItemOut]


class ConsultationDetailOut(ConsultationOut):
    messages: list[MessageOut]


class ErrorOut(Schema):
    code: str
    message: str
    field: str | None = None


def _actor(request: HttpRequest) -> User:
    # A bearer token authenticates without a session: the user is in ``request.auth``.
    auth = getattr(request, "auth", None)
    return auth if isinstance(auth, User) else request.user  # type: ignore[return-value]


def _require_role(user: User, *roles: str) -> None:
    if not user.has_role(*roles):
        raise PermissionDeniedError("forbidden", _("이 작업을 할 권한이 없습니다."))


def _get(user: User, pk: int) -> Consultation:
    try:
        return consultation_get_for_user(user=user, pk=pk)
    except Http404:
        raise NotFoundError("consultation_not_found", _("협의를 찾을 수 없습니다.")) from None


def _item_out(item: Any) -> dict[str, Any]:
    return {
        "id": item.pk,
        "dataset_id": item.dataset_id,
        "dataset_title": item.dataset.title,
        "requested_amount": item.requested_amount,
        "needs_annotated": item.needs_annotated,
        "answer": item.answer,
        "available_amount": item.available_amount,
        "answer_note": item.answer_note,
        "answered_at": item.answered_at,
    }


def _out(consultation: Consultation, *, with_messages: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": consultation.pk,
        "call": consultation.call.slug,
        "company": consultation.company.name,
        "status": consultation.status,
        "purpose": consultation.purpose,
        "created_at": consultation.created_at,
        "answered_at": consultation.answered_at,
        "items": [_item_out(item) for item in consultation.items.all()],
    }
    if with_messages:
        data["messages"] = [
            {
                "id": message.pk,
                "author": str(message.author),
                "author_is_staff": message.author.has_role(Role.OPERATOR),
                "body": message.body,
                "created_at": message.created_at,
            }
            for message in consultation.messages.all()
        ]
    return data


@router.get("", response={200: list[ConsultationOut], 403: ErrorOut})
def consultation_list(request: HttpRequest) -> list[dict[str, Any]]:
    """Your company's consultations; every consultation for operators and auditors. Newest first."""
    user = _actor(request)
    _require_role(user, *CONSULTATION_READ_ROLES)
    consultations = (
        consultations_visible_to(user).prefetch_related("items__dataset").order_by("-created_at", "-pk")
    )
    return [_out(consultation) for consultation in consultations]


def _call_for(slug: str | None) -> Call:
    call = calls_public().filter(slug=slug).first() if slug else call_default_for_consultation()
    if call is None:
        raise DomainError("consultation_call_unavailable", _("협의할 공모를 찾을 수 없습니다."), field="call")
    return call


@router.post("", response={201: ConsultationDetailOut, 400: ErrorOut, 403: ErrorOut})
def consultation_create_endpoint(request: HttpRequest, payload: ConsultationIn) -> Status[dict[str, Any]]:
    """Ask whether datasets are in KTL's database (applicants only)."""
    user = _actor(request)
    _require_role(user, Role.APPLICANT)
    consultation = consultation_create(
        actor=user,
        call=_call_for(payload.call),
        purpose=payload.purpose,
        items=[
            ConsultationItemInput(
                dataset_id=item.dataset_id,
                requested_amount=item.requested_amount,
                needs_annotated=item.needs_annotated,
            )
            for item in payload.items
        ],
        request=request,
    )
    return Status(201, _out(_get(user, consultation.pk), with_messages=True))


@router.get("/{consultation_id}", response={200: ConsultationDetailOut, 403: ErrorOut, 404: ErrorOut})
def consultation_detail(request: HttpRequest, consultation_id: int) -> dict[str, Any]:
    """One consultation with its items, the operators' answers and the message thread."""
    user = _actor(request)
    _require_role(user, *CONSULTATION_READ_ROLES)
    return _out(_get(user, consultation_id), with_messages=True)


@router.post(
    "/{consultation_id}/messages", response={201: MessageOut, 400: ErrorOut, 403: ErrorOut, 404: ErrorOut}
)
def consultation_message(
    request: HttpRequest, consultation_id: int, payload: MessageIn
) -> Status[dict[str, Any]]:
    """Add a message to the thread (the company or an operator; not once the consultation is closed)."""
    user = _actor(request)
    _require_role(user, *CONSULTATION_READ_ROLES)
    consultation = _get(user, consultation_id)
    message = consultation_message_post(
        actor=user, consultation=consultation, body=payload.body, request=request
    )
    return Status(
        201,
        {
            "id": message.pk,
            "author": str(user),
            "author_is_staff": user.has_role(Role.OPERATOR),
            "body": message.body,
            "created_at": message.created_at,
        },
    )
