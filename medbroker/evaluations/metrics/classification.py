"""Binary and multi-class classification metrics with their confidence intervals.

Point estimates agree with scikit-learn (``recall_score``, ``precision_score``, ``accuracy_score``,
``f1_score``, ``balanced_accuracy_score``, ``roc_auc_score``, ``average_precision_score``,
``brier_score_loss``) where both are defined; where scikit-learn would report 0 for an undefined ratio (a
sensitivity without positives, a PPV with nothing predicted positive) the value here is "cannot be
computed" (``None``), and macro averages run over the classes where the metric is defined.

Intervals:

- proportions (sensitivity, specificity, PPV, NPV, accuracy): Wilson or Clopper–Pearson;
- AUROC: DeLong (placement values, Sun & Xu 2014), in O(n log n): two sorts and two linear merges;
- everything else (balanced accuracy, F1, AUPRC, Brier, ECE, the macro averages): bootstrap percentile
  intervals over cases, with the resamples of :func:`~medbroker.evaluations.metrics.intervals.bootstrap_indices`.

The bootstrap never builds resampled arrays of scores. Each class's cases are ranked once by score; a
resample is then fully described by how often it drew each ranked case, one ``bincount`` of the drawn
cases' keys. Every bootstrap metric is a function of those counts: the threshold metrics from the cases
above the threshold, AUROC from running sums of the negatives below each positive (ties counting half),
AUPRC from running sums from the top, Brier and ECE from each case's score. A resample costs a few
passes over ``n`` integers instead of a sort of ``n`` floats, and gives the same values as recomputing
the metric on the resampled arrays.

Scores: binary scores are any finite numbers; a case is predicted positive when ``score >= threshold``.
Brier and ECE read the scores as probabilities clipped to [0, 1] (so a failed case given the worst score by
:func:`worst_case_scores` counts as a certain, wrong prediction). ECE uses 10 equal-width bins: bin ``k``
holds the scores with ``floor(10 * score) == k``, a score of exactly 1 falls in the last bin.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats

from medbroker.evaluations.metrics.intervals import (
    PROPORTION_METHODS,
    MetricValue,
    bootstrap_indices,
    confidence_check,
    metric_none,
    metric_value,
    percentile_interval,
    proportion_interval,
)

# The metrics binary_metrics reports, in report order (analysis plans choose among them).
BINARY_METRICS: tuple[str, ...] = (
    "sensitivity",
    "specificity",
    "ppv",
    "npv",
    "accuracy",
    "balanced_accuracy",
    "f1",
    "auroc",
    "auprc",
    "brier",
    "ece",
)
BINARY_BOOTSTRAP_METRICS = ("balanced_accuracy", "f1", "auprc", "brier", "ece")
MULTICLASS_METRICS = (
    "accuracy",
    "macro_sensitivity",
    "macro_specificity",
    "macro_ppv",
    "macro_f1",
    "macro_auroc",
)
PER_CLASS_METRICS = ("sensitivity", "specificity", "ppv", "npv", "f1", "auroc")
ECE_BINS = 10

# Bins one bincount call fills: 512 KiB of int64 counts stay in the CPU cache, so drawing into them is
# sequential reads and cache-local increments. Several resamples share a call when their bins fit together.
_CACHE_BINS = 1 << 16


# --- input checks -----------------------------------------------------------------------------------------


def _binary_arrays(labels: Any, scores: Any) -> tuple[np.ndarray, np.ndarray]:
    """Labels as int64 0/1 and scores as finite float64, both one-dimensional and of the same length."""
    label_array = np.asarray(labels)
    score_array = np.asarray(scores, dtype=np.float64)
    if label_array.ndim != 1 or score_array.ndim != 1:
        raise ValueError("labels and scores must be one-dimensional")
    if label_array.shape != score_array.shape:
        raise ValueError(f"{label_array.size} labels but {score_array.size} scores")
    if label_array.size == 0:
        raise ValueError("no cases")
    if not ((label_array == 0) | (label_array == 1)).all():
        raise ValueError("labels must be 0 or 1")
    if not np.isfinite(score_array).all():
        raise ValueError("scores must be finite numbers")
    return label_array.astype(np.int64), score_array


def _options_check(ci_method: str, confidence: float, bootstrap_resamples: int) -> None:
    if ci_method not in PROPORTION_METHODS:
        raise ValueError(f"unknown proportion interval method {ci_method!r}: use one of {PROPORTION_METHODS}")
    confidence_check(confidence)
    if bootstrap_resamples < 0:
        raise ValueError(f"bootstrap_resamples must not be negative, not {bootstrap_resamples}")


# --- ratios over rows of counts ---------------------------------------------------------------------------


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator as float64, NaN where the denominator is 0 (the metric is undefined)."""
    out = np.full(np.broadcast(numerator, denominator).shape, np.nan)
    np.divide(numerator, denominator, out=out, where=denominator != 0)
    return out


def _defined_mean(values: np.ndarray) -> np.ndarray:
    """Mean over the last axis of the defined (non-NaN) values; NaN where none is defined."""
    defined = ~np.isnan(values)
    return _ratio(np.where(defined, values, 0.0).sum(axis=-1), defined.sum(axis=-1))


def _proportion_metric(successes: int, total: int, ci_method: str, confidence: float) -> MetricValue:
    if total == 0:
        return metric_none()
    interval = proportion_interval(successes, total, method=ci_method, confidence=confidence)
    return metric_value(successes / total, interval, ci_method)


def _bootstrap_metric(point: float, resampled: list[np.ndarray], confidence: float) -> MetricValue:
    if not math.isfinite(point):
        return metric_none()
    if not resampled:
        return metric_value(point, None, "none")
    values = np.concatenate(resampled)
    return metric_value(point, percentile_interval(values, confidence), "bootstrap-percentile")


# --- ranked cases and resampled counts --------------------------------------------------------------------


class _RankedCases:
    """Each class's cases sorted by score, and the counting key of every case.

    A negative's key is its rank among the negatives (ascending score); a positive's key is the number of
    negatives plus its rank among the positives. One ``bincount`` of the keys a resample drew then gives how
    often it drew each negative and each positive, in score order, and every metric follows from running
    sums of those counts. For each positive, ``negatives_below`` / ``negatives_up_to`` count the negatives
    scoring strictly below it / at most as much, and ``first_tied_positive`` is the rank of the first
    positive with its score: that is all the tie handling the metrics need.
    """

    def __init__(self, labels: np.ndarray, scores: np.ndarray) -> None:
        order = np.argsort(scores, kind="stable")
        ordered_labels = labels[order]
        negative_order = order[ordered_labels == 0]
        positive_order = order[ordered_labels == 1]
        self.size = labels.size
        self.negatives = negative_order.size
        self.keys = np.empty(labels.size, dtype=np.intp)
        self.keys[negative_order] = np.arange(negative_order.size)
        self.keys[positive_order] = negative_order.size + np.arange(positive_order.size)
        self.negative_scores = scores[negative_order]
        self.positive_scores = scores[positive_order]
        self.negatives_below = np.searchsorted(self.negative_scores, self.positive_scores, side="left")
        self.negatives_up_to = np.searchsorted(self.negative_scores, self.positive_scores, side="right")
        self.ties_across = not np.array_equal(self.negatives_below, self.negatives_up_to)
        self.first_tied_positive = np.searchsorted(self.positive_scores, self.positive_scores, side="left")

    def counts(self) -> tuple[np.ndarray, np.ndarray]:
        """The whole sample: every case drawn once; negatives ``(1, m)`` and positives ``(1, p)``."""
        return (
            np.ones((1, self.negatives), dtype=np.int64),
            np.ones((1, self.size - self.negatives), dtype=np.int64),
        )

    def resampled(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """How often each resample row drew each negative and each positive, in score order."""
        counts = _resampled_counts(self.keys, self.size, indices)
        return counts[:, : self.negatives], counts[:, self.negatives :]


def _resampled_counts(keys: np.ndarray, bins: int, indices: np.ndarray) -> np.ndarray:
    """``counts[r, key]``: how many cases of each key resample ``r`` drew; shape ``(b, bins)``."""
    rows = indices.shape[0]
    drawn = keys[indices]
    if rows == 1:
        return np.bincount(drawn[0], minlength=bins)[None, :]
    counts = np.empty((rows, bins), dtype=np.int64)
    per_call = max(1, _CACHE_BINS // bins)
    for start in range(0, rows, per_call):
        part = drawn[start : start + per_call]
        if part.shape[0] == 1:
            counts[start] = np.bincount(part[0], minlength=bins)
            continue
        # Row r's keys shifted into bins [r * bins, (r + 1) * bins): one bincount counts every row.
        part += (np.arange(part.shape[0], dtype=np.intp) * bins)[:, None]
        counts[start : start + part.shape[0]] = np.bincount(
            part.ravel(), minlength=part.shape[0] * bins
        ).reshape(-1, bins)
    return counts


def _running(counts: np.ndarray) -> np.ndarray:
    """``running[:, j]``: the sum of the first ``j`` columns (shape ``(b, columns + 1)``)."""
    running = np.zeros((counts.shape[0], counts.shape[1] + 1), dtype=counts.dtype)
    np.cumsum(counts, axis=1, out=running[:, 1:])
    return running


def _auc_rows(ranked: _RankedCases, negatives: np.ndarray, positives: np.ndarray) -> np.ndarray:
    """AUROC of each row of counts: 2U = Σ_positives count · (negatives below + negatives at most as high).

    The counts are integers, so 2U is exact and the AUROC carries the rounding of one division only.
    """
    below = _running(negatives)
    if ranked.ties_across:
        outranked = below[:, ranked.negatives_below] + below[:, ranked.negatives_up_to]
    else:
        outranked = below[:, ranked.negatives_below]
        outranked *= 2
    twice_u = np.einsum("ij,ij->i", positives, outranked)
    pairs = positives.sum(axis=1) * negatives.sum(axis=1)
    return _ratio(twice_u, 2 * pairs)


def _average_precision_rows(ranked: _RankedCases, negatives: np.ndarray, positives: np.ndarray) -> np.ndarray:
    """AP = Σ_positives count · precision at the positive's score / P (precision over scores ≥ it)."""
    positive_total = positives.sum(axis=1)
    true_above = positive_total[:, None] - _running(positives)[:, ranked.first_tied_positive]
    false_above = negatives.sum(axis=1)[:, None] - _running(negatives)[:, ranked.negatives_below]
    precision = _ratio(true_above, true_above + false_above)
    weighted = np.where(positives > 0, positives * precision, 0.0)
    return _ratio(weighted.sum(axis=1), positive_total)


def _calibration_bins(probabilities: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The non-empty ECE bins of sorted probabilities and the index of each one's first case."""
    bins = np.minimum(np.floor(probabilities * ECE_BINS).astype(np.int64), ECE_BINS - 1)
    starts = np.flatnonzero(np.r_[True, np.diff(bins) != 0]) if bins.size else np.empty(0, dtype=np.intp)
    return bins[starts], starts


def _per_bin(values: np.ndarray, bins: np.ndarray, starts: np.ndarray) -> np.ndarray:
    sums = np.zeros((values.shape[0], ECE_BINS))
    if starts.size:
        sums[:, bins] = np.add.reduceat(values, starts, axis=1)
    return sums


class _BinaryRows:
    """Every bootstrap metric of rows of counts (drawn negatives and positives, in score order)."""

    def __init__(self, ranked: _RankedCases, threshold: float) -> None:
        self.ranked = ranked
        self.negative_cut = int(np.searchsorted(ranked.negative_scores, threshold, side="left"))
        self.positive_cut = int(np.searchsorted(ranked.positive_scores, threshold, side="left"))
        self.negative_probabilities = np.clip(ranked.negative_scores, 0.0, 1.0)
        self.positive_probabilities = np.clip(ranked.positive_scores, 0.0, 1.0)
        self.negative_bins = _calibration_bins(self.negative_probabilities)
        self.positive_bins = _calibration_bins(self.positive_probabilities)

    def metrics(self, negatives: np.ndarray, positives: np.ndarray) -> dict[str, np.ndarray]:
        positive_total = positives.sum(axis=1)
        negative_total = negatives.sum(axis=1)
        total = positive_total + negative_total
        true_positive = positives[:, self.positive_cut :].sum(axis=1)
        false_positive = negatives[:, self.negative_cut :].sum(axis=1)
        false_negative = positive_total - true_positive
        sensitivity = _ratio(true_positive, positive_total)
        specificity = _ratio(negative_total - false_positive, negative_total)
        squared = (
            positives @ (1.0 - self.positive_probabilities) ** 2 + negatives @ self.negative_probabilities**2
        )
        # Per bin, Σ (label − probability): positives add 1 − p, negatives −p.
        gaps = _per_bin(positives * (1.0 - self.positive_probabilities), *self.positive_bins) - _per_bin(
            negatives * self.negative_probabilities, *self.negative_bins
        )
        return {
            "balanced_accuracy": (sensitivity + specificity) / 2,
            "f1": _ratio(2 * true_positive, 2 * true_positive + false_positive + false_negative),
            "auprc": _average_precision_rows(self.ranked, negatives, positives),
            "brier": _ratio(squared, total),
            "ece": _ratio(np.abs(gaps).sum(axis=1), total),
        }


# --- DeLong -----------------------------------------------------------------------------------------------


def _merged_counts(first: np.ndarray, second: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For two sorted arrays: how many of ``second`` lie before each of ``first``, and the converse.

    "Before" is in their stable merge with ``first`` ahead on ties: ``second`` strictly below each element
    of ``first``, and ``first`` at most as high as each element of ``second``. A stable sort of two sorted
    runs is a single linear merge, so this is several times faster than binary searches.
    """
    order = np.argsort(np.concatenate([first, second]), kind="stable")
    from_first = order < first.size
    second_before = np.cumsum(~from_first)[from_first]
    first_before = np.cumsum(from_first)[~from_first]
    return second_before, first_before


def _placements(
    labels: np.ndarray, scores: np.ndarray, *, aligned: bool
) -> tuple[np.ndarray, np.ndarray, int]:
    """DeLong's placement values and twice the Mann–Whitney U.

    ``V10_i`` (a positive): the share of negatives it outranks, ties counting half; ``V01_j`` (a negative): the
    share of positives that outrank it. Both come from merging the two classes' sorted scores (once with
    positives ahead on ties, once with negatives ahead), which gives the midranks of Sun & Xu without
    ranking the whole sample. The values are in ascending score order, or with ``aligned`` in the cases'
    order (needed to pair two models case by case).
    """
    positive_scores = scores[labels == 1]
    negative_scores = scores[labels == 0]
    if aligned:
        positive_order = np.argsort(positive_scores, kind="stable")
        negative_order = np.argsort(negative_scores, kind="stable")
        positive_sorted = positive_scores[positive_order]
        negative_sorted = negative_scores[negative_order]
    else:
        positive_sorted = np.sort(positive_scores)
        negative_sorted = np.sort(negative_scores)
    negatives_below, positives_up_to = _merged_counts(positive_sorted, negative_sorted)
    negatives_up_to, positives_below = _merged_counts(negative_sorted, positive_sorted)[::-1]
    outranked_twice = negatives_below + negatives_up_to
    outranking_twice = positives_below + positives_up_to
    if aligned:
        outranked_twice[positive_order] = outranked_twice.copy()
        outranking_twice[negative_order] = outranking_twice.copy()
    v10 = outranked_twice / (2.0 * negative_sorted.size)
    v01 = 1.0 - outranking_twice / (2.0 * positive_sorted.size)
    return v10, v01, int(outranked_twice.sum())


def delong_auc(labels: Any, scores: Any) -> tuple[float, float]:
    """AUROC and its DeLong variance ``S10 / m + S01 / n`` (sample variances of the placement values).

    Needs at least one case of each class; the variance is NaN when a class has a single case.
    """
    label_array, score_array = _binary_arrays(labels, scores)
    positives = int(label_array.sum())
    negatives = label_array.size - positives
    if positives == 0 or negatives == 0:
        raise ValueError("AUROC needs at least one positive and one negative case")
    v10, v01, twice_u = _placements(label_array, score_array, aligned=False)
    auc = twice_u / (2.0 * positives * negatives)
    if positives < 2 or negatives < 2:
        return auc, math.nan
    variance = float(np.var(v10, ddof=1)) / positives + float(np.var(v01, ddof=1)) / negatives
    return auc, variance


def _critical_value(confidence: float) -> float:
    confidence_check(confidence)
    return float(stats.norm.isf((1 - confidence) / 2))


def delong_interval(labels: Any, scores: Any, confidence: float = 0.95) -> tuple[float, tuple[float, float]]:
    """AUROC with its DeLong interval ``auc ± z · sqrt(variance)``, clipped to [0, 1].

    The interval is ``(nan, nan)``, reported as no interval, when a class has a single case or when the
    variance is 0 (the classes perfectly separated, or every score tied). A zero variance is an artefact of
    the estimator, not certainty: an interval of [1, 1] from two positives and two negatives would pass any
    acceptance bound on it.
    """
    critical = _critical_value(confidence)
    auc, variance = delong_auc(labels, scores)
    if math.isnan(variance) or variance <= 0:
        return auc, (math.nan, math.nan)
    half_width = critical * math.sqrt(variance)
    return auc, (max(auc - half_width, 0.0), min(auc + half_width, 1.0))


def delong_paired_test(labels: Any, scores_a: Any, scores_b: Any, confidence: float = 0.95) -> dict[str, Any]:
    """DeLong's test of two models' AUROCs on the same cases.

    The covariance of the two AUROCs is ``S10 / m + S01 / n`` with S10 and S01 the 2×2 sample covariances of
    the placement values; ``z = (auc_a − auc_b) / sd`` and the two-sided p-value come from the normal.

    Without variance of the difference (both models separate the classes perfectly, or rank every case
    alike) there is no test: equal AUROCs give z 0, p 1 and the interval [0, 0]; different ones give z, p
    and the interval as None (never an infinite z, which no JSON column stores).
    """
    critical = _critical_value(confidence)
    label_array, first = _binary_arrays(labels, scores_a)
    _, second = _binary_arrays(labels, scores_b)
    positives = int(label_array.sum())
    negatives = label_array.size - positives
    if positives < 2 or negatives < 2:
        raise ValueError("the paired DeLong test needs at least two positive and two negative cases")
    v10_a, v01_a, twice_u_a = _placements(label_array, first, aligned=True)
    v10_b, v01_b, twice_u_b = _placements(label_array, second, aligned=True)
    pairs = 2.0 * positives * negatives
    auc_a = twice_u_a / pairs
    auc_b = twice_u_b / pairs
    covariance = np.cov(np.vstack([v10_a, v10_b])) / positives + np.cov(np.vstack([v01_a, v01_b])) / negatives
    variance = float(covariance[0, 0] + covariance[1, 1] - 2 * covariance[0, 1])
    difference = auc_a - auc_b
    z: float | None
    p_value: float | None
    interval: list[float] | None
    if variance > 0:
        deviation = math.sqrt(variance)
        z = float(difference / deviation)
        p_value = float(2 * stats.norm.sf(abs(z)))
        low, high = difference - critical * deviation, difference + critical * deviation
        interval = [float(max(low, -1.0)), float(min(high, 1.0))]
    elif difference == 0:
        z, p_value, interval = 0.0, 1.0, [0.0, 0.0]
    else:
        z = p_value = interval = None
    return {
        "auc_a": float(auc_a),
        "auc_b": float(auc_b),
        "difference": float(difference),
        "ci": interval,
        "z": z,
        "p_value": p_value,
        "method": "delong-paired",
    }


def _auroc_metric(labels: np.ndarray, scores: np.ndarray, confidence: float) -> MetricValue:
    positives = int(labels.sum())
    if positives == 0 or positives == labels.size:
        return metric_none()
    auc, interval = delong_interval(labels, scores, confidence)
    return metric_value(auc, interval, "delong")


# --- binary -----------------------------------------------------------------------------------------------


def binary_metrics(
    labels: Any,
    scores: Any,
    *,
    threshold: float = 0.5,
    ci_method: str = "wilson",
    confidence: float = 0.95,
    bootstrap_resamples: int = 2000,
    seed: int = 0,
) -> dict[str, Any]:
    """Every binary metric with its interval, and the confusion counts at ``threshold``.

    With ``bootstrap_resamples=0`` the bootstrap metrics are reported without an interval.
    """
    label_array, score_array = _binary_arrays(labels, scores)
    _options_check(ci_method, confidence, bootstrap_resamples)
    if not math.isfinite(threshold):
        raise ValueError("threshold must be a finite number")
    n = label_array.size
    predicted = score_array >= threshold
    positives = int(label_array.sum())
    negatives = n - positives
    true_positive = int(np.count_nonzero(predicted & (label_array == 1)))
    false_positive = int(np.count_nonzero(predicted & (label_array == 0)))
    false_negative = positives - true_positive
    true_negative = negatives - false_positive

    def proportion(successes: int, total: int) -> MetricValue:
        return _proportion_metric(successes, total, ci_method, confidence)

    ranked = _RankedCases(label_array, score_array)
    rows = _BinaryRows(ranked, threshold)
    point = {name: float(values[0]) for name, values in rows.metrics(*ranked.counts()).items()}
    resampled: dict[str, list[np.ndarray]] = {name: [] for name in BINARY_BOOTSTRAP_METRICS}
    for indices in bootstrap_indices(n, bootstrap_resamples, seed):
        for name, values in rows.metrics(*ranked.resampled(indices)).items():
            resampled[name].append(values)
    bootstrapped = {
        name: _bootstrap_metric(point[name], resampled[name], confidence) for name in BINARY_BOOTSTRAP_METRICS
    }
    metrics: dict[str, MetricValue] = {
        "sensitivity": proportion(true_positive, positives),
        "specificity": proportion(true_negative, negatives),
        "ppv": proportion(true_positive, true_positive + false_positive),
        "npv": proportion(true_negative, true_negative + false_negative),
        "accuracy": proportion(true_positive + true_negative, n),
        "balanced_accuracy": bootstrapped["balanced_accuracy"],
        "f1": bootstrapped["f1"],
        "auroc": _auroc_metric(label_array, score_array, confidence),
        "auprc": bootstrapped["auprc"],
        "brier": bootstrapped["brier"],
        "ece": bootstrapped["ece"],
    }
    return {
        "n": n,
        "positives": positives,
        "negatives": negatives,
        "counts": {"tp": true_positive, "fp": false_positive, "tn": true_negative, "fn": false_negative},
        "metrics": metrics,
    }


def auroc_bootstrap(
    labels: Any, scores: Any, *, resamples: int, seed: int, batch_size: int | None = None
) -> np.ndarray:
    """The AUROC of each bootstrap resample (NaN for a resample with a single class).

    Row ``r`` is the AUROC of the cases ``bootstrap_indices(n, resamples, seed)`` draws in resample ``r``.
    """
    label_array, score_array = _binary_arrays(labels, scores)
    ranked = _RankedCases(label_array, score_array)
    values = [
        _auc_rows(ranked, *ranked.resampled(indices))
        for indices in bootstrap_indices(label_array.size, resamples, seed, batch_size=batch_size)
    ]
    return np.concatenate(values) if values else np.empty(0)


def worst_case_scores(labels: Any, scores: Any, failed: Any, *, threshold: float | None = None) -> np.ndarray:
    """Scores in which every failed case is as wrong as it can be.

    A failed positive gets ``min(valid scores, 0) − 1`` and a failed negative ``max(valid scores, 1) + 1``:
    below (above) every other score, so it ranks worst for AUROC, and wrong at every threshold in [0, 1]
    (``threshold``, when given, widens that to it: the command line takes any threshold). For probabilities
    that is −1 and 2. The scores of failed cases are ignored (they may be NaN).
    """
    label_array = np.asarray(labels)
    score_array = np.array(scores, dtype=np.float64)
    failed_array = np.asarray(failed, dtype=bool)
    if not label_array.shape == score_array.shape == failed_array.shape or label_array.ndim != 1:
        raise ValueError("labels, scores and failed must be one-dimensional and of the same length")
    if not ((label_array == 0) | (label_array == 1)).all():
        raise ValueError("labels must be 0 or 1")
    valid = score_array[~failed_array]
    if not np.isfinite(valid).all():
        raise ValueError("the scores of cases that did not fail must be finite numbers")
    bounds_low = [0.0, *([threshold] if threshold is not None else [])]
    bounds_high = [1.0, *([threshold] if threshold is not None else [])]
    if valid.size:
        bounds_low.append(float(valid.min()))
        bounds_high.append(float(valid.max()))
    score_array[failed_array & (label_array == 1)] = min(bounds_low) - 1.0
    score_array[failed_array & (label_array == 0)] = max(bounds_high) + 1.0
    return score_array


def roc_points(labels: Any, scores: Any, max_points: int = 200) -> list[list[float]]:
    """The ROC curve as ``[[fpr, tpr], ...]`` from (0, 0) to (1, 1); empty with a single class.

    Points on a straight run of the curve are dropped (as scikit-learn's ``drop_intermediate``); a curve
    that still has more than ``max_points`` is thinned to points evenly spaced along its length.
    """
    if max_points < 2:
        raise ValueError("a curve needs at least two points")
    label_array, score_array = _binary_arrays(labels, scores)
    positive_total = int(label_array.sum())
    negative_total = label_array.size - positive_total
    if positive_total == 0 or negative_total == 0:
        return []
    distinct, group = np.unique(score_array, return_inverse=True)
    positives = np.bincount(group[label_array == 1], minlength=distinct.size)
    negatives = np.bincount(group[label_array == 0], minlength=distinct.size)
    # From the highest score down: each distinct score is one threshold, one point.
    true_positives = np.r_[0, np.cumsum(positives[::-1])]
    false_positives = np.r_[0, np.cumsum(negatives[::-1])]
    corners = np.flatnonzero(
        np.r_[True, (np.diff(true_positives, 2) != 0) | (np.diff(false_positives, 2) != 0), True]
    )
    fpr = false_positives[corners] / negative_total
    tpr = true_positives[corners] / positive_total
    if fpr.size > max_points:
        length = np.r_[0.0, np.cumsum(np.abs(np.diff(fpr)) + np.abs(np.diff(tpr)))]
        chosen = np.searchsorted(length, np.linspace(0.0, length[-1], max_points))
        chosen = np.unique(np.r_[0, np.minimum(chosen, fpr.size - 1), fpr.size - 1])
        fpr, tpr = fpr[chosen], tpr[chosen]
    return [[float(x), float(y)] for x, y in zip(fpr, tpr, strict=True)]


# --- multi-class ------------------------------------------------------------------------------------------


def _one_vs_rest_rows(confusion: np.ndarray) -> dict[str, np.ndarray]:
    """Per-class one-vs-rest counts of rows of confusion matrices ``(b, k, k)`` (truth, prediction)."""
    true_positive = np.diagonal(confusion, axis1=1, axis2=2)
    actual = confusion.sum(axis=2)
    predicted = confusion.sum(axis=1)
    total = confusion.sum(axis=(1, 2))[:, None]
    false_negative = actual - true_positive
    false_positive = predicted - true_positive
    return {
        "tp": true_positive,
        "fn": false_negative,
        "fp": false_positive,
        "tn": total - true_positive - false_negative - false_positive,
    }


def _multiclass_rows(confusion: np.ndarray) -> dict[str, np.ndarray]:
    counts = _one_vs_rest_rows(confusion)
    tp, fn, fp, tn = counts["tp"], counts["fn"], counts["fp"], counts["tn"]
    per_class_f1 = _ratio(2 * tp, 2 * tp + fp + fn)
    return {
        "accuracy": _ratio(tp.sum(axis=1), confusion.sum(axis=(1, 2))),
        "macro_sensitivity": _defined_mean(_ratio(tp, tp + fn)),
        "macro_specificity": _defined_mean(_ratio(tn, tn + fp)),
        "macro_ppv": _defined_mean(_ratio(tp, tp + fp)),
        "macro_f1": _defined_mean(per_class_f1),
        "per_class_f1": per_class_f1,
    }


def multiclass_metrics(
    labels: Any,
    probabilities: Any,
    classes: Sequence[str],
    *,
    ci_method: str = "wilson",
    confidence: float = 0.95,
    bootstrap_resamples: int = 2000,
    seed: int = 0,
) -> dict[str, Any]:
    """Multi-class metrics: the prediction is the class of highest probability (the first on a tie).

    ``labels`` are class indices into ``classes``; ``probabilities`` has one column per class. Per class
    the metrics are one-vs-rest (AUROC on that class's column); the macro averages are means over the
    classes where each is defined, with bootstrap percentile intervals.
    """
    label_array = np.asarray(labels)
    probability_array = np.asarray(probabilities, dtype=np.float64)
    k = len(classes)
    if k < 2:
        raise ValueError("a multi-class task needs at least two classes")
    if label_array.ndim != 1 or label_array.size == 0:
        raise ValueError("labels must be a non-empty one-dimensional array")
    if probability_array.shape != (label_array.size, k):
        raise ValueError(
            f"probabilities must have shape ({label_array.size}, {k}), not {probability_array.shape}"
        )
    if not np.isin(label_array, np.arange(k)).all():
        raise ValueError(f"labels must be class indices 0..{k - 1}")
    if not np.isfinite(probability_array).all():
        raise ValueError("probabilities must be finite numbers")
    _options_check(ci_method, confidence, bootstrap_resamples)
    label_array = label_array.astype(np.int64)
    n = label_array.size
    predicted = probability_array.argmax(axis=1)
    confusion_keys = label_array * k + predicted
    confusion = np.bincount(confusion_keys, minlength=k * k).reshape(1, k, k)
    class_ranked = [
        _RankedCases((label_array == c).astype(np.int64), probability_array[:, c]) for c in range(k)
    ]

    point = _multiclass_rows(confusion)
    point_auroc = [
        _auroc_metric((label_array == c).astype(np.int64), probability_array[:, c], confidence)
        for c in range(k)
    ]
    macro_auroc_point = _defined_mean(
        np.array([[np.nan if m["value"] is None else m["value"] for m in point_auroc]])
    )

    names = [*MULTICLASS_METRICS[:-1], "per_class_f1"]
    resampled: dict[str, list[np.ndarray]] = {name: [] for name in [*names, "macro_auroc"]}
    for indices in bootstrap_indices(n, bootstrap_resamples, seed):
        rows = indices.shape[0]
        drawn = _resampled_counts(confusion_keys, k * k, indices).reshape(rows, k, k)
        for name, values in _multiclass_rows(drawn).items():
            resampled[name].append(values)
        aucs = np.column_stack([_auc_rows(ranked, *ranked.resampled(indices)) for ranked in class_ranked])
        resampled["macro_auroc"].append(_defined_mean(aucs))

    metrics: dict[str, MetricValue] = {
        "accuracy": _proportion_metric(int(np.trace(confusion[0])), n, ci_method, confidence),
    }
    for name in MULTICLASS_METRICS[1:-1]:
        metrics[name] = _bootstrap_metric(float(point[name][0]), resampled[name], confidence)
    metrics["macro_auroc"] = _bootstrap_metric(
        float(macro_auroc_point[0]), resampled["macro_auroc"], confidence
    )

    counts = _one_vs_rest_rows(confusion)
    per_class: dict[str, dict[str, MetricValue]] = {}
    for c, name in enumerate(classes):
        tp, fn, fp, tn = (int(counts[key][0, c]) for key in ("tp", "fn", "fp", "tn"))
        f1_resampled = [values[:, c] for values in resampled["per_class_f1"]]
        per_class[name] = {
            "sensitivity": _proportion_metric(tp, tp + fn, ci_method, confidence),
            "specificity": _proportion_metric(tn, tn + fp, ci_method, confidence),
            "ppv": _proportion_metric(tp, tp + fp, ci_method, confidence),
            "npv": _proportion_metric(tn, tn + fn, ci_method, confidence),
            "f1": _bootstrap_metric(float(point["per_class_f1"][0, c]), f1_resampled, confidence),
            "auroc": point_auroc[c],
        }
    return {"n": n, "metrics": metrics, "per_class": per_class}
