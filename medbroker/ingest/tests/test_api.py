"""The ingest API: who may read and change what, and the shapes it answers with."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice

from medbroker.accounts.models import User
from medbroker.accounts.services.api_tokens import api_token_create
from medbroker.audit.models import AuditEvent
from medbroker.catalog.models import Dataset
from medbroker.core.timeutils import kst
from medbroker.ingest.models import ScanJob, ScannedFile, ScanProfile, ScanSource
from medbroker.ingest.scanner.records import FileRecord
from medbroker.ingest.tests.factories import ScanJobFactory

pytestmark = pytest.mark.django_db
Login = Callable[[Client, User | None], Client]

ROLES = ["anonymous", "applicant", "other_steward", "steward", "operator", "auditor"]
NOW = kst(2025, 9, 1, 10, 0)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "ct"
    path.mkdir()
    return path


@pytest.fixture
def profile(dataset: Dataset, folder: Path) -> ScanProfile:
    return ScanProfile.objects.create(
        dataset=dataset, source_path=str(folder.resolve()), label_patterns=["*.json"]
    )


@pytest.fixture
def job(dataset: Dataset, profile: ScanProfile, steward: User) -> ScanJob:
    return ScanJobFactory(
        dataset=dataset,
        location=profile.source_path,
        status=ScanJob.Status.SUCCEEDED,
        requested_by=steward,
        files_total=10,
        files_done=10,
        files_new=9,
        errors_count=1,
        summary={
            "files": 10,
            "errors": [{"path": "x.dcm", "reason": "빈 파일입니다(0바이트)."}],
            "errors_total": 1,
        },
    )


@pytest.fixture
def with_findings(dataset: Dataset, profile: ScanProfile) -> Dataset:
    record = FileRecord(
        path="P1/1.dcm", kind="dicom", modality="CT", identity_removed="YES", identifying=("PatientName",)
    )
    ScannedFile.objects.create(
        dataset=dataset, source=ScanSource.FOLDER, path=record.path, kind="dicom", record=record.as_json()
    )
    Dataset.objects.filter(pk=dataset.pk).update(
        deidentification=Dataset.Deidentification.FINDINGS, deidentification_findings=1
    )
    dataset.refresh_from_db()
    return dataset


@pytest.fixture
def roles(users_by_role: dict[str, User | None], other_steward: User) -> dict[str, User | None]:
    return {**users_by_role, "other_steward": other_steward}


def snapshot(dataset: Dataset) -> tuple:
    dataset.refresh_from_db()
    profile = (
        ScanProfile.objects.filter(dataset=dataset)
        .values_list("retain_device_identity", "pseudonym_pattern")
        .first()
    )
    return (
        profile,
        list(ScanJob.objects.values_list("pk", "status")),
        dataset.deidentification,
        dataset.deidentification_override_reason,
        AuditEvent.objects.count(),
    )


# Expected status per role, in the order of ROLES.
READ = [401, 403, 404, 200, 200, 200]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(
    ("method", "path", "body", "expected"),
    [
        ("get", "/datasets/{dataset}/profile", None, READ),
        (
            "put",
            "/datasets/{dataset}/profile",
            {"pseudonym_pattern": "P\\d+"},
            [401, 403, 404, 200, 200, 403],
        ),
        ("post", "/datasets/{dataset}/scans", {"source": "folder"}, [401, 403, 404, 201, 201, 403]),
        ("get", "/datasets/{dataset}/scans", None, READ),
        ("get", "/scans/{job}", None, READ),
        ("get", "/datasets/{dataset}/deidentification", None, READ),
        (
            "post",
            "/datasets/{dataset}/deidentification/override",
            {"reason": "장비 보정값임을 확인함"},
            [401, 403, 403, 403, 200, 403],
        ),
    ],
)
def test_permission_matrix(
    client: Client,
    login: Login,
    roles: dict[str, User | None],
    with_findings: Dataset,
    job: ScanJob,
    role: str,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    expected: list[int],
) -> None:
    # The finished job leaves room for a new one; a queued one would make every start 409.
    login(client, roles[role])
    url = "/api/v1/ingest" + path.format(dataset=with_findings.pk, job=job.pk)
    before = snapshot(with_findings)

    if body is None:
        response = getattr(client, method)(url)
    else:
        response = getattr(client, method)(url, body, content_type="application/json")

    status = expected[ROLES.index(role)]
    assert response.status_code == status
    if status >= 400 or method == "get":
        assert snapshot(with_findings) == before


def test_profile_is_read_with_defaults_and_saved_partly(
    client: Client, login: Login, dataset: Dataset, steward: User, folder: Path
) -> None:
    login(client, steward)
    url = f"/api/v1/ingest/datasets/{dataset.pk}/profile"

    empty = client.get(url).json()
    with time_machine.travel(NOW, tick=False):
        saved = client.put(
            url,
            {"source_path": str(folder), "private_safe_list": ["0009,xx10@GEMS_IDEN_01"]},
            content_type="application/json",
        ).json()
    kept = client.put(url, {"retain_device_identity": True}, content_type="application/json").json()

    assert empty == {
        "dataset_id": dataset.pk,
        "source_path": "",
        "dicomweb_url": "",
        "retain_institution_identity": False,
        "retain_device_identity": False,
        "private_safe_list": [],
        "label_patterns": [],
        "pseudonym_pattern": "",
        "updated_at": None,
    }
    assert (saved["source_path"], saved["private_safe_list"], saved["updated_at"]) == (
        str(folder.resolve()),
        ["0009,xx10@GEMS_IDEN_01"],
        "2025-09-01T10:00:00+09:00",
    )
    assert (kept["source_path"], kept["retain_device_identity"]) == (str(folder.resolve()), True)


def test_a_bad_setting_is_400_with_its_field(
    client: Client, login: Login, profile: ScanProfile, steward: User
) -> None:
    login(client, steward)

    response = client.put(
        f"/api/v1/ingest/datasets/{profile.dataset_id}/profile",
        {"source_path": "/etc"},
        content_type="application/json",
    )

    assert response.status_code == 400
    assert (response.json()["code"], response.json()["field"]) == ("scan_path_outside_roots", "source_path")
    profile.refresh_from_db()
    assert profile.source_path.endswith("/ct")


def test_start_answers_with_the_queued_job_and_refuses_a_second(
    client: Client, login: Login, profile: ScanProfile, steward: User, folder: Path
) -> None:
    login(client, steward)
    url = f"/api/v1/ingest/datasets/{profile.dataset_id}/scans"

    first = client.post(url, {"source": "folder"}, content_type="application/json")
    second = client.post(url, {"source": "folder"}, content_type="application/json")

    created = ScanJob.objects.get()
    body = first.json()
    assert (
        first.status_code,
        body["id"],
        body["status"],
        body["percent"],
        body["location"],
        body["requested_by"],
    ) == (
        201,
        created.pk,
        "queued",
        0,
        str(folder.resolve()),
        steward.display_name,
    )
    assert (second.status_code, second.json()["code"]) == (409, "scan_already_running")
    assert ScanJob.objects.count() == 1


def test_a_job_shows_its_summary_once_done(client: Client, login: Login, job: ScanJob, auditor: User) -> None:
    login(client, auditor)
    running = ScanJobFactory(
        dataset=job.dataset, status=ScanJob.Status.RUNNING, files_total=200, files_done=50
    )

    done = client.get(f"/api/v1/ingest/scans/{job.pk}").json()
    progress = client.get(f"/api/v1/ingest/scans/{running.pk}").json()
    listed = client.get(f"/api/v1/ingest/datasets/{job.dataset_id}/scans").json()

    assert (done["status"], done["percent"], done["files_new"], done["errors_count"], done["summary"]) == (
        "succeeded",
        100,
        9,
        1,
        {"files": 10, "errors": [{"path": "x.dcm", "reason": "빈 파일입니다(0바이트)."}], "errors_total": 1},
    )
    assert (progress["status"], progress["percent"], progress["files_done"], progress["summary"]) == (
        "running",
        25,
        50,
        None,
    )
    assert [item["id"] for item in listed] == [running.pk, job.pk]


def test_the_deidentification_report_and_the_override(
    client: Client, login: Login, with_findings: Dataset, operator: User
) -> None:
    login(client, operator)
    url = f"/api/v1/ingest/datasets/{with_findings.pk}/deidentification"

    report = client.get(url).json()
    with time_machine.travel(NOW, tick=False):
        overridden = client.post(
            f"{url}/override", {"reason": "가명 처리 확인"}, content_type="application/json"
        )
    again = client.post(f"{url}/override", {"reason": "다시"}, content_type="application/json")

    assert report == {
        "dataset_id": with_findings.pk,
        "state": "findings",
        "findings_at_last_scan": 1,
        "scanned_at": None,
        "files_scanned": 1,
        "files_with_findings": 1,
        "policy": {
            "retain_institution_identity": False,
            "retain_device_identity": False,
            "private_safe_list": [],
            "pseudonym_pattern": "",
        },
        "rows": [
            {
                "code": "PatientName",
                "label": "식별 정보가 담긴 속성: PatientName",
                "files": 1,
                "examples": ["P1/1.dcm"],
            }
        ],
        "override": None,
    }
    assert overridden.status_code == 200
    assert (overridden.json()["state"], overridden.json()["override"]) == (
        "overridden",
        {"reason": "가명 처리 확인", "by": operator.display_name, "at": "2025-09-01T10:00:00+09:00"},
    )
    assert (again.status_code, again.json()["code"]) == (409, "deidentification_no_findings")


def test_a_steward_reads_with_an_api_token(dataset: Dataset, steward: User) -> None:
    TOTPDevice.objects.create(user=steward, name="phone", confirmed=True)
    _token, key = api_token_create(user=steward, name="scanner")

    response = Client().get(f"/api/v1/ingest/datasets/{dataset.pk}/scans", HTTP_AUTHORIZATION=f"Bearer {key}")

    assert (response.status_code, response.json()) == (200, [])
