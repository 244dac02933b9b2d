"""Permission matrix of the performance tests: every role × every page, form, download and API endpoint,
with the exact status.

Operators manage everything; auditors read everything and change nothing; the company's members see their
evaluations, submit and download reports; another company's objects are 404; reviewers and data stewards get
403; anonymous visitors the login page (pages) or 401 (API). Any signed-in user may verify a report. A
refused request changes nothing and writes no audit event; an allowed write changes exactly what it names.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from medbroker.accounts.models import Organisation, User
from medbroker.agreements.models import PerformanceTestRequest
from medbroker.audit.models import AuditEvent
from medbroker.evaluations import models
from medbroker.evaluations.services.reports import report_signature
from medbroker.evaluations.testdata import classification_test_set_files
from medbroker.evaluations.tests.factories import (
    EvaluationFactory,
    TestSetFactory,
    accepted_test_request,
    binary_cases,
)
from medbroker.evaluations.tests.test_selectors import finished_run

pytestmark = pytest.mark.django_db

ROLES = ["anonymous", "applicant", "other_applicant", "reviewer", "steward", "operator", "auditor"]
PREDICTIONS = b"case_id,score\nC0001,0.2\nC0002,0.7\nC0003,0.9\n"
REPORT_PDF = b"%PDF-1.7 issued report"


@dataclass(frozen=True)
class World:
    evaluation: models.Evaluation
    draft: models.Evaluation
    run: models.EvaluationRun
    report: models.TestReport
    import_set: models.TestSet
    ready_set: models.TestSet
    test_request: PerformanceTestRequest


@pytest.fixture
def world(company: Organisation, operator: User, settings: Any) -> World:
    active_set = TestSetFactory(status=models.TestSet.Status.ACTIVE, content_sha256="d" * 64)
    binary_cases(active_set, [0, 1, 1])
    evaluation = EvaluationFactory(company=company, test_set=active_set, locked=True)
    run = finished_run(evaluation)
    # A report as issued: its file in storage with the hash and signature of its bytes.
    digest = hashlib.sha256(REPORT_PDF).hexdigest()
    path = Path(settings.MEDBROKER_EVALUATION_ROOT) / "reports" / "PT-2025-0001.pdf"
    path.parent.mkdir(parents=True)
    path.write_bytes(REPORT_PDF)
    report = models.TestReport.objects.create(
        run=run,
        number="PT-2025-0001",
        file="reports/PT-2025-0001.pdf",
        pdf_sha256=digest,
        signature=report_signature(number="PT-2025-0001", pdf_sha256=digest),
        issued_by=operator,
    )
    ready_set = TestSetFactory(name="확정 대기 시험셋")
    binary_cases(ready_set, [0, 1])
    return World(
        evaluation=evaluation,
        draft=EvaluationFactory(company=company, test_set=active_set),
        run=run,
        report=report,
        import_set=TestSetFactory(name="빈 시험셋"),
        ready_set=ready_set,
        test_request=accepted_test_request(company, algorithm_name="NoduleSeg"),
    )


def _state() -> dict[str, Any]:
    return {
        "test_sets": sorted(models.TestSet.objects.values_list("pk", "status")),
        "cases": models.TestCase.objects.count(),
        "evaluations": sorted(models.Evaluation.objects.values_list("pk", "status", "plan_sha256")),
        "plans": sorted(
            (pk, json.dumps(plan, sort_keys=True))
            for pk, plan in models.Evaluation.objects.values_list("pk", "plan")
        ),
        "submissions": models.Submission.objects.count(),
        "runs": sorted(models.EvaluationRun.objects.values_list("pk", "status")),
        "reports": models.TestReport.objects.count(),
    }


def _plan(world: World) -> dict[str, Any]:
    return {
        "primary_metric": "specificity",
        "secondary_metrics": ["sensitivity"],
        "threshold": "0.5",
        "confidence_level": "0.95",
        "ci_method": "wilson",
        "bootstrap_resamples": "2000",
        "seed": "1",
        "acceptance-TOTAL_FORMS": "0",
        "acceptance-INITIAL_FORMS": "0",
        "acceptance-MIN_NUM_FORMS": "0",
        "acceptance-MAX_NUM_FORMS": "1000",
    }


def _import(world: World) -> dict[str, Any]:
    cases_csv, archive = classification_test_set_files(4, seed=1)
    return {
        "cases_csv": SimpleUploadedFile("cases.csv", cases_csv),
        "archive": SimpleUploadedFile("inputs.zip", archive),
    }


@dataclass(frozen=True)
class Case:
    name: str
    method: str
    url: Callable[[World], str]
    # Expected status per role; the roles not named get ``default``.
    expected: dict[str, int]
    default: int = 403
    data: Callable[[World], dict[str, Any]] | None = None
    # What an allowed write changes (the keys of ``_state``); reads change nothing.
    changes: tuple[str, ...] = field(default_factory=tuple)

    def status_for(self, role: str) -> int:
        return self.expected.get(role, self.default)


# Pages of one company's objects: its members and the staff read them; another company gets 404.
COMPANY_READ = {"anonymous": 302, "applicant": 200, "other_applicant": 404, "operator": 200, "auditor": 200}
STAFF_READ = {"anonymous": 302, "operator": 200, "auditor": 200}
OPERATOR_WRITE = {"anonymous": 302, "operator": 302}
OPERATOR_PAGE = {"anonymous": 302, "operator": 200}
SIGNED_IN = {"anonymous": 302, **{role: 200 for role in ROLES if role != "anonymous"}}

CASES = [
    Case("list", "get", lambda w: "/evaluations/", {**COMPANY_READ, "other_applicant": 200}),
    Case("detail", "get", lambda w: f"/evaluations/{w.evaluation.pk}/", COMPANY_READ),
    Case(
        "detail_missing",
        "get",
        lambda w: "/evaluations/999999/",
        {**COMPANY_READ, "applicant": 404, "operator": 404, "auditor": 404},
    ),
    Case("run", "get", lambda w: f"/evaluations/runs/{w.run.pk}/", COMPANY_READ),
    Case("run_progress", "get", lambda w: f"/evaluations/runs/{w.run.pk}/progress/", COMPANY_READ),
    Case("run_xlsx", "get", lambda w: f"/evaluations/runs/{w.run.pk}/export.xlsx", COMPANY_READ),
    Case("report_download", "get", lambda w: f"/evaluations/reports/{w.report.pk}/download/", COMPANY_READ),
    Case("report_verify_page", "get", lambda w: "/evaluations/reports/verify/", SIGNED_IN),
    Case(
        "report_verify",
        "post",
        lambda w: "/evaluations/reports/verify/",
        SIGNED_IN,
        data=lambda w: {"pdf": SimpleUploadedFile("report.pdf", REPORT_PDF)},
    ),
    Case("test_sets", "get", lambda w: "/evaluations/test-sets/", STAFF_READ),
    Case("test_set", "get", lambda w: f"/evaluations/test-sets/{w.ready_set.pk}/", STAFF_READ),
    Case("test_set_new_page", "get", lambda w: "/evaluations/test-sets/new/", OPERATOR_PAGE),
    Case(
        "test_set_create",
        "post",
        lambda w: "/evaluations/test-sets/new/",
        OPERATOR_WRITE,
        data=lambda w: {
            "name": "새 시험셋",
            "version": "1.0",
            "task_type": "binary",
            "data_kind": "imaging",
            "classes": "음성, 양성",
        },
        changes=("test_sets",),
    ),
    Case(
        "test_set_import",
        "post",
        lambda w: f"/evaluations/test-sets/{w.import_set.pk}/import/",
        OPERATOR_WRITE,
        data=_import,
        changes=("cases",),
    ),
    Case(
        "test_set_activate",
        "post",
        lambda w: f"/evaluations/test-sets/{w.ready_set.pk}/activate/",
        OPERATOR_WRITE,
        changes=("test_sets",),
    ),
    Case(
        "test_set_retire",
        "post",
        lambda w: f"/evaluations/test-sets/{w.evaluation.test_set_id}/retire/",
        OPERATOR_WRITE,
        changes=("test_sets",),
    ),
    Case(
        "evaluation_new_page",
        "get",
        lambda w: f"/evaluations/new/?request={w.test_request.pk}",
        OPERATOR_PAGE,
    ),
    Case(
        "evaluation_create",
        "post",
        lambda w: "/evaluations/new/",
        OPERATOR_WRITE,
        data=lambda w: {"request": w.test_request.pk, "test_set": w.evaluation.test_set_id},
        changes=("evaluations", "plans"),
    ),
    Case(
        "plan_update",
        "post",
        lambda w: f"/evaluations/{w.draft.pk}/plan/",
        OPERATOR_WRITE,
        data=_plan,
        changes=("plans",),
    ),
    Case(
        "plan_lock",
        "post",
        lambda w: f"/evaluations/{w.draft.pk}/plan/lock/",
        OPERATOR_WRITE,
        changes=("evaluations",),
    ),
    Case(
        "close",
        "post",
        lambda w: f"/evaluations/{w.evaluation.pk}/close/",
        OPERATOR_WRITE,
        changes=("evaluations",),
    ),
    Case(
        "submit",
        "post",
        lambda w: f"/evaluations/{w.evaluation.pk}/submissions/",
        {"anonymous": 302, "applicant": 302, "other_applicant": 404},
        data=lambda w: {"kind": "predictions", "file": SimpleUploadedFile("p.csv", PREDICTIONS)},
        changes=("submissions", "runs"),
    ),
    Case(
        "rerun",
        "post",
        lambda w: f"/evaluations/submissions/{w.run.submission_id}/run/",
        OPERATOR_WRITE,
        changes=("runs",),
    ),
    Case(
        "report_issue",
        "post",
        lambda w: f"/evaluations/runs/{w.run.pk}/reports/",
        OPERATOR_WRITE,
        data=lambda w: {"language": "ko"},
        changes=("reports",),
    ),
]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_evaluations_pages_permission_matrix(
    client: Client,
    login: Callable[..., Client],
    users_by_role: dict[str, Any],
    world: World,
    case: Case,
    role: str,
) -> None:
    login(client, users_by_role[role])
    before = _state()
    events_before = AuditEvent.objects.count()

    data = case.data(world) if case.data else {}
    response = getattr(client, case.method)(case.url(world), data)

    expected = case.status_for(role)
    assert response.status_code == expected
    if role == "anonymous":
        assert response["Location"].startswith("/accounts/login/?next=")
    allowed = role != "anonymous" and expected in (200, 302)
    after = _state()
    if allowed and case.changes:
        assert {key for key in after if after[key] != before[key]} == set(case.changes)
    else:
        assert after == before
    if not allowed:
        assert AuditEvent.objects.count() == events_before


# --- API ---

API_COMPANY_READ = {
    "anonymous": 401,
    "applicant": 200,
    "other_applicant": 404,
    "operator": 200,
    "auditor": 200,
}


@dataclass(frozen=True)
class ApiCase:
    name: str
    method: str
    url: Callable[[World], str]
    expected: dict[str, int]
    default: int = 403
    data: Callable[[World], dict[str, Any]] | None = None
    changes: tuple[str, ...] = ()


API_CASES = [
    ApiCase("list", "get", lambda w: "/api/v1/evaluations", {**API_COMPANY_READ, "other_applicant": 200}),
    ApiCase("detail", "get", lambda w: f"/api/v1/evaluations/{w.evaluation.pk}", API_COMPANY_READ),
    ApiCase("run", "get", lambda w: f"/api/v1/evaluations/runs/{w.run.pk}", API_COMPANY_READ),
    ApiCase(
        "report_pdf", "get", lambda w: f"/api/v1/evaluations/reports/{w.report.pk}/pdf", API_COMPANY_READ
    ),
    ApiCase(
        "submit",
        "post",
        lambda w: f"/api/v1/evaluations/{w.evaluation.pk}/submissions",
        {"anonymous": 401, "applicant": 201, "other_applicant": 404},
        data=lambda w: {"kind": "predictions", "file": SimpleUploadedFile("p.csv", PREDICTIONS)},
        changes=("submissions", "runs"),
    ),
    ApiCase(
        "verify",
        "post",
        lambda w: "/api/v1/evaluations/reports/verify",
        {"anonymous": 401},
        default=200,
        data=lambda w: {"file": SimpleUploadedFile("report.pdf", REPORT_PDF)},
    ),
]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("case", API_CASES, ids=[case.name for case in API_CASES])
def test_evaluations_api_permission_matrix(
    client: Client,
    login: Callable[..., Client],
    users_by_role: dict[str, Any],
    world: World,
    case: ApiCase,
    role: str,
) -> None:
    login(client, users_by_role[role])
    before = _state()
    events_before = AuditEvent.objects.count()

    data = case.data(world) if case.data else {}
    response = getattr(client, case.method)(case.url(world), data)

    expected = case.expected.get(role, case.default)
    assert response.status_code == expected
    allowed = expected in (200, 201)
    after = _state()
    if allowed and case.changes:
        assert {key for key in after if after[key] != before[key]} == set(case.changes)
    else:
        assert after == before
    if not allowed:
        assert AuditEvent.objects.count() == events_before
    if case.name == "verify" and allowed:
        assert response.json() == {"valid": True, "number": "PT-2025-0001"}
