"""The ingest services: scan settings with their checks, scans from start to the catalogue, failures."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import time_machine

from medbroker.accounts.models import Notification
from medbroker.audit.models import AuditEvent
from medbroker.catalog.models import Dataset
from medbroker.catalog.services import dataset_deidentification_override, dataset_publish
from medbroker.core.errors import DomainError, PermissionDeniedError
from medbroker.core.timeutils import kst
from medbroker.ingest import dicomweb
from medbroker.ingest.models import ScanJob, ScannedFile, ScanProfile, ScanSource
from medbroker.ingest.scanner.deid import DeidPolicy
from medbroker.ingest.scanner.records import FileRecord, ScanError
from medbroker.ingest.scanner.summary import summary_fingerprint
from medbroker.ingest.services import scans
from medbroker.ingest.services.profiles import scan_profile_get_or_create, scan_profile_save
from medbroker.ingest.services.scans import scan_job_create, scan_job_run, scan_start
from medbroker.ingest.testdata import archive_write, dicom_image_write
from medbroker.ingest.tests.factories import ScanJobFactory

pytestmark = pytest.mark.django_db

NOW = kst(2025, 9, 1, 10, 0)


def profile_state(dataset: Dataset) -> tuple:
    profile = ScanProfile.objects.filter(dataset=dataset).first()
    if profile is None:
        return ()
    return (
        profile.source_path,
        profile.dicomweb_url,
        profile.retain_institution_identity,
        profile.retain_device_identity,
        profile.private_safe_list,
        profile.label_patterns,
        profile.pseudonym_pattern,
    )


def dataset_state(dataset: Dataset) -> tuple:
    dataset.refresh_from_db()
    return (
        dataset.annotated_count,
        dataset.non_annotated_count,
        dataset.formats,
        dataset.scan_summary,
        dataset.scanned_at,
        dataset.deidentification,
        dataset.deidentification_findings,
    )


def rows_of(dataset: Dataset) -> list[tuple[str, str, int, dict[str, Any]]]:
    return list(ScannedFile.objects.filter(dataset=dataset).values_list("source", "path", "size", "record"))


# ---------------------------------------------------------------------------------------------------------
# Scan settings
# ---------------------------------------------------------------------------------------------------------


def test_get_or_create_makes_one_profile_with_the_strict_defaults(dataset: Dataset) -> None:
    first = scan_profile_get_or_create(dataset=dataset)
    second = scan_profile_get_or_create(dataset=dataset)

    assert first.pk == second.pk
    assert profile_state(dataset) == ("", "", False, False, [], [], "")
    assert AuditEvent.objects.count() == 0


def test_save_normalises_the_settings_and_records_each_change(
    dataset: Dataset, steward: Any, tmp_path: Path, settings: Any
) -> None:
    folder = tmp_path / "ct"
    folder.mkdir()
    settings.MEDBROKER_DICOMWEB_HOSTS = ["pacs.hospital.example"]

    profile = scan_profile_save(
        actor=steward,
        dataset=dataset,
        data={
            "source_path": f"  {folder}/  ",
            "dicomweb_url": "https://pacs.hospital.example/dicom-web/",
            "retain_device_identity": True,
            "private_safe_list": [
                "0009,xx10@GEMS_IDEN_01",
                " 0019,XXab@SIEMENS CSA HEADER ",
                "0009,XX10@GEMS_IDEN_01",
            ],
            "label_patterns": "*.json\n\n*_mask.nii.gz\n*.json",
            "pseudonym_pattern": r"KTL-\d{6}",
        },
    )

    assert profile_state(dataset) == (
        str(folder.resolve()),
        "https://pacs.hospital.example/dicom-web",
        False,
        True,
        ["0009,xx10@GEMS_IDEN_01", "0019,xxAB@SIEMENS CSA HEADER"],
        ["*.json", "*_mask.nii.gz"],
        r"KTL-\d{6}",
    )
    event = AuditEvent.objects.get()
    assert (event.action, event.actor, event.object_type, event.object_id, event.summary) == (
        "ingest.scan_profile_saved",
        steward,
        "ingest.scanprofile",
        str(profile.pk),
        "스캔 설정 저장: 흉부 CT 영상",
    )
    assert event.data == {
        "dataset": dataset.pk,
        "changes": {
            "source_path": ["", str(folder.resolve())],
            "dicomweb_url": ["", "https://pacs.hospital.example/dicom-web"],
            "retain_device_identity": [False, True],
            "private_safe_list": [[], ["0009,xx10@GEMS_IDEN_01", "0019,xxAB@SIEMENS CSA HEADER"]],
            "label_patterns": [[], ["*.json", "*_mask.nii.gz"]],
            "pseudonym_pattern": ["", r"KTL-\d{6}"],
        },
    }


def test_saving_the_same_settings_again_writes_no_event(dataset: Dataset, operator: Any) -> None:
    scan_profile_save(actor=operator, dataset=dataset, data={"retain_institution_identity": True})

    scan_profile_save(actor=operator, dataset=dataset, data={"retain_institution_identity": True})

    assert profile_state(dataset)[2] is True
    assert AuditEvent.objects.count() == 1


@pytest.mark.parametrize(
    ("data", "code", "field", "message"),
    [
        (
            {"source_path": "relative/folder"},
            "scan_path_not_absolute",
            "source_path",
            "데이터 폴더는 /로 시작하는 절대 경로로 입력해 주세요.",
        ),
        (
            {"source_path": "{root}/missing"},
            "scan_path_not_found",
            "source_path",
            "데이터 폴더가 없거나 폴더가 아닙니다.",
        ),
        (
            {"source_path": "{root}/ct/../../outside"},
            "scan_path_outside_roots",
            "source_path",
            "허용된 데이터 보관 위치 밖의 폴더입니다. 허용된 위치: {root}",
        ),
        (
            {"source_path": "/etc"},
            "scan_path_outside_roots",
            "source_path",
            "허용된 데이터 보관 위치 밖의 폴더입니다. 허용된 위치: {root}",
        ),
        (
            {"source_path": "{root}/escape"},
            "scan_path_outside_roots",
            "source_path",
            "허용된 데이터 보관 위치 밖의 폴더입니다. 허용된 위치: {root}",
        ),
        (
            {"dicomweb_url": "ftp://pacs.example/dicom-web"},
            "scan_dicomweb_url_invalid",
            "dicomweb_url",
            "DICOMweb 주소는 http:// 또는 https://로 시작하는 주소여야 합니다.",
        ),
        (
            {"dicomweb_url": "https://"},
            "scan_dicomweb_url_invalid",
            "dicomweb_url",
            "DICOMweb 주소는 http:// 또는 https://로 시작하는 주소여야 합니다.",
        ),
        (
            {"private_safe_list": ["0008,xx10@EVEN GROUP"]},
            "scan_private_tag_invalid",
            "private_safe_list",
            "비공개 태그 '0008,xx10@EVEN GROUP'의 형식이 올바르지 않습니다. 예: 0009,xx10@GEMS_IDEN_01 (그룹은 홀수)",
        ),
        (
            {"private_safe_list": ["0009,1010@NO BLOCK"]},
            "scan_private_tag_invalid",
            "private_safe_list",
            "비공개 태그 '0009,1010@NO BLOCK'의 형식이 올바르지 않습니다. 예: 0009,xx10@GEMS_IDEN_01 (그룹은 홀수)",
        ),
        (
            {"private_safe_list": ["0009,xx10@"]},
            "scan_private_tag_invalid",
            "private_safe_list",
            "비공개 태그 '0009,xx10@'의 형식이 올바르지 않습니다. 예: 0009,xx10@GEMS_IDEN_01 (그룹은 홀수)",
        ),
        (
            {"private_safe_list": "0009,xx10@" + "C" * 65},
            "scan_private_tag_invalid",
            "private_safe_list",
            "비공개 태그 '0009,xx10@"
            + "C" * 65
            + "'의 형식이 올바르지 않습니다. 예: 0009,xx10@GEMS_IDEN_01 (그룹은 홀수)",
        ),
        (
            {"label_patterns": ["labels/*.json"]},
            "scan_label_pattern_invalid",
            "label_patterns",
            "라벨 파일 패턴 'labels/*.json'에는 폴더 구분자(/)를 쓸 수 없습니다. 파일 이름의 패턴만 적어 주세요.",
        ),
        (
            {"label_patterns": [3]},
            "scan_profile_invalid",
            "label_patterns",
            "문자열 목록이어야 합니다.",
        ),
        (
            {"pseudonym_pattern": "KTL-(\\d{6}"},
            "scan_pseudonym_pattern_invalid",
            "pseudonym_pattern",
            "가명 ID 형식이 올바른 정규식이 아닙니다: missing ) at position 10",
        ),
        (
            {"pseudonym_pattern": "K" * 101},
            "scan_pseudonym_pattern_invalid",
            "pseudonym_pattern",
            "가명 ID 형식은 100자 이내로 입력해 주세요.",
        ),
        (
            # Nested repetition: on "AAA…A!" it backtracks through every way of splitting the run.
            {"pseudonym_pattern": "(A|AA)+$"},
            "scan_pseudonym_pattern_too_complex",
            "pseudonym_pattern",
            "가명 ID 형식이 너무 복잡합니다. 반복 안에 다시 반복이 있는 형식(예: (A|AA)+)은 확인에 시간이 "
            "지나치게 오래 걸릴 수 있으니 더 단순한 형식으로 입력해 주세요(예: KTL-[0-9]{6}).",
        ),
        (
            {"pseudonym_pattern": "([0-9]|[0-9][0-9])+"},
            "scan_pseudonym_pattern_too_complex",
            "pseudonym_pattern",
            "가명 ID 형식이 너무 복잡합니다. 반복 안에 다시 반복이 있는 형식(예: (A|AA)+)은 확인에 시간이 "
            "지나치게 오래 걸릴 수 있으니 더 단순한 형식으로 입력해 주세요(예: KTL-[0-9]{6}).",
        ),
        (
            {"dicomweb_url": "https://pacs.hospital.example:99999/dicom-web"},
            "scan_dicomweb_url_invalid",
            "dicomweb_url",
            "DICOMweb 주소는 http:// 또는 https://로 시작하는 주소여야 합니다.",
        ),
        (
            {"dicomweb_url": "https://reader:secret@pacs.hospital.example/dicom-web"},
            "scan_dicomweb_url_credentials",
            "dicomweb_url",
            "DICOMweb 주소에는 사용자 이름이나 비밀번호를 넣을 수 없습니다.",
        ),
        (
            {"dataset": 3},
            "scan_profile_field_unknown",
            "dataset",
            "스캔 설정에 없는 항목입니다: dataset",
        ),
    ],
)
def test_bad_settings_are_refused_with_their_field_and_change_nothing(
    dataset: Dataset,
    steward: Any,
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
    data: dict[str, Any],
    code: str,
    field: str,
    message: str,
) -> None:
    root = str(tmp_path.resolve())
    (tmp_path / "ct").mkdir()
    # A link inside the root that leads out of it.
    (tmp_path / "escape").symlink_to(tmp_path_factory.mktemp("elsewhere"), target_is_directory=True)
    scan_profile_save(actor=steward, dataset=dataset, data={"pseudonym_pattern": "P\\d+"})
    before = profile_state(dataset)
    data = {
        name: value.replace("{root}", root) if isinstance(value, str) else value
        for name, value in data.items()
    }

    with pytest.raises(DomainError) as refused:
        scan_profile_save(actor=steward, dataset=dataset, data=data)

    assert (refused.value.code, refused.value.field, str(refused.value)) == (
        code,
        field,
        message.replace("{root}", root),
    )
    assert profile_state(dataset) == before
    assert AuditEvent.objects.count() == 1


def test_a_link_that_stays_inside_the_root_is_stored_resolved(
    dataset: Dataset, steward: Any, tmp_path: Path
) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "alias").symlink_to(tmp_path / "real", target_is_directory=True)

    scan_profile_save(actor=steward, dataset=dataset, data={"source_path": str(tmp_path / "alias")})

    assert profile_state(dataset)[0] == str((tmp_path / "real").resolve())


def test_only_the_institutions_stewards_and_operators_change_settings(
    dataset: Dataset, other_steward: Any, applicant: Any, auditor: Any
) -> None:
    for user in (other_steward, applicant, auditor):
        with pytest.raises(PermissionDeniedError) as refused:
            scan_profile_save(actor=user, dataset=dataset, data={"retain_device_identity": True})
        assert refused.value.code == "ingest_not_allowed"

    assert profile_state(dataset) == ()
    assert AuditEvent.objects.count() == 0


# ---------------------------------------------------------------------------------------------------------
# Starting a scan
# ---------------------------------------------------------------------------------------------------------


@pytest.fixture
def archive(tmp_path: Path) -> Any:
    return archive_write(tmp_path / "archive", seed=0, planted=True)


@pytest.fixture
def configured(dataset: Dataset, steward: Any, tmp_path: Path, archive: Any) -> Dataset:
    scan_profile_save(
        actor=steward,
        dataset=dataset,
        data={"source_path": str(tmp_path / "archive"), "label_patterns": list(archive.label_patterns)},
    )
    AuditEvent.objects.all().delete()
    return dataset


def test_start_queues_a_job_and_runs_it_after_commit(
    configured: Dataset,
    steward: Any,
    tmp_path: Path,
    django_capture_on_commit_callbacks: Any,
    monkeypatch: Any,
) -> None:
    ran: list[int] = []
    monkeypatch.setattr(scans, "scan_job_dispatch", ran.append)

    with django_capture_on_commit_callbacks(execute=True):
        job = scan_start(actor=steward, dataset=configured, source="folder")
        assert ran == []

    assert ran == [job.pk]
    job.refresh_from_db()
    assert (job.status, job.source, job.location, job.requested_by) == (
        "queued",
        "folder",
        str((tmp_path / "archive").resolve()),
        steward,
    )
    event = AuditEvent.objects.get()
    assert (event.action, event.actor, event.object_id, event.summary, event.data) == (
        "ingest.scan_started",
        steward,
        str(job.pk),
        "데이터셋 스캔 시작: 흉부 CT 영상",
        {"dataset": configured.pk, "source": "folder", "location": str((tmp_path / "archive").resolve())},
    )


def test_start_in_a_thread_when_celery_runs_in_process(
    configured: Dataset,
    steward: Any,
    settings: Any,
    django_capture_on_commit_callbacks: Any,
    monkeypatch: Any,
) -> None:
    settings.MEDBROKER_SCAN_IN_THREAD = True
    started: list[tuple[Any, tuple[int, ...], bool]] = []

    class FakeThread:
        def __init__(self, *, target: Any, args: tuple[int, ...], name: str, daemon: bool) -> None:
            started.append((target, args, daemon))

        def start(self) -> None:
            pass

    monkeypatch.setattr(scans.threading, "Thread", FakeThread)

    with django_capture_on_commit_callbacks(execute=True):
        job = scan_start(actor=steward, dataset=configured, source="folder")

    assert started == [(scans._scan_in_thread, (job.pk,), True)]


def test_a_second_scan_while_one_is_active_is_refused(configured: Dataset, steward: Any) -> None:
    first = scan_start(actor=steward, dataset=configured, source="folder")

    with pytest.raises(DomainError) as refused:
        scan_start(actor=steward, dataset=configured, source="folder")

    assert (refused.value.code, refused.value.status_code, str(refused.value)) == (
        "scan_already_running",
        409,
        "이미 진행 중인 스캔이 있습니다.",
    )
    assert list(ScanJob.objects.values_list("pk", flat=True)) == [first.pk]
    assert AuditEvent.objects.filter(action="ingest.scan_started").count() == 1


def test_a_finished_scan_does_not_block_the_next(configured: Dataset, steward: Any) -> None:
    ScanJobFactory(dataset=configured, status=ScanJob.Status.FAILED)
    ScanJobFactory(dataset=configured, status=ScanJob.Status.SUCCEEDED)

    job = scan_start(actor=steward, dataset=configured, source="folder")

    assert job.status == "queued"
    assert ScanJob.objects.count() == 3


@pytest.mark.parametrize(
    ("source", "code", "field"),
    [
        ("dicomweb", "scan_location_missing", "dicomweb_url"),
        ("ftp", "scan_source_invalid", "source"),
    ],
)
def test_start_needs_a_location_for_the_source(
    configured: Dataset, steward: Any, source: str, code: str, field: str
) -> None:
    with pytest.raises(DomainError) as refused:
        scan_start(actor=steward, dataset=configured, source=source)

    assert (refused.value.code, refused.value.field) == (code, field)
    assert ScanJob.objects.count() == 0
    assert AuditEvent.objects.count() == 0


def test_start_without_settings_asks_for_the_folder(dataset: Dataset, steward: Any) -> None:
    with pytest.raises(DomainError) as refused:
        scan_start(actor=steward, dataset=dataset, source="folder")

    assert (refused.value.code, refused.value.field, str(refused.value)) == (
        "scan_location_missing",
        "source_path",
        "스캔 설정에 데이터 폴더를 먼저 입력해 주세요.",
    )
    assert ScanJob.objects.count() == 0


def test_start_checks_the_roots_again(
    configured: Dataset, steward: Any, settings: Any, tmp_path: Path
) -> None:
    # The administrator narrowed the allowed roots after the folder was saved.
    (tmp_path / "other").mkdir()
    settings.MEDBROKER_SCAN_ROOTS = [str((tmp_path / "other").resolve())]

    with pytest.raises(DomainError) as refused:
        scan_start(actor=steward, dataset=configured, source="folder")

    assert refused.value.code == "scan_path_outside_roots"
    assert ScanJob.objects.count() == 0


def test_only_the_institutions_stewards_and_operators_start_scans(
    configured: Dataset, other_steward: Any, applicant: Any, auditor: Any, operator: Any
) -> None:
    for user in (other_steward, applicant, auditor):
        with pytest.raises(PermissionDeniedError):
            scan_start(actor=user, dataset=configured, source="folder")
    assert ScanJob.objects.count() == 0

    job = scan_start(actor=operator, dataset=configured, source="folder")

    assert job.requested_by == operator


def test_the_command_line_creates_jobs_anywhere(
    dataset: Dataset, tmp_path_factory: pytest.TempPathFactory
) -> None:
    outside = tmp_path_factory.mktemp("server-data")

    job = scan_job_create(dataset=dataset, source=ScanSource.FOLDER, location=str(outside))

    assert (job.status, job.location, job.requested_by) == ("queued", str(outside), None)
    assert AuditEvent.objects.get().action == "ingest.scan_started"


# ---------------------------------------------------------------------------------------------------------
# Running a scan
# ---------------------------------------------------------------------------------------------------------


def run_scan(dataset: Dataset, actor: Any, **kwargs: Any) -> ScanJob:
    job = scan_start(actor=actor, dataset=dataset, source="folder")
    return scan_job_run(job_id=job.pk, workers=1, **kwargs)


def test_a_scan_sets_the_datasets_key_information_counts_and_findings(
    configured: Dataset, steward: Any, archive: Any, tmp_path: Path
) -> None:
    (tmp_path / "archive" / "empty.dcm").write_bytes(b"")
    progress: list[tuple[int, int]] = []

    with time_machine.travel(NOW, tick=False):
        job = run_scan(configured, steward, progress=lambda done, total: progress.append((done, total)))

    files = archive.files + 1
    annotated = archive.annotated_by_objects + archive.annotated_with_labels
    # The empty file could not be read, so it could not be checked either: it is a finding of its own.
    with_findings = archive.files_with_findings() + 1
    findings = archive_findings(archive, unreadable=1)
    assert (job.status, job.error_message, job.started_at, job.finished_at) == ("succeeded", "", NOW, NOW)
    assert (job.files_total, job.files_done, job.percent) == (files, files, 100)
    assert (job.files_new, job.files_changed, job.files_removed, job.files_unchanged, job.errors_count) == (
        archive.files,
        0,
        0,
        0,
        1,
    )
    assert progress[-1][0] == progress[-1][1]
    assert job.summary["errors"] == [{"path": "empty.dcm", "reason": "빈 파일입니다(0바이트)."}]
    assert (job.summary["errors_total"], job.summary["files"]) == (1, files)
    configured.refresh_from_db()
    assert (
        configured.annotated_count,
        configured.non_annotated_count,
        configured.formats,
        configured.deidentification,
        configured.deidentification_findings,
        configured.scanned_at,
    ) == (
        annotated,
        archive.cases - annotated,
        ["DICOM", *job.summary["signals"]["formats"]],
        "findings",
        with_findings,
        NOW,
    )
    summary = configured.scan_summary
    assert (summary["files"], summary["instances"], summary["patients"], summary["errors"]) == (
        files,
        archive.instances,
        archive.patients,
        1,
    )
    assert summary["modalities"] == archive.modalities
    assert summary["deid"] == {"files_with_findings": with_findings, "findings": findings}
    assert (job.summary["deid"]["findings"], job.summary["deid"]["examples"]["unreadable"]) == (
        findings,
        ["empty.dcm"],
    )
    assert job.summary["fingerprint"] == summary_fingerprint(DeidPolicy(), tuple(archive.label_patterns))
    assert ScannedFile.objects.filter(dataset=configured).count() == archive.files
    assert list(AuditEvent.objects.values_list("action", flat=True).order_by("sequence")) == [
        "ingest.scan_started",
        "ingest.scan_running",
        "catalog.dataset_scan_applied",
        "ingest.scan_finished",
    ]
    running = AuditEvent.objects.get(action="ingest.scan_running")
    assert (running.actor, running.object_id, running.summary, running.data) == (
        steward,
        str(job.pk),
        "데이터셋 스캔 실행: 흉부 CT 영상",
        {"dataset": configured.pk, "source": "folder", "location": str((tmp_path / "archive").resolve())},
    )
    finished = AuditEvent.objects.get(action="ingest.scan_finished")
    assert (finished.actor, finished.summary, finished.data) == (
        steward,
        "데이터셋 스캔 완료: 흉부 CT 영상",
        {
            "dataset": configured.pk,
            "source": "folder",
            "files": files,
            "new": archive.files,
            "changed": 0,
            "removed": 0,
            "unchanged": 0,
            "errors": 1,
            "files_with_findings": with_findings,
        },
    )


def archive_findings(archive: Any, *, unreadable: int = 0, **policy: Any) -> dict[str, int]:
    counts = archive.findings(**policy)
    if unreadable:
        counts = {**counts, "unreadable": unreadable}
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def test_the_policy_of_the_settings_judges_the_scan(configured: Dataset, steward: Any, archive: Any) -> None:
    scan_profile_save(
        actor=steward,
        dataset=configured,
        data={
            "retain_institution_identity": True,
            "retain_device_identity": True,
            "private_safe_list": sorted({key for keys in archive.private.values() for key in keys}),
            "pseudonym_pattern": archive.pseudonym_pattern,
        },
    )
    policy = {
        "retain_institution_identity": True,
        "retain_device_identity": True,
        "private_safe_list": {key for keys in archive.private.values() for key in keys},
        "pseudonym_pattern": archive.pseudonym_pattern,
    }

    run_scan(configured, steward)

    configured.refresh_from_db()
    assert configured.deidentification_findings == archive.files_with_findings(**policy)
    assert configured.scan_summary["deid"]["findings"] == archive_findings(archive, **policy)


def test_a_clean_archive_is_clean(dataset: Dataset, steward: Any, tmp_path: Path) -> None:
    clean = archive_write(tmp_path / "clean", seed=1, planted=False)
    scan_profile_save(
        actor=steward,
        dataset=dataset,
        data={"source_path": str(tmp_path / "clean"), "label_patterns": list(clean.label_patterns)},
    )

    job = run_scan(dataset, steward)

    dataset.refresh_from_db()
    annotated = clean.annotated_by_objects + clean.annotated_with_labels
    assert (job.status, dataset.deidentification, dataset.deidentification_findings) == (
        "succeeded",
        "clean",
        0,
    )
    assert (dataset.annotated_count, dataset.non_annotated_count) == (annotated, clean.cases - annotated)


def test_a_rescan_reads_only_what_changed(
    configured: Dataset, steward: Any, tmp_path: Path, archive: Any
) -> None:
    first = run_scan(configured, steward)
    root = tmp_path / "archive"
    dicoms = sorted(p for p in root.rglob("*.dcm") if p.is_file())
    removed, changed = dicoms[0], dicoms[1]
    removed.unlink()
    stat = changed.stat()
    os.utime(changed, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    dicom_image_write(root / "NEW" / "new.dcm", modality="CT", patient_id="KTL-900001")

    second = run_scan(configured, steward)

    unchanged = first.files_new - 2
    assert (second.files_new, second.files_changed, second.files_removed, second.files_unchanged) == (
        1,
        1,
        1,
        unchanged,
    )
    paths = set(ScannedFile.objects.filter(dataset=configured).values_list("path", flat=True))
    assert str(removed.relative_to(root)) not in paths
    row = ScannedFile.objects.get(dataset=configured, path=str(changed.relative_to(root)))
    assert (row.mtime_ns, row.record["mtime_ns"]) == (changed.stat().st_mtime_ns, changed.stat().st_mtime_ns)
    assert "NEW/new.dcm" in paths
    assert len(paths) == first.files_new


def test_a_scan_of_a_removed_folder_fails_and_changes_nothing(
    configured: Dataset, steward: Any, tmp_path: Path
) -> None:
    run_scan(configured, steward)
    rows, state = rows_of(configured), dataset_state(configured)
    job = scan_start(actor=steward, dataset=configured, source="folder")
    (tmp_path / "archive").rename(tmp_path / "moved")

    failed = scan_job_run(job_id=job.pk)

    assert (failed.status, failed.error_message) == (
        "failed",
        f"데이터 폴더를 찾을 수 없습니다: {(tmp_path / 'archive').resolve()}",
    )
    assert failed.finished_at is not None
    assert rows_of(configured) == rows
    assert dataset_state(configured) == state
    event = AuditEvent.objects.order_by("-sequence").first()
    assert (event.action, event.actor, event.data) == (
        "ingest.scan_failed",
        steward,
        {"dataset": configured.pk, "source": "folder", "reason": failed.error_message},
    )


def test_an_unexpected_error_fails_the_scan_without_a_traceback(
    configured: Dataset, steward: Any, monkeypatch: Any
) -> None:
    run_scan(configured, steward)
    rows, state = rows_of(configured), dataset_state(configured)

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(scans, "scan_tree", broken)

    failed = run_scan(configured, steward)

    assert (failed.status, failed.error_message) == (
        "failed",
        "스캔 중 예상하지 못한 오류가 발생했습니다. 시스템 관리자에게 문의해 주세요.",
    )
    assert rows_of(configured) == rows
    assert dataset_state(configured) == state


def test_an_error_while_writing_rolls_back_every_row(
    configured: Dataset, steward: Any, monkeypatch: Any
) -> None:
    run_scan(configured, steward)
    rows, state = rows_of(configured), dataset_state(configured)
    ScannedFile.objects.filter(dataset=configured).update(mtime_ns=0)
    rows = rows_of(configured)

    def broken(**kwargs: Any) -> Any:
        raise RuntimeError("catalogue unavailable")

    monkeypatch.setattr(scans, "dataset_scan_apply", broken)

    failed = run_scan(configured, steward)

    assert failed.status == "failed"
    assert rows_of(configured) == rows
    assert dataset_state(configured) == state


def test_a_job_that_is_not_queued_is_left_alone(configured: Dataset, steward: Any) -> None:
    done = run_scan(configured, steward)
    rows = rows_of(configured)
    events = AuditEvent.objects.count()

    again = scan_job_run(job_id=done.pk)

    assert (again.pk, again.status, again.finished_at) == (done.pk, "succeeded", done.finished_at)
    assert rows_of(configured) == rows
    assert AuditEvent.objects.count() == events


def test_the_summary_counts_both_sources(configured: Dataset, steward: Any, archive: Any) -> None:
    pacs = FileRecord(
        path="1.2.3/1.2.3.4/1.2.3.4.5",
        kind="dicom",
        format="DICOM",
        patient_id="PACS-1",
        study_uid="1.2.3",
        series_uid="1.2.3.4",
        modality="MR",
        identity_removed="YES",
    )
    ScannedFile.objects.create(
        dataset=configured, source=ScanSource.DICOMWEB, path=pacs.path, kind="dicom", record=pacs.as_json()
    )

    job = run_scan(configured, steward)

    configured.refresh_from_db()
    summary = configured.scan_summary
    assert (summary["files"], summary["instances"], summary["patients"], summary["modalities"]["MR"]) == (
        archive.files + 1,
        archive.instances + 1,
        archive.patients + 1,
        archive.modalities["MR"] + 1,
    )
    assert (job.files_total, job.files_new) == (archive.files, archive.files)
    assert ScannedFile.objects.filter(dataset=configured, source=ScanSource.DICOMWEB).count() == 1


def test_findings_on_a_published_dataset_notify_the_operators(
    configured: Dataset, steward: Any, operator: Any, archive: Any
) -> None:
    Dataset.objects.filter(pk=configured.pk).update(publication=Dataset.Publication.PUBLISHED)

    job = run_scan(configured, steward)

    configured.refresh_from_db()
    assert (configured.publication, configured.deidentification) == ("published", "findings")
    notice = Notification.objects.get()
    count = archive.files_with_findings()
    assert (notice.user, notice.kind, notice.title, notice.body, notice.dedupe_key) == (
        operator,
        "ingest_deidentification_findings",
        "공개 중인 데이터셋에서 비식별 점검 발견 사항: 흉부 CT 영상",
        f"공개 중인 데이터셋 '흉부 CT 영상'의 스캔에서 발견 사항이 있는 파일이 {count}개 나왔습니다. "
        "데이터셋은 공개 상태 그대로입니다. 점검 결과를 보고 공개 중단 또는 공개 허용을 결정해 주세요.",
        f"ingest-scan-findings-{job.pk}",
    )


def test_findings_on_a_draft_notify_nobody(configured: Dataset, steward: Any, operator: Any) -> None:
    run_scan(configured, steward)

    assert Notification.objects.count() == 0


def test_publication_is_refused_after_a_scan_with_findings_until_overridden(
    configured: Dataset, steward: Any, operator: Any
) -> None:
    run_scan(configured, steward)

    with pytest.raises(DomainError) as refused:
        dataset_publish(actor=steward, dataset=configured)
    configured.refresh_from_db()
    assert (refused.value.code, configured.publication) == ("dataset_deidentification_findings", "draft")

    dataset_deidentification_override(actor=operator, dataset=configured, reason="가명 처리 확인")
    dataset_publish(actor=steward, dataset=configured)

    configured.refresh_from_db()
    assert (configured.publication, configured.deidentification) == ("published", "overridden")


# ---------------------------------------------------------------------------------------------------------
# DICOMweb
# ---------------------------------------------------------------------------------------------------------

PACS_URL = "https://pacs.hospital.example/dicom-web"


def pacs_record(study: str, series: str, instance: str, **facts: Any) -> FileRecord:
    values: dict[str, Any] = {
        "kind": "dicom",
        "format": "DICOM",
        "patient_id": f"KTL-{study}",
        "study_uid": study,
        "series_uid": series,
        "modality": "MR",
        "identity_removed": "YES",
        "reader": "dicomweb",
    }
    values.update(facts)
    return FileRecord(path=f"{study}/{series}/{instance}", **values)


@pytest.fixture
def pacs(dataset: Dataset, steward: Any, settings: Any) -> Dataset:
    # The hospital's PACS is one the operators listed for stewards.
    settings.MEDBROKER_DICOMWEB_HOSTS = ["pacs.hospital.example"]
    scan_profile_save(actor=steward, dataset=dataset, data={"dicomweb_url": PACS_URL})
    return dataset


def run_pacs_scan(dataset: Dataset, actor: Any) -> ScanJob:
    job = scan_start(actor=actor, dataset=dataset, source="dicomweb")
    return scan_job_run(job_id=job.pk)


def test_a_pacs_import_replaces_the_rows_of_its_source(pacs: Dataset, steward: Any, monkeypatch: Any) -> None:
    ScannedFile.objects.create(
        dataset=pacs, source=ScanSource.FOLDER, path="local/1.dcm", kind="dicom",
        record=FileRecord(path="local/1.dcm", kind="dicom", modality="CT", identity_removed="YES").as_json(),
    )  # fmt: skip
    answers = [
        dicomweb.DicomwebImport(
            records=[pacs_record("1.1", "1.1.1", "1.1.1.1"), pacs_record("1.1", "1.1.1", "1.1.1.2")],
            errors=[ScanError("1.2", "스터디를 읽지 못했습니다.")],
            studies=2,
        ),
        dicomweb.DicomwebImport(
            records=[
                pacs_record("1.1", "1.1.1", "1.1.1.2"),
                pacs_record("1.3", "1.3.1", "1.3.1.1", identifying=("PatientName",)),
            ],
            studies=2,
        ),
    ]
    calls: list[str] = []

    def fake(url: str, *, progress: Any = None) -> Any:
        calls.append(url)
        progress(0, 2)
        progress(2, 2)
        return answers.pop(0)

    monkeypatch.setattr(dicomweb, "dicomweb_records", fake)

    first = run_pacs_scan(pacs, steward)
    second = run_pacs_scan(pacs, steward)

    assert calls == [PACS_URL, PACS_URL]
    assert (first.status, first.files_total, first.files_new, first.errors_count) == ("succeeded", 3, 2, 1)
    assert (second.files_new, second.files_changed, second.files_removed, second.files_unchanged) == (
        1,
        1,
        1,
        0,
    )
    assert sorted(ScannedFile.objects.filter(dataset=pacs).values_list("source", "path")) == [
        ("dicomweb", "1.1/1.1.1/1.1.1.2"),
        ("dicomweb", "1.3/1.3.1/1.3.1.1"),
        ("folder", "local/1.dcm"),
    ]
    pacs.refresh_from_db()
    assert (
        pacs.annotated_count,
        pacs.non_annotated_count,
        pacs.deidentification,
        pacs.deidentification_findings,
    ) == (
        0,
        3,
        "findings",
        1,
    )
    assert pacs.scan_summary["modalities"] == {"MR": 2, "CT": 1}


def test_a_pacs_that_does_not_answer_fails_the_scan(pacs: Dataset, steward: Any, monkeypatch: Any) -> None:
    def refused(url: str, *, progress: Any = None) -> Any:
        raise dicomweb.DicomwebError("DICOMweb 서버에서 스터디를 검색하지 못했습니다: 연결 실패", url=url)

    monkeypatch.setattr(dicomweb, "dicomweb_records", refused)
    state = dataset_state(pacs)

    failed = run_pacs_scan(pacs, steward)

    assert (failed.status, failed.error_message) == (
        "failed",
        "DICOMweb 서버에서 스터디를 검색하지 못했습니다: 연결 실패",
    )
    assert dataset_state(pacs) == state
    assert ScannedFile.objects.count() == 0


def test_a_study_or_series_that_fails_keeps_the_instances_the_last_import_saw(
    pacs: Dataset, steward: Any, monkeypatch: Any
) -> None:
    answers = [
        dicomweb.DicomwebImport(
            records=[
                pacs_record("1.1", "1.1.1", "1.1.1.1"),
                pacs_record("1.1", "1.1.2", "1.1.2.1"),
                pacs_record("1.2", "1.2.1", "1.2.1.1", identifying=("PatientName",)),
                pacs_record("1.2", "1.2.1", "1.2.1.2"),
            ],
            studies=2,
        ),
        # The series 1.1.2 and the studies 1.2 and 1.3 fail this time; 1.3 was never read before.
        dicomweb.DicomwebImport(
            records=[pacs_record("1.1", "1.1.1", "1.1.1.1")],
            errors=[
                ScanError("1.1/1.1.2", "시리즈의 메타데이터를 읽지 못했습니다."),
                ScanError("1.2", "스터디의 인스턴스를 검색하지 못했습니다."),
                ScanError("1.3", "스터디의 인스턴스를 검색하지 못했습니다."),
            ],
            studies=3,
        ),
    ]

    def fake(url: str, *, progress: Any = None) -> Any:
        return answers.pop(0)

    monkeypatch.setattr(dicomweb, "dicomweb_records", fake)
    run_pacs_scan(pacs, steward)
    rows = rows_of(pacs)

    second = run_pacs_scan(pacs, steward)

    assert rows_of(pacs) == rows
    assert (
        second.status,
        second.files_total,
        second.files_new,
        second.files_changed,
        second.files_removed,
        second.errors_count,
    ) == ("succeeded", 5, 0, 1, 0, 3)
    pacs.refresh_from_db()
    assert (pacs.scan_summary["instances"], pacs.scan_summary["studies"]) == (4, 2)
    # The instance with a patient name is still judged, and each failure is a finding of its own.
    assert (pacs.deidentification, pacs.deidentification_findings) == ("findings", 4)
    assert second.summary["deid"]["findings"] == {"unreadable": 3, "PatientName": 1}
    assert second.summary["deid"]["examples"] == {
        "PatientName": ["1.2/1.2.1/1.2.1.1"],
        "unreadable": ["1.1/1.1.2", "1.2", "1.3"],
    }
