"""Pages of the compute app: the inventory (operators, auditors), an agreement's GPU (the company, staff) and
the import of cluster usage (operators).

Operators allocate and release; auditors read everything and change nothing (their POST is 403); a company
sees only its own agreements (another company's is 404) and answers the offers made to it.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from medbroker.accounts.models import Role, User
from medbroker.accounts.permissions import STAFF_READ_ROLES, role_required
from medbroker.agreements.models import Agreement
from medbroker.agreements.selectors import agreement_for_user, agreement_in_force, user_is_company_member
from medbroker.compute.forms import ReleaseForm, UsageImportForm
from medbroker.compute.models import GpuAllocation, UsageImport
from medbroker.compute.selectors import (
    agreements_without_gpu,
    allocation_for_agreement,
    gpu_hours_by_agreement,
    gpu_hours_by_day,
    granted_gpu_type,
    inventory_overview,
    node_share,
    offer_deadline,
    usage_imports_recent,
    waitlist_entry_for_agreement,
    waitlist_position,
)
from medbroker.compute.services.allocations import (
    gpu_allocate,
    gpu_offer_accept,
    gpu_offer_decline,
    gpu_release,
)
from medbroker.compute.services.usage import USAGE_COLUMNS, usage_import
from medbroker.core import timeutils
from medbroker.core.errors import DomainError, NotFoundError


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _agreement(request: HttpRequest, pk: int) -> Agreement:
    try:
        return agreement_for_user(_user(request), pk)
    except NotFoundError as error:
        raise Http404(str(error.message)) from None


@role_required(*STAFF_READ_ROLES)
def inventory(request: HttpRequest) -> HttpResponse:
    is_operator = _user(request).has_role(Role.OPERATOR)
    return render(
        request,
        "compute/inventory.html",
        {
            "overview": inventory_overview(),
            "pending": list(agreements_without_gpu()) if is_operator else [],
            "imports": usage_imports_recent(),
            "is_operator": is_operator,
        },
    )


def _chart(days: list[tuple[Any, Any]]) -> dict[str, Any]:
    return {
        "labels": [day.isoformat() for day, _hours in days],
        "hours": [float(hours) for _day, hours in days],
        "label": _("GPU 사용 시간(시간)"),
    }


def _compute_page(
    request: HttpRequest, agreement: Agreement, *, release_form: ReleaseForm | None = None, status: int = 200
) -> HttpResponse:
    user = _user(request)
    allocation = allocation_for_agreement(agreement)
    days = gpu_hours_by_day(agreement)
    return render(
        request,
        "compute/agreement_compute.html",
        {
            "agreement": agreement,
            "gpu_type": granted_gpu_type(agreement),
            "in_force": agreement_in_force(agreement, at=timeutils.now()),
            "allocation": allocation,
            "share": node_share(allocation.gpu.node) if allocation else None,
            "offer_deadline": timeutils.to_kst(offer_deadline(allocation))
            if allocation and allocation.status == GpuAllocation.Status.OFFERED
            else None,
            "waitlist_entry": waitlist_entry_for_agreement(agreement),
            "waitlist_position": waitlist_position(agreement),
            "history": agreement.gpu_allocations.select_related("gpu__node").order_by("-allocated_at", "-pk"),
            "days": days,
            "total_hours": gpu_hours_by_agreement([agreement.pk])[agreement.pk],
            "chart": _chart(days),
            "is_operator": user.has_role(Role.OPERATOR),
            "is_member": user_is_company_member(agreement, user),
            "release_form": release_form or ReleaseForm(),
        },
        status=status,
    )


@role_required(*STAFF_READ_ROLES, Role.APPLICANT)
def agreement_compute(request: HttpRequest, pk: int) -> HttpResponse:
    return _compute_page(request, _agreement(request, pk))


def _back(agreement: Agreement) -> HttpResponse:
    return redirect("compute:agreement_compute", pk=agreement.pk)


@role_required(Role.OPERATOR)
@require_POST
def allocate(request: HttpRequest, pk: int) -> HttpResponse:
    agreement = _agreement(request, pk)
    try:
        result = gpu_allocate(agreement=agreement, actor=_user(request), request=request)
    except DomainError as error:
        messages.error(request, str(error.message))
    else:
        if isinstance(result, GpuAllocation):
            messages.success(request, _("%(gpu)s을(를) 배정했습니다.") % {"gpu": result.gpu})
        else:
            messages.warning(
                request,
                _("빈 %(model)s %(memory)sGB GPU가 없어 대기 목록 %(position)s번째에 올렸습니다.")
                % {
                    "model": result.gpu_model,
                    "memory": result.gpu_memory_gb,
                    "position": waitlist_position(agreement),
                },
            )
    return _back(agreement)


@role_required(Role.OPERATOR)
@require_POST
def release(request: HttpRequest, pk: int) -> HttpResponse:
    agreement = _agreement(request, pk)
    allocation = allocation_for_agreement(agreement)
    if allocation is None:
        raise Http404(_("이 협약에 배정된 GPU가 없습니다."))
    form = ReleaseForm(request.POST)
    if not form.is_valid():
        return _compute_page(request, agreement, release_form=form, status=400)
    try:
        gpu_release(
            allocation=allocation, actor=_user(request), reason=form.cleaned_data["reason"], request=request
        )
    except DomainError as error:
        form.add_error("reason" if error.field == "reason" else None, str(error.message))
        return _compute_page(request, agreement, release_form=form, status=error.status_code)
    messages.success(request, _("%(gpu)s을(를) 반납 처리했습니다.") % {"gpu": allocation.gpu})
    return _back(agreement)


def _offer_answer(request: HttpRequest, pk: int, *, accept: bool) -> HttpResponse:
    agreement = _agreement(request, pk)
    allocation = allocation_for_agreement(agreement)
    if allocation is None:
        messages.error(request, _("응답할 수 있는 GPU 배정 제안이 없습니다."))
        return _back(agreement)
    service = gpu_offer_accept if accept else gpu_offer_decline
    try:
        service(allocation=allocation, actor=_user(request), request=request)
    except DomainError as error:
        messages.error(request, str(error.message))
    else:
        if accept:
            messages.success(request, _("%(gpu)s 배정을 수락했습니다.") % {"gpu": allocation.gpu})
        else:
            messages.info(request, _("배정 제안을 사양했습니다. GPU는 다음 대기 기업에 제안됩니다."))
    return _back(agreement)


@role_required(Role.APPLICANT)
@require_POST
def offer_accept(request: HttpRequest, pk: int) -> HttpResponse:
    return _offer_answer(request, pk, accept=True)


@role_required(Role.APPLICANT)
@require_POST
def offer_decline(request: HttpRequest, pk: int) -> HttpResponse:
    return _offer_answer(request, pk, accept=False)


@role_required(Role.OPERATOR)
@require_http_methods(["GET", "POST"])
def usage_import_view(request: HttpRequest) -> HttpResponse:
    problems: list[str] = []
    status = 200
    if request.method == "POST":
        form = UsageImportForm(request.POST, request.FILES)
        if form.is_valid():
            try:
                source = usage_import(upload=form.cleaned_data["file"], actor=_user(request), request=request)
            except DomainError as error:
                problems = list(error.details.get("problems", [str(error.message)]))
                form.add_error("file", str(error.message))
                status = error.status_code
            else:
                messages.success(
                    request,
                    _("'%(name)s'에서 %(rows)s행을 가져왔습니다.")
                    % {"name": source.original_name, "rows": source.rows},
                )
                return redirect(f"{reverse('compute:usage_import')}?imported={source.pk}")
        else:
            status = 400
    else:
        form = UsageImportForm()
    imported = None
    imported_pk = request.GET.get("imported", "")
    if imported_pk.isdigit():
        imported = UsageImport.objects.filter(pk=int(imported_pk)).first()
    return render(
        request,
        "compute/usage_import.html",
        {
            "form": form,
            "problems": problems,
            "imported": imported,
            "imported_records": imported.records.select_related("agreement__company", "gpu__node").order_by(
                "day", "agreement__number", "gpu"
            )
            if imported
            else [],
            "columns": USAGE_COLUMNS,
            "imports": usage_imports_recent(),
        },
        status=status,
    )
