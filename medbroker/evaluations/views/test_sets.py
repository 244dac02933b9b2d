"""Test sets: the lab's held-out data. Operators register, import, activate and retire them; auditors read.

Per-case data (the first cases, their references and attributes) is shown here because only the lab's
staff ever reach these pages; companies get 403.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from medbroker.accounts.models import Role
from medbroker.accounts.permissions import role_required
from medbroker.core.errors import DomainError
from medbroker.core.tables import table_build
from medbroker.evaluations.forms import TestCasesImportForm, TestSetForm
from medbroker.evaluations.models import Evaluation, TestSet
from medbroker.evaluations.selectors import (
    test_set_cases_shown,
    test_set_for_staff,
    test_set_summary,
    test_sets_for_operator,
)
from medbroker.evaluations.services.test_sets import (
    test_set_activate,
    test_set_cases_import,
    test_set_create,
    test_set_retire,
)
from medbroker.evaluations.views.common import (
    STAFF_ROLES,
    error_message,
    form_error_add,
    found_or_404,
    user_of,
)


@role_required(*STAFF_ROLES)
@require_GET
def test_set_list(request: HttpRequest) -> HttpResponse:
    test_sets = test_sets_for_operator(user_of(request))
    status = request.GET.get("status", "")
    if status in TestSet.Status.values:
        test_sets = test_sets.filter(status=status)
    table = table_build(
        request,
        test_sets,
        sortable={"name": ("name", "version"), "created_at": "created_at", "status": "status"},
        default_sort="name",
    )
    return render(
        request,
        "evaluations/test_set_list.html",
        {
            "table": table,
            "statuses": TestSet.Status.choices,
            "status": status,
            "is_operator": user_of(request).has_role(Role.OPERATOR),
        },
    )


@role_required(Role.OPERATOR)
@require_http_methods(["GET", "POST"])
def test_set_create_view(request: HttpRequest) -> HttpResponse:
    form = TestSetForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            test_set = test_set_create(
                actor=user_of(request),
                name=data["name"],
                version=data["version"],
                task_type=data["task_type"],
                data_kind=data["data_kind"],
                classes=data["classes"],
                description=data.get("description") or "",
                dataset=data.get("dataset"),
                spacing=data.get("spacing"),
                request=request,
            )
        except DomainError as error:
            form_error_add(form, error)
        else:
            messages.success(
                request,
                _("시험셋 '%(name)s'을(를) 등록했습니다. 증례 목록을 가져온 뒤 사용을 시작하십시오.")
                % {"name": str(test_set)},
            )
            return redirect("evaluations:test_set_detail", pk=test_set.pk)
    return render(request, "evaluations/test_set_form.html", {"form": form})


def _detail(
    request: HttpRequest, test_set: TestSet, *, import_form: TestCasesImportForm | None = None
) -> HttpResponse:
    user = user_of(request)
    is_operator = user.has_role(Role.OPERATOR)
    summary = test_set_summary(test_set)
    context: dict[str, Any] = {
        "test_set": test_set,
        "summary": summary,
        "cases": list(test_set_cases_shown(test_set)),
        "is_operator": is_operator,
        "can_import": is_operator and test_set.status == TestSet.Status.DRAFT,
        "can_activate": is_operator and test_set.status == TestSet.Status.DRAFT and summary.cases > 0,
        "can_retire": is_operator and test_set.status == TestSet.Status.ACTIVE,
        "import_form": import_form or TestCasesImportForm(),
        "evaluations": Evaluation.objects.filter(test_set=test_set).select_related("company")[:50],
    }
    return render(request, "evaluations/test_set_detail.html", context)


@role_required(*STAFF_ROLES)
@require_GET
def test_set_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _detail(request, found_or_404(test_set_for_staff, request, pk))


@role_required(Role.OPERATOR)
@require_POST
def test_set_import_view(request: HttpRequest, pk: int) -> HttpResponse:
    test_set = found_or_404(test_set_for_staff, request, pk)
    form = TestCasesImportForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            added = test_set_cases_import(
                actor=user_of(request),
                test_set=test_set,
                cases_csv=form.cleaned_data["cases_csv"],
                archive=form.cleaned_data.get("archive"),
                request=request,
            )
        except DomainError as error:
            form_error_add(form, error)
        else:
            messages.success(request, _("증례 %(count)d건을 가져왔습니다.") % {"count": added})
            return redirect("evaluations:test_set_detail", pk=test_set.pk)
    return _detail(request, found_or_404(test_set_for_staff, request, pk), import_form=form)


@role_required(Role.OPERATOR)
@require_POST
def test_set_activate_view(request: HttpRequest, pk: int) -> HttpResponse:
    test_set = found_or_404(test_set_for_staff, request, pk)
    try:
        test_set = test_set_activate(actor=user_of(request), test_set=test_set, request=request)
    except DomainError as error:
        error_message(request, error)
    else:
        messages.success(
            request,
            _("시험셋 '%(name)s'의 사용을 시작했습니다. 이제 증례를 바꿀 수 없습니다.")
            % {"name": str(test_set)},
        )
    return redirect("evaluations:test_set_detail", pk=pk)


@role_required(Role.OPERATOR)
@require_POST
def test_set_retire_view(request: HttpRequest, pk: int) -> HttpResponse:
    test_set = found_or_404(test_set_for_staff, request, pk)
    try:
        test_set = test_set_retire(actor=user_of(request), test_set=test_set, request=request)
    except DomainError as error:
        error_message(request, error)
    else:
        messages.success(request, _("시험셋 '%(name)s'의 사용을 종료했습니다.") % {"name": str(test_set)})
    return redirect("evaluations:test_set_detail", pk=pk)
