"""The performance-test API: the shapes it answers with, submissions by multipart upload, what a company
reads of a run, report downloads and verification; errors come back with their code and field."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from medbroker.accounts.models import Organisation, User
from medbroker.accounts.services.api_tokens import api_token_create
from medbroker.audit.models import AuditEvent
from medbroker.evaluations import models
from medbroker.evaluations.services.reports import report_file_read, report_issue
from medbroker.evaluations.testdata import CLASSIFIER_MANIFEST, tiny_classifier_model_bytes
from medbroker.evaluations.tests.factories import EvaluationFactory, TestSetFactory, binary_cases
from medbroker.evaluations.tests.test_selectors import binary_results, finished_run, null_results

pytestmark = pytest.mark.django_db
Login = Callable[[Client, User | None], Client]
PREDICTIONS = b"case_id,score\nC0001,0.1\nC0002,0.8\nC0003,0.9\n"


@pytest.fixture
def evaluation(company: Organisation) -> models.Evaluation:
    test_set = TestSetFactory(
        status=models.TestSet.Status.ACTIVE, content_sha256="c" * 64, name="폐결절 시험셋"
    )
    binary_cases(test_set, [0, 1, 1])
    return EvaluationFactory(company=company, test_set=test_set, locked=True)


@pytest.fixture
def run(evaluation: models.Evaluation) -> models.EvaluationRun:
    return finished_run(evaluation)


def _state() -> tuple[Any, ...]:
    return (
        list(models.Submission.objects.values_list("pk", flat=True)),
        list(models.EvaluationRun.objects.values_list("pk", "status")),
        AuditEvent.objects.count(),
    )


def test_the_list_and_the_detail_of_a_company_s_evaluation(
    client: Client, login: Login, applicant: User, evaluation: models.Evaluation, other_company: Organisation
) -> None:
    EvaluationFactory(company=other_company, locked=True)
    login(client, applicant)

    listed = client.get("/api/v1/evaluations").json()
    detail = client.get(f"/api/v1/evaluations/{evaluation.pk}").json()

    assert [row["number"] for row in listed] == [evaluation.number]
    assert listed[0]["test_set"] == {
        "id": evaluation.test_set_id,
        "name": "폐결절 시험셋",
        "version": "1.0",
        "task_type": "binary",
        "data_kind": "imaging",
        "classes": ["음성", "양성"],
        "cases": 3,
        "content_sha256": "c" * 64,
    }
    assert (
        detail["status"],
        detail["plan"],
        detail["plan_sha256"],
        detail["quota_left"],
        detail["submissions"],
    ) == (
        "locked",
        evaluation.plan,
        evaluation.plan_sha256,
        5,
        [],
    )
    assert detail["plan_locked_at"] == "2025-09-15T10:00:00+09:00"


def test_a_company_submits_predictions_by_multipart_upload(
    client: Client, login: Login, applicant: User, evaluation: models.Evaluation
) -> None:
    login(client, applicant)

    response = client.post(
        f"/api/v1/evaluations/{evaluation.pk}/submissions",
        {"kind": "predictions", "file": SimpleUploadedFile("predictions.csv", PREDICTIONS), "label": "v2"},
    )

    assert response.status_code == 201
    body = response.json()
    submission = models.Submission.objects.get()
    assert (body["id"], body["kind"], body["label"], body["file_name"], body["manifest"]) == (
        submission.pk,
        "predictions",
        "v2",
        "predictions.csv",
        {},
    )
    assert [(run["status"], run["percent"]) for run in body["runs"]] == [("queued", 0)]


def test_a_company_submits_a_model_with_its_manifest_as_a_json_string(
    client: Client, login: Login, applicant: User, evaluation: models.Evaluation
) -> None:
    models.TestCase.objects.filter(test_set=evaluation.test_set).update(input_file="inputs/x.npy")
    login(client, applicant)

    response = client.post(
        f"/api/v1/evaluations/{evaluation.pk}/submissions",
        {
            "kind": "model",
            "file": SimpleUploadedFile("model.onnx", tiny_classifier_model_bytes()),
            "manifest": json.dumps(CLASSIFIER_MANIFEST),
        },
    )

    assert response.status_code == 201
    assert response.json()["manifest"]["input"]["shape"] == [1, 1, 32, 32]


def test_a_manifest_that_is_not_json_is_400_on_its_field(
    client: Client, login: Login, applicant: User, evaluation: models.Evaluation
) -> None:
    login(client, applicant)
    before = _state()

    response = client.post(
        f"/api/v1/evaluations/{evaluation.pk}/submissions",
        {"kind": "model", "file": SimpleUploadedFile("model.onnx", b"x"), "manifest": "{shape: 1"},
    )

    assert response.status_code == 400
    assert (response.json()["code"], response.json()["field"]) == ("manifest_invalid", "manifest")
    assert _state() == before


def test_a_wrong_predictions_file_is_400_with_its_code(
    client: Client, login: Login, applicant: User, evaluation: models.Evaluation
) -> None:
    login(client, applicant)
    before = _state()

    response = client.post(
        f"/api/v1/evaluations/{evaluation.pk}/submissions",
        {"kind": "predictions", "file": SimpleUploadedFile("p.csv", b"case_id,score\nC9999,0.5\n")},
    )

    assert response.status_code == 400
    assert (response.json()["code"], response.json()["field"]) == ("submission_file_invalid", "file")
    assert _state() == before


def test_submitting_before_the_plan_is_locked_is_409(
    client: Client, login: Login, applicant: User, company: Organisation
) -> None:
    draft = EvaluationFactory(company=company)
    login(client, applicant)
    before = _state()

    response = client.post(
        f"/api/v1/evaluations/{draft.pk}/submissions",
        {"kind": "predictions", "file": SimpleUploadedFile("p.csv", PREDICTIONS)},
    )

    assert (response.status_code, response.json()["code"]) == (409, "evaluation_not_locked")
    assert _state() == before


def test_a_company_reads_the_aggregates_of_a_run_and_the_staff_the_cases(
    client: Client, login: Login, applicant: User, auditor: User, run: models.EvaluationRun
) -> None:
    login(client, applicant)
    company = client.get(f"/api/v1/evaluations/runs/{run.pk}").json()
    login(client, auditor)
    staff = client.get(f"/api/v1/evaluations/runs/{run.pk}").json()

    assert (company["status"], company["percent"], company["verdict"]) == ("succeeded", 100, "fail")
    assert company["results"] == binary_results()
    assert (company["outputs"], company["failures"], company["determinism"]) == (None, None, None)
    assert "C0040" not in json.dumps(company, ensure_ascii=False)
    assert staff["outputs"] == {"C0001": 0.9132, "C0002": 0.1175}
    assert staff["failures"] == [
        {"case_id": "C0040", "reason": "timeout", "detail": "30초 안에 끝나지 않았습니다."}
    ]
    assert staff["determinism"]["identical"] is True


def test_what_could_not_be_computed_comes_back_as_null_with_its_reason(
    client: Client, login: Login, applicant: User, auditor: User, run: models.EvaluationRun
) -> None:
    results = null_results(run.pk)
    # A run written before suppressed sizes were null still never tells a company the size.
    results["subgroups"][2] = {**results["subgroups"][2], "n": 3}
    later = finished_run(run.submission.evaluation, results=results)
    login(client, applicant)
    company = client.get(f"/api/v1/evaluations/runs/{later.pk}").json()["results"]
    login(client, auditor)
    staff = client.get(f"/api/v1/evaluations/runs/{later.pk}").json()["results"]

    assert company["metrics"]["auroc"] == {"value": 1.0, "ci": None, "method": "none"}
    assert [
        (row["metric"], row["observed"], row["passed"], row["reason"]) for row in company["acceptance"]
    ] == [
        ("auroc", None, False, "interval_not_computed"),
        ("specificity", None, False, "value_not_computed"),
        ("brier", None, False, "direction_invalid"),
    ]
    assert (company["comparison"]["ci"], company["comparison"]["z"], company["comparison"]["p_value"]) == (
        None,
        None,
        None,
    )
    assert [(row["value"], row["n"], row["suppressed"]) for row in company["subgroups"]] == [
        ("경북대학교병원", 24, False),
        ("계명대학교동산병원", 16, False),
        ("F", None, True),
        ("M", None, True),
    ]
    assert staff == results


def test_reports_are_listed_with_the_run_downloaded_and_verified(
    client: Client, login: Login, applicant: User, operator: User, reviewer: User, run: models.EvaluationRun
) -> None:
    report = report_issue(actor=operator, run=run)
    login(client, applicant)

    listed = client.get(f"/api/v1/evaluations/runs/{run.pk}").json()["reports"]
    pdf = client.get(f"/api/v1/evaluations/reports/{report.pk}/pdf")
    login(client, reviewer)
    valid = client.post(
        "/api/v1/evaluations/reports/verify", {"file": SimpleUploadedFile("r.pdf", pdf.content)}
    )
    invalid = client.post(
        "/api/v1/evaluations/reports/verify", {"file": SimpleUploadedFile("r.pdf", b"%PDF-")}
    )

    assert [(row["id"], row["number"], row["language"], row["pdf_sha256"]) for row in listed] == [
        (report.pk, report.number, "ko", report.pdf_sha256)
    ]
    assert (pdf.status_code, pdf["Content-Type"]) == (200, "application/pdf")
    assert pdf["Content-Disposition"] == f'attachment; filename="{report.number}.pdf"'
    assert pdf.content == report_file_read(report=report)
    assert valid.json() == {"valid": True, "number": report.number}
    assert invalid.json() == {"valid": False, "number": None}


def test_an_api_token_works_like_the_session(applicant: User, evaluation: models.Evaluation) -> None:
    _token, key = api_token_create(user=applicant, name="ci")

    response = Client().get("/api/v1/evaluations", HTTP_AUTHORIZATION=f"Bearer {key}")

    assert response.status_code == 200
    assert [row["id"] for row in response.json()] == [evaluation.pk]


def test_a_run_of_another_company_is_404_with_its_code(
    client: Client, login: Login, other_applicant: User, run: models.EvaluationRun
) -> None:
    login(client, other_applicant)

    response = client.get(f"/api/v1/evaluations/runs/{run.pk}")

    assert (response.status_code, response.json()["code"]) == (404, "run_not_found")
