"""API of the ingest step (``/api/v1/ingest/…``): scan settings, scans and the de-identification report.

The data stewards of the dataset's institution and operators read and change everything here; auditors
read (GET) everything; only operators override de-identification findings. Other roles get 403, a steward
asking about another institution's dataset 404, and a request without credentials 401.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Router, Schema, Status

from medbroker.accounts.api_auth import api_auth
from medbroker.accounts.models import Role, User
from medbroker.catalog.models import Dataset
from medbroker.catalog.services import dataset_deidentification_override
from medbroker.core import timeutils
from medbroker.core.errors import PermissionDeniedError
from medbroker.ingest.models import ScanJob, ScanProfile
from medbroker.ingest.selectors import (
    DeidentificationReport,
    dataset_scan_get,
    deidentification_report,
    scan_job_get,
    scan_jobs_of,
    scan_profile_of,
)
from medbroker.ingest.services.profiles import scan_profile_save
from medbroker.ingest.services.scans import scan_start

router = Router(tags=["ingest"], auth=api_auth)

_READERS = (Role.OPERATOR, Role.DATA_STEWARD, Role.AUDITOR)
_MANAGERS = (Role.OPERATOR, Role.DATA_STEWARD)


class ProfileOut(Schema):
    dataset_id: int
    source_path: str
    dicomweb_url: str
    retain_institution_identity: bool
    retain_device_identity: bool
    private_safe_list: list[str]
    label_patterns: list[str]
    pseudonym_pattern: str
    updated_at: dt.datetime | None


class ProfileIn(Schema):
    # Every field is optional: only those sent are changed.
    source_path: str | None = None
    dicomweb_url: str | None = None
    retain_institution_identity: bool | None = None
    retain_device_identity: bool | None = None
    private_safe_list: list[str] | None = None
    label_patterns: list[str] | None = None
    pseudonym_pattern: str | None = None


class ScanStartIn(Schema):
    source: str = "folder"


class ScanJobOut(Schema):
    id: int
    dataset_id: int
    source: str
    location: str
    status: str
    percent: int
    files_total: int
    files_done: int
    files_new: int
    files_changed: int
    files_removed: int
    files_unchanged: int
    errors_count: int
    error_message: str
    requested_by: str | None
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None


class ScanJobDetailOut(ScanJobOut):
    summary: dict[str, Any] | None


class DeidRowOut(Schema):
    code: str
    label: str
    files: int
    examples: list[str]


class DeidPolicyOut(Schema):
    retain_institution_identity: bool
    retain_device_identity: bool
    private_safe_list: list[str]
    pseudonym_pattern: str


class OverrideOut(Schema):
    reason: str
    by: str | None
    at: dt.datetime | None


class DeidentificationOut(Schema):
    dataset_id: int
    # The catalogue's state, as of the last scan; the rows below follow the current settings.
    state: str
    findings_at_last_scan: int
    scanned_at: dt.datetime | None
    files_scanned: int
    files_with_findings: int
    policy: DeidPolicyOut
    rows: list[DeidRowOut]
    override: OverrideOut | None


class OverrideIn(Schema):
    reason: str


def _user(request: HttpRequest, *roles: str) -> User:
    user: User = request.auth  # type: ignore[attr-defined]
    if not user.has_role(*roles):
        raise PermissionDeniedError("forbidden", _("이 기능을 사용할 권한이 없습니다."))
    return user


def _when(value: dt.datetime | None) -> dt.datetime | None:
    return timeutils.to_kst(value) if value is not None else None


def _profile_out(profile: ScanProfile) -> dict[str, Any]:
    return {
        "dataset_id": profile.dataset_id,
        "source_path": profile.source_path,
        "dicomweb_url": profile.dicomweb_url,
        "retain_institution_identity": profile.retain_institution_identity,
        "retain_device_identity": profile.retain_device_identity,
        "private_safe_list": list(profile.private_safe_list or []),
        "label_patterns": list(profile.label_patterns or []),
        "pseudonym_pattern": profile.pseudonym_pattern,
        "updated_at": _when(profile.updated_at) if profile.pk else None,
    }


def _job_out(job: ScanJob) -> dict[str, Any]:
    return {
        "id": job.pk,
        "dataset_id": job.dataset_id,
        "source": job.source,
        "location": job.location,
        "status": job.status,
        "percent": job.percent,
        "files_total": job.files_total,
        "files_done": job.files_done,
        "files_new": job.files_new,
        "files_changed": job.files_changed,
        "files_removed": job.files_removed,
        "files_unchanged": job.files_unchanged,
        "errors_count": job.errors_count,
        "error_message": job.error_message,
        "requested_by": job.requested_by.display_name if job.requested_by else None,
        "created_at": _when(job.created_at),
        "started_at": _when(job.started_at),
        "finished_at": _when(job.finished_at),
    }


def _job_detail_out(job: ScanJob) -> dict[str, Any]:
    done = job.status == ScanJob.Status.SUCCEEDED
    return {**_job_out(job), "summary": job.summary if done else None}


def _deidentification_out(dataset: Dataset, report: DeidentificationReport) -> dict[str, Any]:
    policy = report.policy
    override = None
    if dataset.deidentification == Dataset.Deidentification.OVERRIDDEN:
        by = dataset.deidentification_override_by
        override = {
            "reason": dataset.deidentification_override_reason,
            "by": by.display_name if by else None,
            "at": _when(dataset.deidentification_override_at),
        }
    return {
        "dataset_id": dataset.pk,
        "state": dataset.deidentification,
        "findings_at_last_scan": dataset.deidentification_findings,
        "scanned_at": _when(dataset.scanned_at),
        "files_scanned": report.files_scanned,
        "files_with_findings": report.files_with_findings,
        "policy": {
            "retain_institution_identity": policy.retain_institution_identity,
            "retain_device_identity": policy.retain_device_identity,
            "private_safe_list": sorted(policy.private_safe_list),
            "pseudonym_pattern": policy.pseudonym_pattern,
        },
        "rows": [
            {"code": row.code, "label": row.label, "files": row.files, "examples": row.examples}
            for row in report.rows
        ],
        "override": override,
    }


@router.get("/datasets/{dataset_id}/profile", response=ProfileOut, summary="데이터셋 스캔 설정")
def profile_detail(request: HttpRequest, dataset_id: int) -> dict[str, Any]:
    dataset = dataset_scan_get(user=_user(request, *_READERS), pk=dataset_id)
    return _profile_out(scan_profile_of(dataset=dataset))


@router.put("/datasets/{dataset_id}/profile", response=ProfileOut, summary="데이터셋 스캔 설정 저장")
def profile_save(request: HttpRequest, dataset_id: int, payload: ProfileIn) -> dict[str, Any]:
    """Change the settings sent (those left out stay as they are); a wrong value is 400 with its field."""
    user = _user(request, *_MANAGERS)
    dataset = dataset_scan_get(user=user, pk=dataset_id)
    data = payload.model_dump(exclude_unset=True)
    profile = scan_profile_save(actor=user, dataset=dataset, data=data, request=request)
    return _profile_out(profile)


@router.post("/datasets/{dataset_id}/scans", response={201: ScanJobOut}, summary="스캔 시작")
def scans_start(request: HttpRequest, dataset_id: int, payload: ScanStartIn) -> Status[dict[str, Any]]:
    """Queue a scan of the folder or of the PACS (``source``: folder or dicomweb); poll the job for its
    progress. A second scan while one is queued or running is 409."""
    user = _user(request, *_MANAGERS)
    dataset = dataset_scan_get(user=user, pk=dataset_id)
    job = scan_start(actor=user, dataset=dataset, source=payload.source, request=request)
    return Status(201, _job_out(job))


@router.get("/datasets/{dataset_id}/scans", response=list[ScanJobOut], summary="데이터셋의 스캔 작업 목록")
def scans_list(request: HttpRequest, dataset_id: int) -> list[dict[str, Any]]:
    dataset = dataset_scan_get(user=_user(request, *_READERS), pk=dataset_id)
    return [_job_out(job) for job in scan_jobs_of(dataset=dataset)]


@router.get("/scans/{job_id}", response=ScanJobDetailOut, summary="스캔 작업 한 건과 진행률")
def scans_detail(request: HttpRequest, job_id: int) -> dict[str, Any]:
    """The job's progress; ``summary`` (what the scan found) once it has succeeded."""
    return _job_detail_out(scan_job_get(user=_user(request, *_READERS), pk=job_id))


@router.get(
    "/datasets/{dataset_id}/deidentification", response=DeidentificationOut, summary="비식별 점검 결과"
)
def deidentification_detail(request: HttpRequest, dataset_id: int) -> dict[str, Any]:
    dataset = dataset_scan_get(user=_user(request, *_READERS), pk=dataset_id)
    return _deidentification_out(dataset, deidentification_report(dataset=dataset))


@router.post(
    "/datasets/{dataset_id}/deidentification/override",
    response=DeidentificationOut,
    summary="비식별 점검 발견 사항에도 공개 허용(운영자)",
)
def deidentification_override(request: HttpRequest, dataset_id: int, payload: OverrideIn) -> dict[str, Any]:
    user = _user(request, Role.OPERATOR)
    dataset = dataset_scan_get(user=user, pk=dataset_id)
    dataset = dataset_deidentification_override(
        actor=user, dataset=dataset, reason=payload.reason, request=request
    )
    return _deidentification_out(dataset, deidentification_report(dataset=dataset))
