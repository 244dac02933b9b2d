from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from medbroker.accounts.models import Role
from medbroker.accounts.permissions import role_required
from medbroker.audit.models import AuditEvent
from medbroker.audit.selectors import audit_events_search
from medbroker.audit.services import audit_chain_verify
from medbroker.core.tables import table_build


@require_GET
@role_required(Role.OPERATOR, Role.AUDITOR)
def event_list(request: HttpRequest) -> HttpResponse:
    events = audit_events_search(
        query=request.GET.get("q", "").strip(),
        action=request.GET.get("action", ""),
        object_type=request.GET.get("object_type", ""),
    )
    table = table_build(
        request,
        events,
        sortable={"sequence": "sequence", "occurred_at": "occurred_at", "action": "action"},
        default_sort="-sequence",
        per_page=50,
    )
    actions = AuditEvent.objects.order_by("action").values_list("action", flat=True).distinct()
    return render(
        request,
        "audit/event_list.html",
        {
            "table": table,
            "actions": actions,
            # Walking the whole chain costs a pass over every entry: only when asked.
            "verified": "verify" in request.GET,
            "chain_problem": audit_chain_verify() if "verify" in request.GET else None,
            "filters": request.GET,
        },
    )
