"""Scans of a dataset's files: start a job, run it, and hand its result to the catalogue.

A job reads a folder (or a PACS through DICOMweb) outside any transaction, since that takes minutes, then
writes everything it learnt in one transaction: the file rows, the dataset's key information and
de-identification state, the job's own result and the audit events. A scan that fails writes none of that:
the rows and the dataset stay as the last good scan left them, and the job says why in Korean.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.http import HttpRequest
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from medbroker.accounts.services.notifications import notification_send, operator_recipients
from medbroker.audit.services import audit_record
from medbroker.catalog.models import Dataset
from medbroker.catalog.services import dataset_scan_apply
from medbroker.core import timeutils
from medbroker.core.errors import DomainError
from medbroker.ingest.models import ScanJob, ScannedFile, ScanProfile, ScanSource
from medbroker.ingest.scanner.deid import policy_from_profile
from medbroker.ingest.scanner.engine import scan_tree
from medbroker.ingest.scanner.records import FileRecord, ScanError
from medbroker.ingest.scanner.summary import key_information_from_summary, summary_build, summary_fingerprint
from medbroker.ingest.services.profiles import (
    dicomweb_url_check,
    scan_folder_check,
    scan_folders_allowed,
    scan_manager_require,
)

logger = logging.getLogger(__name__)

# Rows written per statement: large enough to be quick, small enough for SQLite's variable limit.
BATCH_SIZE = 1000
# The job keeps at most this many file errors; the full count is in "errors_total".
JOB_ERRORS_KEPT = 1000
# Progress is written at most this often: a row update per file would slow the scan down more than the
# page polling it gains.
PROGRESS_INTERVAL_S = 0.5

Progress = Callable[[int, int], None]


class ScanFailed(Exception):
    """A scan that cannot go on, with the Korean message the job keeps."""


def _location_of(profile: ScanProfile | None, source: str) -> str:
    if profile is None:
        return ""
    return profile.source_path if source == ScanSource.FOLDER else profile.dicomweb_url


# ---------------------------------------------------------------------------------------------------------
# Starting a scan
# ---------------------------------------------------------------------------------------------------------


def scan_job_create(
    *,
    dataset: Dataset,
    source: str,
    location: str,
    actor: Any = None,
    request: HttpRequest | None = None,
) -> ScanJob:
    """A queued job for ``location`` (a folder or a DICOMweb address), with its audit event.

    No permission or root check: ``scan_start`` does those for people using the platform, and the command
    line, the other caller, is run by the server's administrator on folders of their choosing.
    """
    if source not in ScanSource.values:
        raise DomainError(
            "scan_source_invalid", _("스캔 대상은 folder 또는 dicomweb이어야 합니다."), field="source"
        )
    with transaction.atomic():
        scan_jobs_abandon_stale(dataset=dataset)
        try:
            # Its own savepoint: the constraint's failure must not spoil a caller's transaction.
            with transaction.atomic():
                job = ScanJob.objects.create(
                    dataset=dataset,
                    source=source,
                    location=location,
                    status=ScanJob.Status.QUEUED,
                    requested_by=actor,
                )
        except IntegrityError:
            # The database's one-active-job constraint decides, so two clicks at once cannot both start.
            raise DomainError(
                "scan_already_running", _("이미 진행 중인 스캔이 있습니다."), status_code=409
            ) from None
        audit_record(
            action="ingest.scan_started",
            actor=actor,
            target=job,
            summary=f"데이터셋 스캔 시작: {dataset.title}",
            data={"dataset": dataset.pk, "source": source, "location": location},
            request=request,
        )
    return job


def scan_jobs_abandon_stale(*, dataset: Dataset | None = None) -> int:
    """Fail the queued or running jobs that have shown no sign of life for MEDBROKER_SCAN_STALE_MINUTES.

    A job whose worker died (a restarted web process running it in a thread, a killed Celery worker) would
    otherwise stay active for ever, and the one-active-job rule would refuse every later scan of its
    dataset. Progress writes keep ``updated_at`` current while a job runs, so only a silent job is failed.
    Returns how many jobs were failed.
    """
    cutoff = timeutils.now() - dt.timedelta(minutes=settings.MEDBROKER_SCAN_STALE_MINUTES)
    stale = ScanJob.objects.filter(
        status__in=(ScanJob.Status.QUEUED, ScanJob.Status.RUNNING), updated_at__lt=cutoff
    ).select_related("dataset")
    if dataset is not None:
        stale = stale.filter(dataset=dataset)
    message = gettext("작업이 응답 없이 멈추어 중단 처리했습니다(서버 재시작 등). 다시 스캔해 주세요.")
    failed = 0
    with transaction.atomic():
        for job in stale.select_for_update(of=("self",)):
            last_sign_of_life = job.updated_at.isoformat()
            job.status = ScanJob.Status.FAILED
            job.finished_at = timeutils.now()
            job.error_message = message
            job.save(update_fields=["status", "finished_at", "error_message", "updated_at"])
            audit_record(
                action="ingest.scan_abandoned",
                actor=None,
                target=job,
                summary=f"멈춘 데이터셋 스캔 중단 처리: {job.dataset.title}",
                data={
                    "dataset": job.dataset_id,
                    "source": job.source,
                    "last_sign_of_life": last_sign_of_life,
                },
            )
            failed += 1
    return failed


def _scan_in_thread(job_id: int) -> None:
    try:
        scan_job_run(job_id=job_id)
    finally:
        # The thread's own connection; left open it would linger until the server restarts.
        connection.close()


def scan_job_dispatch(job_id: int) -> None:
    """Run the job elsewhere than the request: a Celery worker, or a thread of the web process when Celery
    runs in-process (the embedded default), so that the page can show progress instead of waiting."""
    if settings.CELERY_TASK_ALWAYS_EAGER and settings.MEDBROKER_SCAN_IN_THREAD:
        threading.Thread(
            target=_scan_in_thread, args=(job_id,), name=f"scan-job-{job_id}", daemon=True
        ).start()
        return
    # Imported here: the task module imports this one for the work it wraps.
    from medbroker.ingest.tasks import scan_job_execute

    scan_job_execute.delay(job_id)


@transaction.atomic
def scan_start(*, actor: Any, dataset: Dataset, source: str, request: HttpRequest | None = None) -> ScanJob:
    """Queue a scan of the dataset's folder or PACS; it runs after the transaction commits."""
    scan_manager_require(actor=actor, dataset=dataset)
    if source not in ScanSource.values:
        raise DomainError(
            "scan_source_invalid", _("스캔 대상은 folder 또는 dicomweb이어야 합니다."), field="source"
        )
    profile = ScanProfile.objects.filter(dataset=dataset).first()
    location = _location_of(profile, source)
    if source == ScanSource.FOLDER:
        if not location:
            raise DomainError(
                "scan_location_missing",
                _("스캔 설정에 데이터 폴더를 먼저 입력해 주세요."),
                field="source_path",
            )
        # Again at the start, for whoever starts it: the roots or the institution's folder may have changed,
        # or the folder gone, since the settings were saved (and perhaps by an operator).
        location = scan_folder_check(location, actor=actor, institution=dataset.institution)
    elif not location:
        raise DomainError(
            "scan_location_missing",
            _("스캔 설정에 DICOMweb 주소를 먼저 입력해 주세요."),
            field="dicomweb_url",
        )
    else:
        # Again at the start: the listed PACS servers may have changed, and an address an operator saved is
        # fetched for a steward only when its server is listed.
        location = dicomweb_url_check(location, actor=actor)
    job = scan_job_create(dataset=dataset, source=source, location=location, actor=actor, request=request)
    transaction.on_commit(partial(scan_job_dispatch, job.pk))
    return job


# ---------------------------------------------------------------------------------------------------------
# Running a scan
# ---------------------------------------------------------------------------------------------------------


@dataclass
class _Read:
    """What reading a source produced, before anything is written."""

    records: dict[str, FileRecord]
    errors: list[ScanError]
    files: int
    new: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0
    replace_all: bool = False


class _ProgressWriter:
    """Writes the job's progress at most every ``PROGRESS_INTERVAL_S`` (and always the last step).

    Only while the job is running: a job failed as abandoned stays failed (and silent) even if its worker
    turns out to be alive after all.
    """

    def __init__(self, job_id: int, forward: Progress | None) -> None:
        self.job_id = job_id
        self.forward = forward
        self.written_at = 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if done >= total or now - self.written_at >= PROGRESS_INTERVAL_S:
            self.written_at = now
            # updated_at doubles as the job's heartbeat: see scan_jobs_abandon_stale.
            ScanJob.objects.filter(pk=self.job_id, status=ScanJob.Status.RUNNING).update(
                files_total=total, files_done=min(done, total), updated_at=timeutils.now()
            )
        if self.forward is not None:
            self.forward(done, total)


def _previous_records(dataset: Dataset, source: str) -> dict[str, FileRecord]:
    rows = ScannedFile.objects.filter(dataset=dataset, source=source).values_list("path", "record")
    return {path: FileRecord.from_json(record) for path, record in rows.iterator(chunk_size=BATCH_SIZE)}


def _confinement(job: ScanJob) -> list[str] | None:
    """The folders the symbolic links of a job's folder may lead into; None: anywhere.

    A job someone started on the platform stays inside what they may scan (every root for an operator, the
    institution's folder for its steward): a link placed in the folder must not lead the scan into another
    institution's files or the server's own. A job the command line created (no requester) is the server
    administrator's, on folders of their choosing, and follows every link.
    """
    if job.requested_by is None:
        return None
    folders = scan_folders_allowed(actor=job.requested_by, institution=job.dataset.institution)
    return [str(folder) for folder in folders]


def _folder_read(job: ScanJob, profile: ScanProfile, *, workers: int | None, progress: Progress) -> _Read:
    if not Path(job.location).is_dir():
        # Checked here, not left to the scanner: an empty walk would read as "every file was removed".
        raise ScanFailed(gettext("데이터 폴더를 찾을 수 없습니다: %(path)s") % {"path": job.location})
    outcome = scan_tree(
        job.location,
        previous=_previous_records(job.dataset, ScanSource.FOLDER),
        workers=settings.MEDBROKER_SCAN_WORKERS if workers is None else workers,
        label_patterns=tuple(profile.label_patterns or ()),
        max_header_bytes=settings.MEDBROKER_SCAN_MAX_HEADER_BYTES,
        progress=progress,
        confine_to=_confinement(job),
    )
    return _Read(
        records=outcome.records,
        errors=list(outcome.errors),
        files=outcome.files,
        new=list(outcome.new),
        changed=list(outcome.changed),
        removed=list(outcome.removed),
        unchanged=outcome.unchanged,
    )


def _failed_prefix(path: str, failed: set[str]) -> str | None:
    """The failed study or series that ``path`` ("<study>/<series>/<instance>") lies under, if any."""
    prefix = ""
    for part in path.split("/"):
        prefix = f"{prefix}/{part}" if prefix else part
        if prefix in failed:
            return prefix
    return None


def _dicomweb_read(job: ScanJob, *, progress: Progress) -> _Read:
    from medbroker.ingest.dicomweb import DicomwebError, dicomweb_records

    stored = ScannedFile.objects.filter(dataset=job.dataset, source=ScanSource.DICOMWEB)
    previous = set(stored.values_list("path", flat=True))
    try:
        imported = dicomweb_records(job.location, progress=progress)
    except DicomwebError as error:
        # Its message is already a sentence for the steward (which server, what went wrong).
        raise ScanFailed(str(error)) from None
    records = {record.path: record for record in imported.records}
    fresh = set(records)
    # A study or series that failed this time keeps the instances the last import saw: a PACS busy for a
    # moment must not make audited instances vanish from the dataset and from its findings.
    failed = {error.path for error in imported.errors}
    kept: list[str] = []
    failed_with_rows: set[str] = set()
    for path in sorted(previous - fresh) if failed else ():
        prefix = _failed_prefix(path, failed)
        if prefix is not None:
            kept.append(path)
            failed_with_rows.add(prefix)
    for batch in _batches(kept):
        for path, data in stored.filter(path__in=batch).values_list("path", "record"):
            records[path] = FileRecord.from_json(data)
    # A PACS has no modification times to compare: every instance is read again and its rows replaced. A
    # failed study or series counts as the instances it kept, or as one file when it kept none.
    return _Read(
        records=records,
        errors=list(imported.errors),
        files=len(records) + len(failed - failed_with_rows),
        new=sorted(fresh - previous),
        changed=sorted(fresh & previous),
        removed=sorted(previous - set(records)),
        unchanged=0,
        replace_all=True,
    )


def _row(dataset: Dataset, source: str, record: FileRecord) -> ScannedFile:
    return ScannedFile(
        dataset=dataset,
        source=source,
        path=record.path,
        size=record.size,
        mtime_ns=record.mtime_ns,
        kind=record.kind,
        record=record.as_json(),
    )


def _batches(items: list[str]) -> Iterable[list[str]]:
    for start in range(0, len(items), BATCH_SIZE):
        yield items[start : start + BATCH_SIZE]


def _rows_write(job: ScanJob, read: _Read) -> None:
    dataset, source = job.dataset, job.source
    rows = ScannedFile.objects.filter(dataset=dataset, source=source)
    if read.replace_all:
        # The records include the rows a failed study or series kept, so those come back as they were.
        rows.delete()
        ScannedFile.objects.bulk_create(
            (_row(dataset, source, record) for record in read.records.values()), batch_size=BATCH_SIZE
        )
        return
    # From the rows as stored, not only from the scanner's lists: whatever the rows hold, afterwards they
    # are exactly the scan's records.
    existing = set(rows.values_list("path", flat=True))
    gone = sorted(existing - set(read.records))
    for batch in _batches(gone):
        rows.filter(path__in=batch).delete()
    ScannedFile.objects.bulk_create(
        (_row(dataset, source, read.records[path]) for path in sorted(set(read.records) - existing)),
        batch_size=BATCH_SIZE,
    )
    changed = sorted(set(read.changed) & existing & set(read.records))
    for batch in _batches(changed):
        stored = list(rows.filter(path__in=batch))
        for row in stored:
            record = read.records[row.path]
            row.size, row.mtime_ns, row.kind, row.record = (
                record.size,
                record.mtime_ns,
                record.kind,
                record.as_json(),
            )
        ScannedFile.objects.bulk_update(stored, ["size", "mtime_ns", "kind", "record"], batch_size=BATCH_SIZE)


def _all_records(job: ScanJob, read: _Read) -> list[FileRecord]:
    """Every file of the dataset, from both sources: the key information describes the whole dataset."""
    others = (
        ScannedFile.objects.filter(dataset=job.dataset)
        .exclude(source=job.source)
        .values_list("record", flat=True)
    )
    return [
        *read.records.values(),
        *(FileRecord.from_json(record) for record in others.iterator(chunk_size=BATCH_SIZE)),
    ]


def _formats_of(summary: dict[str, Any]) -> list[str]:
    formats = ["DICOM"] if summary.get("instances") else []
    formats.extend(str(name) for name in (summary.get("signals") or {}).get("formats", {}))
    return formats


def _job_summary(summary: dict[str, Any]) -> dict[str, Any]:
    errors = list(summary.get("errors") or [])
    return {**summary, "errors": errors[:JOB_ERRORS_KEPT], "errors_total": len(errors)}


def _findings_notify(dataset: Dataset, job: ScanJob, files_with_findings: int) -> None:
    title = gettext("공개 중인 데이터셋에서 비식별 점검 발견 사항: %(title)s") % {"title": dataset.title}
    body = gettext(
        "공개 중인 데이터셋 '%(title)s'의 스캔에서 발견 사항이 있는 파일이 %(count)d개 나왔습니다. "
        "데이터셋은 공개 상태 그대로입니다. 점검 결과를 보고 공개 중단 또는 공개 허용을 결정해 주세요."
    ) % {"title": dataset.title, "count": files_with_findings}
    notification_send(
        users=operator_recipients(),
        kind="ingest_deidentification_findings",
        title=title,
        body=body,
        dedupe_key=f"ingest-scan-findings-{job.pk}",
    )


def _still_running(job: ScanJob) -> bool:
    """Lock the job's row and say whether it is still running (inside the caller's transaction).

    A job failed as abandoned while its worker was only slow must not be finished afterwards: a later scan
    of the dataset may already have written the rows, and the job's failure is what the steward was told.
    """
    status = ScanJob.objects.select_for_update().filter(pk=job.pk).values_list("status", flat=True).first()
    return status == ScanJob.Status.RUNNING


def _results_write(job: ScanJob, profile: ScanProfile, read: _Read) -> ScanJob:
    label_patterns = tuple(profile.label_patterns or ())
    policy = policy_from_profile(profile)
    with transaction.atomic():
        if not _still_running(job):
            job.refresh_from_db()
            return job
        _rows_write(job, read)
        records = _all_records(job, read)
        other_files = len(records) - len(read.records)
        summary = summary_build(
            records,
            errors=read.errors,
            files=read.files + other_files,
            policy=policy,
            label_patterns=label_patterns,
        )
        files_with_findings = int(summary["deid"]["files_with_findings"])
        dataset = dataset_scan_apply(
            dataset=job.dataset,
            key_information=key_information_from_summary(summary),
            annotated=int(summary["cases"]["annotated"]),
            non_annotated=int(summary["cases"]["non_annotated"]),
            formats=_formats_of(summary),
            files_with_findings=files_with_findings,
            actor=job.requested_by,
        )
        job.status = ScanJob.Status.SUCCEEDED
        job.finished_at = timeutils.now()
        # Progress counted the files to read (or the PACS's studies); the result counts every file seen.
        job.files_total = read.files
        job.files_done = read.files
        job.files_new = len(read.new)
        job.files_changed = len(read.changed)
        job.files_removed = len(read.removed)
        job.files_unchanged = read.unchanged
        job.errors_count = len(read.errors)
        # The fingerprint says which settings judged the findings, so the de-identification report can use
        # them as long as the settings stay the same instead of judging every row again.
        job.summary = {**_job_summary(summary), "fingerprint": summary_fingerprint(policy, label_patterns)}
        job.error_message = ""
        job.save()
        audit_record(
            action="ingest.scan_finished",
            actor=job.requested_by,
            target=job,
            summary=f"데이터셋 스캔 완료: {dataset.title}",
            data={
                "dataset": dataset.pk,
                "source": job.source,
                "files": read.files,
                "new": job.files_new,
                "changed": job.files_changed,
                "removed": job.files_removed,
                "unchanged": job.files_unchanged,
                "errors": job.errors_count,
                "files_with_findings": files_with_findings,
            },
        )
        if files_with_findings and dataset.publication == Dataset.Publication.PUBLISHED:
            # The dataset stays published: withdrawing it is the operator's decision, not the scanner's.
            _findings_notify(dataset, job, files_with_findings)
    return job


def _failure_record(job_id: int, message: str) -> ScanJob:
    with transaction.atomic():
        job = ScanJob.objects.select_related("dataset", "requested_by").get(pk=job_id)
        if not _still_running(job):
            # Already failed as abandoned: that failure, and its audit event, stand.
            job.refresh_from_db()
            return job
        job.status = ScanJob.Status.FAILED
        job.finished_at = timeutils.now()
        job.error_message = message
        job.save(update_fields=["status", "finished_at", "error_message", "updated_at"])
        audit_record(
            action="ingest.scan_failed",
            actor=job.requested_by,
            target=job,
            summary=f"데이터셋 스캔 실패: {job.dataset.title}",
            data={"dataset": job.dataset_id, "source": job.source, "reason": message},
        )
    return job


def scan_job_run(*, job_id: int, progress: Progress | None = None, workers: int | None = None) -> ScanJob:
    """Run a queued job to its end. A job that is not queued any more (a retried task, a second worker) is
    returned as it is, so running a job twice never scans twice. Never raises for a failed scan: the job
    records the failure."""
    now = timeutils.now()
    with transaction.atomic():
        claimed = ScanJob.objects.filter(pk=job_id, status=ScanJob.Status.QUEUED).update(
            status=ScanJob.Status.RUNNING, started_at=now, files_done=0, updated_at=now
        )
        job = ScanJob.objects.select_related("dataset__institution", "requested_by").get(pk=job_id)
        if claimed:
            audit_record(
                action="ingest.scan_running",
                actor=job.requested_by,
                target=job,
                summary=f"데이터셋 스캔 실행: {job.dataset.title}",
                data={"dataset": job.dataset_id, "source": job.source, "location": job.location},
            )
    if not claimed:
        return job
    try:
        profile = ScanProfile.objects.filter(dataset=job.dataset).first() or ScanProfile(dataset=job.dataset)
        writer = _ProgressWriter(job.pk, progress)
        if job.source == ScanSource.DICOMWEB:
            read = _dicomweb_read(job, progress=writer)
        else:
            read = _folder_read(job, profile, workers=workers, progress=writer)
        return _results_write(job, profile, read)
    except ScanFailed as failure:
        return _failure_record(job_id, str(failure))
    except DomainError as error:
        return _failure_record(job_id, str(error.message))
    except Exception:
        # The traceback goes to the server's log; the job, which stewards read, gets a plain sentence.
        logger.exception("scan job %s failed", job_id)
        return _failure_record(
            job_id, gettext("스캔 중 예상하지 못한 오류가 발생했습니다. 시스템 관리자에게 문의해 주세요.")
        )
