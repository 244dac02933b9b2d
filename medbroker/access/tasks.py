"""Periodic tasks of the access app (CELERY_BEAT_SCHEDULE runs the reconciler every minute)."""

from __future__ import annotations

from celery import shared_task

from medbroker.access.services import grants as grant_services

# Celery's autodiscovery imports each app's ``tasks`` module only: the room tasks register through here.
from medbroker.access.tasks_rooms import bookings_reconcile  # noqa: F401
from medbroker.core import timeutils


@shared_task(name="medbroker.access.tasks.grants_reconcile")
def grants_reconcile() -> dict[str, int]:
    """Record expired and no-longer-covered grants, return online grants whose conditions lapsed to the closed
    room and send the due notices; safe to run any number of times."""
    return grant_services.grants_reconcile(now=timeutils.now())
