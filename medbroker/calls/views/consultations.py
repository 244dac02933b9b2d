"""Pages of the data-demand consultation (step ①): the company's own list, a new request, the thread, and
the operators' console. Object-level rules are in ``selectors.consultations``; the rules of the process in
``services.consultations``.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from medbroker.accounts.models import Role, User
from medbroker.accounts.permissions import role_required
from medbroker.calls.forms_consultations import (
    ConsultationAnswerForm,
    ConsultationForm,
    ConsultationItemFormSet,
    ConsultationMessageForm,
)
from medbroker.calls.models import Consultation, ConsultationItem
from medbroker.calls.selectors.calls import (
    call_default_for_consultation,
    calls_accepting_consultations,
    calls_public,
)
from medbroker.calls.selectors.consultations import (
    CONSULTATION_READ_ROLES,
    CONSULTATION_STAFF_ROLES,
    consultation_get_for_user,
    consultation_status_counts,
    consultations_for_console,
    consultations_of_company,
    datasets_for_consultation,
)
from medbroker.calls.services.consultations import (
    ConsultationItemInput,
    consultation_close,
    consultation_create,
    consultation_item_answer,
    consultation_message_post,
)
from medbroker.core.errors import DomainError, PermissionDeniedError
from medbroker.core.tables import table_build

# Rows of the item table on a new request: the preselected datasets, then blank rows up to this many.
NEW_ITEM_ROWS = 3


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


@role_required(Role.APPLICANT)
def consultation_list(request: HttpRequest) -> HttpResponse:
    table = table_build(
        request,
        consultations_of_company(user=_user(request)),
        sortable={"created_at": "created_at", "status": "status", "call": "call__title"},
        default_sort="-created_at",
    )
    return render(request, "calls/consultations/list.html", {"table": table})


def _initial_items(request: HttpRequest) -> list[dict[str, Any]]:
    wanted = [value for value in request.GET.getlist("dataset") if value.isdigit()]
    datasets = datasets_for_consultation().in_bulk([int(value) for value in wanted])
    initial = [{"dataset": datasets[int(value)]} for value in dict.fromkeys(wanted) if int(value) in datasets]
    return initial + [{} for _row in range(max(NEW_ITEM_ROWS - len(initial), 1))]


def _initial_call_pk(request: HttpRequest) -> int | None:
    """``?call=<slug>`` from a call's page when that call still takes consultations, else the default call."""
    chosen = calls_accepting_consultations().filter(slug=request.GET.get("call", "")).first()
    call = chosen or call_default_for_consultation()
    return call.pk if call else None


@role_required(Role.APPLICANT)
def consultation_new(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        form = ConsultationForm(request.POST)
        formset = ConsultationItemFormSet(request.POST, prefix="items")
        if form.is_valid() and formset.is_valid():
            items = [
                ConsultationItemInput(
                    dataset_id=row["dataset"].pk,
                    requested_amount=row["requested_amount"],
                    needs_annotated=bool(row.get("needs_annotated")),
                )
                for row in formset.cleaned_data
                if row.get("dataset")
            ]
            try:
                consultation = consultation_create(
                    actor=_user(request),
                    call=form.cleaned_data["call"],
                    purpose=form.cleaned_data["purpose"],
                    items=items,
                    request=request,
                )
            except DomainError as error:
                form.add_error(error.field if error.field in form.fields else None, str(error.message))
            else:
                messages.success(request, _("수요 데이터 협의를 요청했습니다. 운영자가 항목별로 답변합니다."))
                return redirect("calls:consultation_detail", pk=consultation.pk)
    else:
        form = ConsultationForm(initial={"call": _initial_call_pk(request)})
        formset = ConsultationItemFormSet(prefix="items", initial=_initial_items(request))
    return render(request, "calls/consultations/new.html", {"form": form, "formset": formset})


@role_required(*CONSULTATION_READ_ROLES)
def consultation_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    consultation = consultation_get_for_user(user=user, pk=pk)
    is_operator = user.has_role(Role.OPERATOR)
    is_open = consultation.status != Consultation.Status.CLOSED
    answer_forms = {}
    if is_operator and is_open:
        answer_forms = {
            item.pk: ConsultationAnswerForm(
                prefix=f"item-{item.pk}",
                initial={
                    "answer": item.answer if item.answer != ConsultationItem.Answer.PENDING else None,
                    "available_amount": item.available_amount,
                    "note": item.answer_note,
                },
            )
            for item in consultation.items.all()
        }
    may_post = is_open and (is_operator or user.has_role(Role.APPLICANT))
    return render(
        request,
        "calls/consultations/detail.html",
        {
            "consultation": consultation,
            "items": [(item, answer_forms.get(item.pk)) for item in consultation.items.all()],
            "is_operator": is_operator,
            "is_staff_reader": user.has_role(*CONSULTATION_STAFF_ROLES),
            "message_form": ConsultationMessageForm() if may_post else None,
            "may_close": is_operator and is_open,
        },
    )


def _refused(request: HttpRequest, error: DomainError) -> None:
    if isinstance(error, PermissionDeniedError):
        raise PermissionDenied(str(error.message))
    messages.error(request, str(error.message))


@require_POST
@role_required(Role.APPLICANT, Role.OPERATOR)
def consultation_message(request: HttpRequest, pk: int) -> HttpResponse:
    consultation = consultation_get_for_user(user=_user(request), pk=pk)
    form = ConsultationMessageForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("메시지 내용을 입력해 주세요."))
    else:
        try:
            consultation_message_post(
                actor=_user(request),
                consultation=consultation,
                body=form.cleaned_data["body"],
                request=request,
            )
        except DomainError as error:
            _refused(request, error)
        else:
            messages.success(request, _("메시지를 남겼습니다."))
    return redirect("calls:consultation_detail", pk=consultation.pk)


@require_POST
@role_required(Role.OPERATOR)
def consultation_item_answer_view(request: HttpRequest, pk: int, item_pk: int) -> HttpResponse:
    consultation = consultation_get_for_user(user=_user(request), pk=pk)
    item = get_object_or_404(ConsultationItem, pk=item_pk, consultation=consultation)
    form = ConsultationAnswerForm(request.POST, prefix=f"item-{item.pk}")
    if not form.is_valid():
        messages.error(request, _("답변을 선택하고 제공 가능 건수를 0 이상의 숫자로 입력해 주세요."))
    else:
        try:
            consultation_item_answer(
                actor=_user(request),
                item=item,
                answer=form.cleaned_data["answer"],
                available_amount=form.cleaned_data["available_amount"],
                note=form.cleaned_data["note"],
                request=request,
            )
        except DomainError as error:
            _refused(request, error)
        else:
            messages.success(
                request, _("'%(dataset)s' 항목에 답변했습니다.") % {"dataset": item.dataset.display_title}
            )
    detail_url = reverse("calls:consultation_detail", kwargs={"pk": consultation.pk})
    return redirect(f"{detail_url}#item-{item.pk}")


@require_POST
@role_required(Role.OPERATOR)
def consultation_close_view(request: HttpRequest, pk: int) -> HttpResponse:
    consultation = consultation_get_for_user(user=_user(request), pk=pk)
    try:
        consultation_close(actor=_user(request), consultation=consultation, request=request)
    except DomainError as error:
        _refused(request, error)
    else:
        messages.success(request, _("협의를 종료했습니다."))
    return redirect("calls:consultation_detail", pk=consultation.pk)


@role_required(*CONSULTATION_STAFF_ROLES)
def console_consultations(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status", "")
    call_slug = request.GET.get("call", "")
    table = table_build(
        request,
        consultations_for_console(status=status, call_slug=call_slug),
        sortable={
            "created_at": "created_at",
            "updated_at": "updated_at",
            "status": "status",
            "company": "company__name",
            "call": "call__title",
        },
        default_sort="-created_at",
    )
    return render(
        request,
        "calls/console_consultations/list.html",
        {
            "table": table,
            "status": status,
            "call_slug": call_slug,
            "statuses": Consultation.Status.choices,
            "status_counts": consultation_status_counts(),
            "calls": calls_public().order_by("-intake_opens_at"),
        },
    )
