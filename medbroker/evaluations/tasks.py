"""Celery tasks of the evaluations app: thin, idempotent wrappers over the services."""

from __future__ import annotations

from celery import shared_task

from medbroker.evaluations.services.runs import run_execute, runs_abandon_stale


@shared_task(name="medbroker.evaluations.tasks.evaluation_run_execute")
def evaluation_run_execute(run_id: int) -> str:
    """Run a queued evaluation run; a run already run or running is left alone, so a retry never runs a
    model twice. Returns the run's status."""
    return str(run_execute(run_id=run_id).status)


@shared_task(name="medbroker.evaluations.tasks.evaluation_runs_reconcile")
def evaluation_runs_reconcile() -> int:
    """Fail the runs whose worker is gone (see ``runs_abandon_stale``); returns how many."""
    return runs_abandon_stale()
