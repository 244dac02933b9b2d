"""Confidence intervals shared by every task, and the shape a metric is reported in.

- :func:`proportion_interval`: Wilson score or Clopper–Pearson (exact binomial) interval of a proportion,
  equal to ``statsmodels.stats.proportion.proportion_confint`` with ``method="wilson"`` / ``"beta"``.
- :func:`bootstrap_indices`: the case indices of bootstrap resamples, in batches. The resamples depend only
  on ``(n, resamples, seed)``, never on the batch size, so a result is reproducible from the plan's seed
  whatever memory the machine has.
- :func:`percentile_interval`: the percentile interval of bootstrap values.

Every metric is reported as a :class:`MetricValue`: ``{"value": float | None, "ci": [low, high] | None,
"method": str}`` with plain Python floats, so results go to JSON as they are.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import TypedDict

import numpy as np
from scipy import stats

PROPORTION_METHODS = ("wilson", "clopper-pearson")
INTERVAL_METHODS = ("wilson", "clopper-pearson", "delong", "bootstrap-percentile", "none")

# Index elements in one batch of resamples (1 MiB of int64). Enough rows for numpy's per-call overhead to
# vanish on small test sets; on large ones a batch is a single resample, and that is faster, not slower:
# the arrays a batch derives stay in the CPU cache and the allocator reuses their pages, where batches of
# many megabytes are faulted in afresh each time (measured: 2 to 3 times slower per resample at 10⁵ cases).
BATCH_ELEMENTS = 1 << 17


class MetricValue(TypedDict):
    value: float | None
    ci: list[float] | None
    method: str


def metric_none() -> MetricValue:
    """A metric that cannot be computed (sensitivity without positives, AUROC with one class…)."""
    return {"value": None, "ci": None, "method": "none"}


def metric_value(value: float | None, ci: tuple[float, float] | None, method: str) -> MetricValue:
    """A MetricValue of plain floats; a non-finite value is "cannot be computed", a non-finite interval none.

    A value without an interval (too few cases for one) is reported with ``ci`` None and method ``"none"``.
    """
    if value is None or not math.isfinite(value):
        return metric_none()
    if ci is None or not (math.isfinite(ci[0]) and math.isfinite(ci[1])):
        return {"value": float(value), "ci": None, "method": "none"}
    if method not in INTERVAL_METHODS:
        raise ValueError(f"unknown interval method {method!r}")
    return {"value": float(value), "ci": [float(ci[0]), float(ci[1])], "method": method}


def confidence_check(confidence: float) -> None:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie strictly between 0 and 1, not {confidence!r}")


def proportion_interval(
    successes: int, total: int, *, method: str = "wilson", confidence: float = 0.95
) -> tuple[float, float]:
    """The two-sided interval of ``successes / total`` at ``confidence``.

    Computed with the same expressions, in the same order, as statsmodels' ``proportion_confint`` so the
    bounds agree to the last bit or two: Wilson clipped to [0, 1]; Clopper–Pearson from the beta quantiles,
    0 when there is no success and 1 when all are.
    """
    confidence_check(confidence)
    if method not in PROPORTION_METHODS:
        raise ValueError(f"unknown proportion interval method {method!r}: use one of {PROPORTION_METHODS}")
    if total <= 0:
        raise ValueError("a proportion needs at least one observation")
    if not 0 <= successes <= total:
        raise ValueError(f"successes must lie in 0..{total}, not {successes}")
    half_alpha = (1 - confidence) / 2.0
    proportion = successes / total
    if method == "wilson":
        crit = float(stats.norm.isf(half_alpha))
        crit2 = crit**2
        denominator = 1 + crit2 / total
        centre = (proportion + crit2 / (2 * total)) / denominator
        distance = crit * math.sqrt(proportion * (1.0 - proportion) / total + crit2 / (4.0 * total**2))
        distance /= denominator
        return min(max(centre - distance, 0.0), 1.0), min(max(centre + distance, 0.0), 1.0)
    low = 0.0 if successes == 0 else float(stats.beta.ppf(half_alpha, successes, total - successes + 1))
    high = 1.0 if successes == total else float(stats.beta.isf(half_alpha, successes + 1, total - successes))
    return low, high


def batch_size_default(n: int, resamples: int) -> int:
    return max(1, min(resamples, BATCH_ELEMENTS // max(n, 1)))


def bootstrap_indices(
    n: int, resamples: int, seed: int, *, batch_size: int | None = None
) -> Iterator[np.ndarray]:
    """Batches of resample indices: int64 arrays of shape ``(b, n)``, ``resamples`` rows in all.

    Row ``r`` is the ``r``-th row of ``numpy.random.default_rng(seed).integers(0, n, size=(resamples, n))``:
    the generator draws the same stream whether it fills one array or several, so the batch size (by default
    about 131,072 indices a batch, at least one resample) changes the memory used, never the resamples.
    """
    if n < 1:
        raise ValueError("bootstrap needs at least one case")
    if resamples < 0:
        raise ValueError(f"resamples must not be negative, not {resamples}")
    size = batch_size_default(n, resamples) if batch_size is None else batch_size
    if size < 1:
        raise ValueError(f"batch_size must be at least 1, not {size}")
    generator = np.random.default_rng(seed)
    done = 0
    while done < resamples:
        rows = min(size, resamples - done)
        yield generator.integers(0, n, size=(rows, n))
        done += rows


def percentile_interval(values: np.ndarray, confidence: float) -> tuple[float, float]:
    """The ``confidence`` percentile interval of bootstrap ``values`` (``np.percentile``, linear).

    Resamples where the metric is undefined (NaN: a resample without positives has no sensitivity) are
    left out; when every value is NaN the interval is ``(nan, nan)``, which :func:`metric_value` reports
    as no interval.
    """
    confidence_check(confidence)
    array = np.asarray(values, dtype=np.float64).ravel()
    finite = array[~np.isnan(array)]
    if finite.size == 0:
        return math.nan, math.nan
    low, high = np.percentile(finite, [50.0 * (1 - confidence), 50.0 * (1 + confidence)])
    return float(low), float(high)
