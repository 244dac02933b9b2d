"""Writing to and verifying the hash-chained audit log."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db import connection, models, transaction
from django.http import HttpRequest

from medbroker.audit.models import AuditEvent
from medbroker.core import timeutils

GENESIS_HASH = "0" * 64
# Any constant works; it only has to be the same for every writer (PostgreSQL advisory lock key).
_CHAIN_LOCK_KEY = 0x6D656462


def _canonical(event: AuditEvent) -> bytes:
    body = {
        "sequence": event.sequence,
        "occurred_at": event.occurred_at.isoformat(timespec="microseconds"),
        "actor_id": event.actor_id,
        "actor_label": event.actor_label,
        "action": event.action,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "summary": event.summary,
        "data": event.data,
        "ip_address": event.ip_address,
        "user_agent": event.user_agent,
        "previous_hash": event.previous_hash,
    }
    return json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str).encode()


def entry_hash_compute(event: AuditEvent) -> str:
    return hashlib.sha256(_canonical(event)).hexdigest()


def _client_ip(request: HttpRequest | None) -> str | None:
    if request is None:
        return None
    return request.META.get("REMOTE_ADDR") or None


def _json_safe(data: dict[str, Any] | None) -> dict[str, Any]:
    # Round-trip through JSON so the stored value hashes the same after it is read back from the database.
    return json.loads(json.dumps(data or {}, ensure_ascii=False, default=str))


def audit_record(
    *,
    action: str,
    actor: Any = None,
    target: models.Model | None = None,
    object_type: str = "",
    object_id: str | int = "",
    summary: str = "",
    data: dict[str, Any] | None = None,
    request: HttpRequest | None = None,
) -> AuditEvent:
    """Append one event. Call it inside the transaction of the change it records.

    ``actor`` defaults to ``request.user``; ``target`` fills ``object_type`` ("app.model") and ``object_id``.
    """
    if actor is None and request is not None and getattr(request, "user", None) is not None:
        actor = request.user if request.user.is_authenticated else None
    if target is not None:
        object_type = object_type or target._meta.label_lower
        object_id = object_id or str(target.pk)
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # Serialise writers so two events never take the same place in the chain.
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CHAIN_LOCK_KEY])
        last = AuditEvent.objects.order_by("-sequence").only("sequence", "entry_hash").first()
        event = AuditEvent(
            sequence=(last.sequence + 1) if last else 1,
            occurred_at=timeutils.now(),
            actor=actor,
            actor_label=(f"{actor.username} ({actor})" if actor is not None else "system")[:200],
            action=action,
            object_type=object_type,
            object_id=str(object_id),
            summary=str(summary)[:500],
            data=_json_safe(data),
            ip_address=_client_ip(request),
            user_agent=(request.META.get("HTTP_USER_AGENT", "") if request else "")[:300],
            previous_hash=last.entry_hash if last else GENESIS_HASH,
        )
        event.entry_hash = entry_hash_compute(event)
        event.save()
    return event


@dataclass(frozen=True)
class ChainProblem:
    sequence: int
    reason: str


def audit_chain_verify(events: Iterable[AuditEvent] | None = None) -> ChainProblem | None:
    """Walk the chain from the first entry; return the first broken entry, or None when it is intact.

    Detects a changed entry (its hash no longer matches), a removed entry (a gap in the sequence or a
    previous-hash that points elsewhere) and a reordered one. Removing the newest entries leaves a shorter
    valid chain; that is caught only by comparing with an exported head (``audit verify --expect-head``).
    """
    if events is None:
        events = AuditEvent.objects.order_by("sequence").iterator(chunk_size=2000)
    expected_previous = GENESIS_HASH
    expected_sequence = 1
    for event in events:
        if event.sequence != expected_sequence:
            return ChainProblem(expected_sequence, f"entry #{expected_sequence} is missing")
        if event.previous_hash != expected_previous:
            return ChainProblem(event.sequence, "previous hash does not match the entry before it")
        if entry_hash_compute(event) != event.entry_hash:
            return ChainProblem(event.sequence, "content does not match its hash (entry was changed)")
        expected_previous = event.entry_hash
        expected_sequence += 1
    return None


def audit_head() -> AuditEvent | None:
    return AuditEvent.objects.order_by("-sequence").first()
