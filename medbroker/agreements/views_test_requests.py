"""Performance-test request pages (announcement §4 ⑤): a company asks, the operator decides.

Applicants read and write their own company's requests; operators decide; auditors read without forms.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from medbroker.accounts.models import Role, User
from medbroker.accounts.permissions import STAFF_READ_ROLES, role_required
from medbroker.agreements.forms import TestRequestDecideForm, TestRequestForm
from medbroker.agreements.models import PerformanceTestRequest
from medbroker.agreements.selectors import (
    agreement_for_user,
    agreement_in_force,
    test_request_for_user,
    test_requests_visible_to,
    user_is_company_member,
)
from medbroker.agreements.services.test_requests import (
    DECISIONS,
    WITHDRAWABLE,
    test_request_create,
    test_request_decide,
    test_request_withdraw,
)
from medbroker.core import timeutils
from medbroker.core.errors import DomainError, NotFoundError
from medbroker.core.tables import table_build

TEST_REQUEST_ROLES = (*STAFF_READ_ROLES, Role.APPLICANT)


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _test_request_or_404(request: HttpRequest, pk: int) -> PerformanceTestRequest:
    try:
        return test_request_for_user(_user(request), pk)
    except NotFoundError as error:
        raise Http404(str(error.message)) from None


@role_required(*TEST_REQUEST_ROLES)
@require_GET
def test_request_list(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    requests = test_requests_visible_to(user)
    status = request.GET.get("status", "")
    if status in PerformanceTestRequest.Status.values:
        requests = requests.filter(status=status)
    table = table_build(
        request,
        requests,
        sortable={
            "created_at": "created_at",
            "company": "agreement__company__name",
            "algorithm": "algorithm_name",
            "status": "status",
        },
        default_sort="-created_at",
    )
    return render(
        request,
        "agreements/test_requests/list.html",
        {
            "table": table,
            "statuses": PerformanceTestRequest.Status.choices,
            "status": status,
            "is_staff": user.has_role(*STAFF_READ_ROLES),
        },
    )


@role_required(Role.APPLICANT)
@require_http_methods(["GET", "POST"])
def test_request_new(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    try:
        agreement = agreement_for_user(user, pk)
    except NotFoundError as error:
        raise Http404(str(error.message)) from None
    status = 200
    if request.method == "POST":
        form = TestRequestForm(request.POST)
        if form.is_valid():
            try:
                created = test_request_create(
                    agreement=agreement, actor=user, request=request, **form.cleaned_data
                )
            except DomainError as error:
                form.add_error(error.field if error.field in form.fields else None, str(error.message))
                status = error.status_code
            else:
                messages.success(request, _("성능시험 요청을 접수했습니다."))
                return redirect("agreements:test_request_detail", pk=created.pk)
        else:
            status = 400
    else:
        form = TestRequestForm()
    return render(
        request,
        "agreements/test_requests/new.html",
        {
            "agreement": agreement,
            "form": form,
            "in_force": agreement_in_force(agreement, at=timeutils.now()),
            "is_member": user_is_company_member(agreement, user),
        },
        status=status,
    )


def _detail_page(
    request: HttpRequest,
    test_request: PerformanceTestRequest,
    *,
    status: int = 200,
    form: TestRequestDecideForm | None = None,
) -> HttpResponse:
    user = _user(request)
    context: dict[str, Any] = {
        "test_request": test_request,
        "agreement": test_request.agreement,
        "can_decide": user.has_role(Role.OPERATOR) and test_request.status in DECISIONS,
        "can_withdraw": user_is_company_member(test_request.agreement, user)
        and test_request.status in WITHDRAWABLE,
        "decide_form": form or TestRequestDecideForm(),
        "next_statuses": DECISIONS.get(test_request.status, ()),
    }
    return render(request, "agreements/test_requests/detail.html", context, status=status)


@role_required(*TEST_REQUEST_ROLES)
@require_GET
def test_request_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _detail_page(request, _test_request_or_404(request, pk))


@role_required(Role.OPERATOR)
@require_POST
def test_request_decide_view(request: HttpRequest, pk: int) -> HttpResponse:
    test_request = _test_request_or_404(request, pk)
    form = TestRequestDecideForm(request.POST)
    if not form.is_valid():
        return _detail_page(request, test_request, status=400, form=form)
    try:
        test_request_decide(
            test_request=test_request, actor=_user(request), request=request, **form.cleaned_data
        )
    except DomainError as error:
        form.add_error(error.field if error.field in form.fields else None, str(error.message))
        return _detail_page(request, test_request, status=error.status_code, form=form)
    messages.success(request, _("성능시험 요청을 처리했습니다."))
    return redirect("agreements:test_request_detail", pk=test_request.pk)


@role_required(Role.APPLICANT)
@require_POST
def test_request_withdraw_view(request: HttpRequest, pk: int) -> HttpResponse:
    test_request = _test_request_or_404(request, pk)
    try:
        test_request_withdraw(test_request=test_request, actor=_user(request), request=request)
    except DomainError as error:
        messages.error(request, str(error.message))
        return _detail_page(request, test_request, status=error.status_code)
    messages.success(request, _("성능시험 요청을 철회했습니다."))
    return redirect("agreements:test_request_detail", pk=test_request.pk)


# pytest collects any module-level function named test_* that a test module imports; these are views.
for _view in (test_request_list, test_request_new, test_request_detail):
    _view.__test__ = False  # type: ignore[union-attr]
