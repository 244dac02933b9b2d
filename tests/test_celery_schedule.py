"""Every periodic task in the beat schedule is a task a worker registers: a typo in a name would otherwise
leave a reconciler silently never running."""

from __future__ import annotations

from django.conf import settings

from config.celery import app


def test_every_scheduled_task_is_registered() -> None:
    app.loader.import_default_modules()
    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}

    assert scheduled == {
        "medbroker.agreements.tasks.agreements_close_ended",
        "medbroker.access.tasks.grants_reconcile",
        "medbroker.access.tasks_rooms.bookings_reconcile",
        "medbroker.compute.tasks.allocations_reconcile",
        "medbroker.compute.tasks.workspaces_reconcile",
        "medbroker.outcomes.tasks.reports_remind",
        "medbroker.ingest.tasks.scan_jobs_reconcile",
        "medbroker.evaluations.tasks.evaluation_runs_reconcile",
    }
    assert scheduled <= set(app.tasks)
