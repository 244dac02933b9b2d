"""Reads of the ingest step: who sees a dataset's scans, and the de-identification report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from medbroker.catalog.models import Dataset
from medbroker.core.errors import NotFoundError
from medbroker.core.timeutils import kst
from medbroker.ingest import selectors
from medbroker.ingest.models import ScanJob, ScannedFile, ScanSource
from medbroker.ingest.scanner.deid import DeidPolicy, finding_label
from medbroker.ingest.scanner.records import FileRecord
from medbroker.ingest.scanner.summary import summary_fingerprint
from medbroker.ingest.selectors import (
    DeidRow,
    dataset_scan_get,
    dataset_scan_manageable,
    deidentification_report,
    scan_job_active,
    scan_job_get,
    scan_jobs_of,
    scan_profile_of,
)
from medbroker.ingest.services.profiles import scan_profile_save
from medbroker.ingest.services.scans import scan_job_run, scan_start
from medbroker.ingest.testdata import archive_write
from medbroker.ingest.tests.factories import ScanJobFactory, ScanProfileFactory

pytestmark = pytest.mark.django_db

GE = "0009,xx10@GEMS_IDEN_01"


def stored(dataset: Dataset, record: FileRecord, source: str = ScanSource.FOLDER) -> ScannedFile:
    return ScannedFile.objects.create(
        dataset=dataset, source=source, path=record.path, kind=record.kind, record=record.as_json()
    )


def ct(path: str, **facts: Any) -> FileRecord:
    values: dict[str, Any] = {"kind": "dicom", "format": "DICOM", "modality": "CT", "identity_removed": "YES"}
    values.update(facts)
    return FileRecord(path=path, **values)


@pytest.fixture
def files(dataset: Dataset) -> None:
    stored(dataset, ct("P1/1.dcm", identifying=("PatientName",), private_tags=(GE,)))
    stored(dataset, ct("P1/2.dcm", identifying=("PatientName", "InstitutionName"), private_tags=(GE,)))
    stored(dataset, ct("P2/1.dcm", private_tags=(GE,)))
    stored(dataset, ct("P3/1.dcm"))
    stored(dataset, FileRecord(path="P3/label.json", kind="label"))
    stored(dataset, ct("1.2/1.2.3/1.2.3.4", identity_removed="NO"), source=ScanSource.DICOMWEB)


def test_the_report_counts_files_per_finding_with_examples(dataset: Dataset, files: None) -> None:
    report = deidentification_report(dataset=dataset)

    assert (report.files_scanned, report.files_with_findings, report.policy) == (6, 4, DeidPolicy())
    assert report.rows == [
        DeidRow("private", "허용 목록에 없는 비공개(private) 태그", 3, ["P1/1.dcm", "P1/2.dcm", "P2/1.dcm"]),
        DeidRow("PatientName", "식별 정보가 담긴 속성: PatientName", 2, ["P1/1.dcm", "P1/2.dcm"]),
        DeidRow("InstitutionName", "기관 정보: InstitutionName", 1, ["P1/2.dcm"]),
        DeidRow("PatientIdentityRemoved", "PatientIdentityRemoved가 YES가 아님", 1, ["1.2/1.2.3/1.2.3.4"]),
    ]


def test_the_report_keeps_five_examples_per_finding(dataset: Dataset) -> None:
    for number in range(7):
        stored(dataset, ct(f"P{number}/1.dcm", identifying=("PatientName",)))

    report = deidentification_report(dataset=dataset)

    assert report.rows == [
        DeidRow(
            "PatientName",
            "식별 정보가 담긴 속성: PatientName",
            7,
            ["P0/1.dcm", "P1/1.dcm", "P2/1.dcm", "P3/1.dcm", "P4/1.dcm"],
        )
    ]


def test_the_report_follows_the_current_settings_at_once(dataset: Dataset, files: None, steward: Any) -> None:
    Dataset.objects.filter(pk=dataset.pk).update(
        deidentification=Dataset.Deidentification.FINDINGS, deidentification_findings=4
    )

    scan_profile_save(
        actor=steward,
        dataset=dataset,
        data={"private_safe_list": [GE], "retain_institution_identity": True},
    )
    report = deidentification_report(dataset=dataset)

    assert (report.files_with_findings, [(row.code, row.files) for row in report.rows]) == (
        3,
        [("PatientName", 2), ("PatientIdentityRemoved", 1)],
    )
    assert report.policy == DeidPolicy(retain_institution_identity=True, private_safe_list=frozenset({GE}))
    # The catalogue's state waits for the next scan.
    dataset.refresh_from_db()
    assert (dataset.deidentification, dataset.deidentification_findings) == ("findings", 4)


def test_an_unscanned_dataset_has_an_empty_report(dataset: Dataset) -> None:
    report = deidentification_report(dataset=dataset)

    assert (report.rows, report.files_scanned, report.files_with_findings) == ([], 0, 0)


def test_reading_the_settings_of_a_dataset_without_any_creates_nothing(dataset: Dataset) -> None:
    profile = scan_profile_of(dataset=dataset)

    assert (profile.pk, profile.dataset_id, profile.label_patterns) == (None, dataset.pk, [])


def test_the_saved_settings_are_read(dataset: Dataset) -> None:
    saved = ScanProfileFactory(dataset=dataset, pseudonym_pattern="P\\d+")

    assert scan_profile_of(dataset=dataset).pk == saved.pk


@pytest.mark.parametrize(
    ("role", "manageable", "visible"),
    [
        ("anonymous", False, False),
        ("applicant", False, False),
        ("reviewer", False, False),
        ("other_steward", False, False),
        ("steward", True, True),
        ("operator", True, True),
        ("auditor", False, True),
    ],
)
def test_who_manages_and_who_reads_a_datasets_scans(
    dataset: Dataset,
    users_by_role: dict[str, Any],
    other_steward: Any,
    role: str,
    manageable: bool,
    visible: bool,
) -> None:
    user = other_steward if role == "other_steward" else users_by_role[role]
    job = ScanJobFactory(dataset=dataset)

    assert dataset_scan_manageable(user=user, dataset=dataset) is manageable
    if visible:
        assert dataset_scan_get(user=user, pk=dataset.pk) == dataset
        assert scan_job_get(user=user, pk=job.pk) == job
    else:
        with pytest.raises(NotFoundError) as dataset_missing:
            dataset_scan_get(user=user, pk=dataset.pk)
        with pytest.raises(NotFoundError) as job_missing:
            scan_job_get(user=user, pk=job.pk)
        assert (dataset_missing.value.code, job_missing.value.code) == (
            "dataset_not_found",
            "scan_job_not_found",
        )


def test_jobs_are_listed_newest_first_with_the_active_one(dataset: Dataset) -> None:
    old = ScanJobFactory(dataset=dataset, status=ScanJob.Status.SUCCEEDED)
    failed = ScanJobFactory(dataset=dataset, status=ScanJob.Status.FAILED)
    running = ScanJobFactory(dataset=dataset, status=ScanJob.Status.RUNNING)
    ScanJobFactory(status=ScanJob.Status.QUEUED)

    assert list(scan_jobs_of(dataset=dataset)) == [running, failed, old]
    assert scan_job_active(dataset=dataset) == running


# ---------------------------------------------------------------------------------------------------------
# The findings the last scan stored, or judged again
# ---------------------------------------------------------------------------------------------------------


def expected_rows(archive: Any, *, unreadable: list[str], **policy: Any) -> list[DeidRow]:
    """The report's rows for a scanned archive under ``policy``, from what the archive planted."""
    paths: dict[str, list[str]] = {}
    for path, codes in archive.file_findings(**policy).items():
        for code in codes:
            paths.setdefault(code, []).append(path)
    if unreadable:
        paths["unreadable"] = unreadable
    return [
        DeidRow(code, finding_label(code), len(found), sorted(found)[:5])
        for code, found in sorted(paths.items(), key=lambda item: (-len(item[1]), item[0]))
    ]


@pytest.fixture
def scanned(dataset: Dataset, steward: Any, tmp_path: Path) -> Any:
    """A planted archive with one unreadable file, scanned once."""
    archive = archive_write(tmp_path / "archive", seed=0, planted=True)
    (tmp_path / "archive" / "empty.dcm").write_bytes(b"")
    scan_profile_save(
        actor=steward,
        dataset=dataset,
        data={"source_path": str(tmp_path / "archive"), "label_patterns": list(archive.label_patterns)},
    )
    job = scan_job_run(job_id=scan_start(actor=steward, dataset=dataset, source="folder").pk, workers=1)
    assert job.status == "succeeded"
    return archive


def test_while_the_settings_stay_the_report_is_the_last_scans_without_reading_a_row(
    dataset: Dataset, scanned: Any, monkeypatch: Any
) -> None:
    def never(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a row was judged again")

    monkeypatch.setattr(selectors, "summary_build", never)

    report = deidentification_report(dataset=dataset)

    assert (report.files_scanned, report.files_with_findings) == (
        scanned.files,
        scanned.files_with_findings() + 1,
    )
    assert report.rows == expected_rows(scanned, unreadable=["empty.dcm"])


def test_the_stored_findings_are_those_judged_again_from_the_rows(dataset: Dataset, scanned: Any) -> None:
    stored = deidentification_report(dataset=dataset)
    job = ScanJob.objects.get(dataset=dataset)
    ScanJob.objects.filter(pk=job.pk).update(
        summary={key: value for key, value in job.summary.items() if key != "fingerprint"}
    )

    judged = deidentification_report(dataset=dataset)

    assert judged == stored


def test_changed_settings_judge_every_row_again_and_keep_the_unreadable_files(
    dataset: Dataset, scanned: Any, steward: Any, monkeypatch: Any
) -> None:
    judged: list[str] = []
    real = selectors.summary_build

    def counting(records: list[FileRecord], **options: Any) -> dict[str, Any]:
        judged.extend(record.path for record in records)
        return real(records, **options)

    monkeypatch.setattr(selectors, "summary_build", counting)
    scan_profile_save(actor=steward, dataset=dataset, data={"retain_institution_identity": True})

    report = deidentification_report(dataset=dataset)

    # Every row with headers was judged once (label and other files carry none).
    assert len(judged) == ScannedFile.objects.exclude(kind__in=("label", "other")).count() > 0
    assert report.files_with_findings == scanned.files_with_findings(retain_institution_identity=True) + 1
    assert report.rows == expected_rows(scanned, unreadable=["empty.dcm"], retain_institution_identity=True)


def test_a_later_scan_is_the_one_whose_findings_count(dataset: Dataset, steward: Any) -> None:
    # An older successful scan whose settings match must not answer for rows a later scan rewrote.
    stored(dataset, ct("P1/1.dcm", identifying=("PatientName",)))
    fingerprint = summary_fingerprint(DeidPolicy(), ())
    ScanJobFactory(
        dataset=dataset,
        status=ScanJob.Status.SUCCEEDED,
        finished_at=kst(2025, 9, 1, 9, 0),
        summary={"fingerprint": fingerprint, "deid": {"files_with_findings": 9, "findings": {"private": 9}}},
    )
    ScanJobFactory(
        dataset=dataset,
        status=ScanJob.Status.SUCCEEDED,
        finished_at=kst(2025, 9, 1, 10, 0),
        summary={"fingerprint": "an older version of the settings", "deid": {"findings": {}}},
    )

    report = deidentification_report(dataset=dataset)

    assert (report.files_with_findings, report.rows) == (
        1,
        [DeidRow("PatientName", "식별 정보가 담긴 속성: PatientName", 1, ["P1/1.dcm"])],
    )
