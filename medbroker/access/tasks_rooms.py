"""Periodic tasks of the closed learning room (CELERY_BEAT_SCHEDULE runs the reconciler every minute)."""

from __future__ import annotations

from celery import shared_task

from medbroker.access.services import rooms as room_services
from medbroker.core import timeutils


@shared_task(name="medbroker.access.tasks_rooms.bookings_reconcile")
def bookings_reconcile() -> dict[str, int]:
    """Cancel the bookings no grant covers any more and tell their bookers; safe to run any number of times."""
    return room_services.bookings_reconcile(now=timeutils.now())
