"""``ingest_demo_load``: a generated archive scanned into a demo dataset of KTL's database, idempotently."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from medbroker.accounts.demo import accounts_demo_load
from medbroker.catalog.demo import KTL_INSTITUTION_NAME, catalog_demo_load
from medbroker.catalog.models import Dataset, Institution
from medbroker.ingest.demo import DEMO_ARCHIVE, DEMO_DATASET_TITLE, ingest_demo_load
from medbroker.ingest.models import ScanJob, ScannedFile, ScanProfile
from medbroker.ingest.testdata import LABEL_PATTERN, archive_write

pytestmark = pytest.mark.django_db


@pytest.fixture
def catalogue() -> None:
    catalog = catalog_demo_load()
    accounts_demo_load(steward_organisation=catalog.steward_organisation)


def _expected(tmp_path: Path) -> Any:
    # The same archive written elsewhere: its manifest states what the scan must find.
    return archive_write(tmp_path / "expected", **DEMO_ARCHIVE)


def test_the_demo_scans_a_generated_archive_into_a_published_illustrative_dataset(
    catalogue: None, settings: Any, tmp_path: Path
) -> None:
    result = ingest_demo_load()

    folder = Path(settings.MEDBROKER_SCAN_ROOTS[0]) / "demo-ct"
    # The archive was written elsewhere and renamed into place: nothing else is left in the root.
    assert sorted(path.name for path in folder.parent.iterdir()) == ["demo-ct"]
    manifest = _expected(tmp_path)
    dataset = Dataset.objects.get(title=DEMO_DATASET_TITLE)
    assert result.dataset == dataset
    assert (
        dataset.institution.name,
        dataset.publication,
        dataset.is_illustrative,
        dataset.modality.code,
    ) == (
        KTL_INSTITUTION_NAME,
        Dataset.Publication.PUBLISHED,
        True,
        "ct",
    )
    # KTL's stewards scan under the first root, where the archive lies.
    assert dataset.institution.scan_folder == settings.MEDBROKER_SCAN_ROOTS[0]
    profile = ScanProfile.objects.get(dataset=dataset)
    assert (profile.source_path, profile.label_patterns) == (str(folder.resolve()), [LABEL_PATTERN])
    job = ScanJob.objects.get(dataset=dataset)
    assert (job.status, job.files_new, job.errors_count, job.requested_by.username) == (
        ScanJob.Status.SUCCEEDED,
        manifest.files,
        0,
        "steward",
    )
    summary = dataset.scan_summary
    assert (summary["files"], summary["instances"], summary["patients"], summary["studies"]) == (
        manifest.files,
        manifest.instances,
        manifest.patients,
        manifest.studies,
    )
    assert summary["modalities"] == manifest.modalities
    assert summary["sex"] == {"O": 0, "unknown": 0, **manifest.sex}
    assert (dataset.annotated_count, dataset.total_count) == (
        manifest.annotated_by_objects + manifest.annotated_with_labels,
        manifest.cases,
    )
    assert dataset.deidentification == Dataset.Deidentification.FINDINGS
    assert dataset.deidentification_findings == manifest.files_with_findings() > 0
    assert result.summary_lines == [
        f"스캔 예시: '{DEMO_DATASET_TITLE}' ← {folder} (파일 {manifest.files}개, 환자 {manifest.patients}명, "
        f"비식별 점검 발견 사항 파일 {manifest.files_with_findings()}개)"
    ]


def test_running_the_demo_twice_changes_nothing(catalogue: None) -> None:
    first = ingest_demo_load()
    assert first.dataset is not None
    summary, files = first.dataset.scan_summary, ScannedFile.objects.count()

    second = ingest_demo_load()

    assert second.dataset == first.dataset
    assert Dataset.objects.filter(title=DEMO_DATASET_TITLE).count() == 1
    assert ScanJob.objects.count() == 1
    assert ScannedFile.objects.count() == files
    second.dataset.refresh_from_db()
    assert second.dataset.scan_summary == summary
    assert second.summary_lines == first.summary_lines


def test_the_demo_assigns_ktl_its_folder_when_the_catalogue_has_none(catalogue: None, settings: Any) -> None:
    # A catalogue loaded before institutions had folders: the steward's scan would find no folder of theirs.
    Institution.objects.filter(organisation__name=KTL_INSTITUTION_NAME).update(scan_folder="")

    result = ingest_demo_load()

    assert result.dataset is not None
    assert Institution.objects.get(organisation__name=KTL_INSTITUTION_NAME).scan_folder == str(
        Path(settings.MEDBROKER_SCAN_ROOTS[0]).resolve()
    )
    assert (ScanJob.objects.get().status, ScanJob.objects.get().errors_count) == (ScanJob.Status.SUCCEEDED, 0)


def test_only_ktl_has_a_folder_after_the_catalogue_loads_again(catalogue: None, settings: Any) -> None:
    catalog_demo_load()

    assert list(
        Institution.objects.exclude(scan_folder="").values_list("organisation__name", "scan_folder")
    ) == [(KTL_INSTITUTION_NAME, settings.MEDBROKER_SCAN_ROOTS[0])]


def test_an_archive_already_on_disk_is_reused(catalogue: None, settings: Any) -> None:
    ingest_demo_load()
    folder = Path(settings.MEDBROKER_SCAN_ROOTS[0]) / "demo-ct"
    before = {path: path.stat().st_mtime_ns for path in folder.rglob("*") if path.is_file()}
    Dataset.objects.filter(title=DEMO_DATASET_TITLE).delete()

    ingest_demo_load()

    assert {path: path.stat().st_mtime_ns for path in folder.rglob("*") if path.is_file()} == before
    assert ScanJob.objects.get().status == ScanJob.Status.SUCCEEDED


def test_without_the_catalogue_the_demo_is_skipped(db: None) -> None:
    result = ingest_demo_load()

    assert result.dataset is None
    assert result.summary_lines == ["스캔 예시: 카탈로그나 데이터 보관 위치가 없어 건너뛰었습니다."]
    assert ScanJob.objects.count() == 0


def test_the_demo_dataset_page_shows_key_information_to_a_company(catalogue: None, client: Client) -> None:
    dataset = ingest_demo_load().dataset
    assert dataset is not None

    html = client.get(f"/catalog/{dataset.pk}/").content.decode()

    assert "스캔으로 확인한 주요 정보" in html
    assert "&lt; 5" in html
