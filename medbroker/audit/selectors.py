"""Reading the audit log: the auditor's filters, shared by the event list and its exports."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass

from django.db.models import Q, QuerySet

from medbroker.audit.models import AuditEvent
from medbroker.core.timeutils import KST


@dataclass(frozen=True)
class AuditEventFilter:
    """What the auditor asked for. Dates are KST calendar days, both ends included."""

    date_from: dt.date | None = None
    date_to: dt.date | None = None
    actor: str = ""
    app: str = ""
    action: str = ""
    object_type: str = ""
    query: str = ""

    def as_data(self) -> dict[str, str]:
        """The filters that are set, as text: what an export records about itself."""
        return {key: str(value) for key, value in asdict(self).items() if value not in (None, "")}


def _kst_midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=KST)


def audit_events_search(
    *,
    query: str = "",
    action: str = "",
    object_type: str = "",
    actor: str = "",
    app: str = "",
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    up_to_sequence: int | None = None,
) -> QuerySet[AuditEvent]:
    """The events matching every filter given (an empty filter matches all).

    ``actor`` is a username, matched on the label copied into each entry, so the events of an account that
    was removed later are still found ("system" finds the events no user caused). ``app`` is the part of
    the action before the dot ("access" for "access.grant_revoked"). ``up_to_sequence`` pins the result
    to the log as it was at one moment: an export must not pick up the event that records the export.
    """
    events = AuditEvent.objects.select_related("actor")
    if date_from is not None:
        events = events.filter(occurred_at__gte=_kst_midnight(date_from))
    if date_to is not None:
        events = events.filter(occurred_at__lt=_kst_midnight(date_to + dt.timedelta(days=1)))
    if actor:
        # Usernames cannot hold a space or a parenthesis, so "<username> (" matches exactly that account.
        events = events.filter(
            Q(actor_label__startswith=f"{actor} (") | Q(actor__isnull=True, actor_label=actor)
        )
    if app:
        events = events.filter(action__startswith=f"{app}.")
    if action:
        events = events.filter(action=action)
    if object_type:
        events = events.filter(object_type=object_type)
    if query:
        events = events.filter(
            Q(summary__icontains=query) | Q(actor_label__icontains=query) | Q(object_id=query)
        )
    if up_to_sequence is not None:
        events = events.filter(sequence__lte=up_to_sequence)
    return events


def audit_events_filtered(
    filters: AuditEventFilter, *, up_to_sequence: int | None = None
) -> QuerySet[AuditEvent]:
    return audit_events_search(
        query=filters.query,
        action=filters.action,
        object_type=filters.object_type,
        actor=filters.actor,
        app=filters.app,
        date_from=filters.date_from,
        date_to=filters.date_to,
        up_to_sequence=up_to_sequence,
    )


def audit_actions() -> list[str]:
    return list(AuditEvent.objects.order_by("action").values_list("action", flat=True).distinct())


def audit_apps(actions: list[str]) -> list[str]:
    """The apps that wrote events, from the action names ("access.grant_revoked" → "access")."""
    return sorted({action.partition(".")[0] for action in actions if "." in action})


def audit_object_types() -> list[str]:
    return list(
        AuditEvent.objects.exclude(object_type="")
        .order_by("object_type")
        .values_list("object_type", flat=True)
        .distinct()
    )
