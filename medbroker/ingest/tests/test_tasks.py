"""The scan task: runs a queued job once, whatever retries or second workers do."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from medbroker.audit.models import AuditEvent
from medbroker.catalog.models import Dataset
from medbroker.ingest.models import ScanJob, ScannedFile, ScanProfile, ScanSource
from medbroker.ingest.services.scans import scan_job_create, scan_start
from medbroker.ingest.tasks import scan_job_execute
from medbroker.ingest.tests.factories import ScanJobFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "labels-only"
    (path / "case1").mkdir(parents=True)
    (path / "case1" / "mask.json").write_text("{}")
    (path / "readme.txt").write_text("라벨만 있는 폴더")
    return path


def test_the_task_runs_a_queued_job_once(dataset: Dataset, folder: Path) -> None:
    job = scan_job_create(dataset=dataset, source=ScanSource.FOLDER, location=str(folder))

    first = scan_job_execute.delay(job.pk).get()
    job.refresh_from_db()
    finished_at, events = job.finished_at, AuditEvent.objects.count()
    second = scan_job_execute.delay(job.pk).get()

    job.refresh_from_db()
    assert (first, second) == ("succeeded", "succeeded")
    assert (job.status, job.files_total, job.files_new, job.finished_at) == ("succeeded", 2, 2, finished_at)
    assert AuditEvent.objects.count() == events
    assert ScannedFile.objects.filter(dataset=dataset).count() == 2


@pytest.mark.parametrize("status", [ScanJob.Status.RUNNING, ScanJob.Status.FAILED])
def test_a_job_another_worker_took_is_left_alone(dataset: Dataset, status: str) -> None:
    job = ScanJobFactory(dataset=dataset, status=status)

    result = scan_job_execute(job.pk)

    job.refresh_from_db()
    assert (result, job.status, job.started_at, job.finished_at) == (status, status, None, None)
    assert AuditEvent.objects.count() == 0


def test_a_started_scan_goes_to_celery_when_not_run_in_a_thread(
    dataset: Dataset, folder: Path, steward: Any, django_capture_on_commit_callbacks: Any
) -> None:
    ScanProfile.objects.create(dataset=dataset, source_path=str(folder.resolve()), label_patterns=["*.json"])

    with django_capture_on_commit_callbacks(execute=True):
        job = scan_start(actor=steward, dataset=dataset, source="folder")

    job.refresh_from_db()
    dataset.refresh_from_db()
    assert (job.status, job.files_total, job.files_new, job.requested_by) == ("succeeded", 2, 2, steward)
    assert (dataset.annotated_count, dataset.non_annotated_count, dataset.deidentification) == (0, 0, "clean")


def test_a_silent_job_is_failed_and_the_dataset_can_be_scanned_again(
    dataset: Dataset, folder: Path, settings: Any
) -> None:
    import datetime as dt

    from medbroker.core import timeutils
    from medbroker.ingest.tasks import scan_jobs_reconcile

    settings.MEDBROKER_SCAN_STALE_MINUTES = 30
    now = timeutils.now()
    silent = ScanJobFactory(dataset=dataset, status=ScanJob.Status.RUNNING)
    ScanJob.objects.filter(pk=silent.pk).update(updated_at=now - dt.timedelta(minutes=31))
    alive = ScanJobFactory(status=ScanJob.Status.RUNNING)
    ScanJob.objects.filter(pk=alive.pk).update(updated_at=now - dt.timedelta(minutes=29))

    assert scan_jobs_reconcile.delay().get() == 1

    silent.refresh_from_db()
    alive.refresh_from_db()
    assert (silent.status, silent.error_message) == (
        "failed",
        "작업이 응답 없이 멈추어 중단 처리했습니다(서버 재시작 등). 다시 스캔해 주세요.",
    )
    assert alive.status == "running"
    event = AuditEvent.objects.get(action="ingest.scan_abandoned")
    assert (event.object_id, event.data["dataset"]) == (str(silent.pk), dataset.pk)
    job = scan_job_create(dataset=dataset, source=ScanSource.FOLDER, location=str(folder))
    assert job.status == "queued"


def test_a_new_scan_fails_its_dataset_s_silent_job_first(dataset: Dataset, folder: Path) -> None:
    import datetime as dt

    from medbroker.core import timeutils

    silent = ScanJobFactory(dataset=dataset, status=ScanJob.Status.QUEUED)
    ScanJob.objects.filter(pk=silent.pk).update(updated_at=timeutils.now() - dt.timedelta(hours=2))

    job = scan_job_create(dataset=dataset, source=ScanSource.FOLDER, location=str(folder))

    silent.refresh_from_db()
    assert (silent.status, job.status) == ("failed", "queued")
