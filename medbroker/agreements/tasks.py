"""Periodic tasks of the agreements app: thin wrappers over the services, idempotent."""

from __future__ import annotations

from celery import shared_task

from medbroker.agreements.services.agreements import agreements_close_ended as _agreements_close_ended
from medbroker.core import timeutils


@shared_task(name="medbroker.agreements.tasks.agreements_close_ended")
def agreements_close_ended() -> int:
    """Mark ended the agreements whose period is over; a second run changes nothing."""
    return _agreements_close_ended(now=timeutils.now())
