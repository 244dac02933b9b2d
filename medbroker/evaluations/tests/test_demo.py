"""``evaluations_demo_load``: a binary test set and 메디비전랩's finished performance test, idempotently."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import time_machine

from medbroker.accounts.demo import accounts_demo_load
from medbroker.agreements.models import PerformanceTestRequest
from medbroker.audit.models import AuditEvent
from medbroker.calls.demo import calls_demo_load
from medbroker.catalog.demo import catalog_demo_load
from medbroker.core.timeutils import kst
from medbroker.demo.support import support_demo_load
from medbroker.evaluations import models
from medbroker.evaluations.demo import (
    DEMO_ALGORITHM,
    DEMO_CASES,
    DEMO_TEST_SET_NAME,
    MODEL_LABEL,
    PREDICTIONS_LABEL,
    evaluations_demo_load,
)
from medbroker.evaluations.services.reports import report_file_read, report_signature, report_verify
from medbroker.reviews.demo import reviews_demo_load

pytestmark = pytest.mark.django_db
TODAY = kst(2026, 3, 10, 11, 30)


@pytest.fixture
def clock() -> Iterator[Any]:
    with time_machine.travel(TODAY, tick=False) as traveller:
        yield traveller


@pytest.fixture
def support(clock: Any) -> None:
    catalog = catalog_demo_load()
    accounts_demo_load(steward_organisation=catalog.steward_organisation)
    calls_demo_load()
    # The 2025 intake (reviews) registers 메디비전랩; support signs its agreement on the practice call.
    reviews_demo_load()
    support_demo_load()


def _counts() -> dict[str, int]:
    return {
        "test_sets": models.TestSet.objects.count(),
        "cases": models.TestCase.objects.count(),
        "requests": PerformanceTestRequest.objects.count(),
        "evaluations": models.Evaluation.objects.count(),
        "submissions": models.Submission.objects.count(),
        "runs": models.EvaluationRun.objects.count(),
        "reports": models.TestReport.objects.count(),
        "audit": AuditEvent.objects.count(),
    }


def test_the_demo_runs_a_model_and_a_predictions_file_and_issues_two_signed_reports(support: None) -> None:
    result = evaluations_demo_load()

    test_set = models.TestSet.objects.get(name=DEMO_TEST_SET_NAME)
    assert (test_set.version, test_set.status, test_set.task_type, test_set.cases.count()) == (
        "1.0",
        models.TestSet.Status.ACTIVE,
        models.TaskType.BINARY,
        DEMO_CASES,
    )
    assert len(test_set.content_sha256) == 64
    evaluation = models.Evaluation.objects.get()
    assert result.evaluation == evaluation
    assert (evaluation.company.name, evaluation.status, evaluation.test_request.algorithm_name) == (
        "메디비전랩 주식회사",
        models.Evaluation.Status.LOCKED,
        DEMO_ALGORITHM,
    )
    assert evaluation.test_request.status == PerformanceTestRequest.Status.ACCEPTED
    assert evaluation.test_request.evaluation_reference == evaluation.number
    assert (evaluation.plan["primary_metric"], evaluation.plan["secondary_metrics"]) == (
        "sensitivity",
        ["specificity", "auroc"],
    )
    assert evaluation.plan["acceptance"] == [
        {"metric": "sensitivity", "bound": "lower", "operator": ">=", "value": 0.8}
    ]
    assert len(evaluation.plan_sha256) == 64
    submissions = list(models.Submission.objects.order_by("pk").values_list("kind", "label"))
    assert submissions == [
        (models.Submission.Kind.MODEL, MODEL_LABEL),
        (models.Submission.Kind.PREDICTIONS, PREDICTIONS_LABEL),
    ]
    runs = list(models.EvaluationRun.objects.order_by("pk"))
    assert [run.status for run in runs] == [models.EvaluationRun.Status.SUCCEEDED] * 2
    assert [run.results["n"] for run in runs] == [DEMO_CASES, DEMO_CASES]
    assert all(run.plan_sha256 == evaluation.plan_sha256 for run in runs)
    # The predictions run is compared with the model's run, the latest earlier succeeded one.
    assert runs[1].results["comparison"]["run_id"] == runs[0].pk
    reports = list(models.TestReport.objects.order_by("pk"))
    assert [(r.number, r.language, r.run_id) for r in reports] == [
        ("PT-2026-0001", "ko", runs[0].pk),
        ("PT-2026-0002", "ko", runs[1].pk),
    ]
    for report in reports:
        pdf = report_file_read(report=report)
        assert pdf.startswith(b"%PDF")
        assert report.signature == report_signature(number=report.number, pdf_sha256=report.pdf_sha256)
        assert report_verify(pdf=pdf) == report
    assert result.summary_lines[1:] == [
        f"{evaluation.number} · {MODEL_LABEL}: {runs[0].get_verdict_display()} — 성적서 PT-2026-0001",
        f"{evaluation.number} · {PREDICTIONS_LABEL}: {runs[1].get_verdict_display()} — 성적서 PT-2026-0002",
        f"성능시험 {evaluation.number} (메디비전랩 주식회사, company2343): 분석계획 SHA-256 "
        f"{evaluation.plan_sha256[:12]}…, 결과 /evaluations/{evaluation.pk}/",
    ]


def test_loading_twice_creates_nothing_new(support: None) -> None:
    first = evaluations_demo_load()
    counts = _counts()

    second = evaluations_demo_load()

    assert _counts() == counts
    assert second.evaluation == first.evaluation
    assert second.summary_lines == first.summary_lines


def test_without_the_company_s_agreement_the_demo_is_skipped(clock: Any) -> None:
    catalog = catalog_demo_load()
    accounts_demo_load(steward_organisation=catalog.steward_organisation)

    result = evaluations_demo_load()

    assert result.evaluation is None
    assert result.summary_lines == [
        "운영자 계정이나 메디비전랩의 체결된 협약이 없어 성능시험 데모를 건너뛰었습니다."
    ]
    assert models.TestSet.objects.count() == 0
