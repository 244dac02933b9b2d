"""Where a scan may read: each institution's own folder, links that stay inside it, listed PACS servers.

The allowed root (the test's own folder) holds two hospitals' folders. An operator may scan anything under
the root; a data steward only under the folder the operators assigned to their institution, and a link
placed in that folder leads nowhere else. A DICOMweb address is fetched by the server, so a steward may
name only the PACS servers the operators listed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.contrib.admin.sites import site

from medbroker.audit.models import AuditEvent
from medbroker.catalog.models import Dataset, Institution
from medbroker.core.errors import DomainError
from medbroker.ingest.models import ScanJob, ScannedFile, ScanProfile, ScanSource
from medbroker.ingest.services.profiles import scan_profile_save
from medbroker.ingest.services.scans import scan_job_create, scan_job_run, scan_start
from medbroker.ingest.testdata import dicom_image_write

pytestmark = pytest.mark.django_db

OUTSIDE_LINK = "허용된 보관 위치 밖을 가리키는 링크입니다. 건너뛰었습니다."


def profile_state(dataset: Dataset) -> tuple[str, str] | None:
    return ScanProfile.objects.filter(dataset=dataset).values_list("source_path", "dicomweb_url").first()


@pytest.fixture
def folders(tmp_path: Path, hospital: Institution) -> dict[str, Path]:
    """Hospital A (the steward's) and hospital B, side by side under the one allowed root."""
    paths = {
        "a": tmp_path / "hospital-a",
        "a_ct": tmp_path / "hospital-a" / "ct",
        "b": tmp_path / "hospital-b",
        "b_ct": tmp_path / "hospital-b" / "ct",
    }
    for path in paths.values():
        path.mkdir(exist_ok=True)
    dicom_image_write(paths["a_ct"] / "P1" / "1.dcm", patient_id="A-0001")
    dicom_image_write(paths["b_ct"] / "P9" / "1.dcm", patient_id="B-0009")
    Institution.objects.filter(pk=hospital.pk).update(scan_folder=str(paths["a"].resolve()))
    hospital.refresh_from_db()
    return {name: path.resolve() for name, path in paths.items()}


# ---------------------------------------------------------------------------------------------------------
# The institution's folder
# ---------------------------------------------------------------------------------------------------------


def test_a_steward_saves_a_folder_inside_the_institutions_folder(
    dataset: Dataset, steward: Any, folders: dict[str, Path]
) -> None:
    scan_profile_save(actor=steward, dataset=dataset, data={"source_path": str(folders["a_ct"])})

    assert profile_state(dataset) == (str(folders["a_ct"]), "")


@pytest.mark.parametrize("target", ["b_ct", "b", "a_link_to_b"])
def test_a_steward_cannot_point_a_dataset_at_another_institutions_folder(
    dataset: Dataset, steward: Any, folders: dict[str, Path], target: str
) -> None:
    # A link inside hospital A's folder to hospital B's is judged where it leads.
    (folders["a"] / "shared").symlink_to(folders["b_ct"], target_is_directory=True)
    value = str(folders["a"] / "shared") if target == "a_link_to_b" else str(folders[target])

    with pytest.raises(DomainError) as refused:
        scan_profile_save(actor=steward, dataset=dataset, data={"source_path": value})

    assert (refused.value.code, refused.value.field, str(refused.value)) == (
        "scan_path_outside_institution_folder",
        "source_path",
        f"이 기관의 데이터 보관 폴더 밖의 폴더입니다. 이 기관의 데이터 보관 폴더: {folders['a']}",
    )
    assert profile_state(dataset) is None
    assert AuditEvent.objects.count() == 0


def test_an_operator_may_use_any_folder_under_the_roots(
    dataset: Dataset, operator: Any, folders: dict[str, Path]
) -> None:
    scan_profile_save(actor=operator, dataset=dataset, data={"source_path": str(folders["b_ct"])})

    assert profile_state(dataset) == (str(folders["b_ct"]), "")


def test_a_steward_of_an_institution_without_a_folder_is_asked_to_call_the_operator(
    dataset: Dataset, steward: Any, hospital: Institution, tmp_path: Path
) -> None:
    Institution.objects.filter(pk=hospital.pk).update(scan_folder="")
    dataset.refresh_from_db()
    (tmp_path / "ct").mkdir()

    with pytest.raises(DomainError) as refused:
        scan_profile_save(actor=steward, dataset=dataset, data={"source_path": str(tmp_path / "ct")})

    assert (refused.value.code, refused.value.field, str(refused.value)) == (
        "scan_folder_unassigned",
        "source_path",
        "이 기관의 데이터 보관 폴더가 아직 지정되지 않았습니다. "
        "시험원 운영자에게 데이터 보관 폴더를 지정해 달라고 요청해 주세요.",
    )
    assert profile_state(dataset) is None
    assert AuditEvent.objects.count() == 0


def test_an_institution_folder_outside_the_roots_is_no_folder_at_all(
    dataset: Dataset, steward: Any, hospital: Institution, tmp_path: Path, settings: Any
) -> None:
    # The roots were narrowed after the operator assigned the folder.
    (tmp_path / "hospital-a" / "ct").mkdir(parents=True)
    (tmp_path / "other-root").mkdir()
    Institution.objects.filter(pk=hospital.pk).update(scan_folder=str(tmp_path / "hospital-a"))
    dataset.refresh_from_db()
    settings.MEDBROKER_SCAN_ROOTS = [str(tmp_path.resolve()), str((tmp_path / "other-root").resolve())]
    scan_profile_save(
        actor=steward, dataset=dataset, data={"source_path": str(tmp_path / "hospital-a" / "ct")}
    )
    settings.MEDBROKER_SCAN_ROOTS = [str((tmp_path / "other-root").resolve())]
    (tmp_path / "other-root" / "ct").mkdir()

    with pytest.raises(DomainError) as refused:
        scan_profile_save(
            actor=steward, dataset=dataset, data={"source_path": str(tmp_path / "other-root" / "ct")}
        )

    assert (refused.value.code, str(refused.value)) == (
        "scan_folder_outside_roots",
        "이 기관의 데이터 보관 폴더가 허용된 데이터 보관 위치 밖에 있습니다. 시험원 운영자에게 문의해 주세요.",
    )
    assert profile_state(dataset) == (str((tmp_path / "hospital-a" / "ct").resolve()), "")


def test_a_steward_saving_the_page_again_keeps_the_folder_an_operator_set(
    dataset: Dataset, steward: Any, operator: Any, folders: dict[str, Path]
) -> None:
    # The page sends every field back: the operator's folder, unchanged, is not the steward's choice.
    scan_profile_save(actor=operator, dataset=dataset, data={"source_path": str(folders["b_ct"])})

    scan_profile_save(
        actor=steward,
        dataset=dataset,
        data={"source_path": str(folders["b_ct"]), "pseudonym_pattern": "B-[0-9]{4}"},
    )

    profile = ScanProfile.objects.get(dataset=dataset)
    assert (profile.source_path, profile.pseudonym_pattern) == (str(folders["b_ct"]), "B-[0-9]{4}")


def test_a_steward_cannot_start_a_scan_of_a_folder_outside_the_institutions(
    dataset: Dataset, steward: Any, operator: Any, folders: dict[str, Path]
) -> None:
    scan_profile_save(actor=operator, dataset=dataset, data={"source_path": str(folders["b_ct"])})
    events = AuditEvent.objects.count()

    with pytest.raises(DomainError) as refused:
        scan_start(actor=steward, dataset=dataset, source="folder")

    assert refused.value.code == "scan_path_outside_institution_folder"
    assert ScanJob.objects.count() == 0
    assert AuditEvent.objects.count() == events

    job = scan_start(actor=operator, dataset=dataset, source="folder")

    assert (job.status, job.location, job.requested_by) == ("queued", str(folders["b_ct"]), operator)


def test_a_steward_cannot_start_a_scan_once_the_folder_is_withdrawn(
    dataset: Dataset, steward: Any, hospital: Institution, folders: dict[str, Path]
) -> None:
    scan_profile_save(actor=steward, dataset=dataset, data={"source_path": str(folders["a_ct"])})
    Institution.objects.filter(pk=hospital.pk).update(scan_folder="")
    dataset.refresh_from_db()

    with pytest.raises(DomainError) as refused:
        scan_start(actor=steward, dataset=dataset, source="folder")

    assert (refused.value.code, refused.value.field) == ("scan_folder_unassigned", "source_path")
    assert ScanJob.objects.count() == 0


# ---------------------------------------------------------------------------------------------------------
# Links inside the folder
# ---------------------------------------------------------------------------------------------------------


def test_a_link_out_of_the_roots_is_an_error_and_its_files_are_not_read(
    dataset: Dataset,
    steward: Any,
    folders: dict[str, Path],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    elsewhere = tmp_path_factory.mktemp("server-files")
    dicom_image_write(elsewhere / "secret.dcm", patient_id="SECRET-1")
    (folders["a_ct"] / "linked").symlink_to(elsewhere, target_is_directory=True)
    (folders["a_ct"] / "linked.dcm").symlink_to(elsewhere / "secret.dcm")
    scan_profile_save(actor=steward, dataset=dataset, data={"source_path": str(folders["a_ct"])})

    job = scan_job_run(job_id=scan_start(actor=steward, dataset=dataset, source="folder").pk, workers=1)

    assert (job.status, job.files_new, job.errors_count) == ("succeeded", 1, 2)
    assert job.summary["errors"] == [
        {"path": "linked", "reason": OUTSIDE_LINK},
        {"path": "linked.dcm", "reason": OUTSIDE_LINK},
    ]
    assert list(ScannedFile.objects.values_list("path", flat=True)) == ["P1/1.dcm"]


def test_a_stewards_scan_does_not_follow_a_link_into_another_institutions_folder(
    dataset: Dataset, steward: Any, folders: dict[str, Path]
) -> None:
    (folders["a_ct"] / "from-b").symlink_to(folders["b_ct"], target_is_directory=True)
    scan_profile_save(actor=steward, dataset=dataset, data={"source_path": str(folders["a_ct"])})

    job = scan_job_run(job_id=scan_start(actor=steward, dataset=dataset, source="folder").pk, workers=1)

    assert (job.status, job.summary["errors"]) == ("succeeded", [{"path": "from-b", "reason": OUTSIDE_LINK}])
    assert list(ScannedFile.objects.values_list("path", flat=True)) == ["P1/1.dcm"]


def test_an_operators_scan_follows_links_that_stay_under_the_roots(
    dataset: Dataset, operator: Any, folders: dict[str, Path]
) -> None:
    (folders["a_ct"] / "from-b").symlink_to(folders["b_ct"], target_is_directory=True)
    scan_profile_save(actor=operator, dataset=dataset, data={"source_path": str(folders["a_ct"])})

    job = scan_job_run(job_id=scan_start(actor=operator, dataset=dataset, source="folder").pk, workers=1)

    assert (job.status, job.errors_count) == ("succeeded", 0)
    assert sorted(ScannedFile.objects.values_list("path", flat=True)) == ["P1/1.dcm", "from-b/P9/1.dcm"]


def test_a_job_of_the_command_line_follows_every_link(
    dataset: Dataset, folders: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> None:
    elsewhere = tmp_path_factory.mktemp("server-files")
    dicom_image_write(elsewhere / "more.dcm", patient_id="A-0002")
    (folders["a_ct"] / "linked").symlink_to(elsewhere, target_is_directory=True)

    created = scan_job_create(dataset=dataset, source=ScanSource.FOLDER, location=str(folders["a_ct"]))
    job = scan_job_run(job_id=created.pk, workers=1)

    assert (job.status, job.errors_count, job.requested_by) == ("succeeded", 0, None)
    assert sorted(ScannedFile.objects.values_list("path", flat=True)) == ["P1/1.dcm", "linked/more.dcm"]


def test_a_job_whose_institution_lost_its_folder_fails_without_reading(
    dataset: Dataset, steward: Any, hospital: Institution, folders: dict[str, Path]
) -> None:
    scan_profile_save(actor=steward, dataset=dataset, data={"source_path": str(folders["a_ct"])})
    queued = scan_start(actor=steward, dataset=dataset, source="folder")
    Institution.objects.filter(pk=hospital.pk).update(scan_folder="")

    job = scan_job_run(job_id=queued.pk, workers=1)

    assert (job.status, job.error_message) == (
        "failed",
        "이 기관의 데이터 보관 폴더가 아직 지정되지 않았습니다. "
        "시험원 운영자에게 데이터 보관 폴더를 지정해 달라고 요청해 주세요.",
    )
    assert ScannedFile.objects.count() == 0


# ---------------------------------------------------------------------------------------------------------
# DICOMweb servers
# ---------------------------------------------------------------------------------------------------------


def test_without_listed_servers_only_operators_set_a_dicomweb_address(
    dataset: Dataset, steward: Any, operator: Any, settings: Any
) -> None:
    settings.MEDBROKER_DICOMWEB_HOSTS = []

    with pytest.raises(DomainError) as refused:
        scan_profile_save(
            actor=steward, dataset=dataset, data={"dicomweb_url": "http://127.0.0.1:8042/dicom-web"}
        )

    assert (refused.value.code, refused.value.field, str(refused.value)) == (
        "scan_dicomweb_host_not_allowed",
        "dicomweb_url",
        "DICOMweb 주소는 시험원 운영자만 지정할 수 있습니다. 운영자에게 요청해 주세요.",
    )
    assert profile_state(dataset) is None
    assert AuditEvent.objects.count() == 0

    scan_profile_save(
        actor=operator, dataset=dataset, data={"dicomweb_url": "http://127.0.0.1:8042/dicom-web"}
    )

    assert profile_state(dataset) == ("", "http://127.0.0.1:8042/dicom-web")


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://PACS.hospital.example/dicom-web", True),
        ("https://pacs.hospital.example:8443/dicom-web", True),
        ("http://10.0.0.5:8042/dicom-web", True),
        ("http://10.0.0.5/dicom-web", False),
        ("http://10.0.0.5:8043/dicom-web", False),
        ("http://127.0.0.1:8042/dicom-web", False),
        ("http://pacs.hospital.example.evil.example/dicom-web", False),
    ],
)
def test_a_steward_may_name_only_the_listed_servers(
    dataset: Dataset, steward: Any, settings: Any, url: str, allowed: bool
) -> None:
    settings.MEDBROKER_DICOMWEB_HOSTS = ["pacs.hospital.example", "10.0.0.5:8042"]

    if allowed:
        scan_profile_save(actor=steward, dataset=dataset, data={"dicomweb_url": url})
        assert profile_state(dataset) == ("", url)
        return
    with pytest.raises(DomainError) as refused:
        scan_profile_save(actor=steward, dataset=dataset, data={"dicomweb_url": url})
    assert (refused.value.code, refused.value.field, str(refused.value)) == (
        "scan_dicomweb_host_not_allowed",
        "dicomweb_url",
        "허용되지 않은 DICOMweb 서버입니다. 허용된 서버: pacs.hospital.example, 10.0.0.5:8042",
    )
    assert profile_state(dataset) is None
    assert AuditEvent.objects.count() == 0


def test_nobody_saves_an_address_with_a_password(dataset: Dataset, operator: Any) -> None:
    with pytest.raises(DomainError) as refused:
        scan_profile_save(
            actor=operator, dataset=dataset, data={"dicomweb_url": "https://admin@pacs.hospital.example/"}
        )

    assert (refused.value.code, refused.value.field) == ("scan_dicomweb_url_credentials", "dicomweb_url")
    assert profile_state(dataset) is None


def test_a_steward_cannot_start_an_import_from_a_server_an_operator_set(
    dataset: Dataset, steward: Any, operator: Any, settings: Any
) -> None:
    settings.MEDBROKER_DICOMWEB_HOSTS = ["pacs.hospital.example"]
    scan_profile_save(
        actor=operator, dataset=dataset, data={"dicomweb_url": "http://10.0.0.9:8042/dicom-web"}
    )
    events = AuditEvent.objects.count()

    with pytest.raises(DomainError) as refused:
        scan_start(actor=steward, dataset=dataset, source="dicomweb")

    assert (refused.value.code, refused.value.field) == ("scan_dicomweb_host_not_allowed", "dicomweb_url")
    assert ScanJob.objects.count() == 0
    assert AuditEvent.objects.count() == events

    job = scan_start(actor=operator, dataset=dataset, source="dicomweb")

    assert (job.source, job.location) == ("dicomweb", "http://10.0.0.9:8042/dicom-web")


def test_a_server_taken_off_the_list_is_refused_at_the_start(
    dataset: Dataset, steward: Any, settings: Any
) -> None:
    settings.MEDBROKER_DICOMWEB_HOSTS = ["pacs.hospital.example"]
    scan_profile_save(
        actor=steward, dataset=dataset, data={"dicomweb_url": "https://pacs.hospital.example/dicom-web"}
    )
    settings.MEDBROKER_DICOMWEB_HOSTS = []

    with pytest.raises(DomainError) as refused:
        scan_start(actor=steward, dataset=dataset, source="dicomweb")

    assert refused.value.code == "scan_dicomweb_host_not_allowed"
    assert ScanJob.objects.count() == 0


# ---------------------------------------------------------------------------------------------------------
# The folder in the admin
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "error", "stored"),
    [
        ("{root}/hospital-c/", None, "{root}/hospital-c"),
        ("", None, ""),
        ("hospital-c", "데이터 보관 폴더는 /로 시작하는 절대 경로로 입력해 주세요.", None),
        ("/etc", "허용된 데이터 보관 위치 밖의 폴더입니다. 허용된 위치: {root}", None),
        ("{root}/../elsewhere", "허용된 데이터 보관 위치 밖의 폴더입니다. 허용된 위치: {root}", None),
    ],
)
def test_the_admin_takes_a_folder_under_the_roots(
    hospital: Institution, tmp_path: Path, value: str, error: str | None, stored: str | None
) -> None:
    root = str(tmp_path.resolve())
    admin = site._registry[Institution]
    form_class = admin.get_form(None)  # type: ignore[arg-type]
    form = form_class(
        data={
            "organisation": hospital.organisation_id,
            "region": "대구",
            "description": "",
            "scan_folder": value.replace("{root}", root),
        },
        instance=hospital,
    )

    if error is None:
        assert form.is_valid(), form.errors
        assert form.cleaned_data["scan_folder"] == (stored or "").replace("{root}", root)
    else:
        assert not form.is_valid()
        assert form.errors["scan_folder"] == [error.replace("{root}", root)]
