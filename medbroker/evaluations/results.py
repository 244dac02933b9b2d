"""The results of a run: metrics with intervals, subgroups, the acceptance check and the comparison.

``results_compute`` reads the cases (their references and subgroup attributes), the model's per-case outputs
and the cases that failed, and calls the metric functions of ``evaluations.metrics`` as the locked plan says.
It never drops a case: a case that failed (an error, a timeout) or that the predictions file left out counts
with the worst value it could have had:

- binary: a score below every other for a positive, above every other for a negative
  (``worst_case_scores``): wrong at every threshold and ranked worst for AUROC;
- multi-class: probability 1 on every wrong class and 0 on the true one: the predicted class (the first of
  the highest) is wrong, and for every class's one-vs-rest AUROC the case ranks as badly as it can (a
  negative scored highest, or a positive scored lowest);
- detection: no detection at all in the image, so each of its lesions is missed;
- segmentation: the worst values of ``segmentation_case_failed`` (dice 0, HD95 the volume's diagonal).

Subgroups (the plan's attributes) with fewer than MEDBROKER_SMALL_CELL_K cases are suppressed: neither their
number of cases nor their metrics are given, so no small group of patients can be told apart in what a company
reads. Suppression is complementary: a single suppressed cell could be recovered by subtracting the others
from the whole set, so within an attribute further cells are suppressed, smallest first, until at least two
are and together they hold at least K cases (and the whole attribute when at most one cell would be left).

The results are strict JSON (``json_strict``): a value that is not a finite number is written as null, since
neither PostgreSQL's jsonb nor SQLite's JSON functions accept NaN or Infinity.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings

from medbroker.evaluations.metrics.classification import (
    binary_metrics,
    delong_paired_test,
    multiclass_metrics,
    roc_points,
    worst_case_scores,
)
from medbroker.evaluations.metrics.detection import detection_metrics
from medbroker.evaluations.metrics.segmentation import (
    segmentation_case,
    segmentation_case_failed,
    segmentation_summary,
)
from medbroker.evaluations.plans import acceptance_direction_valid

FAILURE_REASONS = ("timeout", "error", "missing")
SEGMENTATION_NAMES = ("dice", "iou", "hd95", "nsd")

# The metrics of a subset of the cases (a subgroup): name -> MetricValue.
SubsetMetrics = Callable[[np.ndarray], dict[str, Any]]


def _failure_reasons(
    case_ids: Sequence[str], outputs: Mapping[str, Any], failures: Sequence[Mapping[str, Any]]
) -> dict[str, str]:
    """case_id -> reason for every case that has no usable output."""
    reasons = {str(row["case_id"]): str(row.get("reason") or "error") for row in failures}
    for case_id in case_ids:
        if case_id not in reasons and outputs.get(case_id) is None:
            reasons[case_id] = "missing"
    return {case_id: reasons[case_id] for case_id in case_ids if case_id in reasons}


def _score(value: Any) -> float:
    if isinstance(value, list | tuple) and len(value) == 1:
        value = value[0]
    score = float(value)
    if not math.isfinite(score):
        raise ValueError("score is not finite")
    return score


# ---------------------------------------------------------------------------------------------------------
# Per task: the whole set, and a function for subsets
# ---------------------------------------------------------------------------------------------------------


def _binary(
    cases: Sequence[Mapping[str, Any]],
    outputs: Mapping[str, Any],
    reasons: dict[str, str],
    plan: dict[str, Any],
    previous_outputs: Mapping[str, Any] | None,
) -> tuple[dict[str, Any], SubsetMetrics]:
    labels = np.array([int(case["reference"]["label"]) for case in cases], dtype=np.int64)
    scores = np.full(len(cases), np.nan)
    for index, case in enumerate(cases):
        case_id = case["case_id"]
        if case_id in reasons:
            continue
        try:
            scores[index] = _score(outputs[case_id])
        except (TypeError, ValueError):
            reasons[case_id] = "error"
    failed = np.array([case["case_id"] in reasons for case in cases])
    filled = worst_case_scores(labels, scores, failed, threshold=plan["threshold"])
    options = {
        "threshold": plan["threshold"],
        "ci_method": plan["ci_method"],
        "confidence": plan["confidence_level"],
        "bootstrap_resamples": plan["bootstrap_resamples"],
        "seed": plan["seed"],
    }
    computed = binary_metrics(labels, filled, **options)
    part: dict[str, Any] = {
        "metrics": computed["metrics"],
        "counts": computed["counts"],
        "per_class": {},
        "curves": {"roc": roc_points(labels, filled)},
        "comparison": None,
    }
    if previous_outputs is not None and plan["compare_with_previous"]:
        part["comparison"] = _comparison(cases, labels, filled, previous_outputs, plan)

    def subset(index: np.ndarray) -> dict[str, Any]:
        return dict(binary_metrics(labels[index], filled[index], **options)["metrics"])

    return part, subset


def _comparison(
    cases: Sequence[Mapping[str, Any]],
    labels: np.ndarray,
    filled: np.ndarray,
    previous_outputs: Mapping[str, Any],
    plan: dict[str, Any],
) -> dict[str, Any] | None:
    """Paired DeLong test of this run's AUROC against the previous run's, on the same cases; the previous
    run's failed or missing cases count as wrong for it, as this run's do for this one."""
    if labels.min() == labels.max():
        return None
    previous = np.full(len(cases), np.nan)
    for index, case in enumerate(cases):
        value = previous_outputs.get(case["case_id"])
        if value is None:
            continue
        try:
            previous[index] = _score(value)
        except (TypeError, ValueError):
            continue
    previous_filled = worst_case_scores(labels, previous, np.isnan(previous), threshold=plan["threshold"])
    test = delong_paired_test(labels, filled, previous_filled, confidence=plan["confidence_level"])
    # z, p and the interval are None when the difference has no variance (see delong_paired_test).
    return {
        "auc_a": float(test["auc_a"]),
        "auc_b": float(test["auc_b"]),
        "difference": float(test["difference"]),
        "ci": None if test["ci"] is None else [float(test["ci"][0]), float(test["ci"][1])],
        "z": None if test["z"] is None else float(test["z"]),
        "p_value": None if test["p_value"] is None else float(test["p_value"]),
        "method": str(test.get("method", "delong-paired")),
    }


def _multiclass(
    cases: Sequence[Mapping[str, Any]],
    outputs: Mapping[str, Any],
    reasons: dict[str, str],
    plan: dict[str, Any],
    classes: list[str],
) -> tuple[dict[str, Any], SubsetMetrics]:
    k = len(classes)
    labels = np.array([int(case["reference"]["label"]) for case in cases], dtype=np.int64)
    probabilities = np.zeros((len(cases), k))
    for index, case in enumerate(cases):
        case_id = case["case_id"]
        if case_id not in reasons:
            try:
                row = np.asarray(outputs[case_id], dtype=np.float64).reshape(-1)
            except (TypeError, ValueError):
                row = np.empty(0)
            if row.size == k and np.isfinite(row).all():
                probabilities[index] = row
                continue
            reasons[case_id] = "error"
        # The worst answer for every class at once: a single wrong class given 1 would leave the case a
        # harmless negative, scored 0, for the other classes' one-vs-rest AUROC.
        probabilities[index] = 1.0
        probabilities[index, labels[index]] = 0.0
    options = {
        "ci_method": plan["ci_method"],
        "confidence": plan["confidence_level"],
        "bootstrap_resamples": plan["bootstrap_resamples"],
        "seed": plan["seed"],
    }
    computed = multiclass_metrics(labels, probabilities, classes, **options)
    part = {
        "metrics": computed["metrics"],
        "per_class": computed["per_class"],
        "curves": {},
        "counts": {},
        "comparison": None,
    }

    def subset(index: np.ndarray) -> dict[str, Any]:
        return dict(multiclass_metrics(labels[index], probabilities[index], classes, **options)["metrics"])

    return part, subset


def _detection(
    cases: Sequence[Mapping[str, Any]],
    outputs: Mapping[str, Any],
    reasons: dict[str, str],
    plan: dict[str, Any],
) -> tuple[dict[str, Any], SubsetMetrics]:
    references = {
        case["case_id"]: [list(box)[:4] for box in case["reference"].get("boxes") or []] for case in cases
    }
    predictions: dict[str, list[list[float]]] = {}
    for case in cases:
        case_id = case["case_id"]
        if case_id in reasons:
            continue
        boxes = outputs[case_id]
        if isinstance(boxes, list) and all(isinstance(box, list | tuple) and len(box) == 5 for box in boxes):
            predictions[case_id] = [[float(value) for value in box] for box in boxes]
        else:
            reasons[case_id] = "error"
    detection = plan["detection"]
    options = {
        "criterion": detection["criterion"],
        "iou_threshold": detection["iou_threshold"],
        "fp_rates": detection["fp_rates"],
        "confidence": plan["confidence_level"],
        "bootstrap_resamples": plan["bootstrap_resamples"],
        "seed": plan["seed"],
    }
    computed = detection_metrics(references, predictions, **options)
    part = {
        "metrics": computed["metrics"],
        "per_class": {},
        "curves": {"froc": computed["froc"]},
        "counts": {},
        "comparison": None,
    }
    case_ids = [case["case_id"] for case in cases]

    def subset(index: np.ndarray) -> dict[str, Any]:
        chosen = {case_ids[i] for i in index}
        return dict(
            detection_metrics(
                {case_id: references[case_id] for case_id in chosen},
                {case_id: boxes for case_id, boxes in predictions.items() if case_id in chosen},
                **options,
            )["metrics"]
        )

    return part, subset


def _spacing(test_set: Any, ndim: int) -> tuple[float, ...]:
    spacing = tuple(float(value) for value in (test_set.spacing or []))
    if not spacing:
        return (1.0,) * ndim
    if len(spacing) != ndim:
        raise ValueError(f"the test set's spacing has {len(spacing)} values for {ndim}-D masks")
    return spacing


def _segmentation(
    cases: Sequence[Mapping[str, Any]],
    outputs: Mapping[str, Any],
    reasons: dict[str, str],
    plan: dict[str, Any],
    test_set: Any,
    folder: Path,
) -> tuple[dict[str, Any], SubsetMetrics]:
    structures = list(test_set.classes) or ["foreground"]
    tolerance = plan["segmentation"]["tolerance_mm"]
    per_structure: list[list[dict[str, float]]] = [[] for _structure in structures]
    for case in cases:
        case_id = case["case_id"]
        reference = np.load(folder / case["reference"]["mask"], allow_pickle=False)
        spacing = _spacing(test_set, reference.ndim)
        prediction = None if case_id in reasons else np.asarray(outputs[case_id])
        if prediction is not None and prediction.shape != reference.shape:
            reasons[case_id] = "error"
            prediction = None
        for position, values in enumerate(per_structure):
            label = position + 1
            if prediction is None:
                values.append(segmentation_case_failed(tuple(reference.shape), spacing))
            else:
                values.append(
                    segmentation_case(
                        reference == label, prediction == label, spacing=spacing, tolerance_mm=tolerance
                    )
                )
    options = {
        "confidence": plan["confidence_level"],
        "bootstrap_resamples": plan["bootstrap_resamples"],
        "seed": plan["seed"],
    }
    # A case's value is the mean over the structures, so the overall mean is the mean over structures of
    # each structure's mean, and its interval comes from resampling whole cases.
    per_case = [
        {
            name: float(np.mean([values[index][name] for values in per_structure]))
            for name in SEGMENTATION_NAMES
        }
        for index in range(len(cases))
    ]
    part = {
        "metrics": dict(segmentation_summary(per_case, **options)),
        "per_class": {
            name: dict(segmentation_summary(values, **options))
            for name, values in zip(structures, per_structure, strict=True)
        },
        "curves": {},
        "counts": {},
        "comparison": None,
    }

    def subset(index: np.ndarray) -> dict[str, Any]:
        return dict(segmentation_summary([per_case[i] for i in index], **options))

    return part, subset


# ---------------------------------------------------------------------------------------------------------
# Subgroups, acceptance, verdict
# ---------------------------------------------------------------------------------------------------------


def _suppressed_cells(sizes: Mapping[str, int], small_cell: int) -> set[str]:
    """The cells of one attribute (value -> number of cases) whose size and metrics are withheld.

    Every cell under ``small_cell`` is; then, while only one is or together they hold fewer than
    ``small_cell`` cases, the smallest visible cell joins them (a single one is the whole set minus the
    others; two of 1 and 2 cases are still a small group). When at most one cell would stay visible the
    whole attribute is withheld.
    """
    suppressed = {value for value, size in sizes.items() if size < small_cell}
    if not suppressed:
        return suppressed
    visible = sorted((size, value) for value, size in sizes.items() if value not in suppressed)
    while visible and (len(suppressed) == 1 or sum(sizes[value] for value in suppressed) < small_cell):
        suppressed.add(visible.pop(0)[1])
    if len(sizes) - len(suppressed) <= 1:
        return set(sizes)
    return suppressed


def _subgroups(
    cases: Sequence[Mapping[str, Any]], plan: dict[str, Any], subset: SubsetMetrics
) -> list[dict[str, Any]]:
    names = [plan["primary_metric"], *plan["secondary_metrics"]]
    small_cell = int(settings.MEDBROKER_SMALL_CELL_K)
    rows: list[dict[str, Any]] = []
    for attribute in plan["subgroups"]:
        groups: dict[str, list[int]] = {}
        for index, case in enumerate(cases):
            value = (case.get("attributes") or {}).get(attribute)
            if value is not None and str(value) != "":
                groups.setdefault(str(value), []).append(index)
        suppressed = _suppressed_cells({value: len(members) for value, members in groups.items()}, small_cell)
        for value, members in sorted(groups.items()):
            if value in suppressed:
                rows.append(
                    {"attribute": attribute, "value": value, "n": None, "suppressed": True, "metrics": {}}
                )
                continue
            computed = subset(np.array(members, dtype=np.intp))
            rows.append(
                {
                    "attribute": attribute,
                    "value": value,
                    "n": len(members),
                    "suppressed": False,
                    "metrics": {name: computed[name] for name in names if name in computed},
                }
            )
    return rows


def _observed(metric: Mapping[str, Any] | None, bound: str) -> tuple[float | None, str | None]:
    """The number a criterion reads, or None with the reason it cannot be read."""
    if not metric or metric.get("value") is None:
        return None, "value_not_computed"
    if bound == "value":
        return float(metric["value"]), None
    interval = metric.get("ci")
    if not interval:
        return None, "interval_not_computed"
    return float(interval[0] if bound == "lower" else interval[1]), None


def acceptance_check(plan: dict[str, Any], metrics: Mapping[str, Any]) -> tuple[list[dict[str, Any]], str]:
    """Each acceptance criterion against the metrics, and the verdict: "pass" when every criterion is met,
    "fail" when one is not, "none" without criteria.

    A criterion is not met when what it reads cannot be computed: the metric (``reason``
    "value_not_computed") or, for a bound, its interval ("interval_not_computed": too few cases, or no
    variance, as with perfectly separated classes). Nor is one that judges on the lenient side ("upper
    >= target"; ``reason`` "direction_invalid"), which plan validation refuses anyway.
    """
    rows = []
    for criterion in plan["acceptance"]:
        observed, reason = _observed(metrics.get(criterion["metric"]), criterion["bound"])
        target = float(criterion["value"])
        if not acceptance_direction_valid(criterion["metric"], criterion["bound"], criterion["operator"]):
            reason = "direction_invalid"
        passed = (
            reason is None
            and observed is not None
            and (observed >= target if criterion["operator"] == ">=" else observed <= target)
        )
        rows.append(
            {
                "metric": criterion["metric"],
                "bound": criterion["bound"],
                "operator": criterion["operator"],
                "target": target,
                "observed": observed,
                "passed": passed,
                "reason": reason,
            }
        )
    if not rows:
        return rows, "none"
    return rows, "pass" if all(row["passed"] for row in rows) else "fail"


def json_strict(value: Any) -> Any:
    """``value`` as strict JSON data: plain floats, ints, strings, lists and dicts, with every NaN or
    infinity (and every number numpy could not make finite) as None. Raises ValueError for anything JSON
    cannot hold."""
    strict = _json_strict(value)
    json.dumps(strict, allow_nan=False)
    return strict


def _json_strict(value: Any) -> Any:
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        number = float(value)
        return number if math.isfinite(number) else None
    if isinstance(value, Mapping):
        return {str(key): _json_strict(item) for key, item in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [_json_strict(item) for item in value]
    raise ValueError(f"{type(value).__name__} is not JSON data")


def results_compute(
    *,
    test_set: Any,
    plan: dict[str, Any],
    cases: Sequence[Mapping[str, Any]],
    outputs: Mapping[str, Any],
    failures: Sequence[Mapping[str, Any]],
    previous_outputs: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The results JSON of a run (the shape is in the shared description of ``EvaluationRun.results``).

    ``cases``: dicts with ``case_id``, ``reference`` and ``attributes``; ``outputs``: case_id -> the model's
    value (binary: the score; multi-class: the class probabilities; detection: ``[[x, y, w, h, score]]``;
    segmentation: the label map as an array); ``failures``: ``[{"case_id", "reason"}]``. A case in neither
    is "missing". ``previous_outputs`` (binary scores of an earlier run) adds the paired comparison; the
    caller adds which run that was.
    """
    ordered = sorted(cases, key=lambda case: str(case["case_id"]))
    case_ids = [str(case["case_id"]) for case in ordered]
    reasons = _failure_reasons(case_ids, outputs, failures)
    task_type = test_set.task_type
    if task_type == "binary":
        part, subset = _binary(ordered, outputs, reasons, plan, previous_outputs)
    elif task_type == "multiclass":
        part, subset = _multiclass(ordered, outputs, reasons, plan, list(test_set.classes))
    elif task_type == "detection":
        part, subset = _detection(ordered, outputs, reasons, plan)
    elif task_type == "segmentation":
        from medbroker.evaluations.services.test_sets import test_set_folder

        part, subset = _segmentation(ordered, outputs, reasons, plan, test_set, test_set_folder(test_set))
    else:
        raise ValueError(f"unknown task type {task_type!r}")
    acceptance, verdict = acceptance_check(plan, part["metrics"])
    counted = Counter(reasons.values())
    return json_strict(
        {
            "task_type": task_type,
            "n": len(ordered),
            "failed": len(reasons),
            "confidence": plan["confidence_level"],
            "primary_metric": plan["primary_metric"],
            "metrics": part["metrics"],
            "counts": part["counts"],
            "per_class": part["per_class"],
            "curves": part["curves"],
            "subgroups": _subgroups(ordered, plan, subset),
            "acceptance": acceptance,
            "verdict": verdict,
            "comparison": part["comparison"],
            "failures_by_reason": {reason: counted.get(reason, 0) for reason in FAILURE_REASONS},
        }
    )
