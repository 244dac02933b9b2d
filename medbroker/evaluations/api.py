"""API of the performance tests (``/api/v1/evaluations/…``): evaluations, submissions, runs and reports.

Operators and auditors read every evaluation; company members (applicants) read their company's and submit
to it; per-case outputs and failed case ids come back to the staff only. Reviewers and data stewards get
403, another company's evaluation is 404, a request without credentials 401. Any signed-in user may check
whether a PDF is a report the lab issued.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from ninja import File, Form, Router, Schema, Status
from ninja.files import UploadedFile

from medbroker.accounts.api_auth import api_auth
from medbroker.accounts.models import Role, User
from medbroker.core import timeutils
from medbroker.core.errors import DomainError, PermissionDeniedError
from medbroker.evaluations.forms import manifest_parse
from medbroker.evaluations.models import Evaluation, EvaluationRun, Submission
from medbroker.evaluations.selectors import (
    evaluation_for_user,
    evaluation_submissions,
    evaluations_visible_to,
    report_for_user,
    run_for_user,
    run_results_for_company,
    submission_quota_left,
    user_is_staff,
)
from medbroker.evaluations.services.reports import REPORT_VERIFY_MAX_BYTES, report_file_read, report_verify
from medbroker.evaluations.services.submissions import submission_create

router = Router(tags=["evaluations"], auth=api_auth)

_READERS = (Role.OPERATOR, Role.AUDITOR, Role.APPLICANT)


class TestSetOut(Schema):
    id: int
    name: str
    version: str
    task_type: str
    data_kind: str
    classes: list[str]
    cases: int
    content_sha256: str


class EvaluationOut(Schema):
    id: int
    number: str
    status: str
    company: str
    test_request_id: int
    algorithm: str
    test_set: TestSetOut
    plan_sha256: str
    plan_locked_at: dt.datetime | None
    created_at: dt.datetime


class ReportOut(Schema):
    id: int
    number: str
    language: str
    pdf_sha256: str
    issued_at: dt.datetime


class RunOut(Schema):
    id: int
    submission_id: int
    status: str
    percent: int
    cases_total: int
    cases_done: int
    verdict: str
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    error_message: str


class SubmissionOut(Schema):
    id: int
    kind: str
    label: str
    file_name: str
    file_size: int
    file_sha256: str
    manifest: dict[str, Any]
    created_at: dt.datetime
    runs: list[RunOut]


class EvaluationDetailOut(EvaluationOut):
    plan: dict[str, Any]
    quota_left: int
    submissions: list[SubmissionOut]


class RunDetailOut(RunOut):
    evaluation_id: int
    test_set_version: str
    test_set_sha256: str
    plan_sha256: str
    model_sha256: str
    environment: dict[str, Any]
    results: dict[str, Any]
    reports: list[ReportOut]
    # The staff only; null for a company.
    outputs: dict[str, Any] | None
    failures: list[dict[str, Any]] | None
    determinism: dict[str, Any] | None


class VerifyOut(Schema):
    valid: bool
    number: str | None


def _user(request: HttpRequest, *roles: str) -> User:
    user: User = request.auth  # type: ignore[attr-defined]
    if not user.has_role(*roles):
        raise PermissionDeniedError("forbidden", _("이 기능을 사용할 권한이 없습니다."))
    return user


def _when(value: dt.datetime | None) -> dt.datetime | None:
    return timeutils.to_kst(value) if value is not None else None


def _evaluation_out(evaluation: Evaluation) -> dict[str, Any]:
    test_set = evaluation.test_set
    return {
        "id": evaluation.pk,
        "number": evaluation.number,
        "status": evaluation.status,
        "company": evaluation.company.name,
        "test_request_id": evaluation.test_request_id,
        "algorithm": evaluation.test_request.algorithm_name,
        "test_set": {
            "id": test_set.pk,
            "name": test_set.name,
            "version": test_set.version,
            "task_type": test_set.task_type,
            "data_kind": test_set.data_kind,
            "classes": [str(name) for name in test_set.classes or []],
            "cases": test_set.cases.count(),
            "content_sha256": test_set.content_sha256,
        },
        "plan_sha256": evaluation.plan_sha256,
        "plan_locked_at": _when(evaluation.plan_locked_at),
        "created_at": _when(evaluation.created_at),
    }


def _run_out(run: EvaluationRun) -> dict[str, Any]:
    return {
        "id": run.pk,
        "submission_id": run.submission_id,
        "status": run.status,
        "percent": run.percent,
        "cases_total": run.cases_total,
        "cases_done": run.cases_done,
        "verdict": run.verdict,
        "started_at": _when(run.started_at),
        "finished_at": _when(run.finished_at),
        "error_message": run.error_message,
    }


def _submission_out(submission: Submission) -> dict[str, Any]:
    return {
        "id": submission.pk,
        "kind": submission.kind,
        "label": submission.label,
        "file_name": submission.file_name,
        "file_size": submission.file_size,
        "file_sha256": submission.file_sha256,
        "manifest": submission.manifest or {},
        "created_at": _when(submission.created_at),
        "runs": [_run_out(run) for run in submission.runs.all()],
    }


@router.get("", response=list[EvaluationOut], summary="성능시험 목록")
def evaluations_list(request: HttpRequest) -> list[dict[str, Any]]:
    user = _user(request, *_READERS)
    return [_evaluation_out(evaluation) for evaluation in evaluations_visible_to(user)]


@router.get("/{evaluation_id}", response=EvaluationDetailOut, summary="성능시험 한 건과 분석계획")
def evaluations_detail(request: HttpRequest, evaluation_id: int) -> dict[str, Any]:
    """The evaluation, its analysis plan (with its SHA-256 once locked) and its submissions with runs."""
    evaluation = evaluation_for_user(_user(request, *_READERS), evaluation_id)
    return {
        **_evaluation_out(evaluation),
        "plan": evaluation.plan or {},
        "quota_left": submission_quota_left(evaluation),
        "submissions": [_submission_out(submission) for submission in evaluation_submissions(evaluation)],
    }


@router.post(
    "/{evaluation_id}/submissions", response={201: SubmissionOut}, summary="모델 또는 예측 결과 제출(기업)"
)
def submissions_create(
    request: HttpRequest,
    evaluation_id: int,
    kind: Form[str],
    file: File[UploadedFile],
    manifest: Form[str] = "",
    label: Form[str] = "",
) -> Status[dict[str, Any]]:
    """Multipart: ``kind`` (model or predictions), ``file``, ``manifest`` (a JSON object, for a model) and
    ``label``. The run is queued at once; poll ``/runs/{id}``."""
    user = _user(request, Role.APPLICANT)
    evaluation = evaluation_for_user(user, evaluation_id)
    try:
        parsed = manifest_parse(manifest)
    except ValidationError as error:
        raise DomainError("manifest_invalid", " ".join(error.messages), field="manifest") from None
    submission = submission_create(
        actor=user,
        evaluation=evaluation,
        kind=kind,
        upload=file,
        manifest=parsed,
        label=label,
        request=request,
    )
    submission = Submission.objects.prefetch_related("runs").get(pk=submission.pk)
    return Status(201, _submission_out(submission))


@router.get("/runs/{run_id}", response=RunDetailOut, summary="시험 실행의 진행률과 결과")
def runs_detail(request: HttpRequest, run_id: int) -> dict[str, Any]:
    """Progress, verdict and aggregate results; per-case outputs and failed cases for the staff only.

    A number the run could not compute is null: a metric's ``value`` or ``ci``, an acceptance row's
    ``observed`` (its ``reason`` says why; the criterion is then not met), the comparison's ``ci``, ``z``
    and ``p_value``. A suppressed subgroup's ``n`` is null for a company."""
    user = _user(request, *_READERS)
    run = run_for_user(user, run_id)
    staff = user_is_staff(user)
    return {
        **_run_out(run),
        "evaluation_id": run.submission.evaluation_id,
        "test_set_version": run.test_set_version,
        "test_set_sha256": run.test_set_sha256,
        "plan_sha256": run.plan_sha256,
        "model_sha256": run.model_sha256,
        "environment": run.environment or {},
        "results": (run.results or {}) if staff else run_results_for_company(run),
        "reports": [
            {
                "id": report.pk,
                "number": report.number,
                "language": report.language,
                "pdf_sha256": report.pdf_sha256,
                "issued_at": _when(report.created_at),
            }
            for report in run.reports.order_by("-created_at", "-pk")
        ],
        "outputs": (run.outputs or {}) if staff else None,
        "failures": list(run.failures or []) if staff else None,
        "determinism": (run.determinism or {}) if staff else None,
    }


@router.get(
    "/reports/{report_id}/pdf",
    summary="성적서 PDF 내려받기",
    openapi_extra={"responses": {200: {"content": {"application/pdf": {}}, "description": "PDF"}}},
)
def reports_pdf(request: HttpRequest, report_id: int) -> HttpResponse:
    report = report_for_user(_user(request, *_READERS), report_id)
    response = HttpResponse(report_file_read(report=report), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{report.number}.pdf"'
    response["Cache-Control"] = "private, no-store"
    return response


@router.post("/reports/verify", response=VerifyOut, summary="성적서 진위 확인")
def reports_verify(request: HttpRequest, file: File[UploadedFile]) -> dict[str, Any]:
    """Multipart ``file``: the PDF to check. ``valid`` with the report's number when the lab issued it."""
    if file.size is not None and file.size > REPORT_VERIFY_MAX_BYTES:
        raise DomainError(
            "file_too_large", _("파일이 너무 큽니다. 발급받은 성적서 PDF를 그대로 올려 주세요."), field="file"
        )
    report = report_verify(pdf=file.read())
    return {"valid": report is not None, "number": report.number if report is not None else None}
