"""Proportion intervals (against statsmodels), bootstrap resamples, percentile intervals, MetricValue."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest
from statsmodels.stats.proportion import proportion_confint

from medbroker.evaluations.metrics.intervals import (
    bootstrap_indices,
    metric_none,
    metric_value,
    percentile_interval,
    proportion_interval,
)


def exact(expected: Any) -> Any:
    """Equal to float64 precision: what two correct computations of the same quantity give."""
    return pytest.approx(expected, rel=1e-12, abs=1e-12)


PROPORTIONS = [(0, 1), (1, 1), (0, 7), (7, 7), (1, 7), (3, 7), (13, 40), (39, 40), (500, 1000), (1, 100000)]


@pytest.mark.parametrize(("successes", "total"), PROPORTIONS)
@pytest.mark.parametrize("confidence", [0.9, 0.95, 0.99])
@pytest.mark.parametrize(
    ("method", "statsmodels_method"), [("wilson", "wilson"), ("clopper-pearson", "beta")]
)
def test_proportion_interval_equals_statsmodels(
    successes: int, total: int, confidence: float, method: str, statsmodels_method: str
) -> None:
    expected = proportion_confint(successes, total, alpha=1 - confidence, method=statsmodels_method)

    low, high = proportion_interval(successes, total, method=method, confidence=confidence)

    assert (low, high) == (exact(expected[0]), exact(expected[1]))
    assert type(low) is float and type(high) is float


def test_proportion_interval_defaults_to_wilson_95() -> None:
    assert proportion_interval(13, 40) == exact(proportion_confint(13, 40, alpha=0.05, method="wilson"))


def test_clopper_pearson_is_closed_at_the_ends() -> None:
    assert proportion_interval(0, 10, method="clopper-pearson")[0] == 0.0
    assert proportion_interval(10, 10, method="clopper-pearson")[1] == 1.0


@pytest.mark.parametrize(
    ("successes", "total", "options", "message"),
    [
        (0, 0, {}, "at least one observation"),
        (-1, 5, {}, "successes must lie in 0..5"),
        (6, 5, {}, "successes must lie in 0..5"),
        (1, 5, {"method": "wald"}, "unknown proportion interval method 'wald'"),
        (1, 5, {"confidence": 1.0}, "confidence must lie strictly between 0 and 1"),
        (1, 5, {"confidence": 0.0}, "confidence must lie strictly between 0 and 1"),
    ],
)
def test_proportion_interval_refuses_bad_input(
    successes: int, total: int, options: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        proportion_interval(successes, total, **options)  # type: ignore[arg-type]


def test_bootstrap_indices_are_the_generators_rows() -> None:
    expected = np.random.default_rng(20251).integers(0, 37, size=(250, 37))

    batches = list(bootstrap_indices(37, 250, 20251))

    assert len(batches) == 1
    assert batches[0].dtype == np.int64
    np.testing.assert_array_equal(batches[0], expected)


@pytest.mark.parametrize("batch_size", [1, 3, 64, 249, 250, 1000])
def test_bootstrap_indices_do_not_depend_on_the_batch_size(batch_size: int) -> None:
    expected = np.random.default_rng(7).integers(0, 1000, size=(250, 1000))

    batches = list(bootstrap_indices(1000, 250, 7, batch_size=batch_size))

    assert [len(batch) for batch in batches] == [
        min(batch_size, 250 - start) for start in range(0, 250, batch_size)
    ]
    np.testing.assert_array_equal(np.concatenate(batches), expected)


def test_bootstrap_indices_default_batches_bound_memory() -> None:
    small = [batch.shape for batch in bootstrap_indices(1000, 300, 3)]
    large = list(bootstrap_indices(1_000_000, 3, 3))

    assert small == [(131, 1000), (131, 1000), (38, 1000)]
    assert [batch.shape for batch in large] == [(1, 1_000_000)] * 3
    np.testing.assert_array_equal(
        np.concatenate(large)[:, :1000],
        np.random.default_rng(3).integers(0, 1_000_000, size=(3, 1_000_000))[:, :1000],
    )


def test_bootstrap_indices_with_no_resamples_yield_nothing() -> None:
    assert list(bootstrap_indices(10, 0, 1)) == []


@pytest.mark.parametrize(
    ("n", "resamples", "batch_size", "message"),
    [(0, 10, None, "at least one case"), (5, -1, None, "must not be negative"), (5, 10, 0, "at least 1")],
)
def test_bootstrap_indices_refuse_bad_input(
    n: int, resamples: int, batch_size: int | None, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        next(bootstrap_indices(n, resamples, 0, batch_size=batch_size))


def test_percentile_interval_is_numpy_linear_percentiles() -> None:
    values = np.random.default_rng(1).normal(size=2001)

    low, high = percentile_interval(values, 0.95)

    assert (low, high) == (
        exact(np.percentile(values, 2.5)),
        exact(np.percentile(values, 97.5)),
    )
    assert type(low) is float and type(high) is float


def test_percentile_interval_drops_undefined_resamples() -> None:
    values = np.array([np.nan, 0.0, 1.0, 2.0, np.nan, 3.0, 4.0])

    assert percentile_interval(values, 0.9) == (exact(0.2), exact(3.8))


def test_percentile_interval_of_nothing_defined_is_nan() -> None:
    low, high = percentile_interval(np.array([np.nan, np.nan]), 0.95)

    assert math.isnan(low) and math.isnan(high)


def test_metric_value_is_plain_json() -> None:
    bounds: Any = (np.float64(0.7), np.float32(0.9))
    value = metric_value(np.float64(0.8), bounds, "wilson")

    assert value == {"value": 0.8, "ci": [0.7, pytest.approx(0.9, rel=1e-7)], "method": "wilson"}
    assert type(value["value"]) is float
    assert value["ci"] is not None and all(type(bound) is float for bound in value["ci"])
    json.dumps(value, allow_nan=False)


@pytest.mark.parametrize("value", [None, math.nan, math.inf])
def test_metric_value_that_cannot_be_computed(value: float | None) -> None:
    assert metric_value(value, (0.1, 0.2), "wilson") == {"value": None, "ci": None, "method": "none"}
    assert metric_none() == {"value": None, "ci": None, "method": "none"}


def test_metric_value_without_an_interval() -> None:
    assert metric_value(0.5, None, "delong") == {"value": 0.5, "ci": None, "method": "none"}
    assert metric_value(0.5, (math.nan, math.nan), "bootstrap-percentile") == {
        "value": 0.5,
        "ci": None,
        "method": "none",
    }


def test_metric_value_refuses_an_unknown_method() -> None:
    with pytest.raises(ValueError, match="unknown interval method 'bca'"):
        metric_value(0.5, (0.4, 0.6), "bca")
