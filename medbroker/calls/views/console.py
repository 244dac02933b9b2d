"""The operators' console over applications. Operators and auditors read everything; only operators act.

An auditor sees the same pages without buttons, and any POST by an auditor is 403.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from medbroker.accounts.models import Role, User
from medbroker.accounts.permissions import STAFF_READ_ROLES, role_required
from medbroker.calls.forms_applications import ConsoleFilterForm, ReturnForm
from medbroker.calls.selectors.applications import (
    CONSOLE_SORTABLE,
    application_get_for_user,
    application_status_counts,
    console_call_get,
    console_calls,
    console_rows,
    console_rows_for_export,
)
from medbroker.calls.services.applications import (
    application_can_return,
    application_return,
    applications_export,
)
from medbroker.calls.views.applications import application_overview
from medbroker.core import timeutils
from medbroker.core.errors import DomainError
from medbroker.core.tables import table_build

EXPORT_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


@role_required(*STAFF_READ_ROLES)
def console(request: HttpRequest) -> HttpResponse:
    return render(request, "calls/console/index.html", {"calls": console_calls()})


@role_required(*STAFF_READ_ROLES)
def console_call(request: HttpRequest, slug: str) -> HttpResponse:
    call = console_call_get(slug=slug)
    filter_form = ConsoleFilterForm(request.GET)
    applications, rows = console_rows(call=call, **filter_form.filters())
    table = table_build(request, applications, sortable=CONSOLE_SORTABLE, default_sort="receipt")
    return render(
        request,
        "calls/console/call.html",
        {
            "call": call,
            "counts": application_status_counts(call=call),
            "table": table,
            "rows": [rows[application.pk] for application in table.page],
            "filter_form": filter_form,
            "query": request.GET.urlencode(),
            "is_closed": timeutils.now() >= call.intake_closes_at,
        },
    )


@role_required(*STAFF_READ_ROLES)
def console_export(request: HttpRequest, slug: str) -> HttpResponse:
    call = console_call_get(slug=slug)
    filters = ConsoleFilterForm(request.GET).filters()
    ordered = console_rows_for_export(call=call, **filters)
    content = applications_export(
        call=call, rows=ordered, actor=_user(request), filters=filters, request=request
    )
    stamp = timeutils.to_kst(timeutils.now()).strftime("%Y%m%d-%H%M")
    response = HttpResponse(content, content_type=EXPORT_CONTENT_TYPE)
    response["Content-Disposition"] = f'attachment; filename="applications-{call.slug}-{stamp}.xlsx"'
    response["Cache-Control"] = "private, no-store"
    return response


@role_required(*STAFF_READ_ROLES)
def console_application(request: HttpRequest, pk: int) -> HttpResponse:
    application = application_get_for_user(user=_user(request), pk=pk)
    return render(
        request,
        "calls/console/application.html",
        {
            **application_overview(application, for_company=False),
            "return_form": ReturnForm(),
            "can_return": application_can_return(application, actor=_user(request)),
        },
    )


@role_required(Role.OPERATOR)
@require_POST
def console_application_return(request: HttpRequest, pk: int) -> HttpResponse:
    application = application_get_for_user(user=_user(request), pk=pk)
    form = ReturnForm(request.POST)
    if form.is_valid():
        try:
            application_return(
                application=application,
                actor=_user(request),
                reason=form.cleaned_data["reason"],
                request=request,
            )
        except DomainError as error:
            messages.error(request, str(error.message))
        else:
            messages.success(request, _("보완을 요청했습니다. 기업에 사유가 표시됩니다."))
            return redirect("calls:console_application", pk=application.pk)
    return render(
        request,
        "calls/console/application.html",
        {
            **application_overview(application, for_company=False),
            "return_form": form,
            "can_return": application_can_return(application, actor=_user(request)),
        },
        status=400,
    )
