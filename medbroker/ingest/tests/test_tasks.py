"""The scan task: runs a queued job once, whatever retries or second workers do."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import time_machine

from medbroker.audit.models import AuditEvent
from medbroker.catalog.models import Dataset
from medbroker.core.timeutils import kst
from medbroker.ingest.models import ScanJob, ScannedFile, ScanProfile, ScanSource
from medbroker.ingest.services import scans
from medbroker.ingest.services.scans import scan_job_create, scan_job_run, scan_jobs_abandon_stale, scan_start
from medbroker.ingest.tasks import scan_job_execute, scan_jobs_reconcile
from medbroker.ingest.tests.factories import ScanJobFactory

pytestmark = pytest.mark.django_db
NOW = kst(2025, 9, 1, 10, 0)


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
    settings.MEDBROKER_SCAN_STALE_MINUTES = 30
    with time_machine.travel(NOW - dt.timedelta(minutes=31), tick=False):
        silent = ScanJobFactory(dataset=dataset, status=ScanJob.Status.RUNNING)
    with time_machine.travel(NOW - dt.timedelta(minutes=29), tick=False):
        alive = ScanJobFactory(status=ScanJob.Status.RUNNING)

    with time_machine.travel(NOW, tick=False):
        assert scan_jobs_reconcile.delay().get() == 1

    silent.refresh_from_db()
    alive.refresh_from_db()
    assert (silent.status, silent.error_message, silent.finished_at) == (
        "failed",
        "작업이 응답 없이 멈추어 중단 처리했습니다(서버 재시작 등). 다시 스캔해 주세요.",
        NOW,
    )
    assert alive.status == "running"
    event = AuditEvent.objects.get(action="ingest.scan_abandoned")
    assert (event.object_id, event.data) == (
        str(silent.pk),
        {
            "dataset": dataset.pk,
            "source": "folder",
            "last_sign_of_life": (NOW - dt.timedelta(minutes=31)).astimezone(dt.UTC).isoformat(),
        },
    )
    with time_machine.travel(NOW, tick=False):
        job = scan_job_create(dataset=dataset, source=ScanSource.FOLDER, location=str(folder))
    assert job.status == "queued"


def test_a_new_scan_fails_its_dataset_s_silent_job_first(dataset: Dataset, folder: Path) -> None:
    with time_machine.travel(NOW - dt.timedelta(hours=2), tick=False):
        silent = ScanJobFactory(dataset=dataset, status=ScanJob.Status.QUEUED)

    with time_machine.travel(NOW, tick=False):
        job = scan_job_create(dataset=dataset, source=ScanSource.FOLDER, location=str(folder))

    silent.refresh_from_db()
    assert (silent.status, job.status) == ("failed", "queued")


def test_a_job_failed_as_abandoned_while_it_read_writes_nothing_when_it_ends(
    dataset: Dataset, folder: Path, steward: Any, monkeypatch: Any, settings: Any
) -> None:
    # The worker was slow, not dead: while it read, the job was failed as abandoned and a progress write
    # came after. Its results must not overwrite the failure the steward was told about.
    settings.MEDBROKER_SCAN_STALE_MINUTES = 30
    ScanProfile.objects.create(dataset=dataset, source_path=str(folder.resolve()))
    real_scan_tree = scans.scan_tree
    progress_after: list[tuple[int, int]] = []

    def slow_scan_tree(*args: Any, progress: Any = None, **kwargs: Any) -> Any:
        outcome = real_scan_tree(*args, progress=progress, **kwargs)
        with time_machine.travel(NOW + dt.timedelta(minutes=31), tick=False):
            assert scan_jobs_abandon_stale(dataset=dataset) == 1
        progress(7, 9)
        progress_after.append((7, 9))
        return outcome

    monkeypatch.setattr(scans, "scan_tree", slow_scan_tree)
    with time_machine.travel(NOW, tick=False):
        queued = scan_start(actor=steward, dataset=dataset, source="folder")
        job = scan_job_run(job_id=queued.pk, workers=1)

    job.refresh_from_db()
    dataset.refresh_from_db()
    assert progress_after == [(7, 9)]
    assert (job.status, job.error_message, job.files_done, job.summary) == (
        "failed",
        "작업이 응답 없이 멈추어 중단 처리했습니다(서버 재시작 등). 다시 스캔해 주세요.",
        0,
        {},
    )
    assert ScannedFile.objects.count() == 0
    assert (dataset.scanned_at, dataset.deidentification) == (None, "not_checked")
    assert list(AuditEvent.objects.values_list("action", flat=True).order_by("sequence")) == [
        "ingest.scan_started",
        "ingest.scan_running",
        "ingest.scan_abandoned",
    ]


def test_a_job_failed_as_abandoned_keeps_that_failure_when_its_scan_fails_too(
    dataset: Dataset, folder: Path, steward: Any, monkeypatch: Any, settings: Any
) -> None:
    settings.MEDBROKER_SCAN_STALE_MINUTES = 30
    ScanProfile.objects.create(dataset=dataset, source_path=str(folder.resolve()))

    def abandoned_then_broken(*args: Any, **kwargs: Any) -> Any:
        with time_machine.travel(NOW + dt.timedelta(minutes=31), tick=False):
            scan_jobs_abandon_stale(dataset=dataset)
        raise RuntimeError("disk gone")

    monkeypatch.setattr(scans, "scan_tree", abandoned_then_broken)
    with time_machine.travel(NOW, tick=False):
        queued = scan_start(actor=steward, dataset=dataset, source="folder")
        job = scan_job_run(job_id=queued.pk, workers=1)

    assert (job.status, job.error_message) == (
        "failed",
        "작업이 응답 없이 멈추어 중단 처리했습니다(서버 재시작 등). 다시 스캔해 주세요.",
    )
    assert AuditEvent.objects.filter(action="ingest.scan_failed").count() == 0
