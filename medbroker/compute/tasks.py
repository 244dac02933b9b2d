"""Periodic work of the compute app (CELERY_BEAT_SCHEDULE "compute-allocations-reconcile")."""

from __future__ import annotations

from celery import shared_task

from medbroker.compute.services.allocations import allocations_reconcile as allocations_reconcile_service
from medbroker.core import timeutils


@shared_task(name="medbroker.compute.tasks.allocations_reconcile")
def allocations_reconcile() -> dict[str, int]:
    """Release what agreements no longer allow, lapse stale offers, serve the waiting list. Idempotent."""
    return allocations_reconcile_service(now=timeutils.now())
