"""The audit log for operators and auditors: filtered reading, chain verification, Excel and CSV exports."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from medbroker.accounts.models import Role, User
from medbroker.accounts.permissions import role_required
from medbroker.audit.exports import (
    CSV_CONTENT_TYPE,
    XLSX_MAX_ROWS,
    audit_events_export_csv,
    audit_events_export_xlsx,
)
from medbroker.audit.forms import AuditEventFilterForm
from medbroker.audit.selectors import audit_actions, audit_apps, audit_events_filtered, audit_object_types
from medbroker.audit.services import audit_chain_verify
from medbroker.core import timeutils
from medbroker.core.excel import XLSX_CONTENT_TYPE
from medbroker.core.tables import table_build

# The export links carry the page's filters and nothing of its paging or sorting: an export is always
# every selected event in chain order.
_NOT_FILTERS = ("page", "sort", "verify")


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _filter_form(request: HttpRequest) -> AuditEventFilterForm:
    actions = audit_actions()
    form = AuditEventFilterForm(
        request.GET, apps=audit_apps(actions), actions=actions, object_types=audit_object_types()
    )
    form.is_valid()
    return form


def _list_page(request: HttpRequest, form: AuditEventFilterForm, *, status: int = 200) -> HttpResponse:
    events = audit_events_filtered(form.filters())
    table = table_build(
        request,
        events,
        sortable={"sequence": "sequence", "occurred_at": "occurred_at", "action": "action"},
        default_sort="-sequence",
        per_page=50,
    )
    export_query = request.GET.copy()
    for key in _NOT_FILTERS:
        export_query.pop(key, None)
    return render(
        request,
        "audit/event_list.html",
        {
            "table": table,
            "form": form,
            "export_query": export_query.urlencode(),
            "filtered": bool(form.filters().as_data()),
            "xlsx_max_rows": XLSX_MAX_ROWS,
            # Walking the whole chain costs a pass over every entry: only when asked.
            "verified": "verify" in request.GET,
            "chain_problem": audit_chain_verify() if "verify" in request.GET else None,
        },
        status=status,
    )


@require_GET
@role_required(Role.OPERATOR, Role.AUDITOR)
def event_list(request: HttpRequest) -> HttpResponse:
    return _list_page(request, _filter_form(request))


def _stamp() -> str:
    return timeutils.to_kst(timeutils.now()).strftime("%Y%m%d-%H%M%S")


@require_GET
@role_required(Role.OPERATOR, Role.AUDITOR)
def event_export_xlsx(request: HttpRequest) -> HttpResponse:
    form = _filter_form(request)
    if form.errors:
        # Exporting with a filter dropped would hand over more than the auditor asked for.
        return _list_page(request, form, status=400)
    workbook = audit_events_export_xlsx(filters=form.filters(), actor=_user(request), request=request)
    response = HttpResponse(workbook.content, content_type=XLSX_CONTENT_TYPE)
    response["Content-Disposition"] = f'attachment; filename="audit-events-{_stamp()}.xlsx"'
    response["X-Export-Rows"] = str(workbook.count)
    response["X-Export-Total"] = str(workbook.total)
    return response


# role_required is typed for HttpResponse; a streamed response passes through it the same way.
@require_GET  # type: ignore[type-var]
@role_required(Role.OPERATOR, Role.AUDITOR)
def event_export_csv(request: HttpRequest) -> HttpResponse | StreamingHttpResponse:
    form = _filter_form(request)
    if form.errors:
        return _list_page(request, form, status=400)
    lines = audit_events_export_csv(filters=form.filters(), actor=_user(request), request=request)
    response = StreamingHttpResponse(lines, content_type=CSV_CONTENT_TYPE)
    response["Content-Disposition"] = f'attachment; filename="audit-events-{_stamp()}.csv"'
    return response
