"""The ingest step in ``medbroker demo``: a generated archive scanned into one dataset of KTL's database.

The archive is made by ``medbroker.ingest.testdata`` (synthetic CT, MR, ultrasound, mammography, endoscopy
and signal files, no real person's data) under the first allowed scan root, with the findings the audit must
report planted in a few files. It belongs to a dataset of its own, marked as illustrative, so the call's
table in the catalogue keeps its printed counts. The dataset is published: a company sees its key information
with small cells suppressed, the steward and operators see exact values and the de-identification findings,
and the operators got the notice a scan with findings on a published dataset sends.

Idempotent: the archive is written once (into a temporary folder, then renamed, so two runs at once cannot
leave half an archive, and an existing folder is a finished one), and a dataset with a finished scan is not
scanned again.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction

from medbroker.accounts.models import Role, User
from medbroker.catalog.demo import KTL_INSTITUTION_NAME
from medbroker.catalog.models import BodyPart, Dataset, Institution, Modality, Sensitivity
from medbroker.catalog.services import dataset_search_document_refresh
from medbroker.core import timeutils
from medbroker.ingest.models import ScanJob, ScanProfile, ScanSource
from medbroker.ingest.services.scans import scan_job_create, scan_job_run
from medbroker.ingest.testdata import LABEL_PATTERN, archive_write

DEMO_FOLDER = "demo-ct"
DEMO_SEED = 2025
# What the demo archive holds: enough studies for every chart, few enough to write in a second.
DEMO_ARCHIVE: dict[str, Any] = {
    "seed": DEMO_SEED,
    "ct_studies": 8,
    "slices": 4,
    "mr_studies": 1,
    "us": 1,
    "mg": 1,
    "es": 1,
    "ecg": 1,
    "eeg": 1,
    "wfdb_records": 1,
    "planted": True,
}
DEMO_DATASET_TITLE = "응급복부 CT 스캔 예시 (데모)"
DEMO_DATASET_TITLE_EN = "Emergency abdomen CT, scanned example (demo)"


@dataclass(frozen=True)
class IngestDemo:
    dataset: Dataset | None
    summary_lines: list[str]


def _archive_ensure(target: Path) -> None:
    # The archive is written elsewhere and renamed into place whole, so a folder there is a finished one.
    if target.is_dir():
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        archive_write(staging, **DEMO_ARCHIVE)
        try:
            staging.rename(target)
        except OSError:
            # Another run finished first: its archive is the same one (same seed).
            if not target.is_dir():
                raise
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def _dataset(institution: Institution) -> Dataset:
    values = {
        "title_en": DEMO_DATASET_TITLE_EN,
        "description": (
            "스캔과 비식별 점검 기능을 보여주기 위한 예시 데이터셋입니다. 파일은 플랫폼이 만든 합성 데이터이며 "
            "실제 환자의 정보가 아닙니다. 일부 파일에는 점검이 찾아내야 할 식별 정보를 일부러 넣어 두었습니다."
        ),
        "body_part": BodyPart.objects.get(code="emergency-abdomen"),
        "modality": Modality.objects.get(code="ct"),
        "data_type": "imaging",
        "sensitivity": Sensitivity.HIGH,
        "is_illustrative": True,
        "source_note": "데모용 합성 데이터(실제 데이터 아님)",
        "contact_name": "대구의료인공지능개발지원센터 지원사업 담당",
        "contact_phone": "053-281-0034",
    }
    dataset, created = Dataset.objects.get_or_create(
        institution=institution,
        title=DEMO_DATASET_TITLE,
        defaults={
            **values,
            "formats": ["DICOM"],
            "publication": Dataset.Publication.PUBLISHED,
            "published_at": timeutils.now(),
        },
    )
    if not created:
        # The counts, formats and de-identification state belong to the scan: only the texts are reset.
        for name, value in values.items():
            setattr(dataset, name, value)
        dataset.save(update_fields=[*values, "updated_at"])
    dataset_search_document_refresh(dataset)
    return dataset


def ingest_demo_load() -> IngestDemo:
    """Scan the demo archive into the demo dataset of KTL's database (after ``catalog_demo_load``)."""
    institution = Institution.objects.filter(organisation__name=KTL_INSTITUTION_NAME).first()
    if institution is None or not settings.MEDBROKER_SCAN_ROOTS:
        return IngestDemo(
            dataset=None, summary_lines=["스캔 예시: 카탈로그나 데이터 보관 위치가 없어 건너뛰었습니다."]
        )
    folder = Path(settings.MEDBROKER_SCAN_ROOTS[0]) / DEMO_FOLDER
    _archive_ensure(folder)
    with transaction.atomic():
        if not institution.scan_folder:
            # A catalogue loaded before institutions had folders: the steward's scan is confined to it.
            institution.scan_folder = str(Path(settings.MEDBROKER_SCAN_ROOTS[0]).resolve())
            institution.save(update_fields=["scan_folder", "updated_at"])
        dataset = _dataset(institution)
        ScanProfile.objects.update_or_create(
            dataset=dataset,
            defaults={
                "source_path": str(folder.resolve()),
                "label_patterns": [LABEL_PATTERN],
            },
        )
    scanned = ScanJob.objects.filter(dataset=dataset, status=ScanJob.Status.SUCCEEDED).exists()
    if not scanned:
        steward = User.objects.filter(
            organisation=institution.organisation, role_assignments__role=Role.DATA_STEWARD
        ).first()
        created = scan_job_create(
            dataset=dataset, source=ScanSource.FOLDER, location=str(folder.resolve()), actor=steward
        )
        scan_job_run(job_id=created.pk, workers=1)
    dataset.refresh_from_db()
    job = ScanJob.objects.filter(dataset=dataset).order_by("-created_at", "-pk").first()
    summary = dataset.scan_summary or {}
    lines = [
        (
            f"스캔 예시: '{dataset.title}' ← {folder} "
            f"(파일 {summary.get('files', 0)}개, 환자 {summary.get('patients', 0)}명, "
            f"비식별 점검 발견 사항 파일 {dataset.deidentification_findings}개"
            f"{', 스캔 실패: ' + job.error_message if job and job.status == ScanJob.Status.FAILED else ''})"
        ),
    ]
    return IngestDemo(dataset=dataset, summary_lines=lines)
