"""The analysis plan of an evaluation: which metrics, at what threshold and confidence, judged how.

The plan is fixed before any result exists (locking stores its SHA-256), so the numbers a report gives cannot
have been chosen after the lab saw the model's outputs. Its shape::

    {"primary_metric": "sensitivity", "secondary_metrics": ["specificity", "auroc"], "threshold": 0.5,
     "confidence_level": 0.95, "ci_method": "wilson", "bootstrap_resamples": 2000, "seed": 20251,
     "acceptance": [{"metric": "sensitivity", "bound": "lower", "operator": ">=", "value": 0.8}],
     "subgroups": ["institution", "manufacturer", "age_group", "sex"],
     "detection": {"criterion": "iou", "iou_threshold": 0.5, "fp_rates": [0.125, ..., 8]},
     "segmentation": {"tolerance_mm": 2.0}, "compare_with_previous": true}

Every plan carries every key, whatever the task: forms and reports read one shape, and the keys a task does
not use (the detection parameters of a binary test) are simply not read by the computation.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from medbroker.core.errors import DomainError
from medbroker.evaluations.metrics.classification import BINARY_METRICS
from medbroker.evaluations.metrics.detection import FP_RATES_DEFAULT, format_rate

# As floats: the plan is hashed as JSON, where 1 and 1.0 are written differently.
DEFAULT_FP_RATES: tuple[float, ...] = tuple(float(rate) for rate in FP_RATES_DEFAULT)

MULTICLASS_METRICS: tuple[str, ...] = (
    "accuracy",
    "macro_sensitivity",
    "macro_specificity",
    "macro_ppv",
    "macro_f1",
    "macro_auroc",
)
SEGMENTATION_METRICS: tuple[str, ...] = ("dice", "iou", "hd95", "nsd")


def detection_metric_names(fp_rates: Iterable[float] = DEFAULT_FP_RATES) -> tuple[str, ...]:
    """The detection metrics: AP, the FROC score and the sensitivity at each false-positive rate."""
    return (
        "average_precision",
        "froc_score",
        *(f"sensitivity_at_{format_rate(rate)}" for rate in fp_rates),
    )


# The metrics each task reports, with the default false-positive rates for detection (a plan with other
# rates has the matching "sensitivity_at_<rate>" names: see ``plan_metric_names``).
METRICS_BY_TASK: dict[str, tuple[str, ...]] = {
    "binary": BINARY_METRICS,
    "multiclass": MULTICLASS_METRICS,
    "detection": detection_metric_names(),
    "segmentation": SEGMENTATION_METRICS,
}

# Smaller is better for these: an acceptance criterion on them is "upper bound (or value) <= target".
LOWER_IS_BETTER: frozenset[str] = frozenset({"brier", "ece", "hd95"})
# Metrics with no natural upper limit (millimetres); every other one lies in [0, 1].
UNBOUNDED_METRICS: frozenset[str] = frozenset({"hd95"})

CI_METHODS: tuple[str, ...] = ("wilson", "clopper-pearson")
BOUNDS: tuple[str, ...] = ("lower", "value", "upper")
OPERATORS: tuple[str, ...] = (">=", "<=")
DETECTION_CRITERIA: tuple[str, ...] = ("iou", "centre")
DEFAULT_SUBGROUPS: tuple[str, ...] = ("institution", "manufacturer", "age_group", "sex")
BOOTSTRAP_MIN, BOOTSTRAP_MAX = 200, 20000
SEED_MAX = 2**32 - 1
# An attribute name: a column of the cases file (letters, digits, underscore).
_ATTRIBUTE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,49}$")

_LABELS: dict[str, Any] = {
    "sensitivity": gettext_lazy("민감도"),
    "specificity": gettext_lazy("특이도"),
    "ppv": gettext_lazy("양성예측도"),
    "npv": gettext_lazy("음성예측도"),
    "accuracy": gettext_lazy("정확도"),
    "balanced_accuracy": gettext_lazy("균형 정확도"),
    "f1": gettext_lazy("F1 점수"),
    "auroc": gettext_lazy("AUROC"),
    "auprc": gettext_lazy("AUPRC"),
    "brier": gettext_lazy("Brier 점수"),
    "ece": gettext_lazy("보정 오차(ECE)"),
    "macro_sensitivity": gettext_lazy("평균 민감도(macro)"),
    "macro_specificity": gettext_lazy("평균 특이도(macro)"),
    "macro_ppv": gettext_lazy("평균 양성예측도(macro)"),
    "macro_f1": gettext_lazy("평균 F1 점수(macro)"),
    "macro_auroc": gettext_lazy("평균 AUROC(macro)"),
    "average_precision": gettext_lazy("평균 정밀도(AP)"),
    "froc_score": gettext_lazy("FROC 점수"),
    "dice": gettext_lazy("Dice"),
    "iou": gettext_lazy("IoU"),
    "hd95": gettext_lazy("HD95(mm)"),
    "nsd": gettext_lazy("NSD"),
}

_DEFAULT_METRICS: dict[str, tuple[str, list[str]]] = {
    "binary": ("sensitivity", ["specificity", "auroc"]),
    "multiclass": ("accuracy", ["macro_sensitivity", "macro_f1", "macro_auroc"]),
    "detection": ("froc_score", ["average_precision", "sensitivity_at_1"]),
    "segmentation": ("dice", ["hd95", "nsd"]),
}

_KEYS = frozenset(
    {
        "primary_metric",
        "secondary_metrics",
        "threshold",
        "confidence_level",
        "ci_method",
        "bootstrap_resamples",
        "seed",
        "acceptance",
        "subgroups",
        "detection",
        "segmentation",
        "compare_with_previous",
    }
)


def metric_label(name: str) -> str:
    """The Korean (or, under an English translation, English) name of a metric for pages and reports."""
    if name.startswith("sensitivity_at_"):
        rate = name.removeprefix("sensitivity_at_")
        return _("영상당 위양성 %(rate)s개에서의 민감도") % {"rate": rate}
    label = _LABELS.get(name)
    return str(label) if label is not None else name


def metric_lower_is_better(name: str) -> bool:
    return name in LOWER_IS_BETTER


def acceptance_direction_valid(metric: str, bound: str, operator: str) -> bool:
    """Whether a criterion asks for the metric to be good enough, judged on the cautious side.

    Higher is better for most metrics: ``>=`` on the interval's lower bound or on the value. For the
    lower-is-better ones: ``<=`` on the upper bound or on the value. The other combinations are met by a
    bad model ("sensitivity upper >= 0.8" passes with a sensitivity of 0.5 on a few cases; "hd95 lower
    <= 5" rewards an uncertain HD95), so a plan may not name them.
    """
    if metric in LOWER_IS_BETTER:
        return operator == "<=" and bound in ("upper", "value")
    return operator == ">=" and bound in ("lower", "value")


def plan_metric_names(task_type: str, plan: dict[str, Any] | None = None) -> tuple[str, ...]:
    """The metrics a plan of ``task_type`` may name (detection: with the plan's own false-positive rates)."""
    if task_type == "detection" and plan is not None:
        rates = (plan.get("detection") or {}).get("fp_rates") or DEFAULT_FP_RATES
        return detection_metric_names(rates)
    return METRICS_BY_TASK[task_type]


def plan_default(task_type: str) -> dict[str, Any]:
    """The plan a new evaluation starts with; the operator edits it before locking."""
    if task_type not in METRICS_BY_TASK:
        raise DomainError("task_type_invalid", _("알 수 없는 과제 유형입니다."), field="task_type")
    primary, secondary = _DEFAULT_METRICS[task_type]
    return {
        "primary_metric": primary,
        "secondary_metrics": list(secondary),
        "threshold": 0.5,
        "confidence_level": 0.95,
        "ci_method": "wilson",
        "bootstrap_resamples": 2000,
        "seed": 20251,
        "acceptance": [],
        "subgroups": list(DEFAULT_SUBGROUPS),
        "detection": {"criterion": "iou", "iou_threshold": 0.5, "fp_rates": list(DEFAULT_FP_RATES)},
        "segmentation": {"tolerance_mm": 2.0},
        "compare_with_previous": True,
    }


def plan_sha256(plan: dict[str, Any]) -> str:
    """SHA-256 of the plan's canonical JSON (sorted keys, no spaces, UTF-8): the same plan, the same hash."""
    canonical = json.dumps(plan, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


# ---------------------------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------------------------


def _invalid(field: str, message: str) -> DomainError:
    return DomainError("plan_invalid", message, field=field)


def _number(value: Any, field: str, label: str) -> float:
    # bool is an int in Python; true/false in a plan is a mistake, not 1/0.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _invalid(field, _("%(label)s은(는) 숫자여야 합니다.") % {"label": label})
    number = float(value)
    if not math.isfinite(number):
        raise _invalid(field, _("%(label)s은(는) 유한한 숫자여야 합니다.") % {"label": label})
    return number


def _integer(value: Any, field: str, label: str) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _invalid(field, _("%(label)s은(는) 정수여야 합니다.") % {"label": label})
    return value


def _metric(value: Any, allowed: tuple[str, ...], field: str, task_type: str) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise _invalid(
            field,
            _(
                "'%(metric)s'은(는) 이 과제(%(task)s)에서 쓸 수 있는 지표가 아닙니다. 쓸 수 있는 지표: %(allowed)s"
            )
            % {"metric": value, "task": task_type, "allowed": ", ".join(allowed)},
        )
    return value


def _detection(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _invalid("detection", _("검출 설정 형식이 올바르지 않습니다."))
    unknown = set(value) - {"criterion", "iou_threshold", "fp_rates"}
    if unknown:
        raise _invalid(
            "detection",
            _("검출 설정에 알 수 없는 항목이 있습니다: %(keys)s") % {"keys": ", ".join(sorted(unknown))},
        )
    criterion = value.get("criterion", "iou")
    if criterion not in DETECTION_CRITERIA:
        raise _invalid("detection", _("검출 판정 기준은 iou 또는 centre여야 합니다."))
    iou_threshold = _number(value.get("iou_threshold", 0.5), "detection", _("IoU 기준값"))
    if not 0 < iou_threshold <= 1:
        raise _invalid("detection", _("IoU 기준값은 0보다 크고 1 이하여야 합니다."))
    rates_in = value.get("fp_rates", list(DEFAULT_FP_RATES))
    if not isinstance(rates_in, list) or not rates_in:
        raise _invalid("detection", _("영상당 위양성 수 목록을 하나 이상 입력해 주세요."))
    rates = sorted({_number(rate, "detection", _("영상당 위양성 수")) for rate in rates_in})
    if rates[0] <= 0 or len(rates) > 20:
        raise _invalid("detection", _("영상당 위양성 수는 0보다 커야 하며 20개까지 입력할 수 있습니다."))
    return {"criterion": criterion, "iou_threshold": iou_threshold, "fp_rates": rates}


def _segmentation(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict) or set(value) - {"tolerance_mm"}:
        raise _invalid("segmentation", _("분할 설정 형식이 올바르지 않습니다."))
    tolerance = _number(value.get("tolerance_mm", 2.0), "segmentation", _("허용 거리(mm)"))
    if not 0 < tolerance <= 100:
        raise _invalid("segmentation", _("허용 거리(mm)는 0보다 크고 100 이하여야 합니다."))
    return {"tolerance_mm": tolerance}


def _acceptance(rows: Any, allowed: tuple[str, ...], task_type: str) -> list[dict[str, Any]]:
    if not isinstance(rows, list):
        raise _invalid("acceptance", _("판정 기준은 목록이어야 합니다."))
    if len(rows) > 20:
        raise _invalid("acceptance", _("판정 기준은 20개까지 정할 수 있습니다."))
    result: list[dict[str, Any]] = []
    for number, row in enumerate(rows, start=1):
        prefix = _("판정 기준 %(number)d번째 줄: ") % {"number": number}
        if not isinstance(row, dict) or set(row) != {"metric", "bound", "operator", "value"}:
            raise _invalid(
                "acceptance", prefix + _("metric, bound, operator, value 네 항목이 있어야 합니다.")
            )
        try:
            metric = _metric(row["metric"], allowed, "acceptance", task_type)
            bound, operator = row["bound"], row["operator"]
            if bound not in BOUNDS:
                raise _invalid("acceptance", _("bound는 lower, value, upper 중 하나여야 합니다."))
            if operator not in OPERATORS:
                raise _invalid("acceptance", _("operator는 >= 또는 <=여야 합니다."))
            if not acceptance_direction_valid(metric, bound, operator):
                raise _invalid(
                    "acceptance",
                    _(
                        "%(metric)s은(는) 값이 작을수록 좋은 지표이므로 upper(신뢰구간 상한) 또는 value에 "
                        "<= 로만 기준을 정할 수 있습니다."
                    )
                    % {"metric": metric}
                    if metric in LOWER_IS_BETTER
                    else _(
                        "%(metric)s은(는) 값이 클수록 좋은 지표이므로 lower(신뢰구간 하한) 또는 value에 "
                        ">= 로만 기준을 정할 수 있습니다."
                    )
                    % {"metric": metric},
                )
            value = _number(row["value"], "acceptance", _("기준값"))
            if metric not in UNBOUNDED_METRICS and not 0 <= value <= 1:
                raise _invalid("acceptance", _("이 지표의 기준값은 0과 1 사이여야 합니다."))
            if metric in UNBOUNDED_METRICS and value < 0:
                raise _invalid("acceptance", _("기준값은 0 이상이어야 합니다."))
        except DomainError as error:
            raise _invalid("acceptance", prefix + str(error.message)) from None
        result.append({"metric": metric, "bound": bound, "operator": operator, "value": value})
    return result


def _subgroups(value: Any) -> list[str]:
    if not isinstance(value, list):
        raise _invalid("subgroups", _("하위군 속성은 목록이어야 합니다."))
    names: list[str] = []
    for name in value:
        if not isinstance(name, str) or not _ATTRIBUTE_NAME.match(name):
            raise _invalid("subgroups", _("하위군 속성 이름이 올바르지 않습니다: %(name)s") % {"name": name})
        if name not in names:
            names.append(name)
    return names


def plan_validate(plan: dict[str, Any], *, test_set: Any) -> dict[str, Any]:
    """The plan checked against the test set's task and normalised (numbers as floats, lists deduplicated,
    false-positive rates sorted); missing keys take the default. Raises ``DomainError`` (field = the key)."""
    task_type = test_set.task_type
    if not isinstance(plan, dict):
        raise _invalid("plan", _("분석계획 형식이 올바르지 않습니다."))
    unknown = set(plan) - _KEYS
    if unknown:
        raise _invalid(
            "plan",
            _("분석계획에 알 수 없는 항목이 있습니다: %(keys)s") % {"keys": ", ".join(sorted(unknown))},
        )
    merged = {**plan_default(task_type), **plan}
    detection = _detection(merged["detection"])
    allowed = plan_metric_names(task_type, {"detection": detection})
    primary = _metric(merged["primary_metric"], allowed, "primary_metric", task_type)
    secondary_in = merged["secondary_metrics"]
    if not isinstance(secondary_in, list):
        raise _invalid("secondary_metrics", _("보조 지표는 목록이어야 합니다."))
    secondary: list[str] = []
    for name in secondary_in:
        name = _metric(name, allowed, "secondary_metrics", task_type)
        if name != primary and name not in secondary:
            secondary.append(name)
    threshold = _number(merged["threshold"], "threshold", _("판정 임계값"))
    if not 0 <= threshold <= 1:
        raise _invalid("threshold", _("판정 임계값은 0과 1 사이여야 합니다."))
    confidence = _number(merged["confidence_level"], "confidence_level", _("신뢰수준"))
    if not 0.5 < confidence < 1:
        raise _invalid("confidence_level", _("신뢰수준은 0.5보다 크고 1보다 작아야 합니다 (예: 0.95)."))
    ci_method = merged["ci_method"]
    if ci_method not in CI_METHODS:
        raise _invalid("ci_method", _("신뢰구간 방법은 wilson 또는 clopper-pearson이어야 합니다."))
    resamples = _integer(merged["bootstrap_resamples"], "bootstrap_resamples", _("부트스트랩 반복 횟수"))
    if not BOOTSTRAP_MIN <= resamples <= BOOTSTRAP_MAX:
        raise _invalid(
            "bootstrap_resamples",
            _("부트스트랩 반복 횟수는 %(low)d 이상 %(high)d 이하여야 합니다.")
            % {"low": BOOTSTRAP_MIN, "high": BOOTSTRAP_MAX},
        )
    seed = _integer(merged["seed"], "seed", _("난수 시드"))
    if not 0 <= seed <= SEED_MAX:
        raise _invalid("seed", _("난수 시드는 0 이상 %(high)d 이하의 정수여야 합니다.") % {"high": SEED_MAX})
    compare = merged["compare_with_previous"]
    if not isinstance(compare, bool):
        raise _invalid("compare_with_previous", _("이전 제출과 비교 여부는 true 또는 false여야 합니다."))
    return {
        "primary_metric": primary,
        "secondary_metrics": secondary,
        "threshold": threshold,
        "confidence_level": confidence,
        "ci_method": ci_method,
        "bootstrap_resamples": resamples,
        "seed": seed,
        "acceptance": _acceptance(merged["acceptance"], allowed, task_type),
        "subgroups": _subgroups(merged["subgroups"]),
        "detection": detection,
        "segmentation": _segmentation(merged["segmentation"]),
        "compare_with_previous": compare,
    }
