"""Reads of the performance tests: who may see which evaluation, run and report, and what of it.

Operators manage everything and auditors read everything, per-case outputs included. A company member (an
applicant of the evaluation's company) sees the company's evaluations, their aggregate results and issued
reports, never the test set's cases, per-case outputs or which cases failed. For anyone else an evaluation
does not exist (404); the views refuse reviewers and data stewards before asking (403).
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import Count, Prefetch, QuerySet
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from medbroker.accounts.models import Role, User
from medbroker.agreements.models import PerformanceTestRequest
from medbroker.core import timeutils
from medbroker.core.errors import NotFoundError
from medbroker.evaluations.models import (
    Evaluation,
    EvaluationRun,
    Submission,
    TaskType,
    TestCase,
    TestReport,
    TestSet,
)
from medbroker.evaluations.plans import METRICS_BY_TASK, metric_label

STAFF_ROLES = (Role.OPERATOR, Role.AUDITOR)
# The subgroup attributes a test set's cases may carry (``TestCase.attributes``), in the order shown.
SUBGROUP_ATTRIBUTES = ("institution", "manufacturer", "age_group", "sex")
SUBGROUP_LABELS = {
    "institution": pgettext_lazy("subgroup attribute", "기관"),
    "manufacturer": pgettext_lazy("subgroup attribute", "제조사"),
    "age_group": pgettext_lazy("subgroup attribute", "연령대"),
    "sex": pgettext_lazy("subgroup attribute", "성별"),
}
# What of ``EvaluationRun.results`` a company may read: aggregates only. Named one by one, so a key added to
# the results later stays with the staff until someone decides that it is an aggregate.
COMPANY_RESULT_KEYS = (
    "task_type",
    "n",
    "failed",
    "confidence",
    "primary_metric",
    "metrics",
    "counts",
    "per_class",
    "curves",
    "subgroups",
    "acceptance",
    "verdict",
    "comparison",
    "failures_by_reason",
)
# Cases listed on the staff's test set page; the rest are counted.
CASES_SHOWN = 100


def mapping_of(value: Any) -> dict[str, Any]:
    """``value`` when it is a JSON object, else an empty one: results and plans are read defensively, so
    a run written by an older version still renders."""
    return value if isinstance(value, dict) else {}


def user_is_staff(user: Any) -> bool:
    return bool(user is not None and user.is_authenticated and user.has_role(*STAFF_ROLES))


def user_is_operator(user: Any) -> bool:
    return bool(user is not None and user.is_authenticated and user.has_role(Role.OPERATOR))


def evaluations_visible_to(user: Any) -> QuerySet[Evaluation]:
    """Operators and auditors: every evaluation; applicants: their company's; anyone else: none."""
    evaluations = Evaluation.objects.select_related(
        "company", "test_set", "test_request__agreement", "plan_locked_by", "created_by"
    )
    if user is None or not user.is_authenticated:
        return evaluations.none()
    if user.has_role(*STAFF_ROLES):
        return evaluations.all()
    if user.has_role(Role.APPLICANT) and user.organisation_id is not None:
        return evaluations.filter(company_id=user.organisation_id)
    return evaluations.none()


def evaluation_for_user(user: Any, pk: int) -> Evaluation:
    evaluation = evaluations_visible_to(user).filter(pk=pk).first()
    if evaluation is None:
        raise NotFoundError("evaluation_not_found", _("성능시험을 찾을 수 없습니다."))
    return evaluation


def run_for_user(user: Any, pk: int) -> EvaluationRun:
    """One run of an evaluation the user may see; any other is not found."""
    run = (
        EvaluationRun.objects.select_related(
            "submission__evaluation__company",
            "submission__evaluation__test_set",
            "submission__evaluation__test_request__agreement",
            "submission__evaluation__plan_locked_by",
            "submission__submitted_by",
            "requested_by",
        )
        .filter(pk=pk, submission__evaluation__in=evaluations_visible_to(user))
        .first()
    )
    if run is None:
        raise NotFoundError("run_not_found", _("시험 실행을 찾을 수 없습니다."))
    return run


def report_for_user(user: Any, pk: int) -> TestReport:
    report = (
        TestReport.objects.select_related("run__submission__evaluation__company", "issued_by")
        .filter(pk=pk, run__submission__evaluation__in=evaluations_visible_to(user))
        .first()
    )
    if report is None:
        raise NotFoundError("report_not_found", _("성적서를 찾을 수 없습니다."))
    return report


def test_sets_for_operator(user: Any) -> QuerySet[TestSet]:
    """Test sets for the lab's staff (operators manage them, auditors read); none for anyone else."""
    test_sets = TestSet.objects.select_related("dataset", "created_by").annotate(case_count=Count("cases"))
    if not user_is_staff(user):
        return test_sets.none()
    return test_sets.order_by("name", "-created_at")


def test_set_for_staff(user: Any, pk: int) -> TestSet:
    test_set = test_sets_for_operator(user).filter(pk=pk).first()
    if test_set is None:
        raise NotFoundError("test_set_not_found", _("시험셋을 찾을 수 없습니다."))
    return test_set


def test_sets_active() -> QuerySet[TestSet]:
    """The test sets a new evaluation may use."""
    return TestSet.objects.filter(status=TestSet.Status.ACTIVE).order_by("name", "-created_at")


@dataclass(frozen=True)
class DistributionRow:
    label: str
    count: int


@dataclass(frozen=True)
class SubgroupDistribution:
    attribute: str
    label: str
    rows: list[DistributionRow]


@dataclass(frozen=True)
class TestSetSummary:
    """Counts over a test set's cases: how many, per class (or per reference kind), per subgroup value."""

    cases: int
    class_balance: list[DistributionRow]
    subgroups: list[SubgroupDistribution]


def _reference_class(test_set: TestSet, reference: dict[str, Any]) -> str:
    classes = [str(name) for name in test_set.classes or []]
    if test_set.task_type in (TaskType.BINARY, TaskType.MULTICLASS):
        label = reference.get("label")
        if isinstance(label, int) and 0 <= label < len(classes):
            return classes[label]
        return str(label)
    if test_set.task_type == TaskType.DETECTION:
        boxes = reference.get("boxes") or []
        return str(_("병변 있음")) if boxes else str(_("병변 없음"))
    return str(_("분할 마스크"))


def test_set_summary(test_set: TestSet) -> TestSetSummary:
    """Case count, class balance and subgroup distribution (counts only) of ``test_set``."""
    rows = list(TestCase.objects.filter(test_set=test_set).values_list("reference", "attributes"))
    classes: Counter[str] = Counter()
    values: dict[str, Counter[str]] = {attribute: Counter() for attribute in SUBGROUP_ATTRIBUTES}
    for reference, attributes in rows:
        classes[_reference_class(test_set, reference or {})] += 1
        for attribute in SUBGROUP_ATTRIBUTES:
            value = (attributes or {}).get(attribute)
            values[attribute][str(value) if value not in (None, "") else "-"] += 1
    order = [str(name) for name in test_set.classes or []]
    class_rows = sorted(
        classes.items(), key=lambda item: (order.index(item[0]) if item[0] in order else len(order), item[0])
    )
    return TestSetSummary(
        cases=len(rows),
        class_balance=[DistributionRow(label=label, count=count) for label, count in class_rows],
        subgroups=[
            SubgroupDistribution(
                attribute=attribute,
                label=str(SUBGROUP_LABELS[attribute]),
                rows=[DistributionRow(label=label, count=count) for label, count in sorted(counter.items())],
            )
            for attribute, counter in values.items()
            if set(counter) != {"-"}
        ],
    )


def test_set_cases_shown(test_set: TestSet) -> QuerySet[TestCase]:
    """The first cases of a test set, for the staff's page only."""
    return TestCase.objects.filter(test_set=test_set).order_by("case_id")[:CASES_SHOWN]


def evaluation_submissions(evaluation: Evaluation) -> list[Submission]:
    """The evaluation's submissions, newest first, each with its runs (newest first) and their reports."""
    runs = (
        EvaluationRun.objects.select_related("requested_by")
        .prefetch_related("reports")
        .order_by("-created_at", "-pk")
    )
    return list(
        Submission.objects.filter(evaluation=evaluation)
        .select_related("submitted_by")
        .prefetch_related(Prefetch("runs", queryset=runs))
        .order_by("-created_at", "-pk")
    )


def submission_quota_used(evaluation: Evaluation, *, at: dt.datetime | None = None) -> int:
    """Submissions the evaluation's company made in the quota's window ending ``at``: the quota is the
    company's, across its evaluations (``submission_create`` counts the same way)."""
    at = at or timeutils.now()
    since = at - dt.timedelta(days=settings.MEDBROKER_EVALUATION_QUOTA_DAYS)
    return Submission.objects.filter(
        evaluation__company_id=evaluation.company_id, created_at__gt=since
    ).count()


def submission_quota_left(evaluation: Evaluation, *, at: dt.datetime | None = None) -> int:
    return max(0, settings.MEDBROKER_EVALUATION_QUOTA - submission_quota_used(evaluation, at=at))


def run_active(run: EvaluationRun) -> bool:
    return run.status in (EvaluationRun.Status.QUEUED, EvaluationRun.Status.RUNNING)


def run_previous_succeeded(run: EvaluationRun) -> EvaluationRun | None:
    """The latest earlier succeeded run of the same evaluation (what a paired comparison is made against)."""
    return (
        EvaluationRun.objects.filter(
            submission__evaluation_id=run.submission.evaluation_id,
            status=EvaluationRun.Status.SUCCEEDED,
            created_at__lte=run.created_at,
        )
        .exclude(pk=run.pk)
        .order_by("-created_at", "-pk")
        .first()
    )


def run_results_for_company(run: EvaluationRun) -> dict[str, Any]:
    """The run's results as a company may read them: aggregates only (metrics, counts, subgroups with small
    cells suppressed, the acceptance check, failures counted by reason), never a case id or a case's output."""
    results = mapping_of(run.results)
    kept = {key: results[key] for key in COMPANY_RESULT_KEYS if key in results}
    subgroups = []
    for row in kept.get("subgroups") or []:
        if not isinstance(row, dict):
            continue
        row = dict(row)
        if row.get("suppressed"):
            # Neither the size nor the metrics of a withheld cell, whatever an older run stored.
            row["n"] = None
            row["metrics"] = {}
        subgroups.append(row)
    if "subgroups" in kept:
        kept["subgroups"] = subgroups
    return kept


def failures_by_reason(run: EvaluationRun) -> dict[str, int]:
    """Failed cases counted by reason: the results' own counts, else counted from the staff's list."""
    results = mapping_of(run.results)
    counted = results.get("failures_by_reason")
    if isinstance(counted, dict):
        return {str(reason): _count(count) for reason, count in counted.items()}
    reasons: Counter[str] = Counter(
        str(failure.get("reason") or "error") for failure in run.failures or [] if isinstance(failure, dict)
    )
    return dict(sorted(reasons.items()))


def _count(value: Any) -> int:
    # A count the results could not give (null) reads as none rather than failing the page.
    number = finite_number(value)
    return int(number) if number is not None else 0


def evaluation_for_test_request(test_request: PerformanceTestRequest) -> Evaluation | None:
    return Evaluation.objects.filter(test_request=test_request).order_by("-created_at", "-pk").first()


def test_request_accepted_for_operator(user: User, pk: int) -> PerformanceTestRequest:
    """An accepted performance-test request an operator may create an evaluation for."""
    test_request = (
        PerformanceTestRequest.objects.select_related("agreement__company")
        .filter(pk=pk, status=PerformanceTestRequest.Status.ACCEPTED)
        .first()
    )
    if test_request is None or not user_is_operator(user):
        raise NotFoundError("test_request_not_found", _("수락된 성능시험 요청을 찾을 수 없습니다."))
    return test_request


# pytest collects any module-level function named test_* that a test module imports; these are selectors.
for _selector in (
    test_sets_for_operator,
    test_set_for_staff,
    test_sets_active,
    test_set_summary,
    test_set_cases_shown,
    test_request_accepted_for_operator,
):
    _selector.__test__ = False  # type: ignore[union-attr]


# --- How results read: labels and formatted rows, shared by the pages, the Excel export and the PDF. ---

# Why an acceptance criterion could not be judged (``results["acceptance"][i]["reason"]``): it then counts
# as not met, and the reader is told why rather than shown a bare "-".
ACCEPTANCE_REASON_LABELS: dict[str, Any] = {
    "value_not_computed": _(
        "지표 값을 계산할 수 없어(해당하는 참조 표준 증례가 없는 등) 기준을 충족한 것으로 볼 수 없음"
    ),
    "interval_not_computed": _("신뢰구간을 계산할 수 없어(완전 분리 등) 기준을 충족한 것으로 볼 수 없음"),
    "direction_invalid": _(
        "기준이 신뢰구간의 유리한 쪽을 보도록 되어 있어(예: 민감도 상한 ≥ 기준값) 기준을 충족한 것으로 볼 수 없음"
    ),
}
ACCEPTANCE_REASON_OTHER = _("관측값을 판정에 쓸 수 없어 기준을 충족한 것으로 볼 수 없음")
# An interval the metric functions could not give for a value they did compute (AUROC of perfectly
# separated classes: DeLong's variance is zero).
INTERVAL_NOT_COMPUTED = _("계산 불가")
CELL_INTERVAL_NOT_COMPUTED = _("구간 계산 불가")
COMPARISON_NOT_TESTED = _(
    "두 실행의 AUROC 차이에 분산이 없어(예: 두 실행 모두 완전 분리) 신뢰구간과 z·p 값을 계산할 수 없습니다."
)
METHOD_LABELS: dict[str, Any] = {
    "wilson": _("Wilson"),
    "clopper-pearson": _("Clopper-Pearson"),
    "delong": _("DeLong"),
    "bootstrap-percentile": _("부트스트랩 백분위수"),
    "none": "-",
}
BOUND_LABELS: dict[str, Any] = {
    "lower": _("신뢰구간 하한"),
    "value": _("점추정값"),
    "upper": _("신뢰구간 상한"),
}
FAILURE_REASON_LABELS: dict[str, Any] = {
    "timeout": _("시간 초과"),
    "error": _("실행 오류"),
    "missing": _("예측 누락"),
}
ENVIRONMENT_LABELS: dict[str, Any] = {
    "runner": _("평가 프로그램(medbroker)"),
    "python": "Python",
    "numpy": "NumPy",
    "scipy": "SciPy",
    "onnxruntime": "ONNX Runtime",
    "sandbox": _("격리 실행 환경"),
    "isolation": _("격리 방식"),
    "network_isolated": _("네트워크 차단"),
    "separate_user": _("별도 사용자로 실행"),
    "filesystem_isolated": _("파일·프로세스 격리"),
    "limits": _("자원 제한"),
}
OPERATOR_SIGNS = {">=": "≥", "<=": "≤"}
CRITERION_LABELS: dict[str, Any] = {
    "iou": _("IoU 기준"),
    "centre": _("중심점 포함 기준"),
}


def method_label(method: str | None) -> str:
    return str(METHOD_LABELS.get(method or "none", method or "-"))


def failure_reason_label(reason: str) -> str:
    return str(FAILURE_REASON_LABELS.get(reason, reason))


def finite_number(value: Any) -> float | None:
    """``value`` as a float when it is a finite number, else None (null, NaN, infinity, text, a bool)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def number_format(value: Any, name: str = "") -> str:
    """A metric value as printed: three decimals (two for distances); "-" when not computable."""
    number = finite_number(value)
    if number is None:
        return "-"
    if name == "hd95":
        return f"{number:.2f}"
    return f"{number:.3f}"


def interval_bounds(ci: Any) -> tuple[float, float] | None:
    """The two finite bounds of an interval, or None when there is no usable interval."""
    if not isinstance(ci, list | tuple) or len(ci) != 2:
        return None
    low, high = finite_number(ci[0]), finite_number(ci[1])
    return None if low is None or high is None else (low, high)


def interval_format(ci: Any, name: str = "") -> str:
    bounds = interval_bounds(ci)
    if bounds is None:
        return "-"
    return f"{number_format(bounds[0], name)} – {number_format(bounds[1], name)}"


@dataclass(frozen=True)
class MetricRow:
    name: str
    label: str
    value: str
    ci: str
    method: str
    primary: bool = False
    raw: float | None = None
    low: float | None = None
    high: float | None = None


def metric_row(name: str, metric: Any, *, primary: str = "") -> MetricRow:
    metric = mapping_of(metric)
    value = finite_number(metric.get("value"))
    bounds = interval_bounds(metric.get("ci"))
    if bounds is not None:
        ci = interval_format(bounds, name)
    else:
        ci = str(INTERVAL_NOT_COMPUTED) if value is not None else "-"
    return MetricRow(
        name=name,
        label=metric_label(name),
        value=number_format(value, name),
        ci=ci,
        method=method_label(metric.get("method")),
        primary=name == primary,
        raw=value,
        low=bounds[0] if bounds else None,
        high=bounds[1] if bounds else None,
    )


# Every metric a result can name, in the order tables list them. Not the order of the stored results:
# PostgreSQL's jsonb keeps an object's keys in its own order, so the page would differ between databases.
_KNOWN_METRICS: tuple[str, ...] = tuple(
    dict.fromkeys(name for names in METRICS_BY_TASK.values() for name in names)
)


def _metric_sort_key(name: str) -> tuple[int, float, str]:
    if name in _KNOWN_METRICS:
        return (_KNOWN_METRICS.index(name), 0.0, name)
    if name.startswith("sensitivity_at_"):
        # Sensitivity at another FP rate than the defaults: among its kind, by rate.
        try:
            rate = float(name.removeprefix("sensitivity_at_"))
        except ValueError:
            rate = math.inf
        return (len(_KNOWN_METRICS), rate, name)
    return (len(_KNOWN_METRICS) + 1, 0.0, name)


def _metric_order(names: list[str], primary: str) -> list[str]:
    """The primary metric first, then the others in the catalogue's order."""
    return sorted(names, key=lambda name: (name != primary, _metric_sort_key(name)))


@dataclass(frozen=True)
class AcceptanceRow:
    metric: str
    bound: str
    operator: str
    target: str
    observed: str
    passed: bool | None
    # Why the criterion could not be judged (then it is not met); empty when it was.
    reason: str = ""


@dataclass(frozen=True)
class SubgroupRow:
    attribute: str
    value: str
    # None for a suppressed cell: its size is never shown, only "비공개" (it may hold k or more cases when it
    # was hidden so that a smaller one cannot be worked out by subtraction).
    n: int | None
    suppressed: bool
    cells: list[str]


@dataclass(frozen=True)
class ClassTableRow:
    name: str
    cells: list[str]


@dataclass(frozen=True)
class RunResultView:
    """A run's results ready to print; ``failure_cases`` is filled for the staff only."""

    task_type: str
    n: int
    failed: int
    confidence_percent: str
    primary_metric: str
    metrics: list[MetricRow]
    counts: dict[str, int] | None
    class_columns: list[str]
    class_rows: list[ClassTableRow]
    subgroup_columns: list[str]
    subgroups: list[SubgroupRow]
    # Attributes none of whose cells is shown (complementary suppression may withhold them all).
    subgroups_withheld: list[str]
    acceptance: list[AcceptanceRow]
    verdict: str
    comparison: dict[str, Any] | None
    failures_by_reason: list[tuple[str, int]]
    failure_ordinals: list[tuple[int, str]]
    failure_cases: list[dict[str, str]]
    curve_kind: str
    curve_points: list[list[float]]
    determinism: dict[str, Any] | None
    environment: list[tuple[str, str]]
    small_cell_k: int


def _subgroup_rows(subgroups: list[Any], columns: list[str]) -> list[SubgroupRow]:
    rows = []
    for row in subgroups:
        if not isinstance(row, dict):
            continue
        metrics = mapping_of(row.get("metrics"))
        n = finite_number(row.get("n"))
        # A cell without a size cannot be told apart from a small one: it is shown as withheld.
        suppressed = bool(row.get("suppressed")) or n is None
        cells = ["" if suppressed else _cell(metrics.get(name), name) for name in columns]
        attribute = str(row.get("attribute") or "")
        rows.append(
            SubgroupRow(
                attribute=str(SUBGROUP_LABELS.get(attribute, attribute)),
                value=str(row.get("value") if row.get("value") not in (None, "") else "-"),
                n=None if suppressed or n is None else int(n),
                suppressed=suppressed,
                cells=cells,
            )
        )
    return rows


def _subgroups_withheld(rows: list[SubgroupRow]) -> list[str]:
    attributes: dict[str, bool] = {}
    for row in rows:
        attributes[row.attribute] = attributes.get(row.attribute, True) and row.suppressed
    return [attribute for attribute, withheld in attributes.items() if withheld]


def _cell(metric: Any, name: str) -> str:
    """A value with its interval in one cell: "0.833 (0.700 – 0.912)"."""
    if not isinstance(metric, dict):
        return "-"
    value = number_format(metric.get("value"), name)
    if value == "-":
        return value
    ci = interval_format(metric.get("ci"), name)
    return f"{value} ({CELL_INTERVAL_NOT_COMPUTED if ci == '-' else ci})"


def _acceptance_rows(rows: list[Any]) -> list[AcceptanceRow]:
    out = []
    for row in rows:
        if not isinstance(row, dict):
            continue
        name = str(row.get("metric") or "")
        passed = row.get("passed")
        reason = row.get("reason")
        out.append(
            AcceptanceRow(
                metric=metric_label(name),
                bound=str(BOUND_LABELS.get(str(row.get("bound")), row.get("bound") or "-")),
                operator=OPERATOR_SIGNS.get(str(row.get("operator")), str(row.get("operator") or "")),
                target=number_format(row.get("target"), name),
                observed=number_format(row.get("observed"), name),
                passed=passed if isinstance(passed, bool) else None,
                reason=acceptance_reason_label(reason) if reason else "",
            )
        )
    return out


def acceptance_reason_label(reason: str) -> str:
    return str(ACCEPTANCE_REASON_LABELS.get(str(reason), ACCEPTANCE_REASON_OTHER))


def _comparison(comparison: Any) -> dict[str, Any] | None:
    if not isinstance(comparison, dict):
        return None
    run_id = comparison.get("run_id")
    tested = (
        interval_bounds(comparison.get("ci")) is not None
        and finite_number(comparison.get("z")) is not None
        and finite_number(comparison.get("p_value")) is not None
    )
    return {
        "run_id": run_id if isinstance(run_id, int) and not isinstance(run_id, bool) else None,
        "label": comparison.get("label") or "",
        "auc_a": number_format(comparison.get("auc_a")),
        "auc_b": number_format(comparison.get("auc_b")),
        "difference": number_format(comparison.get("difference")),
        "ci": interval_format(comparison.get("ci")),
        "z": number_format(comparison.get("z")),
        "p_value": number_format(comparison.get("p_value")),
        "note": "" if tested else str(COMPARISON_NOT_TESTED),
    }


def _determinism(run: EvaluationRun) -> dict[str, Any] | None:
    # Only how many cases were run twice and whether they agreed: the case ids stay with the staff.
    data = mapping_of(run.determinism)
    if not data:
        return None
    cases = data.get("cases")
    identical = data.get("identical")
    difference = finite_number(data.get("max_abs_diff"))
    return {
        "checked": len(cases) if isinstance(cases, list) else _count(cases),
        "identical": identical if isinstance(identical, bool) else None,
        "max_abs_diff": f"{difference:.3g}" if difference is not None else "-",
    }


def _environment(run: EvaluationRun) -> list[tuple[str, str]]:
    data = mapping_of(run.environment)
    rows = []
    for key, value in data.items():
        if isinstance(value, dict):
            text = ", ".join(f"{inner}={_environment_value(item)}" for inner, item in value.items())
        elif isinstance(value, list | tuple):
            text = ", ".join(_environment_value(item) for item in value)
        else:
            text = _environment_value(value)
        rows.append((str(ENVIRONMENT_LABELS.get(str(key), key)), text))
    return rows


def _environment_value(value: Any) -> str:
    if isinstance(value, bool):
        return str(_("예") if value else _("아니요"))
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return str(value)


def _curve_points(points: Any) -> list[list[float]]:
    # Points with a coordinate the results could not give (null) are left out of the drawn curve.
    clean = []
    for point in points if isinstance(points, list) else []:
        if isinstance(point, list | tuple) and len(point) >= 2:
            x, y = finite_number(point[0]), finite_number(point[1])
            if x is not None and y is not None:
                clean.append([x, y])
    return clean


def run_result_view(run: EvaluationRun, *, staff: bool) -> RunResultView:
    """The results of ``run`` for a reader: the staff get the failed cases' ids; a company the aggregates
    only (``run_results_for_company``)."""
    results = mapping_of(run.results) if staff else run_results_for_company(run)
    primary = str(results.get("primary_metric") or "")
    metrics = mapping_of(results.get("metrics"))
    names = _metric_order(list(metrics), primary)
    per_class = mapping_of(results.get("per_class"))
    # Classes (or structures) in the test set's order, whatever order the database kept the keys in.
    class_order = [str(name) for name in run.submission.evaluation.test_set.classes or []]
    per_class = dict(
        sorted(
            per_class.items(),
            key=lambda item: (
                class_order.index(item[0]) if item[0] in class_order else len(class_order),
                item[0],
            ),
        )
    )
    class_names: list[str] = []
    for values in per_class.values():
        for name in mapping_of(values):
            if name not in class_names:
                class_names.append(name)
    class_names = _metric_order(class_names, "")
    subgroups = [row for row in results.get("subgroups") or [] if isinstance(row, dict)]
    subgroup_names: list[str] = []
    for row in subgroups:
        for name in row.get("metrics") or {}:
            if name not in subgroup_names:
                subgroup_names.append(name)
    subgroup_names = _metric_order(subgroup_names, primary)
    curves = mapping_of(results.get("curves"))
    curve_kind = "roc" if curves.get("roc") else "froc" if curves.get("froc") else ""
    curve_points = _curve_points(curves.get(curve_kind)) if curve_kind else []
    if not curve_points:
        curve_kind = ""
    reasons = failures_by_reason(run)
    ordinals = [
        (index, failure_reason_label(str(failure.get("reason") or "error")))
        for index, failure in enumerate((f for f in run.failures or [] if isinstance(f, dict)), start=1)
    ]
    counts = mapping_of(results.get("counts")) or None
    confidence = finite_number(results.get("confidence"))
    subgroup_rows = _subgroup_rows(subgroups, subgroup_names)
    return RunResultView(
        task_type=str(results.get("task_type") or run.submission.evaluation.test_set.task_type),
        n=_count(results.get("n")),
        failed=_count(results.get("failed")),
        confidence_percent=f"{confidence * 100:g}%" if confidence is not None else "-",
        primary_metric=primary,
        metrics=[metric_row(name, metrics[name], primary=primary) for name in names],
        counts={key: _count(counts.get(key)) for key in ("tp", "fp", "tn", "fn")} if counts else None,
        class_columns=[metric_label(name) for name in class_names],
        class_rows=[
            ClassTableRow(
                name=str(class_name),
                cells=[_cell((values or {}).get(name), name) for name in class_names],
            )
            for class_name, values in per_class.items()
        ],
        subgroup_columns=[metric_label(name) for name in subgroup_names],
        subgroups=subgroup_rows,
        subgroups_withheld=_subgroups_withheld(subgroup_rows),
        acceptance=_acceptance_rows(list(results.get("acceptance") or [])),
        verdict=str(results.get("verdict") or run.verdict or ""),
        comparison=_comparison(results.get("comparison")),
        failures_by_reason=[
            (failure_reason_label(reason), count) for reason, count in reasons.items() if count
        ],
        failure_ordinals=ordinals,
        failure_cases=(
            [
                {
                    "case_id": str(failure.get("case_id") or ""),
                    "reason": failure_reason_label(str(failure.get("reason") or "error")),
                    "detail": str(failure.get("detail") or failure.get("message") or ""),
                }
                for failure in run.failures or []
                if isinstance(failure, dict)
            ]
            if staff
            else []
        ),
        curve_kind=curve_kind,
        curve_points=curve_points,
        determinism=_determinism(run),
        environment=_environment(run),
        small_cell_k=int(settings.MEDBROKER_SMALL_CELL_K),
    )


@dataclass(frozen=True)
class PlanView:
    primary: str
    secondary: list[str]
    threshold: str
    confidence_percent: str
    ci_method: str
    bootstrap_resamples: int | None
    seed: int | None
    acceptance: list[AcceptanceRow]
    subgroups: list[str]
    detection: list[tuple[str, str]]
    segmentation: list[tuple[str, str]]
    compare_with_previous: bool


def plan_view(plan: dict[str, Any], *, task_type: str) -> PlanView:
    """An analysis plan as it reads on the page and in the report."""
    plan = mapping_of(plan)
    confidence = plan.get("confidence_level")
    detection = mapping_of(plan.get("detection"))
    segmentation = mapping_of(plan.get("segmentation"))
    detection_rows: list[tuple[str, str]] = []
    if task_type == TaskType.DETECTION and detection:
        criterion = str(detection.get("criterion") or "iou")
        detection_rows = [(str(_("일치 판정")), str(CRITERION_LABELS.get(criterion, criterion)))]
        if criterion == "iou":
            detection_rows.append((str(_("IoU 임계값")), number_format(detection.get("iou_threshold"))))
        detection_rows.append(
            (
                str(_("FROC 위양성 수(영상당)")),
                ", ".join(f"{float(rate):g}" for rate in detection.get("fp_rates") or []),
            )
        )
    segmentation_rows: list[tuple[str, str]] = []
    if task_type == TaskType.SEGMENTATION and segmentation:
        segmentation_rows = [
            (str(_("표면 거리 허용오차(mm)")), f"{float(segmentation.get('tolerance_mm') or 0):g}")
        ]
    acceptance = [
        AcceptanceRow(
            metric=metric_label(str(row.get("metric") or "")),
            bound=str(BOUND_LABELS.get(str(row.get("bound")), row.get("bound") or "-")),
            operator=OPERATOR_SIGNS.get(str(row.get("operator")), str(row.get("operator") or "")),
            target=number_format(row.get("value"), str(row.get("metric") or "")),
            observed="",
            passed=None,
        )
        for row in plan.get("acceptance") or []
        if isinstance(row, dict)
    ]
    threshold = plan.get("threshold")
    return PlanView(
        primary=metric_label(str(plan.get("primary_metric") or "")),
        secondary=[metric_label(str(name)) for name in plan.get("secondary_metrics") or []],
        threshold=f"{float(threshold):g}" if isinstance(threshold, int | float) else "-",
        confidence_percent=f"{float(confidence) * 100:g}%" if isinstance(confidence, int | float) else "-",
        ci_method=method_label(str(plan.get("ci_method") or "none")),
        bootstrap_resamples=plan.get("bootstrap_resamples"),
        seed=plan.get("seed"),
        acceptance=acceptance,
        subgroups=[str(SUBGROUP_LABELS.get(name, name)) for name in plan.get("subgroups") or []],
        detection=detection_rows,
        segmentation=segmentation_rows,
        compare_with_previous=bool(plan.get("compare_with_previous")),
    )
