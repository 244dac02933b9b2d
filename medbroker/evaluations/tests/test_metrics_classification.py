"""Binary and multi-class metrics against scikit-learn, statsmodels and a plain O(n²) DeLong."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    balanced_accuracy_score,
    brier_score_loss,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
    roc_curve,
)
from statsmodels.stats.proportion import proportion_confint

from medbroker.evaluations.metrics.classification import (
    BINARY_METRICS,
    auroc_bootstrap,
    binary_metrics,
    delong_auc,
    delong_interval,
    delong_paired_test,
    multiclass_metrics,
    roc_points,
    worst_case_scores,
)
from medbroker.evaluations.metrics.intervals import bootstrap_indices, percentile_interval


def exact(expected: Any) -> Any:
    """Equal to float64 precision: what two correct computations of the same quantity give."""
    return pytest.approx(expected, rel=1e-12, abs=1e-12)


# --- references -------------------------------------------------------------------------------------------


def placements_reference(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """DeLong's placement values by their definition: psi over every (positive, negative) pair."""
    x = scores[labels == 1][:, None]
    y = scores[labels == 0][None, :]
    psi = (x > y).astype(float) + 0.5 * (x == y)
    return psi.mean(axis=1), psi.mean(axis=0)


def delong_reference(labels: np.ndarray, scores: np.ndarray) -> tuple[float, float]:
    v10, v01 = placements_reference(labels, scores)
    return float(v10.mean()), float(v10.var(ddof=1) / v10.size + v01.var(ddof=1) / v01.size)


def ece_reference(labels: np.ndarray, scores: np.ndarray) -> float:
    """Expected calibration error, case by case: 10 bins, bin k holds floor(10 p) == k, p = 1 in the last."""
    probabilities = np.clip(scores, 0, 1)
    bins = np.minimum(np.floor(probabilities * 10).astype(int), 9)
    total = 0.0
    for k in range(10):
        inside = bins == k
        if inside.any():
            total += inside.sum() / labels.size * abs(labels[inside].mean() - probabilities[inside].mean())
    return total


def sample(
    n: int, seed: int, *, ties: bool = False, prevalence: float = 0.4
) -> tuple[np.ndarray, np.ndarray]:
    """Labels and probability-like scores of a fair model (positives score higher on average)."""
    rng = np.random.default_rng(seed)
    labels = (rng.random(n) < prevalence).astype(np.int64)
    scores = 1 / (1 + np.exp(-(rng.normal(size=n) + 1.2 * labels - 0.5)))
    if ties:
        scores = np.round(scores, 1)
    return labels, scores


# --- binary point estimates and proportion intervals ------------------------------------------------------


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("threshold", [0.3, 0.5, 0.7])
def test_binary_point_estimates_equal_scikit_learn(ties: bool, threshold: float) -> None:
    labels, scores = sample(300, seed=1, ties=ties)
    predicted = (scores >= threshold).astype(int)

    result = binary_metrics(labels, scores, threshold=threshold, bootstrap_resamples=0)

    values = {name: metric["value"] for name, metric in result["metrics"].items()}
    assert values == {
        "sensitivity": exact(recall_score(labels, predicted)),
        "specificity": exact(recall_score(labels, predicted, pos_label=0)),
        "ppv": exact(precision_score(labels, predicted)),
        "npv": exact(precision_score(labels, predicted, pos_label=0)),
        "accuracy": exact(accuracy_score(labels, predicted)),
        "balanced_accuracy": exact(balanced_accuracy_score(labels, predicted)),
        "f1": exact(f1_score(labels, predicted)),
        "auroc": exact(roc_auc_score(labels, scores)),
        "auprc": exact(average_precision_score(labels, scores)),
        "brier": exact(brier_score_loss(labels, scores)),
        "ece": exact(ece_reference(labels, scores)),
    }
    assert list(result["metrics"]) == list(BINARY_METRICS)


def test_binary_counts_and_score_at_threshold_is_positive() -> None:
    labels = np.array([1, 1, 1, 0, 0, 0, 0])
    scores = np.array([0.9, 0.5, 0.2, 0.5, 0.49, 0.1, 0.7])

    result = binary_metrics(labels, scores, threshold=0.5, bootstrap_resamples=0)

    assert (result["n"], result["positives"], result["negatives"]) == (7, 3, 4)
    assert result["counts"] == {"tp": 2, "fp": 2, "tn": 2, "fn": 1}


@pytest.mark.parametrize(
    ("ci_method", "statsmodels_method"), [("wilson", "wilson"), ("clopper-pearson", "beta")]
)
@pytest.mark.parametrize("confidence", [0.9, 0.95])
def test_binary_proportion_intervals_equal_statsmodels(
    ci_method: str, statsmodels_method: str, confidence: float
) -> None:
    labels, scores = sample(120, seed=2)

    result = binary_metrics(labels, scores, ci_method=ci_method, confidence=confidence, bootstrap_resamples=0)

    counts = result["counts"]
    tp, fp, tn, fn = counts["tp"], counts["fp"], counts["tn"], counts["fn"]
    for name, (successes, total) in {
        "sensitivity": (tp, tp + fn),
        "specificity": (tn, tn + fp),
        "ppv": (tp, tp + fp),
        "npv": (tn, tn + fn),
        "accuracy": (tp + tn, tp + fp + tn + fn),
    }.items():
        low, high = proportion_confint(successes, total, alpha=1 - confidence, method=statsmodels_method)
        assert result["metrics"][name] == {
            "value": exact(successes / total),
            "ci": [exact(low), exact(high)],
            "method": ci_method,
        }


def test_binary_metrics_without_positives() -> None:
    labels = np.zeros(6, dtype=int)
    scores = np.array([0.1, 0.2, 0.6, 0.3, 0.9, 0.4])

    result = binary_metrics(labels, scores, bootstrap_resamples=50)

    metrics = result["metrics"]
    none = {"value": None, "ci": None, "method": "none"}
    assert metrics["sensitivity"] == none
    assert metrics["auroc"] == none
    assert metrics["auprc"] == none
    assert metrics["balanced_accuracy"] == none
    assert metrics["npv"]["value"] == pytest.approx(4 / 4)
    assert metrics["ppv"]["value"] == 0.0
    assert metrics["specificity"]["value"] == pytest.approx(4 / 6)
    # Two false positives and nothing else: F1 is defined, and 0.
    assert metrics["f1"]["value"] == 0.0
    assert metrics["brier"]["value"] == exact(brier_score_loss(labels, scores, labels=[0, 1]))


def test_binary_metrics_nothing_predicted_positive() -> None:
    labels = np.array([1, 0, 1, 0])
    scores = np.array([0.2, 0.1, 0.3, 0.05])

    metrics = binary_metrics(labels, scores, bootstrap_resamples=0)["metrics"]

    assert metrics["ppv"] == {"value": None, "ci": None, "method": "none"}
    assert metrics["sensitivity"]["value"] == 0.0
    assert metrics["auroc"]["value"] == 1.0


def test_binary_values_are_plain_json() -> None:
    labels, scores = sample(80, seed=3)

    result = binary_metrics(labels, scores, bootstrap_resamples=100, seed=5)

    text = json.dumps(result, allow_nan=False)
    assert json.loads(text) == result
    for metric in result["metrics"].values():
        assert type(metric["value"]) is float
        assert metric["ci"] is not None and all(type(bound) is float for bound in metric["ci"])
    assert all(type(count) is int for count in result["counts"].values())


@pytest.mark.parametrize(
    ("labels", "scores", "message"),
    [
        ([], [], "no cases"),
        ([1, 0], [0.5], "2 labels but 1 scores"),
        ([1, 2], [0.5, 0.4], "labels must be 0 or 1"),
        ([1, 0], [0.5, np.nan], "scores must be finite"),
        ([[1, 0]], [[0.5, 0.4]], "one-dimensional"),
    ],
)
def test_binary_metrics_refuse_bad_input(labels: Any, scores: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        binary_metrics(labels, scores)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"ci_method": "wald"}, "unknown proportion interval method 'wald'"),
        ({"confidence": 95}, "confidence must lie strictly between 0 and 1"),
        ({"bootstrap_resamples": -1}, "bootstrap_resamples must not be negative"),
        ({"threshold": math.nan}, "threshold must be a finite number"),
    ],
)
def test_binary_metrics_refuse_bad_options(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        binary_metrics([1, 0], [0.7, 0.2], **options)


# --- bootstrap --------------------------------------------------------------------------------------------


def naive_bootstrap(
    labels: np.ndarray, scores: np.ndarray, resamples: int, seed: int, threshold: float
) -> dict[str, np.ndarray]:
    """Each bootstrap metric recomputed with scikit-learn on every resample's arrays."""
    values: dict[str, list[float]] = {
        name: [] for name in ("balanced_accuracy", "f1", "auprc", "brier", "ece")
    }
    for batch in bootstrap_indices(labels.size, resamples, seed):
        for indices in batch:
            y, s = labels[indices], scores[indices]
            predicted = (s >= threshold).astype(int)
            values["balanced_accuracy"].append(balanced_accuracy_score(y, predicted))
            values["f1"].append(f1_score(y, predicted))
            values["auprc"].append(average_precision_score(y, s))
            values["brier"].append(brier_score_loss(y, s))
            values["ece"].append(ece_reference(y, s))
    return {name: np.array(series) for name, series in values.items()}


@pytest.mark.parametrize("ties", [False, True])
def test_binary_bootstrap_intervals_equal_recomputing_each_resample(ties: bool) -> None:
    labels, scores = sample(60, seed=4, ties=ties, prevalence=0.5)
    naive = naive_bootstrap(labels, scores, 300, seed=11, threshold=0.5)

    result = binary_metrics(labels, scores, bootstrap_resamples=300, seed=11, confidence=0.9)

    for name, values in naive.items():
        low, high = np.percentile(values, [5, 95])
        assert result["metrics"][name]["method"] == "bootstrap-percentile"
        assert result["metrics"][name]["ci"] == [exact(low), exact(high)], name


def test_binary_bootstrap_is_reproducible_from_the_seed() -> None:
    labels, scores = sample(50, seed=5)

    first = binary_metrics(labels, scores, bootstrap_resamples=200, seed=3)
    again = binary_metrics(labels, scores, bootstrap_resamples=200, seed=3)
    other = binary_metrics(labels, scores, bootstrap_resamples=200, seed=4)

    assert first == again
    assert first["metrics"]["f1"]["ci"] != other["metrics"]["f1"]["ci"]


def test_binary_bootstrap_without_resamples_reports_no_interval() -> None:
    labels, scores = sample(50, seed=5)

    metrics = binary_metrics(labels, scores, bootstrap_resamples=0)["metrics"]

    assert metrics["f1"] == {
        "value": pytest.approx(f1_score(labels, scores >= 0.5)),
        "ci": None,
        "method": "none",
    }


@pytest.mark.parametrize("ties", [False, True])
def test_auroc_bootstrap_equals_scikit_learn_on_each_resample(ties: bool) -> None:
    labels, scores = sample(500, seed=6, ties=ties)
    expected = [
        roc_auc_score(labels[indices], scores[indices])
        for batch in bootstrap_indices(500, 120, 9)
        for indices in batch
    ]

    values = auroc_bootstrap(labels, scores, resamples=120, seed=9, batch_size=7)

    assert values.shape == (120,)
    assert np.abs(values - np.array(expected)).max() <= 1e-12


def test_auroc_bootstrap_marks_single_class_resamples() -> None:
    labels = np.array([1, 0])
    scores = np.array([0.8, 0.3])
    draws = np.concatenate(list(bootstrap_indices(2, 50, 1)))
    single_class = np.array([len(set(labels[row])) == 1 for row in draws])

    values = auroc_bootstrap(labels, scores, resamples=50, seed=1)

    np.testing.assert_array_equal(np.isnan(values), single_class)
    assert set(values[~single_class]) == {1.0}


# --- DeLong -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "seed", "ties"), [(40, 1, False), (40, 2, True), (333, 3, False), (333, 4, True)]
)
def test_delong_equals_the_definition(n: int, seed: int, ties: bool) -> None:
    labels, scores = sample(n, seed=seed, ties=ties)
    auc_expected, variance_expected = delong_reference(labels, scores)
    critical = stats.norm.ppf(0.975)

    auc, variance = delong_auc(labels, scores)
    interval_auc, (low, high) = delong_interval(labels, scores, 0.95)

    assert auc == pytest.approx(auc_expected, abs=1e-12)
    assert variance == pytest.approx(variance_expected, abs=1e-12)
    assert interval_auc == auc
    half_width = critical * math.sqrt(variance_expected)
    assert low == pytest.approx(max(auc_expected - half_width, 0), abs=1e-12)
    assert high == pytest.approx(min(auc_expected + half_width, 1), abs=1e-12)


def test_delong_all_tied() -> None:
    labels = np.array([1, 1, 0, 0, 0])
    scores = np.full(5, 0.5)

    auc, variance = delong_auc(labels, scores)

    assert (auc, variance) == (0.5, 0.0)


@pytest.mark.parametrize("n", [4, 6, 400])
def test_delong_perfect_separation_has_no_interval(n: int) -> None:
    # Zero variance: an interval [1, 1] would pass "auroc lower >= 0.95" on two positives and two negatives.
    labels = np.array([0] * (n // 2) + [1] * (n // 2))
    scores = np.linspace(0.1, 0.9, n)

    auc, variance = delong_auc(labels, scores)
    interval_auc, interval = delong_interval(labels, scores)
    metric = binary_metrics(labels, scores, bootstrap_resamples=0)["metrics"]["auroc"]

    assert (auc, variance, interval_auc) == (1.0, 0.0, 1.0)
    assert all(math.isnan(bound) for bound in interval)
    assert metric == {"value": 1.0, "ci": None, "method": "none"}


def test_delong_all_tied_has_no_interval() -> None:
    labels = np.array([1, 1, 0, 0, 0])

    metric = binary_metrics(labels, np.full(5, 0.5), bootstrap_resamples=0)["metrics"]["auroc"]

    assert metric == {"value": 0.5, "ci": None, "method": "none"}


def test_delong_interval_is_clipped_to_the_unit_interval() -> None:
    labels = np.array([0, 0, 1, 1, 0, 1])
    scores = np.array([0.1, 0.2, 0.3, 0.7, 0.8, 0.9])

    auc, (low, high) = delong_interval(labels, scores)

    assert auc == pytest.approx(7 / 9)
    assert high == 1.0
    assert 0 < low < auc


def test_delong_with_a_single_positive_has_no_variance() -> None:
    labels = np.array([1, 0, 0, 0])
    scores = np.array([0.6, 0.1, 0.7, 0.2])

    auc, variance = delong_auc(labels, scores)
    _, interval = delong_interval(labels, scores)
    metric = binary_metrics(labels, scores, bootstrap_resamples=0)["metrics"]["auroc"]

    assert auc == pytest.approx(2 / 3)
    assert math.isnan(variance)
    assert all(math.isnan(bound) for bound in interval)
    assert metric == {"value": pytest.approx(2 / 3), "ci": None, "method": "none"}


def test_delong_needs_both_classes() -> None:
    with pytest.raises(ValueError, match="at least one positive and one negative"):
        delong_auc([1, 1], [0.2, 0.3])


def test_binary_auroc_interval_is_delong() -> None:
    labels, scores = sample(200, seed=7, ties=True)
    auc, (low, high) = delong_interval(labels, scores, 0.9)

    metric = binary_metrics(labels, scores, confidence=0.9, bootstrap_resamples=0)["metrics"]["auroc"]

    assert metric == {"value": auc, "ci": [low, high], "method": "delong"}


@pytest.mark.parametrize("ties", [False, True])
def test_delong_paired_equals_the_definition(ties: bool) -> None:
    labels, scores_a = sample(150, seed=8, ties=ties)
    rng = np.random.default_rng(80)
    scores_b = np.clip(scores_a + rng.normal(scale=0.2, size=150), 0, 1)
    if ties:
        scores_b = np.round(scores_b, 1)
    v10_a, v01_a = placements_reference(labels, scores_a)
    v10_b, v01_b = placements_reference(labels, scores_b)
    covariance = np.cov([v10_a, v10_b]) / v10_a.size + np.cov([v01_a, v01_b]) / v01_a.size
    sd = math.sqrt(covariance[0, 0] + covariance[1, 1] - 2 * covariance[0, 1])
    difference = v10_a.mean() - v10_b.mean()
    z = difference / sd
    critical = stats.norm.ppf(0.975)

    result = delong_paired_test(labels, scores_a, scores_b)

    assert result == {
        "auc_a": pytest.approx(roc_auc_score(labels, scores_a), abs=1e-12),
        "auc_b": pytest.approx(roc_auc_score(labels, scores_b), abs=1e-12),
        "difference": pytest.approx(difference, abs=1e-12),
        "ci": [
            pytest.approx(difference - critical * sd, abs=1e-12),
            pytest.approx(difference + critical * sd, abs=1e-12),
        ],
        "z": pytest.approx(z, abs=1e-9),
        "p_value": pytest.approx(2 * stats.norm.sf(abs(z)), abs=1e-12),
        "method": "delong-paired",
    }
    json.dumps(result, allow_nan=False)


def test_delong_paired_of_a_model_with_itself() -> None:
    labels, scores = sample(50, seed=9)

    result = delong_paired_test(labels, scores, scores)

    assert (result["difference"], result["z"], result["p_value"]) == (0.0, 0.0, 1.0)
    assert result["ci"] == [0.0, 0.0]


def test_delong_paired_without_variance_of_a_real_difference_has_no_test() -> None:
    # A perfect model against one that ties every case: both AUROCs have zero variance, yet they differ.
    labels = np.array([0, 0, 0, 1, 1, 1])
    perfect = np.array([0.1, 0.2, 0.3, 0.7, 0.8, 0.9])

    result = delong_paired_test(labels, perfect, np.full(6, 0.5))

    assert result == {
        "auc_a": 1.0,
        "auc_b": 0.5,
        "difference": 0.5,
        "ci": None,
        "z": None,
        "p_value": None,
        "method": "delong-paired",
    }
    json.dumps(result, allow_nan=False)


def test_delong_paired_needs_two_of_each_class() -> None:
    with pytest.raises(ValueError, match="at least two positive and two negative"):
        delong_paired_test([1, 0, 0], [0.9, 0.1, 0.2], [0.8, 0.3, 0.1])


# --- failed cases and curves ------------------------------------------------------------------------------


def test_worst_case_scores_for_probabilities() -> None:
    labels = np.array([1, 0, 1, 0, 1])
    scores = np.array([0.7, 0.2, np.nan, np.nan, 0.4])
    failed = np.array([False, False, True, True, False])

    worst = worst_case_scores(labels, scores, failed)

    np.testing.assert_array_equal(worst, [0.7, 0.2, -1.0, 2.0, 0.4])
    assert worst[2] < 0 and worst[3] > 1  # wrong at every threshold in [0, 1]


def test_worst_case_scores_beyond_the_valid_range_and_the_threshold() -> None:
    labels = np.array([1, 0, 1, 0])
    logits = np.array([-4.0, 6.5, 0.0, 0.0])
    failed = np.array([False, False, True, True])

    np.testing.assert_array_equal(worst_case_scores(labels, logits, failed), [-4.0, 6.5, -5.0, 7.5])
    np.testing.assert_array_equal(
        worst_case_scores(labels, logits, failed, threshold=9.0), [-4.0, 6.5, -5.0, 10.0]
    )


def test_worst_case_scores_rank_failures_last() -> None:
    labels, scores = sample(100, seed=10)
    failed = np.zeros(100, dtype=bool)
    failed[:10] = True

    worst = worst_case_scores(labels, scores, failed)

    # Every failed positive below every negative, every failed negative above every positive.
    valid = ~failed
    assert worst[failed & (labels == 1)].max() < worst[labels == 0].min()
    assert worst[failed & (labels == 0)].min() > worst[labels == 1].max()
    np.testing.assert_array_equal(worst[valid], scores[valid])
    metrics = binary_metrics(labels, worst, bootstrap_resamples=0)["metrics"]
    counts = binary_metrics(labels, worst, bootstrap_resamples=0)["counts"]
    assert counts["fn"] >= int((failed & (labels == 1)).sum())
    assert metrics["brier"]["value"] == exact(brier_score_loss(labels, np.clip(worst, 0, 1)))


def test_worst_case_scores_when_everything_failed() -> None:
    worst = worst_case_scores([1, 0], [np.nan, np.nan], [True, True])

    np.testing.assert_array_equal(worst, [-1.0, 2.0])


def test_worst_case_scores_refuse_undefined_valid_scores() -> None:
    with pytest.raises(ValueError, match="did not fail must be finite"):
        worst_case_scores([1, 0], [np.nan, 0.2], [False, False])


def test_roc_points_are_scikit_learns_curve() -> None:
    labels, scores = sample(120, seed=11, ties=True)
    fpr, tpr, _ = roc_curve(labels, scores, drop_intermediate=True)

    points = roc_points(labels, scores)

    assert points == [[exact(x), exact(y)] for x, y in zip(fpr, tpr, strict=True)]
    assert points[0] == [0.0, 0.0] and points[-1] == [1.0, 1.0]
    assert all(type(value) is float for point in points for value in point)


def test_roc_points_are_thinned() -> None:
    labels, scores = sample(5000, seed=12)

    points = roc_points(labels, scores, max_points=50)

    assert 40 <= len(points) <= 50
    assert points[0] == [0.0, 0.0] and points[-1] == [1.0, 1.0]
    assert points == sorted(points)
    fpr, tpr, _ = roc_curve(labels, scores)
    curve = {(float(x), float(y)) for x, y in zip(fpr, tpr, strict=True)}
    assert all((x, y) in curve for x, y in points)


def test_roc_points_with_one_class() -> None:
    assert roc_points([1, 1, 1], [0.2, 0.5, 0.9]) == []


# --- multi-class ------------------------------------------------------------------------------------------


def multiclass_sample(n: int, seed: int, k: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, k, size=n)
    logits = rng.normal(size=(n, k))
    logits[np.arange(n), labels] += 1.5
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return labels, probabilities


def test_multiclass_equals_scikit_learn() -> None:
    labels, probabilities = multiclass_sample(240, seed=13)
    predicted = probabilities.argmax(axis=1)
    classes = ["정상", "양성 결절", "악성 결절"]

    result = multiclass_metrics(labels, probabilities, classes, bootstrap_resamples=0)

    assert result["n"] == 240
    values = {name: metric["value"] for name, metric in result["metrics"].items()}
    specificities = [recall_score(labels != k, predicted != k) for k in range(3)]
    assert values == {
        "accuracy": exact(accuracy_score(labels, predicted)),
        "macro_sensitivity": exact(recall_score(labels, predicted, average="macro")),
        "macro_specificity": exact(np.mean(specificities)),
        "macro_ppv": exact(precision_score(labels, predicted, average="macro")),
        "macro_f1": exact(f1_score(labels, predicted, average="macro")),
        "macro_auroc": exact(roc_auc_score(labels, probabilities, multi_class="ovr", average="macro")),
    }
    low, high = proportion_confint(int((labels == predicted).sum()), 240, alpha=0.05, method="wilson")
    assert result["metrics"]["accuracy"]["ci"] == [exact(low), exact(high)]
    assert list(result["per_class"]) == classes
    for k, name in enumerate(classes):
        per_class = result["per_class"][name]
        auc, (auc_low, auc_high) = delong_interval((labels == k).astype(int), probabilities[:, k])
        assert {metric: value["value"] for metric, value in per_class.items()} == {
            "sensitivity": exact(recall_score(labels, predicted, labels=[k], average="macro")),
            "specificity": exact(specificities[k]),
            "ppv": exact(precision_score(labels, predicted, labels=[k], average="macro")),
            "npv": exact(precision_score(labels != k, predicted != k)),
            "f1": exact(f1_score(labels, predicted, labels=[k], average="macro")),
            "auroc": exact(roc_auc_score(labels == k, probabilities[:, k])),
        }
        assert per_class["auroc"] == {"value": auc, "ci": [auc_low, auc_high], "method": "delong"}
        tp = int(((labels == k) & (predicted == k)).sum())
        low, high = proportion_confint(tp, int((labels == k).sum()), alpha=0.05, method="wilson")
        assert per_class["sensitivity"]["ci"] == [exact(low), exact(high)]


def test_multiclass_bootstrap_intervals_equal_recomputing_each_resample() -> None:
    labels, probabilities = multiclass_sample(90, seed=14)
    expected: dict[str, list[float]] = {
        "macro_sensitivity": [],
        "macro_f1": [],
        "macro_auroc": [],
        "f1_of_1": [],
    }
    for batch in bootstrap_indices(90, 200, 21):
        for indices in batch:
            y, p = labels[indices], probabilities[indices]
            predicted = p.argmax(axis=1)
            expected["macro_sensitivity"].append(recall_score(y, predicted, average="macro"))
            expected["macro_f1"].append(f1_score(y, predicted, average="macro"))
            expected["macro_auroc"].append(roc_auc_score(y, p, multi_class="ovr", average="macro"))
            expected["f1_of_1"].append(f1_score(y, predicted, labels=[1], average="macro"))

    result = multiclass_metrics(labels, probabilities, ["a", "b", "c"], bootstrap_resamples=200, seed=21)

    for name in ("macro_sensitivity", "macro_f1", "macro_auroc"):
        low, high = np.percentile(expected[name], [2.5, 97.5])
        assert result["metrics"][name]["ci"] == [exact(low), exact(high)], name
        assert result["metrics"][name]["method"] == "bootstrap-percentile"
    low, high = np.percentile(expected["f1_of_1"], [2.5, 97.5])
    assert result["per_class"]["b"]["f1"]["ci"] == [exact(low), exact(high)]
    json.dumps(result, allow_nan=False)


def test_multiclass_class_never_seen_or_predicted() -> None:
    labels = np.array([0, 0, 1, 1, 0, 1])
    probabilities = np.array(
        [[0.8, 0.1, 0.1], [0.3, 0.6, 0.1], [0.2, 0.7, 0.1], [0.1, 0.8, 0.1], [0.6, 0.3, 0.1], [0.5, 0.4, 0.1]]
    )

    result = multiclass_metrics(labels, probabilities, ["a", "b", "c"], bootstrap_resamples=0)

    none = {"value": None, "ci": None, "method": "none"}
    assert result["per_class"]["c"]["sensitivity"] == none
    assert result["per_class"]["c"]["ppv"] == none
    assert result["per_class"]["c"]["f1"] == none
    assert result["per_class"]["c"]["auroc"] == none
    assert result["per_class"]["c"]["specificity"]["value"] == 1.0
    # Macro averages over the classes where each metric is defined: a and b.
    assert result["metrics"]["macro_sensitivity"]["value"] == pytest.approx((2 / 3 + 2 / 3) / 2)
    assert result["metrics"]["macro_specificity"]["value"] == pytest.approx((2 / 3 + 2 / 3 + 1) / 3)
    assert result["metrics"]["macro_auroc"]["value"] == pytest.approx(
        (roc_auc_score(labels == 0, probabilities[:, 0]) + roc_auc_score(labels == 1, probabilities[:, 1]))
        / 2
    )


@pytest.mark.parametrize(
    ("labels", "probabilities", "classes", "message"),
    [
        ([0, 1], [[0.5, 0.5], [0.2, 0.8]], ["a"], "at least two classes"),
        ([], np.zeros((0, 2)), ["a", "b"], "non-empty"),
        ([0, 1], [[0.5, 0.5]], ["a", "b"], "must have shape"),
        ([0, 2], [[0.5, 0.5], [0.2, 0.8]], ["a", "b"], "class indices 0..1"),
        ([0, 1], [[0.5, np.inf], [0.2, 0.8]], ["a", "b"], "finite"),
    ],
)
def test_multiclass_refuses_bad_input(
    labels: Any, probabilities: Any, classes: list[str], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        multiclass_metrics(labels, probabilities, classes)


def test_percentile_interval_matches_the_binary_metric_interval() -> None:
    labels, scores = sample(70, seed=15)
    values = np.array(
        [f1_score(labels[i], scores[i] >= 0.5) for batch in bootstrap_indices(70, 150, 2) for i in batch]
    )

    metric = binary_metrics(labels, scores, bootstrap_resamples=150, seed=2)["metrics"]["f1"]

    assert metric["ci"] == exact(list(percentile_interval(values, 0.95)))
