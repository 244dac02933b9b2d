"""Segmentation metrics of binary masks: Dice, IoU, HD95 and NSD, per case and summarised over cases.

Definitions (a mask is a boolean array; any other dtype counts non-zero as foreground):

- Dice = 2|A∩B| / (|A| + |B|) and IoU = |A∩B| / |A∪B|: the same numbers as scikit-learn's ``f1_score`` and
  ``jaccard_score`` of the flattened masks.
- Surface of a mask: the mask XOR its binary erosion by the cross-shaped structuring element of
  connectivity 1 (``scipy.ndimage.generate_binary_structure(ndim, 1)``: the 3×3 cross in 2-D, the
  6-neighbour 3×3×3 cross in 3-D), with everything outside the array counting as background, so a mask
  touching the edge of the volume has surface there. This is medpy's default (``connectivity=1``).
- Surface distances: for every surface voxel of one mask, the Euclidean distance in mm (index offsets times
  ``spacing`` per axis) to the nearest surface voxel of the other mask; both directions.
- HD95: the 95th percentile (``numpy.percentile``, linear interpolation) of the distances of both directions
  pooled together. That is ``medpy.metric.binary.hd95`` (medpy 0.5); the other common definition, the larger
  of the two directed 95th percentiles (MONAI), is not used.
- NSD, the normalised surface Dice of Nikolov et al. at tolerance τ mm, counted in surface voxels:
  (|S_ref within τ of S_pred| + |S_pred within τ of S_ref|) / (|S_ref| + |S_pred|), "within" meaning a
  distance ≤ τ.

Empty masks, where the formulas divide by zero or have no surface to measure from:

- both empty: dice 1, iou 1, hd95 0, nsd 1 (nothing to find and nothing found is a perfect answer);
- exactly one empty: dice 0, iou 0, nsd 0, and hd95 the diagonal of the volume in mm,
  ``sqrt(Σ (shape_k · spacing_k)²)``, longer than any distance between two voxels of the volume, so a missed
  or invented structure scores worse than any real contour. A case whose model failed or timed out gets the
  same worst values (:func:`segmentation_case_failed`).

How it stays fast on whole CT volumes (a 512×512×200 pair is 52 million voxels) without changing a value:
every computation after the bounding box runs on the crop to the bounding box of both masks plus one voxel,
where the erosion sees the same neighbours (the margin is background, as outside the array) and every
surface voxel of both masks lies; nearest surface voxels come from a k-d tree of the other surface's voxels
instead of a distance transform of the whole volume, and each distance is then recomputed from the integer
offset to that voxel with the operations ``scipy.ndimage.distance_transform_edt`` uses, so HD95 and NSD
equal medpy's to the last bit (where two voxels lie at exactly the same distance the tree and the distance
transform may pick different ones; with spacings that are not binary fractions their rounding may differ by
one unit in the last place).

The ``segmentation`` subcommand of ``medbroker metrics`` is :func:`segmentation_arguments` and
:func:`segmentation_command`.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

from medbroker.evaluations.metrics.files import InputFileError
from medbroker.evaluations.metrics.intervals import (
    MetricValue,
    bootstrap_indices,
    metric_none,
    metric_value,
    percentile_interval,
)

SEGMENTATION_METRICS = ("dice", "iou", "hd95", "nsd")
HD_PERCENTILE = 95.0
# Voxels compared per step of the overlap count: two 128 KiB slabs and their intersection stay in the CPU
# cache, where one whole-volume logical_and would write and re-read 52 MB.
OVERLAP_CHUNK = 1 << 17
# A leaf of 32 points and sliding-midpoint splits answer surface queries fastest (measured on CT-sized
# blobs); the tree is built in milliseconds either way.
KDTREE_LEAF_SIZE = 32


def _mask(array: Any, name: str) -> np.ndarray:
    mask = np.asarray(array)
    if mask.dtype != np.bool_:
        mask = mask != 0
    if mask.ndim == 0:
        raise ValueError(f"{name} must have at least one dimension")
    return mask


def _spacing(spacing: Sequence[float], ndim: int) -> np.ndarray:
    values = np.asarray(spacing, dtype=np.float64).ravel()
    if values.size != ndim:
        raise ValueError(f"spacing has {values.size} values for a {ndim}-dimensional mask")
    if not (np.all(np.isfinite(values)) and np.all(values > 0)):
        raise ValueError(f"spacing must be positive millimetres, not {list(map(float, values))}")
    return values


def _diagonal(shape: Sequence[int], spacing: np.ndarray) -> float:
    return float(math.sqrt(sum((size * step) ** 2 for size, step in zip(shape, spacing, strict=True))))


def _extent(mask: np.ndarray) -> list[tuple[int, int]] | None:
    """Per axis the half-open index range holding every foreground voxel; None for an empty mask.

    Axis 0 first over the whole array (a reduction along contiguous memory, the fast direction), then the
    other axes only within that slab, folded onto them.
    """
    if mask.ndim == 1:
        found = np.flatnonzero(mask)
        return [(int(found[0]), int(found[-1]) + 1)] if found.size else None
    rows = np.flatnonzero(mask.any(axis=tuple(range(1, mask.ndim))))
    if rows.size == 0:
        return None
    first, last = int(rows[0]), int(rows[-1]) + 1
    rest = _extent(np.asarray(mask[first:last].any(axis=0)))
    assert rest is not None  # the slab holds foreground
    return [(first, last), *rest]


def _overlap_counts(reference: np.ndarray, prediction: np.ndarray) -> tuple[int, int, int]:
    """(|A∩B|, |A|, |B|) in one pass over both masks, slab by slab along axis 0."""
    if reference.ndim == 1:
        reference, prediction = reference[:, np.newaxis], prediction[:, np.newaxis]
    row = math.prod(reference.shape[1:]) or 1
    step = max(1, OVERLAP_CHUNK // row)
    buffer = np.empty((step, *reference.shape[1:]), dtype=np.bool_)
    both = in_reference = in_prediction = 0
    for start in range(0, reference.shape[0], step):
        reference_slab = reference[start : start + step]
        prediction_slab = prediction[start : start + step]
        count_reference = int(np.count_nonzero(reference_slab))
        count_prediction = int(np.count_nonzero(prediction_slab))
        in_reference += count_reference
        in_prediction += count_prediction
        if count_reference and count_prediction:
            out = buffer[: reference_slab.shape[0]]
            both += int(np.count_nonzero(np.logical_and(reference_slab, prediction_slab, out=out)))
    return both, in_reference, in_prediction


def _overlap_scores(both: int, in_reference: int, in_prediction: int) -> tuple[float, float]:
    if in_reference + in_prediction == 0:
        return 1.0, 1.0
    # The expressions of scikit-learn's f1_score and jaccard_score, so the floats are the same.
    dice = 2 * both / (in_reference + in_prediction)
    iou = both / (in_reference + in_prediction - both)
    return float(dice), float(iou)


def segmentation_overlap(reference: Any, prediction: Any) -> dict[str, float]:
    """Dice and IoU of two masks of the same shape: ``{"dice", "iou"}`` (1 and 1 when both are empty)."""
    reference_mask, prediction_mask = _mask(reference, "reference"), _mask(prediction, "prediction")
    if reference_mask.shape != prediction_mask.shape:
        raise ValueError(f"mask shapes differ: {reference_mask.shape} and {prediction_mask.shape}")
    dice, iou = _overlap_scores(*_overlap_counts(reference_mask, prediction_mask))
    return {"dice": dice, "iou": iou}


def _crop(reference: np.ndarray, prediction: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Both masks cut to the box around both plus one voxel each side; None when both are empty."""
    extents = [extent for extent in (_extent(reference), _extent(prediction)) if extent is not None]
    if not extents:
        return None
    box = tuple(
        slice(max(0, min(start for start, _ in ranges) - 1), min(size, max(stop for _, stop in ranges) + 1))
        for size, ranges in zip(reference.shape, zip(*extents, strict=True), strict=True)
    )
    return np.ascontiguousarray(reference[box]), np.ascontiguousarray(prediction[box])


def _surface_points(mask: np.ndarray) -> np.ndarray:
    """Index coordinates ``(n, ndim)`` of the surface voxels: the mask XOR its erosion by the cross."""
    cross = ndimage.generate_binary_structure(mask.ndim, 1)
    surface = mask ^ ndimage.binary_erosion(mask, structure=cross)
    return np.stack(np.unravel_index(np.flatnonzero(surface), mask.shape), axis=1)


def _nearest_distances(points: np.ndarray, targets: np.ndarray, spacing: np.ndarray) -> np.ndarray:
    """For each of ``points`` the distance in mm to the nearest of ``targets`` (index coordinates)."""
    tree = cKDTree(targets * spacing, leafsize=KDTREE_LEAF_SIZE, balanced_tree=False, compact_nodes=False)
    _, nearest = tree.query(points * spacing, k=1)
    offsets = targets[nearest] - points
    # Squares summed axis by axis, in axis order, as distance_transform_edt does: the same floats as medpy.
    squared = np.zeros(len(points), dtype=np.float64)
    for axis, step in enumerate(spacing):
        component = offsets[:, axis].astype(np.float64) * step
        squared += component * component
    return np.sqrt(squared)


def _surface_distances(
    reference: np.ndarray, prediction: np.ndarray, spacing: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(reference surface → prediction surface, prediction surface → reference surface) distances in mm."""
    reference_points, prediction_points = _surface_points(reference), _surface_points(prediction)
    return (
        _nearest_distances(reference_points, prediction_points, spacing),
        _nearest_distances(prediction_points, reference_points, spacing),
    )


def _hd95(reference_distances: np.ndarray, prediction_distances: np.ndarray) -> float:
    return float(np.percentile(np.concatenate((reference_distances, prediction_distances)), HD_PERCENTILE))


def _pair(
    reference: Any, prediction: Any, spacing: Sequence[float]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    reference_mask, prediction_mask = _mask(reference, "reference"), _mask(prediction, "prediction")
    if reference_mask.shape != prediction_mask.shape:
        raise ValueError(f"mask shapes differ: {reference_mask.shape} and {prediction_mask.shape}")
    return reference_mask, prediction_mask, _spacing(spacing, reference_mask.ndim)


def segmentation_hd95(reference: Any, prediction: Any, *, spacing: Sequence[float]) -> float:
    """HD95 in mm of two masks (the module's definition; 0 when both are empty, the diagonal when one is)."""
    reference_mask, prediction_mask, steps = _pair(reference, prediction, spacing)
    cropped = _crop(reference_mask, prediction_mask)
    if cropped is None:
        return 0.0
    reference_crop, prediction_crop = cropped
    if not (reference_crop.any() and prediction_crop.any()):
        return _diagonal(reference_mask.shape, steps)
    return _hd95(*_surface_distances(reference_crop, prediction_crop, steps))


def segmentation_case(
    reference: Any, prediction: Any, *, spacing: Sequence[float], tolerance_mm: float
) -> dict[str, float]:
    """Dice, IoU, HD95 (mm) and NSD at ``tolerance_mm`` of one case: ``{"dice", "iou", "hd95", "nsd"}``.

    ``spacing`` is the voxel size in mm along each axis of the arrays. Empty masks follow the rules in the
    module docstring.
    """
    reference_mask, prediction_mask, steps = _pair(reference, prediction, spacing)
    if not (math.isfinite(tolerance_mm) and tolerance_mm >= 0):
        raise ValueError(f"tolerance_mm must be a non-negative number of millimetres, not {tolerance_mm!r}")
    cropped = _crop(reference_mask, prediction_mask)
    if cropped is None:
        return {"dice": 1.0, "iou": 1.0, "hd95": 0.0, "nsd": 1.0}
    reference_crop, prediction_crop = cropped
    both, in_reference, in_prediction = _overlap_counts(reference_crop, prediction_crop)
    if in_reference == 0 or in_prediction == 0:
        return segmentation_case_failed(reference_mask.shape, tuple(steps))
    dice, iou = _overlap_scores(both, in_reference, in_prediction)
    reference_distances, prediction_distances = _surface_distances(reference_crop, prediction_crop, steps)
    within = int(np.count_nonzero(reference_distances <= tolerance_mm)) + int(
        np.count_nonzero(prediction_distances <= tolerance_mm)
    )
    return {
        "dice": dice,
        "iou": iou,
        "hd95": _hd95(reference_distances, prediction_distances),
        "nsd": within / (reference_distances.size + prediction_distances.size),
    }


def segmentation_case_failed(shape: tuple[int, ...], spacing: tuple[float, ...]) -> dict[str, float]:
    """The worst values, for a case whose model failed, timed out or gave no mask.

    dice 0, iou 0, nsd 0 and hd95 the diagonal of the volume in mm (see the module docstring).
    """
    return {"dice": 0.0, "iou": 0.0, "hd95": _diagonal(shape, _spacing(spacing, len(shape))), "nsd": 0.0}


def segmentation_summary(
    cases: list[dict[str, float]], *, confidence: float, bootstrap_resamples: int, seed: int
) -> dict[str, MetricValue]:
    """Mean of each metric over ``cases`` with its bootstrap percentile interval over cases.

    Every resample draws whole cases (``bootstrap_indices(n, bootstrap_resamples, seed)``), so the interval
    is reproducible from the plan's seed. No cases: every metric "cannot be computed"; no resamples: the
    means without intervals.
    """
    if not cases:
        return {name: metric_none() for name in SEGMENTATION_METRICS}
    values = np.array(
        [[float(case[name]) for name in SEGMENTATION_METRICS] for case in cases], dtype=np.float64
    )
    means = values.mean(axis=0)
    resampled = [
        values[indices].mean(axis=1) for indices in bootstrap_indices(len(cases), bootstrap_resamples, seed)
    ]
    summary: dict[str, MetricValue] = {}
    for column, name in enumerate(SEGMENTATION_METRICS):
        interval = (
            percentile_interval(np.concatenate([batch[:, column] for batch in resampled]), confidence)
            if resampled
            else None
        )
        summary[name] = metric_value(float(means[column]), interval, "bootstrap-percentile")
    return summary


# The ``medbroker metrics segmentation`` subcommand.

COMMAND_RESAMPLES = 2000
COMMAND_SEED = 0
COMMAND_CONFIDENCE = 0.95


def _spacing_argument(text: str) -> list[float]:
    try:
        values = [float(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"spacing은 쉼표로 구분한 숫자여야 합니다: {text!r}") from None
    if not all(math.isfinite(value) and value > 0 for value in values):
        raise argparse.ArgumentTypeError(f"spacing은 0보다 큰 mm 값이어야 합니다: {text!r}")
    return values


def _tolerance_argument(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"tolerance는 mm 단위 숫자여야 합니다: {text!r}") from None
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"tolerance는 0 이상의 mm 값이어야 합니다: {text!r}")
    return value


def segmentation_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``medbroker metrics segmentation``."""
    parser.add_argument(
        "--truth", required=True, help="정답 레이블 맵 폴더: <case_id>.npy (0이 아닌 값이 전경)"
    )
    parser.add_argument("--pred", required=True, help="예측 레이블 맵 폴더: <case_id>.npy")
    parser.add_argument(
        "--spacing",
        type=_spacing_argument,
        default=[1.0],
        help="축별 복셀 크기(mm), 예: 0.7,0.7,2.5. 값 하나는 모든 축에 적용(기본 1)",
    )
    parser.add_argument(
        "--tolerance", type=_tolerance_argument, default=2.0, help="NSD 허용 거리(mm, 기본 2.0)"
    )


def _label_maps(folder: Path, role: str) -> dict[str, Path]:
    if not folder.is_dir():
        raise InputFileError(f"{role} 폴더가 없습니다: {folder}")
    return {path.stem: path for path in sorted(folder.iterdir()) if path.suffix == ".npy" and path.is_file()}


def _label_map_read(path: Path) -> np.ndarray:
    try:
        # allow_pickle=False: a .npy file may come from anyone, and unpickling runs code.
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as error:
        raise InputFileError(f"{path}: .npy 배열로 읽을 수 없습니다 ({error})") from None
    if not isinstance(array, np.ndarray) or not (
        array.dtype == np.bool_
        or np.issubdtype(array.dtype, np.integer)
        or np.issubdtype(array.dtype, np.floating)
    ):
        raise InputFileError(
            f"{path}: 레이블 맵은 숫자 배열이어야 합니다 (dtype {getattr(array, 'dtype', type(array))})"
        )
    if array.ndim not in (2, 3):
        raise InputFileError(f"{path}: 레이블 맵은 2차원 또는 3차원이어야 합니다 (shape {array.shape})")
    if np.issubdtype(array.dtype, np.floating) and not np.all(np.isfinite(array)):
        raise InputFileError(f"{path}: 레이블 맵에 NaN 또는 무한대 값이 있습니다")
    return array != 0


def _spacing_for(spacing: list[float], ndim: int, path: Path) -> tuple[float, ...]:
    if len(spacing) == 1:
        return tuple(spacing * ndim)
    if len(spacing) != ndim:
        raise InputFileError(f"{path}: --spacing 값은 {len(spacing)}개인데 레이블 맵은 {ndim}차원입니다")
    return tuple(spacing)


def segmentation_command(options: dict[str, Any]) -> dict[str, Any]:
    """Run ``medbroker metrics segmentation``: per-case metrics and their means with 95 % intervals.

    Returns ``{"n", "missing", "spacing", "tolerance_mm", "metrics": {dice, iou, hd95, nsd: MetricValue},
    "cases": [{"case_id", "dice", "iou", "hd95", "nsd", "missing"}]}`` with the cases in case_id order. A
    truth case without a prediction counts as failed (worst values), is counted in ``missing`` and marked
    ``"missing": true``; a prediction without a truth case, masks of different shapes or an unreadable file
    is an :class:`InputFileError`. Intervals: 2,000 bootstrap resamples over cases, seed 0.
    """
    truth_folder, prediction_folder = Path(options["truth"]), Path(options["pred"])
    spacing: list[float] = list(options.get("spacing") or [1.0])
    tolerance = float(options.get("tolerance", 2.0))
    truths = _label_maps(truth_folder, "정답")
    predictions = _label_maps(prediction_folder, "예측")
    if not truths:
        raise InputFileError(f"{truth_folder}: <case_id>.npy 레이블 맵이 없습니다")
    strays = sorted(set(predictions) - set(truths))
    if strays:
        raise InputFileError(f"{predictions[strays[0]]}: 정답 폴더에 없는 case_id입니다: '{strays[0]}'")
    cases: list[dict[str, Any]] = []
    missing = 0
    for case_id, truth_path in truths.items():
        reference = _label_map_read(truth_path)
        steps = _spacing_for(spacing, reference.ndim, truth_path)
        prediction_path = predictions.get(case_id)
        if prediction_path is None:
            missing += 1
            values = segmentation_case_failed(reference.shape, steps)
        else:
            prediction = _label_map_read(prediction_path)
            if prediction.shape != reference.shape:
                raise InputFileError(
                    f"{prediction_path}: 크기 {prediction.shape}가 정답의 크기 {reference.shape}와 다릅니다"
                )
            values = segmentation_case(reference, prediction, spacing=steps, tolerance_mm=tolerance)
        cases.append({"case_id": case_id, **values, "missing": prediction_path is None})
    summary = segmentation_summary(
        [{name: case[name] for name in SEGMENTATION_METRICS} for case in cases],
        confidence=COMMAND_CONFIDENCE,
        bootstrap_resamples=COMMAND_RESAMPLES,
        seed=COMMAND_SEED,
    )
    return {
        "n": len(cases),
        "missing": missing,
        "spacing": spacing,
        "tolerance_mm": tolerance,
        "metrics": summary,
        "cases": cases,
    }
