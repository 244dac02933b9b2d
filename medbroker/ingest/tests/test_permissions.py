"""Permission matrix of the ingest pages: every role × every page, form and download, with the exact status.

Stewards of the dataset's institution and operators change things; auditors read; other roles get 403, the
steward of another institution 404 (that dataset's scans do not exist for them), anonymous visitors the
login page. A refused request changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from medbroker.audit.models import AuditEvent
from medbroker.catalog.models import Dataset
from medbroker.catalog.tests.factories import DatasetFactory
from medbroker.ingest.models import ScanJob, ScanProfile
from medbroker.ingest.tests.factories import ScanJobFactory, ScannedFileFactory

pytestmark = pytest.mark.django_db

ROLES = ["anonymous", "applicant", "other_applicant", "reviewer", "steward", "operator", "auditor"]


@dataclass(frozen=True)
class Datasets:
    own: Dataset
    other: Dataset
    own_job: ScanJob
    other_job: ScanJob


@pytest.fixture
def datasets(dataset: Dataset, tmp_path: Path) -> Datasets:
    # ``dataset`` (conftest) belongs to the steward's hospital; ``other`` to a hospital no fixture user manages.
    # Both have a folder inside the steward's hospital folder, so an allowed scan start queues a job.
    other = DatasetFactory(title="다른 병원 CT")
    for target in (dataset, other):
        Dataset.objects.filter(pk=target.pk).update(
            deidentification=Dataset.Deidentification.FINDINGS, deidentification_findings=1
        )
        ScannedFileFactory(
            dataset=target, record={"path": "a.dcm", "kind": "dicom", "identifying": ["PatientName"]}
        )
        folder = tmp_path / f"dataset-{target.pk}"
        folder.mkdir()
        ScanProfile.objects.create(dataset=target, source_path=str(folder.resolve()))
    return Datasets(
        own=dataset,
        other=other,
        own_job=ScanJobFactory(dataset=dataset, status=ScanJob.Status.SUCCEEDED),
        other_job=ScanJobFactory(dataset=other, status=ScanJob.Status.SUCCEEDED),
    )


@dataclass(frozen=True)
class Case:
    name: str
    method: str
    url: Callable[[Datasets], str]
    # Expected status per role; the roles not named get ``default``.
    expected: dict[str, int]
    default: int
    data: dict[str, str] | None = None
    # For writes: what an allowed request changes (checked unchanged after a refused one).
    writes: str | None = None

    def status_for(self, role: str) -> int:
        return self.expected.get(role, self.default)


READERS = {"anonymous": 302, "steward": 200, "operator": 200, "auditor": 200}
READERS_OTHER = {"anonymous": 302, "steward": 404, "operator": 200, "auditor": 200}
MANAGERS_WRITE = {"anonymous": 302, "steward": 302, "operator": 302}
MANAGERS_WRITE_OTHER = {"anonymous": 302, "steward": 404, "operator": 302}
SETTINGS = {"pseudonym_pattern": "KTL-[0-9]{6}", "source_path": "", "dicomweb_url": ""}
CASES = [
    Case("page_own", "get", lambda d: f"/ingest/datasets/{d.own.pk}/", READERS, 403),
    Case("page_other", "get", lambda d: f"/ingest/datasets/{d.other.pk}/", READERS_OTHER, 403),
    Case(
        "page_missing",
        "get",
        lambda d: "/ingest/datasets/999999/",
        {"anonymous": 302, "steward": 404, "operator": 404, "auditor": 404},
        403,
    ),
    Case("progress_own", "get", lambda d: f"/ingest/scans/{d.own_job.pk}/progress/", READERS, 403),
    Case("progress_other", "get", lambda d: f"/ingest/scans/{d.other_job.pk}/progress/", READERS_OTHER, 403),
    Case("xlsx_own", "get", lambda d: f"/ingest/datasets/{d.own.pk}/deidentification.xlsx", READERS, 403),
    Case(
        "xlsx_other",
        "get",
        lambda d: f"/ingest/datasets/{d.other.pk}/deidentification.xlsx",
        READERS_OTHER,
        403,
    ),
    Case(
        "settings_own",
        "post",
        lambda d: f"/ingest/datasets/{d.own.pk}/settings/",
        MANAGERS_WRITE,
        403,
        data=SETTINGS,
        writes="own_profile",
    ),
    Case(
        "settings_other",
        "post",
        lambda d: f"/ingest/datasets/{d.other.pk}/settings/",
        MANAGERS_WRITE_OTHER,
        403,
        data=SETTINGS,
        writes="other_profile",
    ),
    # The job is queued; it would run after the request's transaction commits, which a test never does.
    Case(
        "scan_own",
        "post",
        lambda d: f"/ingest/datasets/{d.own.pk}/scans/",
        MANAGERS_WRITE,
        403,
        data={"source": "folder"},
        writes="own_job",
    ),
    Case(
        "scan_other",
        "post",
        lambda d: f"/ingest/datasets/{d.other.pk}/scans/",
        MANAGERS_WRITE_OTHER,
        403,
        data={"source": "folder"},
        writes="other_job",
    ),
    Case(
        "override_own",
        "post",
        lambda d: f"/ingest/datasets/{d.own.pk}/deidentification/override/",
        {"anonymous": 302, "operator": 302},
        403,
        data={"reason": "장비 보정값으로 확인"},
        writes="own_override",
    ),
    Case(
        "override_other",
        "post",
        lambda d: f"/ingest/datasets/{d.other.pk}/deidentification/override/",
        {"anonymous": 302, "operator": 302},
        403,
        data={"reason": "장비 보정값으로 확인"},
        writes="other_override",
    ),
]


def _state(d: Datasets) -> dict[str, Any]:
    return {
        "profiles": sorted(ScanProfile.objects.values_list("dataset_id", "source_path", "pseudonym_pattern")),
        "jobs": sorted(ScanJob.objects.values_list("dataset_id", "status")),
        "deidentification": sorted(Dataset.objects.values_list("pk", "deidentification")),
    }


def _changed_by(case: Case, d: Datasets, before: dict[str, Any]) -> dict[str, Any]:
    after = dict(before)
    target = d.own if case.writes and case.writes.startswith("own") else d.other
    if case.writes and case.writes.endswith("profile"):
        after["profiles"] = sorted(
            (pk, "", "KTL-[0-9]{6}") if pk == target.pk else (pk, path, pattern)
            for pk, path, pattern in before["profiles"]
        )
    if case.writes and case.writes.endswith("job"):
        after["jobs"] = sorted([*before["jobs"], (target.pk, ScanJob.Status.QUEUED)])
    if case.writes and case.writes.endswith("override"):
        after["deidentification"] = sorted(
            (pk, Dataset.Deidentification.OVERRIDDEN if pk == target.pk else state)
            for pk, state in before["deidentification"]
        )
    return after


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_ingest_permission_matrix(
    client: Client,
    login: Callable[..., Client],
    users_by_role: dict[str, Any],
    datasets: Datasets,
    case: Case,
    role: str,
) -> None:
    login(client, users_by_role[role])
    before = _state(datasets)
    events_before = AuditEvent.objects.count()

    response = getattr(client, case.method)(case.url(datasets), case.data or {})

    expected = case.status_for(role)
    assert response.status_code == expected
    if role == "anonymous":
        assert response["Location"].startswith("/accounts/login/?next=")
    allowed = role != "anonymous" and expected in (200, 302)
    if case.method == "post":
        assert _state(datasets) == (_changed_by(case, datasets, before) if allowed else before)
        if not allowed:
            assert AuditEvent.objects.count() == events_before
    elif case.name.startswith("xlsx") and allowed:
        assert response["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
