"""Results of a run: the metric functions called as the plan says, failures counted as wrong, subgroups with
small cells suppressed, the acceptance check and the paired comparison."""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

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
from medbroker.evaluations.plans import plan_default, plan_validate
from medbroker.evaluations.results import acceptance_check, json_strict, results_compute

BINARY = SimpleNamespace(task_type="binary", classes=["음성", "양성"], spacing=[])
LABELS = [1, 0, 1, 1, 0, 0, 1, 0, 1, 0, 1, 0, 0, 1, 0, 1, 1, 0, 0, 1]
SCORES = [
    0.9,
    0.2,
    0.7,
    0.4,
    0.6,
    0.1,
    0.8,
    0.3,
    0.55,
    0.45,
    0.95,
    0.05,
    0.35,
    0.65,
    0.5,
    0.85,
    0.3,
    0.7,
    0.15,
    0.75,
]
SEXES = ["M", "F"] * 10
SITES = ["경북대학교병원"] * 16 + ["계명대학교동산병원"] * 4


def _plan(task_type: str = "binary", **changes: Any) -> dict[str, Any]:
    plan = {**plan_default(task_type), "bootstrap_resamples": 200, **changes}
    return plan_validate(plan, test_set=SimpleNamespace(task_type=task_type))


def _cases(references: list[dict[str, Any]], **attributes: list[str]) -> list[dict[str, Any]]:
    return [
        {
            "case_id": f"C{index + 1:02d}",
            "reference": reference,
            "attributes": {name: values[index] for name, values in attributes.items()},
        }
        for index, reference in enumerate(references)
    ]


def _binary_inputs() -> tuple[list[dict[str, Any]], dict[str, Any], list[dict[str, str]]]:
    cases = _cases([{"label": label} for label in LABELS], sex=SEXES, institution=SITES)
    outputs = {case["case_id"]: score for case, score in zip(cases, SCORES, strict=True)}
    # C02 timed out, C03 errored, C04 is not in the outputs at all.
    failures = [{"case_id": "C02", "reason": "timeout"}, {"case_id": "C03", "reason": "error"}]
    for case_id in ("C02", "C03", "C04"):
        outputs.pop(case_id)
    return cases, outputs, failures


def _filled() -> np.ndarray:
    failed = np.zeros(len(LABELS), dtype=bool)
    failed[[1, 2, 3]] = True
    return worst_case_scores(np.array(LABELS), np.where(failed, np.nan, SCORES), failed, threshold=0.5)


def test_binary_results_count_every_failure_as_wrong(settings: Any) -> None:
    settings.MEDBROKER_SMALL_CELL_K = 5
    cases, outputs, failures = _binary_inputs()
    plan = _plan(
        acceptance=[
            {"metric": "sensitivity", "bound": "lower", "operator": ">=", "value": 0.3},
            {"metric": "specificity", "bound": "value", "operator": ">=", "value": 0.9},
        ]
    )

    results = results_compute(test_set=BINARY, plan=plan, cases=cases, outputs=outputs, failures=failures)

    labels, filled = np.array(LABELS), _filled()
    expected = binary_metrics(
        labels,
        filled,
        threshold=0.5,
        ci_method="wilson",
        confidence=0.95,
        bootstrap_resamples=200,
        seed=20251,
    )
    assert results["metrics"] == expected["metrics"]
    # The failed positives (C03, C04) are missed and the failed negative (C02) is a false positive.
    assert results["counts"] == expected["counts"] == {"tp": 7, "fp": 4, "tn": 6, "fn": 3}
    assert (results["task_type"], results["n"], results["failed"]) == ("binary", 20, 3)
    assert results["failures_by_reason"] == {"timeout": 1, "error": 1, "missing": 1}
    assert (results["confidence"], results["primary_metric"]) == (0.95, "sensitivity")
    assert results["curves"] == {"roc": roc_points(labels, filled)}
    assert results["per_class"] == {}
    assert results["comparison"] is None
    sensitivity, specificity = expected["metrics"]["sensitivity"], expected["metrics"]["specificity"]
    assert results["acceptance"] == [
        {
            "metric": "sensitivity",
            "bound": "lower",
            "operator": ">=",
            "target": 0.3,
            "observed": sensitivity["ci"][0],
            "passed": True,
            "reason": None,
        },
        {
            "metric": "specificity",
            "bound": "value",
            "operator": ">=",
            "target": 0.9,
            "observed": specificity["value"],
            "passed": False,
            "reason": None,
        },
    ]
    assert specificity["value"] == 0.6
    assert results["verdict"] == "fail"


def test_subgroups_below_the_small_cell_threshold_are_suppressed(settings: Any) -> None:
    settings.MEDBROKER_SMALL_CELL_K = 5
    cases, outputs, failures = _binary_inputs()
    plan = _plan(subgroups=["institution", "sex", "manufacturer"])

    results = results_compute(test_set=BINARY, plan=plan, cases=cases, outputs=outputs, failures=failures)

    labels, filled = np.array(LABELS), _filled()

    def subset(indices: list[int]) -> dict[str, Any]:
        metrics = binary_metrics(
            labels[indices],
            filled[indices],
            threshold=0.5,
            confidence=0.95,
            bootstrap_resamples=200,
            seed=20251,
        )["metrics"]
        return {name: metrics[name] for name in ("sensitivity", "specificity", "auroc")}

    # 4 cases at one institution are suppressed; the other institution's 16 too, or 20 − 16 would give 4.
    assert results["subgroups"] == [
        {
            "attribute": "institution",
            "value": "경북대학교병원",
            "n": None,
            "suppressed": True,
            "metrics": {},
        },
        {
            "attribute": "institution",
            "value": "계명대학교동산병원",
            "n": None,
            "suppressed": True,
            "metrics": {},
        },
        {
            "attribute": "sex",
            "value": "F",
            "n": 10,
            "suppressed": False,
            "metrics": subset(list(range(1, 20, 2))),
        },
        {
            "attribute": "sex",
            "value": "M",
            "n": 10,
            "suppressed": False,
            "metrics": subset(list(range(0, 20, 2))),
        },
    ]


def test_the_paired_comparison_with_an_earlier_run(settings: Any) -> None:
    cases, outputs, failures = _binary_inputs()
    # The earlier run scored every case but C01, which it is missing (counted wrong for it).
    previous = {case["case_id"]: 1 - score for case, score in zip(cases, SCORES, strict=True)}
    previous.pop("C01")

    results = results_compute(
        test_set=BINARY,
        plan=_plan(),
        cases=cases,
        outputs=outputs,
        failures=failures,
        previous_outputs=previous,
    )

    labels = np.array(LABELS)
    previous_scores = np.array([np.nan, *(1 - np.array(SCORES[1:]))])
    previous_filled = worst_case_scores(labels, previous_scores, np.isnan(previous_scores), threshold=0.5)
    test = delong_paired_test(labels, _filled(), previous_filled, confidence=0.95)
    assert results["comparison"] == {
        "auc_a": test["auc_a"],
        "auc_b": test["auc_b"],
        "difference": test["difference"],
        "ci": list(test["ci"]),
        "z": test["z"],
        "p_value": test["p_value"],
        "method": "delong-paired",
    }
    assert results["comparison"]["auc_a"] == results["metrics"]["auroc"]["value"]
    # The plan may leave the comparison out.
    without = results_compute(
        test_set=BINARY,
        plan=_plan(compare_with_previous=False),
        cases=cases,
        outputs=outputs,
        failures=failures,
        previous_outputs=previous,
    )
    assert without["comparison"] is None


def test_a_comparison_without_variance_is_stored_without_a_test(settings: Any) -> None:
    # This run separates the classes perfectly, the earlier one tied every case: both AUROCs have no
    # variance, yet they differ, so z would be infinite.
    cases = _cases([{"label": label} for label in LABELS])
    outputs = {case["case_id"]: 0.9 if label else 0.1 for case, label in zip(cases, LABELS, strict=True)}
    previous = {case["case_id"]: 0.5 for case in cases}

    results = results_compute(
        test_set=BINARY, plan=_plan(), cases=cases, outputs=outputs, failures=[], previous_outputs=previous
    )

    assert results["comparison"] == {
        "auc_a": 1.0,
        "auc_b": 0.5,
        "difference": 0.5,
        "ci": None,
        "z": None,
        "p_value": None,
        "method": "delong-paired",
    }
    json.dumps(results, allow_nan=False)


def test_results_are_strict_json() -> None:
    value = {
        "a": float("nan"),
        "b": [np.float64(np.inf), np.int64(3), -math.inf],
        "c": (1.5, np.bool_(True)),
        "d": {"e": np.float32(0.25)},
    }

    assert json_strict(value) == {"a": None, "b": [None, 3, None], "c": [1.5, True], "d": {"e": 0.25}}
    with pytest.raises(ValueError, match="set is not JSON data"):
        json_strict({"a": {1, 2}})


@pytest.mark.parametrize(
    ("sizes", "shown"),
    [
        # Nothing small: every cell shown.
        ({"A": 9, "B": 6, "C": 5}, {"A": 9, "B": 6, "C": 5}),
        # One small cell would be the whole minus the others: the next smallest (D, 6) goes with it.
        ({"A": 8, "B": 7, "C": 3, "D": 6}, {"A": 8, "B": 7}),
        # Two small cells of 3 and 2 hold 5 cases together: enough.
        ({"A": 8, "B": 7, "C": 3, "D": 2}, {"A": 8, "B": 7}),
        # 2 + 1 < 5: the smallest visible cell (B) joins them, and A alone would be the whole minus them.
        ({"A": 10, "B": 7, "C": 2, "D": 1}, {}),
        # 19 and 1: the whole attribute.
        ({"M": 19, "F": 1}, {}),
        # Ties: the first value in order goes.
        ({"A": 6, "B": 6, "C": 6, "D": 2}, {"B": 6, "C": 6}),
    ],
)
def test_small_cells_cannot_be_recovered_by_subtraction(
    settings: Any, sizes: dict[str, int], shown: dict[str, int]
) -> None:
    settings.MEDBROKER_SMALL_CELL_K = 5
    values = [value for value, size in sizes.items() for _ in range(size)]
    cases = _cases([{"label": label} for label in LABELS[: len(values)]], site=values)
    outputs = {case["case_id"]: score for case, score in zip(cases, SCORES, strict=False)}

    results = results_compute(
        test_set=BINARY, plan=_plan(subgroups=["site"]), cases=cases, outputs=outputs, failures=[]
    )

    rows = results["subgroups"]
    assert [row["value"] for row in rows] == sorted(sizes)
    assert {row["value"]: row["n"] for row in rows if not row["suppressed"]} == shown
    for row in rows:
        if row["suppressed"]:
            assert (row["n"], row["metrics"]) == (None, {})
        else:
            assert set(row["metrics"]) == {"sensitivity", "specificity", "auroc"}


def test_an_output_that_is_not_a_score_is_an_error() -> None:
    cases = _cases([{"label": 1}, {"label": 0}, {"label": 1}, {"label": 0}])
    outputs = {"C01": 0.9, "C02": "high", "C03": [0.7], "C04": float("nan")}

    results = results_compute(test_set=BINARY, plan=_plan(), cases=cases, outputs=outputs, failures=[])

    assert results["failures_by_reason"] == {"timeout": 0, "error": 2, "missing": 0}
    assert results["counts"] == {"tp": 2, "fp": 2, "tn": 0, "fn": 0}


def test_multiclass_results_put_a_failed_case_on_a_wrong_class() -> None:
    classes = ["정상", "양성 결절", "악성 결절"]
    test_set = SimpleNamespace(task_type="multiclass", classes=classes, spacing=[])
    labels = [0, 1, 2, 0, 1, 2, 0, 1, 2, 2]
    probabilities = np.array(
        [
            [0.8, 0.1, 0.1],
            [0.2, 0.7, 0.1],
            [0.1, 0.2, 0.7],
            [0.4, 0.5, 0.1],
            [0.3, 0.3, 0.4],
            [0.1, 0.1, 0.8],
            [0.6, 0.2, 0.2],
            [0.1, 0.8, 0.1],
            [0.2, 0.2, 0.6],
            [0.3, 0.3, 0.4],
        ]
    )
    cases = _cases([{"label": label} for label in labels])
    outputs = {case["case_id"]: row.tolist() for case, row in zip(cases, probabilities, strict=True)}
    outputs["C10"] = [0.5, 0.5]  # the wrong number of classes
    plan = _plan("multiclass")

    results = results_compute(
        test_set=test_set,
        plan=plan,
        cases=cases,
        outputs=outputs,
        failures=[{"case_id": "C03", "reason": "timeout"}],
    )

    expected_probabilities = probabilities.copy()
    # Class 2, failed: 1 on both wrong classes, 0 on the true one; the prediction (first maximum) is class 0.
    expected_probabilities[2] = [1.0, 1.0, 0.0]
    expected_probabilities[9] = [1.0, 1.0, 0.0]
    expected = multiclass_metrics(
        np.array(labels),
        expected_probabilities,
        classes,
        confidence=0.95,
        bootstrap_resamples=200,
        seed=20251,
    )
    assert results["metrics"] == expected["metrics"]
    assert results["per_class"] == expected["per_class"]
    assert results["failures_by_reason"] == {"timeout": 1, "error": 1, "missing": 0}
    assert (results["curves"], results["counts"]) == ({}, {})


def test_detection_results_give_a_failed_image_no_detection() -> None:
    test_set = SimpleNamespace(task_type="detection", classes=["결절"], spacing=[])
    references = [
        {"boxes": [[10, 10, 5, 5]]},
        {"boxes": [[2, 2, 4, 4], [20, 20, 6, 6]]},
        {"boxes": []},
        {"boxes": [[8, 8, 5, 5]]},
    ]
    cases = _cases(references)
    outputs = {
        "C01": [[10, 10, 5, 5, 0.9], [0, 0, 3, 3, 0.2]],
        "C02": [[20, 21, 6, 6, 0.8]],
        "C03": [[1, 1, 4, 4, 0.4]],
        "C04": [[8, 8, 5, 5, 0.99]],
    }
    plan = _plan("detection", detection={"criterion": "iou", "iou_threshold": 0.5, "fp_rates": [0.5, 1]})

    results = results_compute(
        test_set=test_set,
        plan=plan,
        cases=cases,
        outputs=outputs,
        failures=[{"case_id": "C04", "reason": "error"}],
    )

    expected = detection_metrics(
        {case["case_id"]: case["reference"]["boxes"] for case in cases},
        {case_id: boxes for case_id, boxes in outputs.items() if case_id != "C04"},
        criterion="iou",
        iou_threshold=0.5,
        fp_rates=[0.5, 1.0],
        confidence=0.95,
        bootstrap_resamples=200,
        seed=20251,
    )
    assert results["metrics"] == expected["metrics"]
    assert set(results["metrics"]) == {
        "average_precision",
        "froc_score",
        "sensitivity_at_0.5",
        "sensitivity_at_1",
    }
    assert results["curves"] == {"froc": expected["froc"]}
    assert results["failures_by_reason"] == {"timeout": 0, "error": 1, "missing": 0}


def test_segmentation_results_per_structure_and_overall(settings: Any, tmp_path: Path) -> None:
    settings.MEDBROKER_EVALUATION_ROOT = tmp_path
    test_set = SimpleNamespace(pk=7, task_type="segmentation", classes=["간", "비장"], spacing=[0.5, 2.0])
    folder = tmp_path / "test-sets" / "7" / "masks"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(5)
    references, predictions = [], {}
    for index in range(4):
        reference = np.zeros((16, 16), dtype=np.uint8)
        reference[2:8, 2 + index : 9 + index] = 1
        reference[10:14, 4:12] = 2
        np.save(folder / f"S{index}.npy", reference)
        references.append(reference)
        prediction = reference.copy()
        prediction[rng.integers(0, 16, 6), rng.integers(0, 16, 6)] = rng.integers(0, 3, 6)
        predictions[f"C{index + 1:02d}"] = prediction
    cases = _cases([{"mask": f"masks/S{index}.npy"} for index in range(4)])
    predictions.pop("C04")
    plan = _plan("segmentation", segmentation={"tolerance_mm": 1.0})

    results = results_compute(test_set=test_set, plan=plan, cases=cases, outputs=predictions, failures=[])

    spacing = (0.5, 2.0)
    per_structure: list[list[dict[str, float]]] = [[], []]
    for index, reference in enumerate(references):
        prediction = predictions.get(f"C{index + 1:02d}")
        for label in (1, 2):
            per_structure[label - 1].append(
                segmentation_case_failed((16, 16), spacing)
                if prediction is None
                else segmentation_case(
                    reference == label, prediction == label, spacing=spacing, tolerance_mm=1.0
                )
            )
    options = {"confidence": 0.95, "bootstrap_resamples": 200, "seed": 20251}
    per_case = [
        {name: (first[name] + second[name]) / 2 for name in ("dice", "iou", "hd95", "nsd")}
        for first, second in zip(*per_structure, strict=True)
    ]
    assert results["per_class"] == {
        "간": segmentation_summary(per_structure[0], **options),
        "비장": segmentation_summary(per_structure[1], **options),
    }
    assert results["metrics"] == segmentation_summary(per_case, **options)
    assert results["failures_by_reason"] == {"timeout": 0, "error": 0, "missing": 1}
    assert results["metrics"]["dice"]["value"] == pytest.approx(
        (results["per_class"]["간"]["dice"]["value"] + results["per_class"]["비장"]["dice"]["value"]) / 2
    )


@pytest.mark.parametrize(
    ("criterion", "passed", "reason"),
    [
        ({"metric": "auroc", "bound": "lower", "operator": ">=", "value": 0.7}, True, None),
        ({"metric": "auroc", "bound": "lower", "operator": ">=", "value": 0.71}, False, None),
        ({"metric": "auroc", "bound": "value", "operator": ">=", "value": 0.8}, True, None),
        # The lenient side of the interval is never a criterion, whatever the plan says.
        ({"metric": "auroc", "bound": "upper", "operator": ">=", "value": 0.9}, False, "direction_invalid"),
        ({"metric": "brier", "bound": "lower", "operator": "<=", "value": 0.2}, False, "direction_invalid"),
        ({"metric": "brier", "bound": "upper", "operator": "<=", "value": 0.2}, True, None),
        ({"metric": "brier", "bound": "value", "operator": "<=", "value": 0.09}, False, None),
        ({"metric": "ppv", "bound": "value", "operator": ">=", "value": 0.0}, False, "value_not_computed"),
        ({"metric": "f1", "bound": "lower", "operator": ">=", "value": 0.0}, False, "value_not_computed"),
        ({"metric": "npv", "bound": "lower", "operator": ">=", "value": 0.5}, False, "interval_not_computed"),
        ({"metric": "npv", "bound": "value", "operator": ">=", "value": 0.5}, True, None),
    ],
)
def test_acceptance_reads_the_bound_it_names(
    criterion: dict[str, Any], passed: bool, reason: str | None
) -> None:
    metrics = {
        "auroc": {"value": 0.8, "ci": [0.7, 0.9], "method": "delong"},
        "brier": {"value": 0.1, "ci": [0.05, 0.2], "method": "bootstrap-percentile"},
        "ppv": {"value": None, "ci": None, "method": "none"},
        "npv": {"value": 1.0, "ci": None, "method": "none"},
    }

    rows, verdict = acceptance_check({"acceptance": [criterion]}, metrics)

    assert [(row["passed"], row["reason"]) for row in rows] == [(passed, reason)]
    assert verdict == ("pass" if passed else "fail")


def test_a_bound_on_an_auroc_without_interval_is_not_met() -> None:
    # Two positives and two negatives perfectly separated: AUROC 1 with zero DeLong variance.
    cases = _cases([{"label": 1}, {"label": 1}, {"label": 0}, {"label": 0}])
    outputs = {"C01": 0.9, "C02": 0.8, "C03": 0.2, "C04": 0.1}
    plan = _plan(
        secondary_metrics=["auroc"],
        acceptance=[{"metric": "auroc", "bound": "lower", "operator": ">=", "value": 0.95}],
    )

    results = results_compute(test_set=BINARY, plan=plan, cases=cases, outputs=outputs, failures=[])

    assert results["metrics"]["auroc"] == {"value": 1.0, "ci": None, "method": "none"}
    assert results["acceptance"] == [
        {
            "metric": "auroc",
            "bound": "lower",
            "operator": ">=",
            "target": 0.95,
            "observed": None,
            "passed": False,
            "reason": "interval_not_computed",
        }
    ]
    assert results["verdict"] == "fail"


def test_without_criteria_there_is_no_verdict() -> None:
    assert acceptance_check({"acceptance": []}, {}) == ([], "none")
