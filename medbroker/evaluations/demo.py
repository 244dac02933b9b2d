"""Performance tests in ``medbroker demo``: a small binary test set and one company's finished test.

The test set ("흉부 X선 결절 분류 시험셋" v1.0, 40 generated 32×32 images with their institution, manufacturer,
age group and sex) comes from ``medbroker.evaluations.testdata``: brighter images are the nodules, no real
person's data. 메디비전랩 (company2343, whose agreement ``medbroker.demo.support`` signs) asks for a
performance test; the operator accepts it, opens the evaluation, writes the plan (sensitivity with its
lower 95% bound at least 0.80, specificity, AUROC) and locks it. The company submits the tiny ONNX model and
a predictions file; both run inline here and a Korean report is issued for each.

Everything goes through the services, so the audit log and the notices are those of real use. Idempotent: a
second run finds each step done and changes nothing.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile

from medbroker.accounts.models import Organisation, User
from medbroker.agreements.models import Agreement, PerformanceTestRequest
from medbroker.agreements.services.test_requests import test_request_create, test_request_decide
from medbroker.evaluations.models import Evaluation, EvaluationRun, Submission, TaskType, TestReport, TestSet
from medbroker.evaluations.services.evaluations import (
    evaluation_create,
    evaluation_plan_lock,
    evaluation_plan_update,
)
from medbroker.evaluations.services.reports import report_issue
from medbroker.evaluations.services.runs import run_execute
from medbroker.evaluations.services.submissions import submission_create
from medbroker.evaluations.services.test_sets import (
    test_set_activate,
    test_set_cases_import,
    test_set_create,
)
from medbroker.evaluations.testdata import (
    CLASSIFIER_MANIFEST,
    archive_arrays,
    classification_test_set_files,
    classifier_probability,
    tiny_classifier_model_bytes,
)

DEMO_TEST_SET_NAME = "흉부 X선 결절 분류 시험셋"
DEMO_TEST_SET_VERSION = "1.0"
DEMO_CASES = 40
DEMO_SEED = 2025
DEMO_COMPANY_BRN = "5038112343"
DEMO_COMPANY_USERNAME = "company2343"
DEMO_ALGORITHM = "LungNodule-CXR"
DEMO_PLAN = {
    "primary_metric": "sensitivity",
    "secondary_metrics": ["specificity", "auroc"],
    "threshold": 0.5,
    "confidence_level": 0.95,
    "ci_method": "wilson",
    "bootstrap_resamples": 2000,
    "seed": 20251,
    "acceptance": [{"metric": "sensitivity", "bound": "lower", "operator": ">=", "value": 0.8}],
    "subgroups": ["institution", "manufacturer", "age_group", "sex"],
    "compare_with_previous": True,
}
MODEL_LABEL = "LungNodule-CXR 1.0 (ONNX)"
PREDICTIONS_LABEL = "LungNodule-CXR 1.1 민감도 우선 예측 결과(폐쇄형 학습실)"
# The predictions file is the output of a version tuned for sensitivity: its cut-off moves from a mean
# brightness of 0.5 to 0.42, below every nodule of the demo set, so it meets the plan's lower bound (and
# loses specificity) where the model does not. The demo shows both verdicts and a paired comparison.
PREDICTIONS_A, PREDICTIONS_B = 14.0, -5.9


@dataclass(frozen=True)
class EvaluationsDemo:
    evaluation: Evaluation | None
    summary_lines: list[str]


@contextmanager
def _runs_inline() -> Iterator[None]:
    # The demo command waits for its runs: no thread of a web process is there to run them.
    previous = settings.MEDBROKER_EVALUATION_IN_THREAD
    settings.MEDBROKER_EVALUATION_IN_THREAD = False
    try:
        yield
    finally:
        settings.MEDBROKER_EVALUATION_IN_THREAD = previous


def _test_set(operator: User) -> TestSet:
    test_set = TestSet.objects.filter(name=DEMO_TEST_SET_NAME, version=DEMO_TEST_SET_VERSION).first()
    if test_set is None:
        test_set = test_set_create(
            actor=operator,
            name=DEMO_TEST_SET_NAME,
            version=DEMO_TEST_SET_VERSION,
            task_type=TaskType.BINARY,
            data_kind="imaging",
            classes=["정상", "결절"],
            description="데모용 합성 영상(32×32). 밝은 영상이 결절 증례입니다. 실제 환자 정보가 없습니다.",
        )
    if test_set.status == TestSet.Status.DRAFT:
        if not test_set.cases.exists():
            cases_csv, archive = classification_test_set_files(DEMO_CASES, DEMO_SEED)
            test_set_cases_import(
                actor=operator,
                test_set=test_set,
                cases_csv=SimpleUploadedFile("cases.csv", cases_csv, content_type="text/csv"),
                archive=SimpleUploadedFile("inputs.zip", archive, content_type="application/zip"),
            )
        test_set = test_set_activate(actor=operator, test_set=test_set)
    return test_set


def _test_request(agreement: Agreement, member: User, operator: User) -> PerformanceTestRequest:
    test_request = (
        PerformanceTestRequest.objects.filter(agreement=agreement, algorithm_name=DEMO_ALGORITHM)
        .order_by("pk")
        .first()
    )
    if test_request is None:
        test_request = test_request_create(
            agreement=agreement,
            actor=member,
            algorithm_name=DEMO_ALGORITHM,
            algorithm_version="1.0",
            task_description="흉부 X선 영상에서 폐결절 유무를 판정(결절 확률 0~1 출력)",
            intended_use="의료기기 인허가 전 성능 확인",
            preferred_period="협약 기간 중",
        )
    if test_request.status == PerformanceTestRequest.Status.REQUESTED:
        test_request = test_request_decide(
            test_request=test_request,
            actor=operator,
            status=PerformanceTestRequest.Status.ACCEPTED,
            comment="시험셋 '흉부 X선 결절 분류 시험셋 v1.0'으로 시험합니다.",
        )
    return test_request


def _evaluation(test_request: PerformanceTestRequest, test_set: TestSet, operator: User) -> Evaluation:
    evaluation = Evaluation.objects.filter(test_request=test_request).order_by("pk").first()
    if evaluation is None:
        evaluation = evaluation_create(actor=operator, test_request=test_request, test_set=test_set)
    if evaluation.status == Evaluation.Status.DRAFT:
        evaluation = evaluation_plan_update(actor=operator, evaluation=evaluation, plan=dict(DEMO_PLAN))
        evaluation = evaluation_plan_lock(actor=operator, evaluation=evaluation)
    return evaluation


def demo_predictions_csv() -> bytes:
    """The predictions file of the demo: ``case_id,score`` for every case of the demo test set."""
    cases_csv, archive = classification_test_set_files(DEMO_CASES, DEMO_SEED)
    arrays = archive_arrays(archive)
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["case_id", "score"])
    for row in csv.DictReader(io.StringIO(cases_csv.decode("utf-8"))):
        score = classifier_probability(arrays[row["input"]], PREDICTIONS_A, PREDICTIONS_B)
        writer.writerow([row["case_id"], f"{score:.6f}"])
    return text.getvalue().encode("utf-8")


def _submission(evaluation: Evaluation, member: User, kind: str) -> Submission:
    existing = Submission.objects.filter(evaluation=evaluation, kind=kind).order_by("pk").first()
    if existing is not None:
        return existing
    if kind == Submission.Kind.MODEL:
        upload = SimpleUploadedFile("lungnodule-cxr-1.0.onnx", tiny_classifier_model_bytes())
        return submission_create(
            actor=member,
            evaluation=evaluation,
            kind=kind,
            upload=upload,
            manifest=CLASSIFIER_MANIFEST,
            label=MODEL_LABEL,
        )
    upload = SimpleUploadedFile("lungnodule-cxr-1.1-predictions.csv", demo_predictions_csv())
    return submission_create(
        actor=member, evaluation=evaluation, kind=kind, upload=upload, label=PREDICTIONS_LABEL
    )


def _run_finished(submission: Submission) -> EvaluationRun | None:
    run = EvaluationRun.objects.filter(submission=submission).order_by("-created_at", "-pk").first()
    if run is None:
        return None
    if run.status == EvaluationRun.Status.QUEUED:
        run = run_execute(run_id=run.pk)
    return run


def evaluations_demo_load() -> EvaluationsDemo:
    operator = User.objects.filter(username="operator").first()
    company = Organisation.objects.filter(business_registration_number=DEMO_COMPANY_BRN).first()
    member = User.objects.filter(username=DEMO_COMPANY_USERNAME, organisation=company).first()
    agreement = (
        Agreement.objects.filter(company=company, status=Agreement.Status.ACTIVE).order_by("pk").first()
        if company is not None
        else None
    )
    if operator is None or member is None or agreement is None:
        return EvaluationsDemo(
            None, ["운영자 계정이나 메디비전랩의 체결된 협약이 없어 성능시험 데모를 건너뛰었습니다."]
        )
    test_set = _test_set(operator)
    test_request = _test_request(agreement, member, operator)
    evaluation = _evaluation(test_request, test_set, operator)
    lines = [
        f"성능시험 시험셋: {test_set} (증례 {test_set.cases.count()}건, 내용 해시 {test_set.content_sha256[:12]}…)",
    ]
    with _runs_inline():
        for kind in (Submission.Kind.MODEL, Submission.Kind.PREDICTIONS):
            submission = _submission(evaluation, member, kind)
            run = _run_finished(submission)
            if run is None or run.status != EvaluationRun.Status.SUCCEEDED:
                state = run.get_status_display() if run is not None else "실행 없음"
                # A machine that cannot isolate a model (no network namespace) says so here.
                reason = f" — {run.error_message}" if run is not None and run.error_message else ""
                lines.append(f"{evaluation.number} · {submission.label}: {state}{reason}")
                continue
            report = TestReport.objects.filter(run=run).order_by("pk").first() or report_issue(
                actor=operator, run=run, language="ko"
            )
            lines.append(
                f"{evaluation.number} · {submission.label}: {run.get_verdict_display()} — 성적서 {report.number}"
            )
    lines.append(
        f"성능시험 {evaluation.number} ({evaluation.company.name}, {DEMO_COMPANY_USERNAME}): "
        f"분석계획 SHA-256 {evaluation.plan_sha256[:12]}…, 결과 /evaluations/{evaluation.pk}/"
    )
    return EvaluationsDemo(evaluation, lines)
