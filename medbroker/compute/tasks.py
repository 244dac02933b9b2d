"""Periodic work of the compute app (CELERY_BEAT_SCHEDULE "compute-allocations-reconcile",
"compute-workspaces-reconcile")."""

from __future__ import annotations

from celery import shared_task

from medbroker.compute.services.allocations import allocations_reconcile as allocations_reconcile_service
from medbroker.compute.services.workspaces import workspaces_reconcile as workspaces_reconcile_service
from medbroker.core import timeutils


@shared_task(name="medbroker.compute.tasks.allocations_reconcile")
def allocations_reconcile() -> dict[str, int]:
    """Release what agreements no longer allow, lapse stale offers, serve the waiting list. Idempotent."""
    return allocations_reconcile_service(now=timeutils.now())


@shared_task(name="medbroker.compute.tasks.workspaces_reconcile")
def workspaces_reconcile() -> dict[str, int]:
    """Stop workspaces whose grants, agreement or GPU no longer allow them; record servers the hub stopped."""
    return workspaces_reconcile_service()
