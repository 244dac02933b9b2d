from __future__ import annotations

from django.db.models import Q, QuerySet

from medbroker.audit.models import AuditEvent


def audit_events_search(*, query: str = "", action: str = "", object_type: str = "") -> QuerySet[AuditEvent]:
    events = AuditEvent.objects.select_related("actor")
    if action:
        events = events.filter(action=action)
    if object_type:
        events = events.filter(object_type=object_type)
    if query:
        events = events.filter(
            Q(summary__icontains=query) | Q(actor_label__icontains=query) | Q(object_id=query)
        )
    return events
