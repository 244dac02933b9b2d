"""Reads of the performance tests: who sees which evaluation, run and report, and what of a run's results a
company may read. ``finished_run`` and ``binary_results`` here build the finished run the other test
modules of the pages, the API and the reports start from."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import time_machine

from medbroker.accounts.models import Organisation, User
from medbroker.core.errors import NotFoundError
from medbroker.core.timeutils import kst
from medbroker.evaluations import models
from medbroker.evaluations.selectors import (
    COMPANY_RESULT_KEYS,
    evaluation_for_user,
    evaluations_visible_to,
    failures_by_reason,
    plan_view,
    report_for_user,
    run_for_user,
    run_result_view,
    run_results_for_company,
    submission_quota_left,
    test_set_for_staff,
    test_set_summary,
    test_sets_for_operator,
)
from medbroker.evaluations.tests.factories import (
    EvaluationFactory,
    EvaluationRunFactory,
    SubmissionFactory,
    TestCaseFactory,
    TestSetFactory,
    binary_cases,
)

pytestmark = pytest.mark.django_db
ROLES = ["anonymous", "applicant", "other_applicant", "reviewer", "steward", "operator", "auditor"]
FINISHED_AT = kst(2025, 9, 20, 14, 30)


def metric(value: float | None, low: float | None = None, high: float | None = None, method: str = "wilson"):
    if value is None:
        return {"value": None, "ci": None, "method": "none"}
    return {"value": value, "ci": [low, high], "method": method}


def binary_results(**overrides: Any) -> dict[str, Any]:
    """The results of a binary run of 40 cases, one of which timed out, judged "fail" on the lower bound."""
    results = {
        "task_type": "binary",
        "n": 40,
        "failed": 1,
        "confidence": 0.95,
        "primary_metric": "sensitivity",
        "metrics": {
            "sensitivity": metric(0.9, 0.699, 0.972),
            "specificity": metric(0.85, 0.64, 0.948),
            "auroc": metric(0.93, 0.86, 0.99, "delong"),
            "ece": metric(None),
        },
        "counts": {"tp": 18, "fp": 3, "tn": 17, "fn": 2},
        "per_class": {},
        "curves": {"roc": [[0.0, 0.0], [0.1, 0.8], [0.3, 0.95], [1.0, 1.0]]},
        "subgroups": [
            {
                "attribute": "sex",
                "value": "F",
                "n": 20,
                "suppressed": False,
                "metrics": {"sensitivity": metric(0.9, 0.6, 0.98), "specificity": metric(0.8, 0.5, 0.95)},
            },
            {"attribute": "institution", "value": "작은의원", "n": None, "suppressed": True, "metrics": {}},
        ],
        "acceptance": [
            {
                "metric": "sensitivity",
                "bound": "lower",
                "operator": ">=",
                "target": 0.8,
                "observed": 0.699,
                "passed": False,
                "reason": None,
            }
        ],
        "verdict": "fail",
        "comparison": None,
        "failures_by_reason": {"timeout": 1, "error": 0, "missing": 0},
    }
    results.update(overrides)
    return results


def null_results(previous_run_id: int | None = None) -> dict[str, Any]:
    """Results with every null a run may write: AUROC of perfectly separated classes (a value without an
    interval), criteria that could not be judged, a comparison whose difference has no variance, a whole
    attribute suppressed (sizes null), and a curve point and a failure count that were not finite."""
    perfect = {"value": 1.0, "ci": None, "method": "none"}
    return binary_results(
        metrics={
            "sensitivity": metric(0.9, 0.699, 0.972),
            "specificity": metric(None),
            "auroc": perfect,
            "brier": metric(None),
        },
        curves={"roc": [[0.0, 0.0], [None, 0.5], [0.0, 1.0], [1.0, 1.0]]},
        subgroups=[
            {
                "attribute": "institution",
                "value": "경북대학교병원",
                "n": 24,
                "suppressed": False,
                "metrics": {"sensitivity": metric(0.9, 0.6, 0.98), "auroc": perfect},
            },
            {
                "attribute": "institution",
                "value": "계명대학교동산병원",
                "n": 16,
                "suppressed": False,
                "metrics": {"sensitivity": metric(None), "auroc": metric(None)},
            },
            {"attribute": "sex", "value": "F", "n": None, "suppressed": True, "metrics": {}},
            {"attribute": "sex", "value": "M", "n": None, "suppressed": True, "metrics": {}},
        ],
        acceptance=[
            {
                "metric": "auroc",
                "bound": "lower",
                "operator": ">=",
                "target": 0.8,
                "observed": None,
                "passed": False,
                "reason": "interval_not_computed",
            },
            {
                "metric": "specificity",
                "bound": "value",
                "operator": ">=",
                "target": 0.7,
                "observed": None,
                "passed": False,
                "reason": "value_not_computed",
            },
            {
                "metric": "brier",
                "bound": "upper",
                "operator": ">=",
                "target": 0.1,
                "observed": None,
                "passed": False,
                "reason": "direction_invalid",
            },
        ],
        comparison={
            "run_id": previous_run_id,
            "label": "",
            "auc_a": 1.0,
            "auc_b": 1.0,
            "difference": 0.0,
            "ci": None,
            "z": None,
            "p_value": None,
            "method": "delong-paired",
        },
        confidence=0.95,
        failures_by_reason={"timeout": 1, "error": None, "missing": 0},
    )


def finished_run(evaluation: models.Evaluation | None = None, **fields: Any) -> models.EvaluationRun:
    """A succeeded run of a model submission with the results above, its failed case C0040 and per-case
    outputs (what only the staff may see)."""
    submission = SubmissionFactory(
        **({"evaluation": evaluation} if evaluation is not None else {}),
        kind=models.Submission.Kind.MODEL,
        label="ChestNoduleNet v1",
        file_name="model.onnx",
    )
    evaluation = submission.evaluation
    values: dict[str, Any] = {
        "submission": submission,
        "status": models.EvaluationRun.Status.SUCCEEDED,
        "started_at": FINISHED_AT - dt.timedelta(minutes=2),
        "finished_at": FINISHED_AT,
        "cases_total": 40,
        "cases_done": 40,
        "test_set_version": evaluation.test_set.version,
        "test_set_sha256": evaluation.test_set.content_sha256,
        "plan_sha256": evaluation.plan_sha256,
        "model_sha256": submission.file_sha256,
        "environment": {"runner": "0.9.0", "python": "3.11.2", "numpy": "2.1.3", "onnxruntime": "1.20.1"},
        "determinism": {"cases": ["C0001", "C0002", "C0003"], "identical": True, "max_abs_diff": 0.0},
        "outputs": {"C0001": 0.9132, "C0002": 0.1175},
        "failures": [{"case_id": "C0040", "reason": "timeout", "detail": "30초 안에 끝나지 않았습니다."}],
        "results": binary_results(),
        "verdict": models.EvaluationRun.Verdict.FAIL,
    }
    values.update(fields)
    return EvaluationRunFactory(**values)


@pytest.fixture
def evaluation(company: Organisation) -> models.Evaluation:
    return EvaluationFactory(company=company, locked=True)


@pytest.fixture
def other_evaluation(other_company: Organisation) -> models.Evaluation:
    return EvaluationFactory(company=other_company, locked=True)


@pytest.mark.parametrize("role", ROLES)
def test_who_sees_which_evaluation(
    role: str,
    users_by_role: dict[str, User | None],
    evaluation: models.Evaluation,
    other_evaluation: models.Evaluation,
) -> None:
    from django.contrib.auth.models import AnonymousUser

    user = users_by_role[role] or AnonymousUser()

    visible = set(evaluations_visible_to(user))

    expected = {
        "applicant": {evaluation},
        "other_applicant": {other_evaluation},
        "operator": {evaluation, other_evaluation},
        "auditor": {evaluation, other_evaluation},
    }.get(role, set())
    assert visible == expected


def test_another_company_s_evaluation_run_and_report_are_not_found(
    applicant: User, other_evaluation: models.Evaluation, operator: User
) -> None:
    run = finished_run(other_evaluation)
    report = models.TestReport.objects.create(
        run=run,
        number="PT-2025-0001",
        file="reports/PT-2025-0001.pdf",
        pdf_sha256="0" * 64,
        signature="1" * 64,
        issued_by=operator,
    )

    for lookup, pk, code in (
        (evaluation_for_user, other_evaluation.pk, "evaluation_not_found"),
        (run_for_user, run.pk, "run_not_found"),
        (report_for_user, report.pk, "report_not_found"),
    ):
        with pytest.raises(NotFoundError) as raised:
            lookup(applicant, pk)
        assert raised.value.code == code
    assert run_for_user(operator, run.pk) == run
    assert report_for_user(operator, report.pk) == report


def test_test_sets_are_the_staff_s_only(
    applicant: User, operator: User, auditor: User, reviewer: User
) -> None:
    test_set = TestSetFactory(name="폐결절 시험셋")
    TestCaseFactory(test_set=test_set)

    assert [(t.name, t.case_count) for t in test_sets_for_operator(operator)] == [("폐결절 시험셋", 1)]
    assert list(test_sets_for_operator(auditor)) == [test_set]
    assert list(test_sets_for_operator(applicant)) == []
    assert list(test_sets_for_operator(reviewer)) == []
    with pytest.raises(NotFoundError):
        test_set_for_staff(applicant, test_set.pk)


def test_the_summary_counts_classes_and_subgroups() -> None:
    test_set = TestSetFactory(classes=["정상", "결절"])
    binary_cases(
        test_set,
        [1, 0, 1, 1],
        sex=["F", "M", "F", ""],
        institution=["경북대학교병원", "경북대학교병원", "계명대학교동산병원", "경북대학교병원"],
    )

    summary = test_set_summary(test_set)

    assert summary.cases == 4
    assert [(row.label, row.count) for row in summary.class_balance] == [("정상", 1), ("결절", 3)]
    assert [
        (group.attribute, [(row.label, row.count) for row in group.rows]) for group in summary.subgroups
    ] == [
        ("institution", [("경북대학교병원", 3), ("계명대학교동산병원", 1)]),
        ("sex", [("-", 1), ("F", 2), ("M", 1)]),
    ]


def test_a_company_reads_aggregates_only(evaluation: models.Evaluation) -> None:
    run = finished_run(evaluation, results=binary_results(internal_note="staff only"))

    results = run_results_for_company(run)

    assert set(results) == set(COMPANY_RESULT_KEYS)
    assert "internal_note" not in results
    assert results["metrics"] == binary_results()["metrics"]
    assert results["subgroups"][1] == {
        "attribute": "institution",
        "value": "작은의원",
        "n": None,
        "suppressed": True,
        "metrics": {},
    }


def test_a_suppressed_subgroup_never_carries_values_to_a_company(evaluation: models.Evaluation) -> None:
    leaked = {
        "attribute": "sex",
        "value": "M",
        "n": 2,
        "suppressed": True,
        "metrics": {"sensitivity": metric(1.0, 0.3, 1.0)},
    }
    run = finished_run(evaluation, results=binary_results(subgroups=[leaked]))

    # An older run stored the size of a suppressed cell: it is withheld as well.
    assert run_results_for_company(run)["subgroups"] == [{**leaked, "n": None, "metrics": {}}]
    view = run_result_view(run, staff=False)
    assert (view.subgroup_columns, view.subgroups[0].cells, view.subgroups[0].suppressed) == ([], [], True)


def test_the_result_view_of_a_company_has_no_case_ids(evaluation: models.Evaluation) -> None:
    run = finished_run(evaluation)

    company = run_result_view(run, staff=False)
    staff = run_result_view(run, staff=True)

    assert company.failure_cases == []
    assert staff.failure_cases == [
        {"case_id": "C0040", "reason": "시간 초과", "detail": "30초 안에 끝나지 않았습니다."}
    ]
    assert company.failures_by_reason == [("시간 초과", 1)]
    assert company.failure_ordinals == [(1, "시간 초과")]
    assert company.determinism == {"checked": 3, "identical": True, "max_abs_diff": "0"}


def test_the_result_view_formats_metrics_with_the_primary_first(evaluation: models.Evaluation) -> None:
    run = finished_run(evaluation)

    view = run_result_view(run, staff=False)

    assert [(row.label, row.value, row.ci, row.method, row.primary) for row in view.metrics] == [
        ("민감도", "0.900", "0.699 – 0.972", "Wilson", True),
        ("특이도", "0.850", "0.640 – 0.948", "Wilson", False),
        ("AUROC", "0.930", "0.860 – 0.990", "DeLong", False),
        ("보정 오차(ECE)", "-", "-", "-", False),
    ]
    assert view.confidence_percent == "95%"
    assert view.counts == {"tp": 18, "fp": 3, "tn": 17, "fn": 2}
    assert [
        (row.metric, row.bound, row.operator, row.target, row.observed, row.passed) for row in view.acceptance
    ] == [("민감도", "신뢰구간 하한", "≥", "0.800", "0.699", False)]
    assert view.subgroup_columns == ["민감도", "특이도"]
    assert [(row.attribute, row.value, row.n, row.suppressed, row.cells) for row in view.subgroups] == [
        ("성별", "F", 20, False, ["0.900 (0.600 – 0.980)", "0.800 (0.500 – 0.950)"]),
        ("기관", "작은의원", None, True, ["", ""]),
    ]
    assert view.subgroups_withheld == ["기관"]
    assert (view.curve_kind, view.curve_points[1]) == ("roc", [0.1, 0.8])
    assert view.environment[:2] == [("평가 프로그램(medbroker)", "0.9.0"), ("Python", "3.11.2")]


def test_the_result_view_explains_what_could_not_be_computed(evaluation: models.Evaluation) -> None:
    previous = finished_run(evaluation)
    run = finished_run(evaluation, results=null_results(previous.pk), environment={"runner": None})

    view = run_result_view(run, staff=False)

    assert [(row.name, row.value, row.ci, row.method, row.raw, row.low) for row in view.metrics] == [
        ("sensitivity", "0.900", "0.699 – 0.972", "Wilson", 0.9, 0.699),
        ("specificity", "-", "-", "-", None, None),
        ("auroc", "1.000", "계산 불가", "-", 1.0, None),
        ("brier", "-", "-", "-", None, None),
    ]
    assert [(row.metric, row.observed, row.passed, row.reason) for row in view.acceptance] == [
        ("AUROC", "-", False, "신뢰구간을 계산할 수 없어(완전 분리 등) 기준을 충족한 것으로 볼 수 없음"),
        (
            "특이도",
            "-",
            False,
            "지표 값을 계산할 수 없어(해당하는 참조 표준 증례가 없는 등) 기준을 충족한 것으로 볼 수 없음",
        ),
        (
            "Brier 점수",
            "-",
            False,
            "기준이 신뢰구간의 유리한 쪽을 보도록 되어 있어(예: 민감도 상한 ≥ 기준값) 기준을 충족한 것으로 볼 수 없음",
        ),
    ]
    assert view.comparison == {
        "run_id": previous.pk,
        "label": "",
        "auc_a": "1.000",
        "auc_b": "1.000",
        "difference": "0.000",
        "ci": "-",
        "z": "-",
        "p_value": "-",
        "note": "두 실행의 AUROC 차이에 분산이 없어(예: 두 실행 모두 완전 분리) 신뢰구간과 z·p 값을 "
        "계산할 수 없습니다.",
    }
    assert [(row.attribute, row.value, row.n, row.suppressed, row.cells) for row in view.subgroups] == [
        ("기관", "경북대학교병원", 24, False, ["0.900 (0.600 – 0.980)", "1.000 (구간 계산 불가)"]),
        ("기관", "계명대학교동산병원", 16, False, ["-", "-"]),
        ("성별", "F", None, True, ["", ""]),
        ("성별", "M", None, True, ["", ""]),
    ]
    assert view.subgroups_withheld == ["성별"]
    assert view.curve_points == [[0.0, 0.0], [0.0, 1.0], [1.0, 1.0]]
    assert view.failures_by_reason == [("시간 초과", 1)]
    assert view.environment == [("평가 프로그램(medbroker)", "-")]


def test_a_tested_comparison_has_no_note(evaluation: models.Evaluation) -> None:
    comparison = {
        "run_id": 7,
        "label": "v1",
        "auc_a": 0.93,
        "auc_b": 0.88,
        "difference": 0.05,
        "ci": [0.01, 0.09],
        "z": 2.4,
        "p_value": 0.016,
    }
    run = finished_run(evaluation, results=binary_results(comparison=comparison))

    view = run_result_view(run, staff=True)

    assert view.comparison is not None
    assert (
        view.comparison["ci"],
        view.comparison["z"],
        view.comparison["p_value"],
        view.comparison["note"],
    ) == (
        "0.010 – 0.090",
        "2.400",
        "0.016",
        "",
    )


def test_failures_are_counted_from_the_list_when_the_results_lack_the_counts(
    evaluation: models.Evaluation,
) -> None:
    results = binary_results()
    del results["failures_by_reason"]
    run = finished_run(
        evaluation,
        results=results,
        failures=[
            {"case_id": "C1", "reason": "error"},
            {"case_id": "C2", "reason": "timeout"},
            {"case_id": "C3", "reason": "error"},
        ],
    )

    assert failures_by_reason(run) == {"error": 2, "timeout": 1}


def test_the_plan_reads_in_words(evaluation: models.Evaluation) -> None:
    plan = {
        **evaluation.plan,
        "acceptance": [{"metric": "sensitivity", "bound": "lower", "operator": ">=", "value": 0.8}],
        "subgroups": ["sex", "age_group"],
    }

    view = plan_view(plan, task_type="binary")

    assert (view.primary, view.secondary, view.threshold, view.confidence_percent, view.ci_method) == (
        "민감도",
        ["특이도", "AUROC"],
        "0.5",
        "95%",
        "Wilson",
    )
    assert [(row.metric, row.bound, row.operator, row.target) for row in view.acceptance] == [
        ("민감도", "신뢰구간 하한", "≥", "0.800")
    ]
    assert view.subgroups == ["성별", "연령대"]
    assert (view.detection, view.segmentation) == ([], [])


def test_the_plan_of_a_detection_test_lists_its_parameters() -> None:
    test_set = TestSetFactory(task_type=models.TaskType.DETECTION, status=models.TestSet.Status.ACTIVE)
    evaluation = EvaluationFactory(test_set=test_set)

    view = plan_view(evaluation.plan, task_type="detection")

    assert view.primary == "FROC 점수"
    assert view.detection == [
        ("일치 판정", "IoU 기준"),
        ("IoU 임계값", "0.500"),
        ("FROC 위양성 수(영상당)", "0.125, 0.25, 0.5, 1, 2, 4, 8"),
    ]


def test_the_quota_left_counts_the_company_s_submissions_of_the_window(
    evaluation: models.Evaluation, settings: Any
) -> None:
    settings.MEDBROKER_EVALUATION_QUOTA = 3
    settings.MEDBROKER_EVALUATION_QUOTA_DAYS = 30
    with time_machine.travel(kst(2025, 8, 1, 10, 0), tick=False):
        SubmissionFactory(evaluation=evaluation)
    with time_machine.travel(kst(2025, 9, 10, 10, 0), tick=False):
        SubmissionFactory(evaluation=evaluation)
        # Another evaluation of the same company spends the same quota.
        SubmissionFactory(evaluation=EvaluationFactory(company=evaluation.company, locked=True))
        SubmissionFactory()

    assert submission_quota_left(evaluation, at=kst(2025, 9, 15, 10, 0)) == 1
    assert submission_quota_left(evaluation, at=kst(2025, 10, 15, 10, 0)) == 3
