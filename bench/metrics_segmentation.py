"""How fast Dice and HD95 of a CT-sized mask pair are, against medpy and a naive approach in the same run.

    .venv/bin/python bench/metrics_segmentation.py [--quick]

Makes a realistic pair of masks in a 512×512×200 volume (``--quick``: 256×256×50) with 0.7×0.7×2.5 mm
voxels: two overlapping irregular blobs, each about 3.5 % of the volume (a large organ), the second shifted
and shaped differently from the first, as a model's contour differs from the reference's. Then, in seconds:

- ours: ``segmentation_overlap`` (Dice) and ``segmentation_hd95`` from
  ``medbroker.evaluations.metrics.segmentation``, the best of three runs;
- library: ``medpy.metric.binary.dc`` (best of three) and ``medpy.metric.binary.hd95`` (one run: it takes
  tens of seconds);
- naive: scikit-learn's ``f1_score`` of the flattened masks for Dice; for HD95 the whole-volume way, each
  mask's surface (the mask XOR its erosion), ``scipy.ndimage.distance_transform_edt`` over the whole volume
  from each surface, the distances read at the other surface's voxels, and the 95th percentile of both
  directions pooled; one run each.

``max_abs_diff`` is the largest difference between our value and the library's or the naive one. Targets:
ours at least 2× faster than medpy and at least 20× faster than naive, values equal to float64 precision.
``bench/metrics.py`` prints these rows with the classification benchmarks; run on its own, this file prints
them with their ratios and exits with 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

REPOSITORY = Path(__file__).resolve().parent.parent
if str(REPOSITORY) not in sys.path:
    sys.path.insert(0, str(REPOSITORY))

import numpy as np  # noqa: E402
from medpy.metric import binary as medpy_binary  # noqa: E402
from scipy import ndimage  # noqa: E402
from sklearn.metrics import f1_score  # noqa: E402

from medbroker.evaluations.metrics.segmentation import segmentation_hd95, segmentation_overlap  # noqa: E402

FULL_SHAPE = (512, 512, 200)
QUICK_SHAPE = (256, 256, 50)
SPACING = (0.7, 0.7, 2.5)
SEED = 20251
RUNS = 3
TARGETS = {"library": 2.0, "naive": 20.0}
# Equal "to float64 precision": HD95 is a percentile of the same distances, Dice the same division.
TOLERANCE = 1e-12


def blob(
    shape: tuple[int, ...], centre: tuple[float, ...], radii: tuple[float, ...], rng: np.random.Generator
) -> np.ndarray:
    """An irregular solid: an ellipsoid whose radius swells and shrinks by up to a fifth in lumps.

    The surface is ``|u| < 1 + Σ a·cos(f·u + φ)`` in coordinates ``u`` scaled by the radii, with six random
    low-frequency waves, computed only in the box around the ellipsoid so that a 52-million-voxel volume
    takes a second to make.
    """
    roughness = 0.2
    box = tuple(
        slice(max(0, int(c - r * (1 + roughness)) - 1), min(size, int(c + r * (1 + roughness)) + 2))
        for size, c, r in zip(shape, centre, radii, strict=True)
    )
    axes = [
        ((np.arange(part.start, part.stop, dtype=np.float32) - c) / r).reshape(
            [-1 if k == axis else 1 for k in range(len(shape))]
        )
        for axis, (part, c, r) in enumerate(zip(box, centre, radii, strict=True))
    ]
    radius = np.sqrt(sum(axis * axis for axis in axes))
    waves = 6
    limit = np.float32(1.0)
    for _ in range(waves):
        frequency = rng.normal(size=len(shape)) * 2.5
        phase = rng.uniform(0, 2 * np.pi)
        amplitude = np.float32(roughness / waves * rng.uniform(0.5, 1.5))
        limit = limit + amplitude * np.cos(
            sum(f * axis for f, axis in zip(frequency, axes, strict=True)) + phase
        )
    volume = np.zeros(shape, dtype=np.bool_)
    volume[box] = radius < limit
    return volume


def volume_pair(shape: tuple[int, int, int], seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """A reference mask and a prediction of it: two overlapping blobs of about 3.5 % of the volume each."""
    rng = np.random.default_rng(seed)
    centre = (shape[0] * 0.49, shape[1] * 0.51, shape[2] * 0.5)
    radii = (shape[0] * 0.19, shape[1] * 0.17, shape[2] * 0.27)
    reference = blob(shape, centre, radii, rng)
    shifted = (centre[0] + shape[0] * 0.015, centre[1] - shape[1] * 0.01, centre[2] + shape[2] * 0.01)
    prediction = blob(shape, shifted, (radii[0] * 0.97, radii[1] * 1.04, radii[2] * 0.95), rng)
    return reference, prediction


def dice_naive(reference: np.ndarray, prediction: np.ndarray) -> float:
    return float(f1_score(reference.ravel(), prediction.ravel()))


def hd95_naive(reference: np.ndarray, prediction: np.ndarray, spacing: tuple[float, ...]) -> float:
    cross = ndimage.generate_binary_structure(reference.ndim, 1)
    reference_surface = reference ^ ndimage.binary_erosion(reference, structure=cross)
    prediction_surface = prediction ^ ndimage.binary_erosion(prediction, structure=cross)
    to_prediction = ndimage.distance_transform_edt(~prediction_surface, sampling=spacing)[reference_surface]
    to_reference = ndimage.distance_transform_edt(~reference_surface, sampling=spacing)[prediction_surface]
    return float(np.percentile(np.concatenate((to_prediction, to_reference)), 95))


def best_of(runs: int, function: Callable[[], float]) -> tuple[float, float]:
    """The shortest of ``runs`` timings in seconds, and the function's value."""
    best = float("inf")
    value = float("nan")
    for _ in range(runs):
        start = time.perf_counter()
        value = function()
        best = min(best, time.perf_counter() - start)
    return best, value


def segmentation_benchmark(quick: bool = False) -> list[dict[str, Any]]:
    """Rows ``{name, ours_s, library, library_s, naive_s, max_abs_diff}`` for Dice and HD95."""
    shape = QUICK_SHAPE if quick else FULL_SHAPE
    size = "×".join(str(axis) for axis in shape)
    library = f"medpy {version('medpy')}"
    reference, prediction = volume_pair(shape)
    rows: list[dict[str, Any]] = []

    ours_s, ours = best_of(RUNS, lambda: segmentation_overlap(reference, prediction)["dice"])
    library_s, library_value = best_of(RUNS, lambda: float(medpy_binary.dc(prediction, reference)))
    naive_s, naive_value = best_of(1, lambda: dice_naive(reference, prediction))
    rows.append(
        {
            "name": f"Dice {size}",
            "ours_s": ours_s,
            "library": library,
            "library_s": library_s,
            "naive_s": naive_s,
            "max_abs_diff": max(abs(ours - library_value), abs(ours - naive_value)),
            "value": ours,
        }
    )

    ours_s, ours = best_of(RUNS, lambda: segmentation_hd95(reference, prediction, spacing=SPACING))
    library_s, library_value = best_of(
        1 if not quick else RUNS,
        lambda: float(medpy_binary.hd95(prediction, reference, voxelspacing=SPACING)),
    )
    naive_s, naive_value = best_of(1, lambda: hd95_naive(reference, prediction, SPACING))
    rows.append(
        {
            "name": f"HD95 {size}",
            "ours_s": ours_s,
            "library": library,
            "library_s": library_s,
            "naive_s": naive_s,
            "max_abs_diff": max(abs(ours - library_value), abs(ours - naive_value)),
            "value": ours,
        }
    )
    return rows


def row_verdict(row: dict[str, Any]) -> tuple[float, float, bool]:
    """(ratio against the library, ratio against naive, every target met)."""
    versus_library = row["library_s"] / row["ours_s"]
    versus_naive = row["naive_s"] / row["ours_s"]
    met = (
        versus_library >= TARGETS["library"]
        and versus_naive >= TARGETS["naive"]
        and row["max_abs_diff"] <= TOLERANCE
    )
    return versus_library, versus_naive, met


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a 256×256×50 volume instead of 512×512×200")
    arguments = parser.parse_args()
    rows = segmentation_benchmark(quick=arguments.quick)
    print(f"spacing {SPACING} mm; ours and Dice library best of {RUNS}, the others one run")
    print(
        f"{'benchmark':<20} {'value':>10} {'ours (s)':>9} {'library':>12} {'library (s)':>11} {'naive (s)':>9} "
        f"{'vs library':>10} {'vs naive':>9} {'max |diff|':>10}  target"
    )
    all_met = True
    for row in rows:
        versus_library, versus_naive, met = row_verdict(row)
        all_met = all_met and met
        print(
            f"{row['name']:<20} {row['value']:>10.6f} {row['ours_s']:>9.4f} {row['library']:>12} "
            f"{row['library_s']:>11.4f} {row['naive_s']:>9.3f} {versus_library:>9.1f}× {versus_naive:>8.1f}× "
            f"{row['max_abs_diff']:>10.1e}  {'PASS' if met else 'FAIL'}"
        )
    print(
        f"targets: ≥ {TARGETS['library']:g}× the library, ≥ {TARGETS['naive']:g}× naive, "
        f"max |diff| ≤ {TOLERANCE:g}"
    )
    return 0 if all_met else 1


if __name__ == "__main__":
    sys.exit(main())
