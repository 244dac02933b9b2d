"""Detection metrics of lesion boxes: FROC, sensitivity at fixed false positives per image, and AP.

Boxes are ``[x, y, w, h]`` in pixels, ``x, y`` the top-left corner; predictions carry a score as a fifth
value. Every case of the references is an image, with or without lesions; a case without predictions has no
detections.

Matching, per image, in the standard FROC / PASCAL VOC way: predictions are taken in descending score order
(equal scores in the order given) and each is matched to the not-yet-hit reference box that satisfies the
criterion, the one of highest IoU when several do (the first listed on equal IoU). A reference box is hit
once; a further prediction on a hit box, or one matching no box, is a false positive. Criteria:

- ``"iou"``: intersection over union ≥ ``iou_threshold``;
- ``"centre"``: the centre of the predicted box lies inside the reference box, edges included.

Taking predictions in score order makes the matching at any score threshold the matching of all predictions
cut at that threshold, so one matching serves every operating point:

- FROC: at each threshold (the distinct prediction scores, a prediction kept when its score is ≥ the
  threshold) sensitivity = hit lesions / all lesions and false positives per image = false positives / images.
  The curve returned starts at (0, 0), no prediction kept, then holds the upper-left corner of each step
  (evenly thinned to at most 200 points for plotting).
- ``sensitivity_at_<rate>``: the highest sensitivity reached with false positives per image ≤ rate (0 if no
  threshold keeps that few); no interpolation between thresholds. ``<rate>`` is :func:`format_rate`.
- ``froc_score``: the mean of ``sensitivity_at`` over ``fp_rates``: the CPM of LUNA16 at its seven default
  rates (LUNA16's script interpolates the curve between thresholds; here the sensitivity actually reached
  counts).
- ``average_precision``: over the detections ranked by score, AP = Σ (R_n − R_{n−1}) P_n at the distinct
  scores, with recall over all lesions, scikit-learn's step-wise ``average_precision_score``. Lesions no
  prediction ever hits keep the recall below 1, so they lower AP where the classification formula on the
  matched detections alone would not see them.

Intervals are percentile intervals of image-level bootstrap resamples (``bootstrap_indices`` over images):
an image drawn k times counts k times, its lesions and detections included. The metrics of a resample are
computed from the same score ranking with per-image weights, which is what duplicating the images would
give. Without lesions nothing here is defined: every metric is "cannot be computed".

The ``detection`` subcommand of ``medbroker metrics`` is :func:`detection_arguments` and
:func:`detection_command`.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from medbroker.evaluations.metrics.files import CsvRow, CsvTable, csv_table_read, finite_number
from medbroker.evaluations.metrics.intervals import (
    MetricValue,
    bootstrap_indices,
    metric_none,
    metric_value,
    percentile_interval,
)

CRITERIA = ("iou", "centre")
FP_RATES_DEFAULT = (0.125, 0.25, 0.5, 1, 2, 4, 8)
FROC_MAX_POINTS = 200
# Resample × detection elements per step of the bootstrap: the few arrays of that many elements a step
# makes stay under 200 MB whatever the number of detections.
BOOTSTRAP_ELEMENTS = 1 << 22


def format_rate(rate: float) -> str:
    """The rate as it appears in a metric name: 0.125 → "0.125", 0.5 → "0.5", 1 → "1", 2.0 → "2"."""
    value = float(rate)
    return str(int(value)) if value.is_integer() else repr(value)


def _boxes(rows: Iterable[Sequence[float]], columns: int, case_id: str, role: str) -> np.ndarray:
    boxes = np.array([list(row) for row in rows], dtype=np.float64)
    if boxes.size == 0:
        return np.zeros((0, columns), dtype=np.float64)
    if boxes.ndim != 2 or boxes.shape[1] != columns:
        raise ValueError(f"case {case_id!r}: every {role} must have {columns} numbers")
    if not np.all(np.isfinite(boxes)):
        raise ValueError(f"case {case_id!r}: a {role} holds a value that is not a finite number")
    if np.any(boxes[:, 2:4] < 0):
        raise ValueError(f"case {case_id!r}: a {role} has a negative width or height")
    return boxes


def _iou_matrix(predicted: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """IoU of every predicted box (rows) with every reference box (columns); 0 where both have no area."""
    left = np.maximum(predicted[:, None, 0], reference[None, :, 0])
    top = np.maximum(predicted[:, None, 1], reference[None, :, 1])
    right = np.minimum(
        predicted[:, None, 0] + predicted[:, None, 2], reference[None, :, 0] + reference[None, :, 2]
    )
    bottom = np.minimum(
        predicted[:, None, 1] + predicted[:, None, 3], reference[None, :, 1] + reference[None, :, 3]
    )
    intersection = np.clip(right - left, 0, None) * np.clip(bottom - top, 0, None)
    union = (predicted[:, None, 2] * predicted[:, None, 3]) + (reference[None, :, 2] * reference[None, :, 3])
    union = union - intersection
    return np.divide(intersection, union, out=np.zeros_like(intersection), where=union > 0)


def _centre_inside(predicted: np.ndarray, reference: np.ndarray) -> np.ndarray:
    centre_x = predicted[:, None, 0] + predicted[:, None, 2] / 2
    centre_y = predicted[:, None, 1] + predicted[:, None, 3] / 2
    return (
        (centre_x >= reference[None, :, 0])
        & (centre_x <= reference[None, :, 0] + reference[None, :, 2])
        & (centre_y >= reference[None, :, 1])
        & (centre_y <= reference[None, :, 1] + reference[None, :, 3])
    )


def _image_match(
    reference: np.ndarray, predicted: np.ndarray, *, criterion: str, iou_threshold: float
) -> np.ndarray:
    """Whether each prediction (in the order given) hits a lesion of its image: a boolean per prediction."""
    hits = np.zeros(len(predicted), dtype=np.bool_)
    if len(predicted) == 0 or len(reference) == 0:
        return hits
    iou = _iou_matrix(predicted, reference)
    eligible = iou >= iou_threshold if criterion == "iou" else _centre_inside(predicted, reference)
    taken = np.zeros(len(reference), dtype=np.bool_)
    for index in np.argsort(-predicted[:, 4], kind="stable"):
        candidates = eligible[index] & ~taken
        if candidates.any():
            # Highest IoU among the boxes that qualify; argmax keeps the first listed on a tie.
            best = int(np.argmax(np.where(candidates, iou[index], -1.0)))
            taken[best] = True
            hits[index] = True
    return hits


class _Ranking:
    """Every detection of every image ranked by score and matched once, ready to be re-weighted per resample.

    An operating point is a distinct score: everything scored at least that is kept. Hits and false
    positives are ranked separately; at each operating point a known number of each is kept
    (``hits_kept``, ``false_kept``), so the weighted count kept at a point is a cumulative sum of image
    weights read at that position, and only the points where hits grow matter for AP.
    """

    def __init__(self, lesions: np.ndarray, scores: np.ndarray, hits: np.ndarray, images: np.ndarray) -> None:
        order = np.argsort(-scores, kind="stable")
        ranked_scores, ranked_hits, ranked_images = scores[order], hits[order], images[order]
        self.lesions = lesions
        self.detections = len(scores)
        self.hit_images = ranked_images[ranked_hits]
        self.false_images = ranked_images[~ranked_hits]
        # The last detection of each run of equal scores closes an operating point.
        ends = (
            np.flatnonzero(np.append(ranked_scores[1:] != ranked_scores[:-1], True)) if len(scores) else order
        )
        self.hits_kept = np.cumsum(ranked_hits)[ends]
        self.false_kept = np.cumsum(~ranked_hits)[ends]
        # The same with the point keeping nothing in front.
        self.hits_from_none = np.concatenate(([0], self.hits_kept))
        self.false_from_none = np.concatenate(([0], self.false_kept))
        gaining = np.flatnonzero(np.diff(self.hits_from_none) > 0)
        self.gain_hits_after = self.hits_kept[gaining]
        self.gain_hits_before = self.hits_from_none[gaining]
        self.gain_false = self.false_kept[gaining]

    @staticmethod
    def _running(weights: np.ndarray, images: np.ndarray) -> np.ndarray:
        """``(b, len(images) + 1)``: column j is the weight of the first j of ``images``."""
        running = np.zeros((len(weights), len(images) + 1), dtype=weights.dtype)
        np.cumsum(weights.take(images, axis=1), axis=1, dtype=weights.dtype, out=running[:, 1:])
        return running

    def scores(self, weights: np.ndarray, fp_rates: Sequence[float]) -> np.ndarray:
        """Per row of ``weights``: AP, the FROC score, then the sensitivity at each rate; ``(b, 2 + rates)``.

        ``weights`` ``(b, images)``, integers, are how many times each image is counted: all ones for the
        data as given, the draw counts for a resample. A row without lesions is NaN throughout.
        """
        lesions = weights @ self.lesions
        images = weights.sum(axis=1)
        hits = self._running(weights, self.hit_images)
        false_positives = self._running(weights, self.false_images)
        scores = np.empty((len(weights), 2 + len(fp_rates)), dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            # AP = Σ (R_n − R_{n−1}) P_n: only the operating points where hits grow add to it.
            hits_after = hits.take(self.gain_hits_after, axis=1).astype(np.float64)
            gained = hits_after - hits.take(self.gain_hits_before, axis=1)
            kept = hits_after + false_positives.take(self.gain_false, axis=1)
            scores[:, 0] = np.einsum("ij,ij->i", gained, hits_after / np.maximum(kept, 1.0)) / lesions
            rates = np.asarray(fp_rates, dtype=np.float64)
            for row in range(len(weights)):
                # The most false positives (in rank order) within each rate, then the last operating point
                # keeping no more than those: false positives only grow down the ranking, so it reaches the
                # highest sensitivity within the rate (the point keeping nothing, sensitivity 0, at worst).
                allowed = np.searchsorted(false_positives[row] / images[row], rates, side="right") - 1
                point = np.searchsorted(self.false_from_none, allowed, side="right") - 1
                scores[row, 2:] = hits[row].take(self.hits_from_none.take(point)) / lesions[row]
        scores[:, 1] = scores[:, 2:].mean(axis=1)
        scores[lesions <= 0] = np.nan
        return scores

    def froc(self, images: int) -> list[list[float]]:
        """(0, 0), then the upper-left corner of each step: the highest sensitivity at each false-positive count."""
        lesions = float(self.lesions.sum())
        corners = np.append(self.false_kept[1:] != self.false_kept[:-1], True)[: len(self.false_kept)]
        points = [[0.0, 0.0]] + [
            [float(false / images), float(hit / lesions)]
            for false, hit in zip(self.false_kept[corners], self.hits_kept[corners], strict=True)
        ]
        if len(points) > FROC_MAX_POINTS:
            keep = np.unique(np.linspace(0, len(points) - 1, FROC_MAX_POINTS).round().astype(int))
            points = [points[index] for index in keep]
        return points


def _weights(indices: np.ndarray, images: int, dtype: type[np.integer]) -> np.ndarray:
    """How many times each image is drawn in each resample: rows of ``indices`` counted, ``(b, images)``."""
    rows = len(indices)
    offsets = (indices + (np.arange(rows) * images)[:, None]).ravel()
    return np.bincount(offsets, minlength=rows * images).reshape(rows, images).astype(dtype)


def detection_metrics(
    references: Mapping[str, Sequence[Sequence[float]]],
    predictions: Mapping[str, Sequence[Sequence[float]]],
    *,
    criterion: str = "iou",
    iou_threshold: float = 0.5,
    fp_rates: Sequence[float] = FP_RATES_DEFAULT,
    confidence: float = 0.95,
    bootstrap_resamples: int = 2000,
    seed: int = 0,
) -> dict[str, Any]:
    """FROC, sensitivity at each of ``fp_rates``, the FROC score and AP, with bootstrap intervals over images.

    ``references``: case_id → ``[[x, y, w, h], ...]`` (an empty list: an image without lesions);
    ``predictions``: case_id → ``[[x, y, w, h, score], ...]``, every case_id one of the references'.
    Returns ``{"n_images", "n_lesions", "n_predictions", "metrics": {"average_precision", "froc_score",
    "sensitivity_at_<rate>": MetricValue}, "froc": [[fp_per_image, sensitivity], ...]}``. The images are
    taken in sorted case_id order, so the resamples do not depend on how the mappings were built. With
    ``bootstrap_resamples=0`` the metrics come without intervals (``ci`` None, method ``"none"``).
    """
    if criterion not in CRITERIA:
        raise ValueError(f"unknown detection criterion {criterion!r}: use one of {CRITERIA}")
    if not (0 < iou_threshold <= 1):
        raise ValueError(f"iou_threshold must lie in (0, 1], not {iou_threshold!r}")
    rates = list(dict.fromkeys(float(rate) for rate in fp_rates))
    if not rates or not all(math.isfinite(rate) and rate >= 0 for rate in rates):
        raise ValueError(f"fp_rates must be one or more non-negative numbers, not {list(fp_rates)!r}")
    if bootstrap_resamples < 0:
        raise ValueError(f"bootstrap_resamples must not be negative, not {bootstrap_resamples}")
    strays = sorted(set(predictions) - set(references))
    if strays:
        raise ValueError(f"predictions for cases that are not in the references: {strays[:5]}")

    case_ids = sorted(references)
    lesions = np.zeros(len(case_ids), dtype=np.float64)
    scores: list[np.ndarray] = []
    hits: list[np.ndarray] = []
    images: list[np.ndarray] = []
    for image, case_id in enumerate(case_ids):
        reference = _boxes(references[case_id], 4, case_id, "reference box")
        predicted = _boxes(predictions.get(case_id, ()), 5, case_id, "prediction")
        lesions[image] = len(reference)
        scores.append(predicted[:, 4])
        hits.append(_image_match(reference, predicted, criterion=criterion, iou_threshold=iou_threshold))
        images.append(np.full(len(predicted), image, dtype=np.int64))
    ranking = _Ranking(
        lesions,
        np.concatenate(scores) if scores else np.zeros(0),
        np.concatenate(hits) if hits else np.zeros(0, dtype=np.bool_),
        np.concatenate(images) if images else np.zeros(0, dtype=np.int64),
    )
    names = ["average_precision", "froc_score", *(f"sensitivity_at_{format_rate(rate)}" for rate in rates)]
    result: dict[str, Any] = {
        "n_images": len(case_ids),
        "n_lesions": int(lesions.sum()),
        "n_predictions": ranking.detections,
        "metrics": {name: metric_none() for name in names},
        "froc": [],
    }
    if not case_ids or lesions.sum() == 0:
        return result

    # A running weight is at most (detections of the busiest image) × (draws in a resample = images); it
    # fits int32, half the memory traffic of int64, unless that passes 2**31.
    most = max((len(boxes) for boxes in predictions.values()), default=0)
    dtype: type[np.integer] = np.int32 if most * len(case_ids) < 2**31 else np.int64
    point = ranking.scores(np.ones((1, len(case_ids)), dtype=dtype), rates)[0]
    result["froc"] = ranking.froc(len(case_ids))

    resampled: list[np.ndarray] = []
    rows_per_step = max(1, BOOTSTRAP_ELEMENTS // max(ranking.detections, len(case_ids), 1))
    for batch in bootstrap_indices(len(case_ids), bootstrap_resamples, seed):
        for start in range(0, len(batch), rows_per_step):
            weights = _weights(batch[start : start + rows_per_step], len(case_ids), dtype)
            resampled.append(ranking.scores(weights, rates))
    samples = np.concatenate(resampled) if resampled else None
    metrics: dict[str, MetricValue] = {}
    for column, name in enumerate(names):
        interval = percentile_interval(samples[:, column], confidence) if samples is not None else None
        metrics[name] = metric_value(float(point[column]), interval, "bootstrap-percentile")
    result["metrics"] = metrics
    return result


# The ``medbroker metrics detection`` subcommand.

COMMAND_RESAMPLES = 2000
COMMAND_SEED = 0
COMMAND_CONFIDENCE = 0.95
BOX_COLUMNS = ("x", "y", "w", "h")


def _iou_argument(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"IoU 기준은 숫자여야 합니다: {text!r}") from None
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"IoU 기준은 0보다 크고 1 이하여야 합니다: {text!r}")
    return value


def detection_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``medbroker metrics detection``."""
    parser.add_argument(
        "--truth",
        required=True,
        help="정답 CSV: case_id,x,y,w,h (픽셀, x·y는 왼쪽 위). 병변이 없는 영상은 case_id만 적은 행",
    )
    parser.add_argument("--pred", required=True, help="예측 CSV: case_id,x,y,w,h,score")
    parser.add_argument(
        "--criterion",
        choices=CRITERIA,
        default="iou",
        help="검출 기준: iou(IoU ≥ --iou) 또는 centre(예측 상자의 중심이 병변 상자 안). 기본 iou",
    )
    parser.add_argument("--iou", type=_iou_argument, default=0.5, help="IoU 기준(기본 0.5)")


def _box_read(table: CsvTable, row: CsvRow, columns: Sequence[str]) -> list[float]:
    box = [finite_number(table, row, column) for column in columns]
    for column in ("w", "h"):
        if box[columns.index(column)] < 0:
            raise table.error(row, f"{column} 값은 음수일 수 없습니다: '{row.get(column)}'")
    return box


def _case_id(table: CsvTable, row: CsvRow) -> str:
    case_id = row.get("case_id")
    if not case_id:
        raise table.error(row, "case_id가 비어 있습니다")
    return case_id


def detection_truth_read(
    source: Path | str | bytes, *, name: str | None = None
) -> dict[str, list[list[float]]]:
    """Lesion boxes by case_id from ``case_id,x,y,w,h`` rows, one row a lesion, in the file's order.

    A row with the case_id and x, y, w, h all empty is an image without lesions.
    """
    table = csv_table_read(source, required=("case_id", *BOX_COLUMNS), name=name)
    references: dict[str, list[list[float]]] = {}
    for row in table.rows:
        boxes = references.setdefault(_case_id(table, row), [])
        given = [row.get(column) != "" for column in BOX_COLUMNS]
        if not any(given):
            continue
        if not all(given):
            raise table.error(
                row, "x, y, w, h는 모두 채우거나(병변 하나) 모두 비워야 합니다(병변이 없는 영상)"
            )
        boxes.append(_box_read(table, row, BOX_COLUMNS))
    return references


def detection_predictions_read(
    source: Path | str | bytes, *, case_ids: Collection[str], name: str | None = None
) -> dict[str, list[list[float]]]:
    """Predicted boxes ``[x, y, w, h, score]`` by case_id from ``case_id,x,y,w,h,score`` rows.

    A prediction for a case that is not in ``case_ids`` (the truth's) is an error: it usually means the
    wrong file or a mangled id, and dropping it silently would hide that.
    """
    table = csv_table_read(source, required=("case_id", *BOX_COLUMNS, "score"), name=name, allow_empty=True)
    predictions: dict[str, list[list[float]]] = {}
    for row in table.rows:
        case_id = _case_id(table, row)
        if case_id not in case_ids:
            raise table.error(row, f"정답 파일에 없는 case_id입니다: '{case_id}'")
        predictions.setdefault(case_id, []).append(_box_read(table, row, (*BOX_COLUMNS, "score")))
    return predictions


def detection_command(options: dict[str, Any]) -> dict[str, Any]:
    """Run ``medbroker metrics detection``: the metrics with 95 % intervals and the FROC curve.

    Intervals: 2,000 bootstrap resamples over images, seed 0; false-positive rates 1/8 to 8 per image.
    ``iou_threshold`` is reported for the ``iou`` criterion only (None for ``centre``).
    """
    criterion = options.get("criterion") or "iou"
    iou_threshold = float(options.get("iou") or 0.5)
    references = detection_truth_read(options["truth"])
    predictions = detection_predictions_read(options["pred"], case_ids=references.keys())
    result = detection_metrics(
        references,
        predictions,
        criterion=criterion,
        iou_threshold=iou_threshold,
        confidence=COMMAND_CONFIDENCE,
        bootstrap_resamples=COMMAND_RESAMPLES,
        seed=COMMAND_SEED,
    )
    return {
        "n_images": result["n_images"],
        "n_lesions": result["n_lesions"],
        "n_predictions": result["n_predictions"],
        "criterion": criterion,
        "iou_threshold": iou_threshold if criterion == "iou" else None,
        "metrics": result["metrics"],
        "froc": result["froc"],
    }
