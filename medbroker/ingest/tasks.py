"""Celery tasks of the ingest app: thin, idempotent wrappers over the services."""

from __future__ import annotations

from celery import shared_task

from medbroker.ingest.services.scans import scan_job_run, scan_jobs_abandon_stale


@shared_task(name="medbroker.ingest.tasks.scan_job_execute")
def scan_job_execute(job_id: int) -> str:
    """Run a queued scan job; a job already run or running is left alone, so a retry never scans twice.
    Returns the job's status."""
    return str(scan_job_run(job_id=job_id).status)


@shared_task(name="medbroker.ingest.tasks.scan_jobs_reconcile")
def scan_jobs_reconcile() -> int:
    """Fail the scan jobs whose worker is gone (see ``scan_jobs_abandon_stale``); returns how many."""
    return scan_jobs_abandon_stale()
