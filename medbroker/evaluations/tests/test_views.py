"""The performance-test pages: test sets, an evaluation from its request to its locked plan, submissions,
the run page for the staff and for the company, the Excel export, reports and their verification."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from openpyxl import load_workbook

from medbroker.accounts.models import Organisation, User
from medbroker.agreements.models import PerformanceTestRequest
from medbroker.audit.models import AuditEvent
from medbroker.evaluations import models
from medbroker.evaluations.demo import DEMO_PLAN
from medbroker.evaluations.plans import plan_sha256
from medbroker.evaluations.services.reports import report_file_read, report_issue
from medbroker.evaluations.testdata import classification_test_set_files
from medbroker.evaluations.tests.factories import (
    EvaluationFactory,
    EvaluationRunFactory,
    SubmissionFactory,
    TestSetFactory,
    accepted_test_request,
    binary_cases,
)
from medbroker.evaluations.tests.test_selectors import finished_run, null_results

pytestmark = pytest.mark.django_db
Login = Callable[[Client, User | None], Client]


def _messages(response: Any) -> list[str]:
    return [str(message) for message in response.context["messages"]] if response.context else []


def _text(response: Any) -> str:
    return response.content.decode()


# --- test sets ---


def test_an_operator_registers_a_test_set(client: Client, login: Login, operator: User) -> None:
    login(client, operator)

    response = client.post(
        "/evaluations/test-sets/new/",
        {
            "name": "흉부 X선 결절 시험셋",
            "version": "2.0",
            "task_type": "binary",
            "data_kind": "imaging",
            "classes": "정상, 결절",
            "spacing": "0.5, 0.5",
            "description": "외부 검증용",
        },
    )

    test_set = models.TestSet.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/evaluations/test-sets/{test_set.pk}/"
    assert (test_set.name, test_set.version, test_set.classes, test_set.spacing, test_set.status) == (
        "흉부 X선 결절 시험셋",
        "2.0",
        ["정상", "결절"],
        [0.5, 0.5],
        models.TestSet.Status.DRAFT,
    )


def test_a_duplicate_test_set_is_refused_on_its_field(client: Client, login: Login, operator: User) -> None:
    TestSetFactory(name="흉부 X선 결절 시험셋", version="1.0")
    login(client, operator)

    response = client.post(
        "/evaluations/test-sets/new/",
        {
            "name": "흉부 X선 결절 시험셋",
            "version": "1.0",
            "task_type": "binary",
            "data_kind": "imaging",
            "classes": "정상, 결절",
        },
    )

    assert response.status_code == 200
    assert response.context["form"].errors == {"version": ["같은 이름과 버전의 시험셋이 이미 있습니다."]}
    assert models.TestSet.objects.count() == 1


def test_an_operator_imports_cases_and_activates_the_test_set(
    client: Client, login: Login, operator: User
) -> None:
    test_set = TestSetFactory(classes=["정상", "결절"])
    cases_csv, archive = classification_test_set_files(6, seed=3)
    login(client, operator)

    imported = client.post(
        f"/evaluations/test-sets/{test_set.pk}/import/",
        {
            "cases_csv": SimpleUploadedFile("cases.csv", cases_csv),
            "archive": SimpleUploadedFile("inputs.zip", archive),
        },
        follow=True,
    )
    activated = client.post(f"/evaluations/test-sets/{test_set.pk}/activate/", follow=True)

    assert _messages(imported) == ["증례 6건을 가져왔습니다."]
    test_set.refresh_from_db()
    assert (test_set.status, len(test_set.content_sha256), test_set.cases.count()) == (
        models.TestSet.Status.ACTIVE,
        64,
        6,
    )
    assert _messages(activated) == [
        f"시험셋 '{test_set}'의 사용을 시작했습니다. 이제 증례를 바꿀 수 없습니다."
    ]
    page = _text(activated)
    assert test_set.content_sha256 in page
    assert "C0001" in page
    assert "증례 가져오기" not in page


def test_a_wrong_cases_file_imports_nothing_and_says_why(
    client: Client, login: Login, operator: User
) -> None:
    test_set = TestSetFactory(classes=["정상", "결절"])
    login(client, operator)

    response = client.post(
        f"/evaluations/test-sets/{test_set.pk}/import/",
        {"cases_csv": SimpleUploadedFile("흉부-2025.csv", b"case_id,label\nC1,7\n")},
    )

    assert response.status_code == 200
    assert response.context["import_form"].errors == {
        "cases_csv": [
            "증례 가져오기를 하지 못했습니다. 아무것도 저장하지 않았습니다. "
            "흉부-2025.csv 2번째 줄: label은 0 또는 1이어야 합니다 (지금: '7')."
        ]
    }
    assert models.TestCase.objects.count() == 0


def test_the_test_set_page_shows_the_balance_the_subgroups_and_the_first_cases(
    client: Client, login: Login, auditor: User
) -> None:
    test_set = TestSetFactory(classes=["정상", "결절"])
    binary_cases(test_set, [0, 1, 1], sex=["F", "M", "F"])
    login(client, auditor)

    response = client.get(f"/evaluations/test-sets/{test_set.pk}/")

    summary = response.context["summary"]
    assert [(row.label, row.count) for row in summary.class_balance] == [("정상", 1), ("결절", 2)]
    assert [case.case_id for case in response.context["cases"]] == ["C0001", "C0002", "C0003"]
    page = _text(response)
    assert "감사자는 이 화면을 읽기만 할 수 있습니다." in page
    assert "증례 가져오기" not in page


# --- evaluations ---


def test_the_list_shows_each_company_its_own_and_filters_by_status(
    client: Client,
    login: Login,
    applicant: User,
    operator: User,
    company: Organisation,
    other_company: Organisation,
) -> None:
    own = EvaluationFactory(company=company, locked=True)
    draft = EvaluationFactory(company=company)
    other = EvaluationFactory(company=other_company, locked=True)

    login(client, applicant)
    mine = client.get("/evaluations/")
    login(client, operator)
    locked = client.get("/evaluations/?status=locked")

    assert {e.pk for e in mine.context["table"].page} == {own.pk, draft.pk}
    assert {e.pk for e in locked.context["table"].page} == {own.pk, other.pk}
    assert other.company.name not in _text(mine)


def test_an_operator_creates_the_evaluation_of_an_accepted_request(
    client: Client, login: Login, operator: User, company: Organisation
) -> None:
    test_request = accepted_test_request(company)
    test_set = TestSetFactory(status=models.TestSet.Status.ACTIVE, content_sha256="b" * 64)
    TestSetFactory(name="작성 중인 시험셋")
    login(client, operator)

    form = client.get(f"/evaluations/new/?request={test_request.pk}")
    response = client.post("/evaluations/new/", {"request": test_request.pk, "test_set": test_set.pk})

    assert list(form.context["form"].fields["test_set"].queryset) == [test_set]
    evaluation = models.Evaluation.objects.get()
    assert response["Location"] == f"/evaluations/{evaluation.pk}/"
    assert (evaluation.test_request, evaluation.test_set, evaluation.company, evaluation.status) == (
        test_request,
        test_set,
        company,
        models.Evaluation.Status.DRAFT,
    )
    test_request.refresh_from_db()
    assert test_request.evaluation_reference == evaluation.number
    # The request's page links to it.
    request_page = _text(client.get(f"/agreements/test-requests/{test_request.pk}/"))
    assert f'href="/evaluations/{evaluation.pk}/"' in request_page


def test_a_request_that_is_not_accepted_has_no_evaluation_page(
    client: Client, login: Login, operator: User, company: Organisation
) -> None:
    test_request = accepted_test_request(company)
    PerformanceTestRequest.objects.filter(pk=test_request.pk).update(
        status=PerformanceTestRequest.Status.REQUESTED
    )
    login(client, operator)

    assert client.get(f"/evaluations/new/?request={test_request.pk}").status_code == 404
    assert client.get("/evaluations/new/").status_code == 404
    assert client.get("/evaluations/new/?request=abc").status_code == 404


def test_the_accepted_request_page_offers_to_create_the_evaluation(
    client: Client, login: Login, operator: User, company: Organisation
) -> None:
    test_request = accepted_test_request(company)
    login(client, operator)

    page = _text(client.get(f"/agreements/test-requests/{test_request.pk}/"))

    assert f'href="/evaluations/new/?request={test_request.pk}"' in page


def _plan_post(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "primary_metric": "sensitivity",
        "secondary_metrics": ["specificity", "auroc"],
        "threshold": "0.4",
        "confidence_level": "0.95",
        "ci_method": "clopper-pearson",
        "bootstrap_resamples": "1000",
        "seed": "7",
        "subgroups": ["sex", "institution"],
        "compare_with_previous": "on",
        "acceptance-TOTAL_FORMS": "3",
        "acceptance-INITIAL_FORMS": "0",
        "acceptance-MIN_NUM_FORMS": "0",
        "acceptance-MAX_NUM_FORMS": "1000",
        "acceptance-0-metric": "sensitivity",
        "acceptance-0-bound": "lower",
        "acceptance-0-operator": ">=",
        "acceptance-0-value": "0.8",
        "acceptance-1-metric": "specificity",
        "acceptance-1-bound": "value",
        "acceptance-1-operator": ">=",
        "acceptance-1-value": "0.7",
        "acceptance-2-metric": "",
        "acceptance-2-bound": "lower",
        "acceptance-2-operator": ">=",
        "acceptance-2-value": "",
    }
    data.update(overrides)
    return data


def test_an_operator_writes_and_locks_the_plan(
    client: Client, login: Login, operator: User, company: Organisation
) -> None:
    evaluation = EvaluationFactory(company=company)
    login(client, operator)

    page = client.get(f"/evaluations/{evaluation.pk}/")
    saved = client.post(f"/evaluations/{evaluation.pk}/plan/", _plan_post(), follow=True)
    evaluation.refresh_from_db()
    plan = dict(evaluation.plan)
    locked = client.post(f"/evaluations/{evaluation.pk}/plan/lock/", follow=True)

    assert "분석계획 확정" in _text(page)
    assert _messages(saved) == ["분석계획을 저장했습니다."]
    assert plan == {
        **plan,
        "primary_metric": "sensitivity",
        "secondary_metrics": ["specificity", "auroc"],
        "threshold": 0.4,
        "confidence_level": 0.95,
        "ci_method": "clopper-pearson",
        "bootstrap_resamples": 1000,
        "seed": 7,
        "subgroups": ["sex", "institution"],
        "compare_with_previous": True,
        "acceptance": [
            {"metric": "sensitivity", "bound": "lower", "operator": ">=", "value": 0.8},
            {"metric": "specificity", "bound": "value", "operator": ">=", "value": 0.7},
        ],
    }
    evaluation.refresh_from_db()
    assert (evaluation.status, evaluation.plan_sha256, evaluation.plan_locked_by) == (
        models.Evaluation.Status.LOCKED,
        plan_sha256(plan),
        operator,
    )
    assert _messages(locked) == [
        f"분석계획을 확정했습니다(SHA-256 {evaluation.plan_sha256[:12]}). 이제 기업이 제출할 수 있습니다."
    ]
    text = _text(locked)
    assert evaluation.plan_sha256 in text
    assert 'id="plan-form"' not in text


def test_an_incomplete_acceptance_row_keeps_the_plan(
    client: Client, login: Login, operator: User, company: Organisation
) -> None:
    evaluation = EvaluationFactory(company=company)
    before = dict(evaluation.plan)
    login(client, operator)

    response = client.post(f"/evaluations/{evaluation.pk}/plan/", _plan_post(**{"acceptance-0-value": ""}))

    assert response.status_code == 200
    assert response.context["acceptance_formset"].errors[0] == {"value": ["기준값을 입력해 주세요."]}
    evaluation.refresh_from_db()
    assert evaluation.plan == before


def test_a_plan_the_service_refuses_shows_its_message_and_keeps_the_plan(
    client: Client, login: Login, operator: User, company: Organisation
) -> None:
    evaluation = EvaluationFactory(company=company)
    before = dict(evaluation.plan)
    login(client, operator)

    response = client.post(f"/evaluations/{evaluation.pk}/plan/", _plan_post(**{"acceptance-0-value": "1.5"}))

    assert response.status_code == 200
    errors = response.context["plan_form"].non_field_errors()
    assert len(errors) == 1 and "0과 1 사이" in errors[0]
    evaluation.refresh_from_db()
    assert evaluation.plan == before


def test_a_company_sees_the_test_set_s_name_and_size_but_no_case(
    client: Client, login: Login, applicant: User, company: Organisation
) -> None:
    test_set = TestSetFactory(status=models.TestSet.Status.ACTIVE, name="폐결절 외부검증 시험셋")
    binary_cases(test_set, [0, 1, 1, 0])
    evaluation = EvaluationFactory(company=company, test_set=test_set, locked=True)
    login(client, applicant)

    response = client.get(f"/evaluations/{evaluation.pk}/")

    page = _text(response)
    assert "폐결절 외부검증 시험셋 v1.0" in page
    assert response.context["case_count"] == 4
    assert "C0001" not in page
    assert f"/evaluations/test-sets/{test_set.pk}/" not in page
    assert 'id="plan-form"' not in page
    assert 'id="submission-form"' in page
    assert response.context["quota_left"] == 5


def test_a_company_submits_a_predictions_file_and_a_run_is_queued(
    client: Client, login: Login, applicant: User, company: Organisation
) -> None:
    test_set = TestSetFactory(status=models.TestSet.Status.ACTIVE)
    binary_cases(test_set, [0, 1, 1])
    evaluation = EvaluationFactory(company=company, test_set=test_set, locked=True)
    login(client, applicant)

    response = client.post(
        f"/evaluations/{evaluation.pk}/submissions/",
        {
            "kind": "predictions",
            "file": SimpleUploadedFile(
                "predictions.csv", b"case_id,score\nC0001,0.1\nC0002,0.8\nC0003,0.9\n"
            ),
            "label": "v1 예측",
        },
        follow=True,
    )

    submission = models.Submission.objects.get()
    assert (submission.kind, submission.label, submission.file_name, submission.submitted_by) == (
        "predictions",
        "v1 예측",
        "predictions.csv",
        applicant,
    )
    assert [run.status for run in submission.runs.all()] == [models.EvaluationRun.Status.QUEUED]
    assert _messages(response) == ["'v1 예측'을(를) 제출했습니다. 시험이 끝나면 결과가 아래에 표시됩니다."]
    assert response.context["quota_left"] == 4


def test_a_company_submits_a_model_with_its_manifest(
    client: Client, login: Login, applicant: User, company: Organisation
) -> None:
    from medbroker.evaluations.testdata import tiny_classifier_model_bytes

    test_set = TestSetFactory(status=models.TestSet.Status.ACTIVE)
    binary_cases(test_set, [0, 1])
    models.TestCase.objects.filter(test_set=test_set).update(input_file="inputs/x.npy")
    evaluation = EvaluationFactory(company=company, test_set=test_set, locked=True)
    login(client, applicant)

    client.post(
        f"/evaluations/{evaluation.pk}/submissions/",
        {
            "kind": "model",
            "file": SimpleUploadedFile("model.onnx", tiny_classifier_model_bytes()),
            "input_shape": "1, 1, 32, 32",
            "input_layout": "NCHW",
            "input_dtype": "float32",
            "normalisation": "scale",
            "normalisation_scale": "255",
            "window_center": "40",
            "window_width": "400",
            "output_type": "probability",
        },
    )

    manifest = models.Submission.objects.get().manifest
    assert manifest["input"]["shape"] == [1, 1, 32, 32]
    assert manifest["input"]["normalisation"]["type"] == "scale"
    assert manifest["input"]["normalisation"]["scale"] == 255.0
    assert manifest["input"]["window"] == {"center": 40.0, "width": 400.0}
    assert manifest["output"]["type"] == "probability"


def test_a_wrong_predictions_file_is_refused_on_the_form(
    client: Client, login: Login, applicant: User, company: Organisation
) -> None:
    test_set = TestSetFactory(status=models.TestSet.Status.ACTIVE)
    binary_cases(test_set, [0, 1])
    evaluation = EvaluationFactory(company=company, test_set=test_set, locked=True)
    login(client, applicant)

    response = client.post(
        f"/evaluations/{evaluation.pk}/submissions/",
        {"kind": "predictions", "file": SimpleUploadedFile("p.csv", b"case_id,score\nC0001,1.7\n")},
    )

    assert response.status_code == 200
    errors = response.context["submission_form"].errors["file"]
    assert len(errors) == 1 and "p.csv" in errors[0]
    assert models.Submission.objects.count() == 0


def test_an_operator_runs_a_failed_submission_again(
    client: Client, login: Login, operator: User, company: Organisation
) -> None:
    submission = SubmissionFactory(evaluation=EvaluationFactory(company=company, locked=True))
    EvaluationRunFactory(submission=submission, status=models.EvaluationRun.Status.FAILED)
    login(client, operator)

    response = client.post(f"/evaluations/submissions/{submission.pk}/run/")

    run = submission.runs.get(status=models.EvaluationRun.Status.QUEUED)
    assert response["Location"] == f"/evaluations/runs/{run.pk}/"
    assert run.requested_by == operator


def test_an_operator_closes_an_evaluation_once_no_run_is_active(
    client: Client, login: Login, operator: User, company: Organisation
) -> None:
    evaluation = EvaluationFactory(company=company, locked=True)
    submission = SubmissionFactory(evaluation=evaluation)
    active = EvaluationRunFactory(submission=submission, status=models.EvaluationRun.Status.QUEUED)
    login(client, operator)

    refused = client.post(f"/evaluations/{evaluation.pk}/close/", follow=True)
    evaluation.refresh_from_db()
    status_while_active = evaluation.status
    models.EvaluationRun.objects.filter(pk=active.pk).update(status=models.EvaluationRun.Status.SUCCEEDED)
    closed = client.post(f"/evaluations/{evaluation.pk}/close/", follow=True)

    assert status_while_active == models.Evaluation.Status.LOCKED
    assert _messages(refused) == ["대기 중이거나 진행 중인 실행이 있어 시험을 종료할 수 없습니다."]
    evaluation.refresh_from_db()
    assert evaluation.status == models.Evaluation.Status.CLOSED
    assert _messages(closed) == [f"성능시험 {evaluation.number}을(를) 종료했습니다."]
    assert "시험 닫기" not in _text(closed)


def test_a_second_run_while_one_is_active_is_refused_with_a_message(
    client: Client, login: Login, operator: User, company: Organisation
) -> None:
    submission = SubmissionFactory(evaluation=EvaluationFactory(company=company, locked=True))
    EvaluationRunFactory(submission=submission, status=models.EvaluationRun.Status.RUNNING)
    login(client, operator)

    response = client.post(f"/evaluations/submissions/{submission.pk}/run/", follow=True)

    assert _messages(response) == ["이 제출물은 이미 대기 중이거나 실행 중입니다."]
    assert submission.runs.count() == 1


# --- runs ---


@pytest.fixture
def run(company: Organisation) -> models.EvaluationRun:
    return finished_run(EvaluationFactory(company=company, locked=True))


def test_the_staff_see_the_verdict_the_chart_and_the_failed_cases(
    client: Client, login: Login, operator: User, run: models.EvaluationRun
) -> None:
    login(client, operator)

    response = client.get(f"/evaluations/runs/{run.pk}/")

    page = _text(response)
    assert '<section class="ev-verdict fail"' in page
    assert "부적합" in page
    assert run.plan_sha256 in page
    assert "0.699 – 0.972" in page
    assert "C0040" in page
    assert "30초 안에 끝나지 않았습니다." in page
    assert 'id="run-curve-chart"' in page
    assert response.context["chart_data"]["points"] == [[0.0, 0.0], [0.1, 0.8], [0.3, 0.95], [1.0, 1.0]]
    assert "medbroker/charts.js" in page
    assert "성적서 발급" in page
    assert 'hx-trigger="every 1s"' not in page


def test_a_company_sees_aggregates_and_failures_counted_by_reason_only(
    client: Client, login: Login, applicant: User, run: models.EvaluationRun
) -> None:
    login(client, applicant)

    response = client.get(f"/evaluations/runs/{run.pk}/")

    page = _text(response)
    assert "부적합" in page
    assert "시간 초과" in page
    assert response.context["results"].failures_by_reason == [("시간 초과", 1)]
    for secret in ("C0040", "C0001", "0.9132", "30초 안에 끝나지 않았습니다."):
        assert secret not in page
    assert '<td class="mb-num">비공개</td>' in page
    assert "성적서 발급" not in page


def test_a_running_run_polls_and_a_finished_one_asks_for_a_reload(
    client: Client, login: Login, applicant: User, company: Organisation
) -> None:
    submission = SubmissionFactory(evaluation=EvaluationFactory(company=company, locked=True))
    running = EvaluationRunFactory(
        submission=submission, status=models.EvaluationRun.Status.RUNNING, cases_total=40, cases_done=10
    )
    login(client, applicant)

    page = client.get(f"/evaluations/runs/{running.pk}/")
    polled = client.get(f"/evaluations/runs/{running.pk}/progress/", HTTP_HX_REQUEST="true")
    models.EvaluationRun.objects.filter(pk=running.pk).update(
        status=models.EvaluationRun.Status.FAILED, error_message="모델을 불러오지 못했습니다."
    )
    finished = client.get(f"/evaluations/runs/{running.pk}/progress/", HTTP_HX_REQUEST="true")

    assert f'hx-get="/evaluations/runs/{running.pk}/progress/" hx-trigger="every 1s"' in _text(page)
    assert 'aria-valuenow="25"' in _text(polled)
    assert "증례 10 / 40건" in _text(polled)
    assert "HX-Refresh" not in polled
    assert finished["HX-Refresh"] == "true"
    assert "hx-trigger" not in _text(finished)
    assert "모델을 불러오지 못했습니다." in _text(finished)


def test_the_excel_export_holds_the_aggregates_and_is_audited(
    client: Client, login: Login, applicant: User, run: models.EvaluationRun
) -> None:
    login(client, applicant)

    response = client.get(f"/evaluations/runs/{run.pk}/export.xlsx")

    assert response["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert re.match(
        rf'attachment; filename="{run.submission.evaluation.number}-run{run.pk}-\d{{8}}-\d{{4}}\.xlsx"',
        response["Content-Disposition"],
    )
    workbook = load_workbook(io.BytesIO(response.content))
    assert workbook.sheetnames == ["요약", "평가지표", "판정 기준", "혼동 행렬", "하위군", "실패 증례"]
    metrics = [list(row) for row in workbook["평가지표"].iter_rows(min_row=2, values_only=True)]
    assert metrics[0] == ["민감도", "sensitivity", 0.9, 0.699, 0.972, "Wilson", "●"]
    subgroups = [list(row) for row in workbook["하위군"].iter_rows(min_row=2, values_only=True)]
    assert subgroups[1][:3] == ["기관", "작은의원", "비공개"]
    failures = [list(row) for row in workbook["실패 증례"].iter_rows(min_row=2, values_only=True)]
    assert failures == [["시간 초과", 1]]
    cells = [str(cell) for sheet in workbook for row in sheet.iter_rows(values_only=True) for cell in row]
    assert not any("C0040" in cell for cell in cells)
    event = AuditEvent.objects.get(action="evaluations.results_exported")
    assert (event.actor, event.object_id) == (applicant, str(run.pk))


def _printed_null(page: str) -> list[str]:
    """Every "None" or "nan" a template printed for a value the results did not have."""
    return re.findall(r"\bNone\b|\b(?:nan|NaN)\b", page)


@pytest.mark.parametrize("role", ["operator", "applicant"])
def test_the_run_page_explains_what_could_not_be_computed(
    client: Client, login: Login, users_by_role: dict[str, User | None], run: models.EvaluationRun, role: str
) -> None:
    later = finished_run(
        run.submission.evaluation, results=null_results(run.pk), environment={"runner": None}
    )
    login(client, users_by_role[role])

    response = client.get(f"/evaluations/runs/{later.pk}/")

    page = _text(response)
    assert response.status_code == 200
    assert _printed_null(page) == []
    for text in (
        "신뢰구간을 계산할 수 없어(완전 분리 등) 기준을 충족한 것으로 볼 수 없음",
        "지표 값을 계산할 수 없어(해당하는 참조 표준 증례가 없는 등) 기준을 충족한 것으로 볼 수 없음",
        "기준이 신뢰구간의 유리한 쪽을 보도록 되어 있어(예: 민감도 상한 ≥ 기준값) 기준을 충족한 것으로 볼 수 없음",
        '<td class="mb-num">1.000</td><td class="mb-num">계산 불가</td>',
        "1.000 (구간 계산 불가)",
        "두 실행의 AUROC 차이에 분산이 없어(예: 두 실행 모두 완전 분리) 신뢰구간과 z·p 값을 계산할 수 없습니다.",
        "<dd>- · -</dd>",
        "모든 하위군을 공개하지 않은 속성: 성별",
    ):
        assert text in page, text
    # Both cells of the suppressed attribute read "비공개", never a size.
    assert page.count('<td class="mb-num">비공개</td>') == 2
    assert response.context["chart_data"]["points"] == [[0.0, 0.0], [0.0, 1.0], [1.0, 1.0]]


def test_the_excel_export_explains_what_could_not_be_computed(
    client: Client, login: Login, applicant: User, run: models.EvaluationRun
) -> None:
    models.EvaluationRun.objects.filter(pk=run.pk).update(results=null_results())
    login(client, applicant)

    response = client.get(f"/evaluations/runs/{run.pk}/export.xlsx")

    workbook = load_workbook(io.BytesIO(response.content))
    metrics = [list(row) for row in workbook["평가지표"].iter_rows(min_row=2, values_only=True)]
    assert metrics[1:] == [
        ["특이도", "specificity", "-", "-", "-", "-", None],
        ["AUROC", "auroc", 1.0, "계산 불가", "계산 불가", "-", None],
        ["Brier 점수", "brier", "-", "-", "-", "-", None],
    ]
    acceptance = [list(row) for row in workbook["판정 기준"].iter_rows(values_only=True)]
    assert acceptance[0] == ["평가지표", "비교 값", "조건", "기준값", "관측값", "결과", "판정 불가 사유"]
    assert acceptance[1] == [
        "AUROC",
        "신뢰구간 하한",
        "≥",
        "0.800",
        "-",
        "미충족",
        "신뢰구간을 계산할 수 없어(완전 분리 등) 기준을 충족한 것으로 볼 수 없음",
    ]
    subgroups = [list(row)[:3] for row in workbook["하위군"].iter_rows(min_row=2, values_only=True)]
    assert subgroups == [
        ["기관", "경북대학교병원", 24],
        ["기관", "계명대학교동산병원", 16],
        ["성별", "F", "비공개"],
        ["성별", "M", "비공개"],
    ]
    cells = [str(cell) for sheet in workbook for row in sheet.iter_rows(values_only=True) for cell in row]
    assert [cell for cell in cells if cell.lower() == "nan"] == []


def test_an_operator_issues_a_report_that_the_company_downloads_and_anyone_verifies(
    client: Client, login: Login, operator: User, applicant: User, reviewer: User, run: models.EvaluationRun
) -> None:
    login(client, operator)
    issued = client.post(f"/evaluations/runs/{run.pk}/reports/", {"language": "ko"}, follow=True)
    report = models.TestReport.objects.get()

    login(client, applicant)
    download = client.get(f"/evaluations/reports/{report.pk}/download/")
    login(client, reviewer)
    form = client.get("/evaluations/reports/verify/")
    valid = client.post(
        "/evaluations/reports/verify/", {"pdf": SimpleUploadedFile("r.pdf", download.content)}
    )
    forged = client.post(
        "/evaluations/reports/verify/", {"pdf": SimpleUploadedFile("r.pdf", download.content + b"%")}
    )

    assert _messages(issued) == [f"성적서 {report.number}을(를) 발급했습니다."]
    assert f"/evaluations/reports/{report.pk}/download/" in _text(issued)
    assert download["Content-Type"] == "application/pdf"
    assert download["Content-Disposition"] == f'attachment; filename="{report.number}.pdf"'
    assert download.content == report_file_read(report=report)
    assert form.status_code == 200
    assert f"발급된 성적서와 일치합니다: {report.number}" in _text(valid)
    assert "일치하는 성적서가 없습니다" in _text(forged)


def test_a_report_whose_file_changed_is_not_downloaded(
    client: Client, login: Login, operator: User, applicant: User, run: models.EvaluationRun, settings: Any
) -> None:
    report = report_issue(actor=operator, run=run)
    path = Path(settings.MEDBROKER_EVALUATION_ROOT) / report.file
    path.write_bytes(b"%PDF-1.7 replaced")
    login(client, applicant)

    response = client.get(f"/evaluations/reports/{report.pk}/download/", follow=True)

    assert response.redirect_chain == [(f"/evaluations/runs/{run.pk}/", 302)]
    assert _messages(response) == [
        f"성적서 {report.number}의 PDF 파일이 발급 때와 다릅니다. 운영자에게 문의해 주세요."
    ]


def test_the_demo_plan_is_a_valid_plan(company: Organisation, operator: User) -> None:
    # The demo's plan goes through the same service as the form's.
    from medbroker.evaluations.services.evaluations import evaluation_plan_update

    evaluation = EvaluationFactory(company=company)

    evaluation = evaluation_plan_update(actor=operator, evaluation=evaluation, plan=dict(DEMO_PLAN))

    assert evaluation.plan["acceptance"] == DEMO_PLAN["acceptance"]


# --- admin ---


def test_the_admin_shows_every_record_read_only(
    client: Client, login: Login, lab: Organisation, run: models.EvaluationRun
) -> None:
    from medbroker.accounts.models import Role
    from medbroker.accounts.tests.factories import UserFactory

    admin = UserFactory(
        username="admin", organisation=lab, is_staff=True, is_superuser=True, roles=[Role.OPERATOR]
    )
    login(client, admin)
    before = run.submission.evaluation.plan

    pages = {
        name: client.get(f"/admin/evaluations/{name}/").status_code
        for name in ("testset", "testcase", "evaluation", "submission", "evaluationrun", "testreport")
    }
    add = client.get("/admin/evaluations/testset/add/")
    change = client.post(
        f"/admin/evaluations/evaluation/{run.submission.evaluation_id}/change/", {"plan": "{}"}
    )

    assert pages == dict.fromkeys(pages, 200)
    assert add.status_code == 403
    assert change.status_code == 403
    run.submission.evaluation.refresh_from_db()
    assert run.submission.evaluation.plan == before
