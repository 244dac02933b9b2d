"""Celery tasks of the outcomes app: thin, idempotent wrappers over the services."""

from __future__ import annotations

from celery import shared_task

from medbroker.core import timeutils
from medbroker.outcomes.services import reminders


@shared_task(name="medbroker.outcomes.tasks.reports_remind")
def reports_remind() -> dict[str, int]:
    """Open reports that are due soon and send each due-date notice once (safe to run at any interval)."""
    return reminders.reports_remind(now=timeutils.now())
