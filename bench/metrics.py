"""How fast the metrics are, against a library and a naive way, all measured in the same run.

    .venv/bin/python bench/metrics.py [--quick]

1. DeLong AUROC with its 95 % interval on 1,000,000 cases (``--quick``: 100,000), twice: continuous scores,
   and the same scores rounded to 0.001 (many ties, as a model with coarse outputs gives). Ours:
   ``delong_interval``; library: ``confidenceinterval.roc_auc_score(y, s, confidence_level=0.95)``, the
   package's DeLong (it computes in float32, so its AUROC and bounds differ from ours in the 7th digit: the
   row's difference is against it, and our AUROC is checked against scikit-learn's ``roc_auc_score`` to
   1e-12 as well). Best of 3 each. No naive row: the definition's O(n²) pairs do not fit in memory at 10⁶.
2. Bootstrap of AUROC, 2,000 resamples of 100,000 cases (``--quick``: 200 of 20,000). Ours:
   ``auroc_bootstrap`` then ``percentile_interval``, best of 3; library:
   ``confidenceinterval.roc_auc_score(y, s, confidence_level=0.95, method="bootstrap_percentile",
   n_resamples=2000, random_state=SEED)``, one run: it hands the case indices to ``scipy.stats.bootstrap``,
   which draws its own resamples (a ``RandomState`` stream, not ours) and calls scikit-learn's
   ``roc_auc_score`` on each; naive: ``sklearn.metrics.roc_auc_score(y[idx], s[idx])`` for every resample
   ``idx`` of ``bootstrap_indices`` — the same resamples as ours — then the same percentile interval, one
   run. All three times include drawing the resamples. Against the naive loop the 2,000 AUROCs must agree
   to 1e-12 and so must the intervals (the row's max |diff|). The library's resamples differ, so its
   interval can only agree within Monte-Carlo error: the difference of the bounds is reported on its own,
   outside max |diff|, and checked against four standard errors of the difference of two independent
   2,000-resample percentile estimates (``sqrt(2 p (1 - p) / B) / f(q)``, with the density ``f`` at the
   bound from a normal fit to our bootstrap AUROCs).
3. Dice and HD95 of a 512×512×200 mask pair (``--quick``: 256×256×50), from
   ``bench/metrics_segmentation.py`` (``segmentation_benchmark``): ours against medpy and a naive way.

Targets: DeLong ≥ 2× the library; bootstrap ≥ 2× the library and ≥ 20× naive, its library interval
within the Monte-Carlo bound above; Dice and HD95 ≥ 2× medpy and ≥ 20× naive; every value within its
tolerance. Prints one table (seconds, ratios, largest difference, target met) and exits with 1 when a
target is missed. A full run (not ``--quick``) also rewrites its section of
``bench/RESULTS.md``, between the markers below, leaving the rest of the file as it is.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

REPOSITORY = Path(__file__).resolve().parent.parent
if str(REPOSITORY) not in sys.path:
    sys.path.insert(0, str(REPOSITORY))

import numpy as np  # noqa: E402
from confidenceinterval import roc_auc_score as library_roc_auc  # noqa: E402
from scipy.stats import norm  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402

from medbroker.evaluations.metrics.classification import auroc_bootstrap, delong_interval  # noqa: E402
from medbroker.evaluations.metrics.intervals import bootstrap_indices, percentile_interval  # noqa: E402

RESULTS = REPOSITORY / "bench" / "RESULTS.md"
BEGIN = "<!-- metrics: begin (written by bench/metrics.py) -->"
END = "<!-- metrics: end -->"
SEED = 20251
RUNS = 3
CONFIDENCE = 0.95
# Our values against float64 references (scikit-learn, the naive loop, medpy): equal to float64 precision.
EXACT = 1e-12
# Against confidenceinterval, which computes midranks and AUROC in float32.
FLOAT32 = 1e-6
# Bootstrap interval against confidenceinterval's, drawn from other resamples: standard errors allowed.
MONTE_CARLO_SE = 4.0


@dataclass
class Row:
    name: str
    ours_s: float
    library: str = "-"
    library_s: float | None = None
    naive_s: float | None = None
    max_abs_diff: float = 0.0
    tolerance: float = EXACT
    targets: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    checks_passed: bool = True

    def ratio(self, baseline: str) -> float | None:
        seconds = self.library_s if baseline == "library" else self.naive_s
        return None if seconds is None else seconds / self.ours_s

    def met(self) -> bool:
        ratios_met = all((self.ratio(name) or 0.0) >= target for name, target in self.targets.items())
        return ratios_met and self.max_abs_diff <= self.tolerance and self.checks_passed


def best_of(runs: int, function: Callable[[], Any]) -> tuple[float, Any]:
    best = math.inf
    result = None
    for _ in range(runs):
        started = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - started)
    return best, result


def binary_sample(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Labels (30 % positive) and a fair model's probabilities: a binormal model through a sigmoid."""
    rng = np.random.default_rng(seed)
    labels = (rng.random(n) < 0.3).astype(np.int64)
    scores = 1.0 / (1.0 + np.exp(-(rng.normal(size=n) + 1.5 * labels - 1.0)))
    return labels, scores


def delong_benchmark(n: int, *, ties: bool) -> Row:
    labels, scores = binary_sample(n, SEED)
    if ties:
        scores = np.round(scores, 3)
    ours_s, (auc, (low, high)) = best_of(RUNS, lambda: delong_interval(labels, scores, CONFIDENCE))
    library_s, (library_auc, (library_low, library_high)) = best_of(
        RUNS, lambda: library_roc_auc(labels, scores, confidence_level=CONFIDENCE)
    )
    exact_auc = float(roc_auc_score(labels, scores))
    versus_exact = abs(auc - exact_auc)
    difference = max(
        abs(auc - float(library_auc)),
        abs(low - max(float(library_low), 0.0)),
        abs(high - min(float(library_high), 1.0)),
    )
    described = "scores rounded to 0.001" if ties else "continuous scores"
    return Row(
        name=f"DeLong AUROC + CI, {n:,} cases, {described}",
        ours_s=ours_s,
        library=f"confidenceinterval {version('confidenceinterval')}",
        library_s=library_s,
        max_abs_diff=difference,
        tolerance=FLOAT32,
        targets={"library": 2.0},
        notes=[
            f"AUROC {auc:.12f} [{low:.12f}, {high:.12f}]; scikit-learn {exact_auc:.12f} "
            f"(|diff| {versus_exact:.1e}); confidenceinterval (float32) {float(library_auc):.9f} "
            f"[{float(library_low):.9f}, {float(library_high):.9f}]"
        ],
        checks_passed=versus_exact <= EXACT,
    )


def monte_carlo_bound(values: np.ndarray, confidence: float) -> float:
    """How far two percentile bounds from independent bootstraps of ``len(values)`` resamples may differ.

    ``MONTE_CARLO_SE`` standard errors of the difference of two sample quantiles at ``p`` (each
    ``sqrt(p (1 - p) / B) / f(q)``), the density ``f`` at the bound taken from a normal fit to ``values``.
    """
    p = (1 - confidence) / 2
    density = norm.pdf(norm.ppf(p)) / float(np.std(values))
    return MONTE_CARLO_SE * math.sqrt(2 * p * (1 - p) / values.size) / density


def bootstrap_benchmark(n: int, resamples: int) -> Row:
    labels, scores = binary_sample(n, SEED + 1)

    def ours() -> tuple[np.ndarray, tuple[float, float]]:
        values = auroc_bootstrap(labels, scores, resamples=resamples, seed=SEED)
        return values, percentile_interval(values, CONFIDENCE)

    def library() -> tuple[float, tuple[float, float]]:
        return library_roc_auc(
            labels,
            scores,
            confidence_level=CONFIDENCE,
            method="bootstrap_percentile",
            n_resamples=resamples,
            random_state=SEED,
        )

    def naive() -> tuple[np.ndarray, tuple[float, float]]:
        values = np.array(
            [
                roc_auc_score(labels[indices], scores[indices])
                for batch in bootstrap_indices(n, resamples, SEED)
                for indices in batch
            ]
        )
        return values, percentile_interval(values, CONFIDENCE)

    ours_s, (values, interval) = best_of(RUNS, ours)
    library_s, (library_auc, library_interval) = best_of(1, library)
    naive_s, (naive_values, naive_interval) = best_of(1, naive)
    difference = float(np.max(np.abs(values - naive_values)))
    interval_difference = max(abs(interval[0] - naive_interval[0]), abs(interval[1] - naive_interval[1]))
    library_low, library_high = float(library_interval[0]), float(library_interval[1])
    library_difference = max(abs(interval[0] - library_low), abs(interval[1] - library_high))
    allowed = monte_carlo_bound(values, CONFIDENCE)
    return Row(
        name=f"bootstrap AUROC, {resamples:,} resamples of {n:,} cases",
        ours_s=ours_s,
        library=f"confidenceinterval {version('confidenceinterval')}",
        library_s=library_s,
        naive_s=naive_s,
        max_abs_diff=max(difference, interval_difference),
        targets={"library": 2.0, "naive": 20.0},
        notes=[
            f"95% interval {interval[0]:.12f} – {interval[1]:.12f} (naive {naive_interval[0]:.12f} – "
            f"{naive_interval[1]:.12f}); largest difference of the {resamples:,} AUROCs {difference:.1e}",
            f"confidenceinterval (scipy.stats.bootstrap, its own resamples): AUROC {float(library_auc):.12f}, "
            f"95% interval {library_low:.12f} – {library_high:.12f}; |difference of bounds| "
            f"{abs(interval[0] - library_low):.1e} (low), {abs(interval[1] - library_high):.1e} (high), "
            f"not part of max |diff|; Monte-Carlo allowance ({MONTE_CARLO_SE:g} SE) {allowed:.1e}: "
            f"{'within' if library_difference <= allowed else 'OUTSIDE'}",
        ],
        checks_passed=library_difference <= allowed,
    )


def segmentation_rows(quick: bool) -> tuple[list[Row], str | None]:
    try:
        from bench.metrics_segmentation import segmentation_benchmark
    except ImportError as error:
        return [], f"segmentation rows unavailable: {error}"
    rows = []
    for measured in segmentation_benchmark(quick=quick):
        rows.append(
            Row(
                name=measured["name"],
                ours_s=measured["ours_s"],
                library=measured["library"],
                library_s=measured["library_s"],
                naive_s=measured["naive_s"],
                max_abs_diff=measured["max_abs_diff"],
                targets={"library": 2.0, "naive": 20.0},
            )
        )
    return rows, None


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (
        f"{cpus} CPUs, {cpu}; Python {platform.python_version()}; numpy {np.__version__}; "
        f"scikit-learn {version('scikit-learn')}; scipy {version('scipy')}"
    )


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}×"


def table(rows: list[Row]) -> list[str]:
    header = (
        "benchmark",
        "ours (s)",
        "library",
        "library (s)",
        "naive (s)",
        "vs library",
        "vs naive",
        "max |diff|",
        "target met",
    )
    cells = [header]
    for row in rows:
        cells.append(
            (
                row.name,
                _seconds(row.ours_s),
                row.library,
                _seconds(row.library_s),
                _seconds(row.naive_s),
                _ratio(row.ratio("library")),
                _ratio(row.ratio("naive")),
                f"{row.max_abs_diff:.1e}",
                "yes" if row.met() else "NO",
            )
        )
    widths = [max(len(line[column]) for line in cells) for column in range(len(header))]
    lines = []
    for index, line in enumerate(cells):
        lines.append(
            "  ".join(
                cell.ljust(widths[column]) if column in (0, 2) else cell.rjust(widths[column])
                for column, cell in enumerate(line)
            ).rstrip()
        )
        if index == 0:
            lines.append("  ".join("-" * width for width in widths))
    return lines


def targets_text(rows: list[Row]) -> list[str]:
    lines = []
    for row in rows:
        wanted = [f"≥ {target:g}× {baseline}" for baseline, target in row.targets.items()]
        lines.append(f"- {row.name}: {', '.join(wanted)}, max |diff| ≤ {row.tolerance:g}")
        lines.extend(f"  {note}" for note in row.notes)
    return lines


def results_write(section: list[str]) -> None:
    text = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else ""
    block = "\n".join([BEGIN, *section, END])
    if BEGIN in text and END in text:
        before = text[: text.index(BEGIN)]
        after = text[text.index(END) + len(END) :]
        text = before + block + after
    else:
        text = text.rstrip("\n") + ("\n\n" if text else "") + block + "\n"
    RESULTS.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, a minute instead of several")
    options = parser.parse_args(argv)
    command = " ".join(
        [".venv/bin/python", "bench/metrics.py", *(argv if argv is not None else sys.argv[1:])]
    )
    delong_n = 100_000 if options.quick else 1_000_000
    bootstrap_n, resamples = (20_000, 200) if options.quick else (100_000, 2_000)

    rows: list[Row] = []
    print("DeLong…", file=sys.stderr)
    rows.append(delong_benchmark(delong_n, ties=False))
    rows.append(delong_benchmark(delong_n, ties=True))
    print("bootstrap (the library and the naive loop take a while)…", file=sys.stderr)
    rows.append(bootstrap_benchmark(bootstrap_n, resamples))
    print("segmentation…", file=sys.stderr)
    segmentation, missing = segmentation_rows(options.quick)
    rows.extend(segmentation)

    lines = table(rows)
    about = [
        f"machine: {machine()}",
        f"ours best of {RUNS}; DeLong library best of {RUNS}; bootstrap library and naive one run "
        "(segmentation: see bench/metrics_segmentation.py)",
    ]
    if missing:
        about.append(missing)
    print("\n".join([*about, "", *lines, "", "targets:", *targets_text(rows)]))
    failed = [row.name for row in rows if not row.met()]
    if missing:
        failed.append("segmentation")
    print(f"\n{'all targets met' if not failed else 'targets missed: ' + '; '.join(failed)}")

    if not options.quick:
        today = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
        section = [
            "# Metrics",
            "",
            "Written by `bench/metrics.py` (see its docstring for what is measured); the latest full run.",
            "",
            f"- date: {today}",
            f"- command: `{command}`",
            *[f"- {line}" for line in about],
            "",
            "```",
            *lines,
            "```",
            "",
            "Targets and values:",
            "",
            *targets_text(rows),
            "",
            f"Result: {'all targets met' if not failed else 'targets missed: ' + '; '.join(failed)}.",
        ]
        results_write(section)
        print(f"written to {RESULTS.relative_to(REPOSITORY)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
