"""Periodic tasks of the access app (CELERY_BEAT_SCHEDULE runs the reconciler every minute)."""

from __future__ import annotations

from celery import shared_task

from medbroker.access.services import grants as grant_services
from medbroker.core import timeutils


@shared_task(name="medbroker.access.tasks.grants_reconcile")
def grants_reconcile() -> dict[str, int]:
    """Record expired and no-longer-covered grants and send the due notices; safe to run any number of times."""
    return grant_services.grants_reconcile(now=timeutils.now())
