"""Five events around a KST midnight, by three actors and the system, in three apps: the filters' test bed."""

from __future__ import annotations

import datetime as dt
from typing import Any

import time_machine

from medbroker.audit.models import AuditEvent
from medbroker.audit.services import audit_record
from medbroker.core.timeutils import kst


def event_at(at: dt.datetime, **fields: Any) -> AuditEvent:
    with time_machine.travel(at, tick=False):
        return audit_record(**fields)


def five_events(*, operator: Any, applicant: Any, auditor: Any) -> list[AuditEvent]:
    """Sequences 1–5; the second and third fall on 2025-07-01 KST, the first a second before it."""
    return [
        event_at(
            kst(2025, 6, 30, 23, 59, 59),
            action="agreements.agreement_signed",
            actor=operator,
            object_type="agreements.agreement",
            object_id=3,
            summary="협약 #3 서명",
            data={"signed_on": "2025-06-30", "side": "lab"},
        ),
        event_at(
            kst(2025, 7, 1, 0, 0, 0),
            action="access.grant_revoked",
            actor=operator,
            object_type="access.accessgrant",
            object_id=7,
            summary="grant 7 revoked: 보안 서약 위반",
            data={"reason": "보안 서약 위반"},
        ),
        event_at(
            kst(2025, 7, 1, 14, 0, 0),
            action="access.booking_created",
            actor=applicant,
            object_type="access.closedroombooking",
            object_id=11,
            summary="학습실 A 좌석 2 예약",
        ),
        event_at(
            kst(2025, 7, 2, 0, 0, 0),
            action="access.grant_expired",
            object_type="access.accessgrant",
            object_id=8,
            summary="grant 8 expired",
        ),
        event_at(
            kst(2025, 7, 2, 9, 0, 0),
            action="compute.gpu_allocated",
            actor=auditor,
            object_type="compute.gpuallocation",
            object_id=2,
            summary="V100 32GB 1장 배정",
            data={"gpu": "V100-32GB", "node": "gpu-03"},
        ),
    ]
