"""Segmentation metrics: Dice/IoU against scikit-learn, HD95 against medpy, NSD, empty masks, the summary
with its bootstrap interval, and the ``segmentation`` subcommand's reading of label-map folders."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from medpy.metric import binary as medpy_binary
from scipy import ndimage
from sklearn.metrics import f1_score, jaccard_score

from medbroker.evaluations.metrics.files import InputFileError
from medbroker.evaluations.metrics.intervals import bootstrap_indices
from medbroker.evaluations.metrics.segmentation import (
    segmentation_case,
    segmentation_case_failed,
    segmentation_command,
    segmentation_hd95,
    segmentation_overlap,
    segmentation_summary,
)


def blobs(shape: tuple[int, ...], seed: int, *, touching_edge: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Two overlapping irregular masks: smoothed noise thresholded, so they have holes and several parts."""
    rng = np.random.default_rng(seed)
    first = ndimage.gaussian_filter(rng.standard_normal(shape), 1.5) > 0.15
    second = ndimage.gaussian_filter(rng.standard_normal(shape), 1.5) > 0.15
    second |= first & (rng.random(shape) < 0.6)
    # A core each, off-centre from one another, so that neither mask is ever empty.
    first[tuple(slice(size // 2 - 2, size // 2 + 1) for size in shape)] = True
    second[tuple(slice(size // 2 - 1, size // 2 + 2) for size in shape)] = True
    if not touching_edge:
        inner = tuple(slice(2, size - 2) for size in shape)
        first, second = _inside(first, inner), _inside(second, inner)
    return first, second


def _inside(mask: np.ndarray, box: tuple[slice, ...]) -> np.ndarray:
    kept = np.zeros_like(mask)
    kept[box] = mask[box]
    return kept


def naive_surface_distances(
    reference: np.ndarray, prediction: np.ndarray, spacing: tuple[float, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """The whole-volume way: erosion by the cross, distance transform of each surface over the volume."""
    cross = ndimage.generate_binary_structure(reference.ndim, 1)
    reference_surface = reference ^ ndimage.binary_erosion(reference, structure=cross)
    prediction_surface = prediction ^ ndimage.binary_erosion(prediction, structure=cross)
    to_prediction = ndimage.distance_transform_edt(~prediction_surface, sampling=spacing)[reference_surface]
    to_reference = ndimage.distance_transform_edt(~reference_surface, sampling=spacing)[prediction_surface]
    return to_prediction, to_reference


@pytest.mark.parametrize(("shape", "seed"), [((40, 50), 1), ((24, 30, 20), 2), ((17, 9, 33), 3)])
def test_dice_and_iou_equal_scikit_learn(shape: tuple[int, ...], seed: int) -> None:
    reference, prediction = blobs(shape, seed)

    overlap = segmentation_overlap(reference, prediction)
    case = segmentation_case(reference, prediction, spacing=(1.0,) * len(shape), tolerance_mm=1.0)

    expected_dice = f1_score(reference.ravel(), prediction.ravel())
    expected_iou = jaccard_score(reference.ravel(), prediction.ravel())
    assert overlap == {"dice": expected_dice, "iou": expected_iou}
    assert (case["dice"], case["iou"]) == (expected_dice, expected_iou)
    assert type(case["dice"]) is float and type(overlap["iou"]) is float


def test_overlap_counts_across_chunks_of_a_large_volume() -> None:
    # More than one slab of the chunked count, foreground in some slabs only.
    reference = np.zeros((300, 64, 64), dtype=np.bool_)
    prediction = np.zeros_like(reference)
    reference[10:250, 5:40, 5:40] = True
    prediction[100:290, 20:60, 0:30] = True

    overlap = segmentation_overlap(reference, prediction)

    assert overlap["dice"] == f1_score(reference.ravel(), prediction.ravel())
    assert overlap["iou"] == jaccard_score(reference.ravel(), prediction.ravel())


@pytest.mark.parametrize(
    ("shape", "spacing", "seed"),
    [
        ((24, 30, 20), (1.0, 1.0, 1.0), 4),
        ((24, 30, 20), (0.5, 1.25, 2.5), 5),
        ((40, 36), (0.75, 2.0), 6),
        ((20, 22, 18), (0.7, 0.7, 3.0), 7),
    ],
)
def test_hd95_equals_medpy(shape: tuple[int, ...], spacing: tuple[float, ...], seed: int) -> None:
    reference, prediction = blobs(shape, seed)

    expected = medpy_binary.hd95(prediction, reference, voxelspacing=spacing)

    assert segmentation_case(reference, prediction, spacing=spacing, tolerance_mm=1.0)["hd95"] == expected
    assert segmentation_hd95(reference, prediction, spacing=spacing) == expected
    assert segmentation_hd95(prediction, reference, spacing=spacing) == expected


def test_hd95_equals_medpy_for_masks_touching_the_edge_of_the_volume() -> None:
    # Voxels on the array's border are surface (outside counts as background): the crop must keep that.
    reference, prediction = blobs((20, 24, 16), 8, touching_edge=True)
    reference[:, :, 0] = True

    expected = medpy_binary.hd95(prediction, reference, voxelspacing=(1.0, 2.0, 0.5))

    assert segmentation_hd95(reference, prediction, spacing=(1.0, 2.0, 0.5)) == expected


@pytest.mark.parametrize("tolerance_mm", [0.0, 1.0, 2.0, 2.5, 6.0])
def test_nsd_counts_surface_voxels_within_the_tolerance_of_the_other_surface(tolerance_mm: float) -> None:
    reference, prediction = blobs((22, 26, 18), 9)
    spacing = (1.0, 0.5, 2.0)
    to_prediction, to_reference = naive_surface_distances(reference, prediction, spacing)

    case = segmentation_case(reference, prediction, spacing=spacing, tolerance_mm=tolerance_mm)

    within = np.count_nonzero(to_prediction <= tolerance_mm) + np.count_nonzero(to_reference <= tolerance_mm)
    assert case["nsd"] == within / (to_prediction.size + to_reference.size)
    assert case["hd95"] == np.percentile(np.concatenate((to_prediction, to_reference)), 95)


def test_two_single_voxels_apart_give_exact_distances() -> None:
    reference = np.zeros((5, 8), dtype=np.bool_)
    prediction = np.zeros_like(reference)
    reference[2, 2] = True
    prediction[2, 5] = True

    # Three columns of 2 mm apart: every surface distance is 6 mm.
    assert segmentation_case(reference, prediction, spacing=(1.0, 2.0), tolerance_mm=6.0) == {
        "dice": 0.0,
        "iou": 0.0,
        "hd95": 6.0,
        "nsd": 1.0,
    }
    assert segmentation_case(reference, prediction, spacing=(1.0, 2.0), tolerance_mm=5.9)["nsd"] == 0.0


def test_a_square_and_the_same_square_one_column_over() -> None:
    reference = np.zeros((10, 10), dtype=np.bool_)
    prediction = np.zeros_like(reference)
    reference[2:6, 2:6] = True
    prediction[2:6, 3:7] = True

    case = segmentation_case(reference, prediction, spacing=(1.0, 1.0), tolerance_mm=0.0)

    # 12 shared of 16 + 16 voxels; each 12-voxel ring shares 6 voxels with the other ring, and its other 6
    # lie 1 voxel from it.
    assert case == {"dice": 24 / 32, "iou": 12 / 20, "hd95": 1.0, "nsd": 12 / 24}


def test_identical_masks_are_perfect() -> None:
    reference, _ = blobs((16, 16, 12), 10)

    assert segmentation_case(reference, reference.copy(), spacing=(1.0, 1.0, 1.0), tolerance_mm=0.0) == {
        "dice": 1.0,
        "iou": 1.0,
        "hd95": 0.0,
        "nsd": 1.0,
    }


def test_both_masks_empty_is_a_perfect_answer() -> None:
    empty = np.zeros((4, 5, 6), dtype=np.bool_)

    assert segmentation_case(empty, empty, spacing=(1.0, 2.0, 0.5), tolerance_mm=2.0) == {
        "dice": 1.0,
        "iou": 1.0,
        "hd95": 0.0,
        "nsd": 1.0,
    }
    assert segmentation_hd95(empty, empty, spacing=(1.0, 2.0, 0.5)) == 0.0
    assert segmentation_overlap(empty, empty) == {"dice": 1.0, "iou": 1.0}


@pytest.mark.parametrize("empty_side", ["reference", "prediction"])
def test_one_empty_mask_scores_the_worst_values(empty_side: str) -> None:
    empty = np.zeros((4, 5, 6), dtype=np.bool_)
    found = empty.copy()
    found[1:3, 1:3, 1:3] = True
    reference, prediction = (empty, found) if empty_side == "reference" else (found, empty)

    case = segmentation_case(reference, prediction, spacing=(1.0, 2.0, 0.5), tolerance_mm=100.0)

    # The diagonal of the volume: 4 × 1 mm, 5 × 2 mm, 6 × 0.5 mm.
    diagonal = math.sqrt(4.0**2 + 10.0**2 + 3.0**2)
    assert case == {"dice": 0.0, "iou": 0.0, "hd95": diagonal, "nsd": 0.0}
    assert segmentation_hd95(reference, prediction, spacing=(1.0, 2.0, 0.5)) == diagonal


def test_failed_case_has_the_worst_values() -> None:
    assert segmentation_case_failed((4, 5, 6), (1.0, 2.0, 0.5)) == {
        "dice": 0.0,
        "iou": 0.0,
        "hd95": math.sqrt(125.0),
        "nsd": 0.0,
    }
    assert segmentation_case_failed((3, 4), (1.0, 1.0)) == {"dice": 0.0, "iou": 0.0, "hd95": 5.0, "nsd": 0.0}


def test_results_do_not_depend_on_where_the_masks_lie_in_the_volume() -> None:
    reference, prediction = blobs((14, 18, 12), 11)
    large_reference = np.zeros((40, 50, 30), dtype=np.bool_)
    large_prediction = np.zeros_like(large_reference)
    large_reference[20:34, 7:25, 15:27] = reference
    large_prediction[20:34, 7:25, 15:27] = prediction

    small = segmentation_case(reference, prediction, spacing=(0.5, 1.0, 2.0), tolerance_mm=1.5)
    large = segmentation_case(large_reference, large_prediction, spacing=(0.5, 1.0, 2.0), tolerance_mm=1.5)

    assert small == large


def test_label_maps_count_every_non_zero_label_as_foreground() -> None:
    reference, prediction = blobs((16, 20, 10), 12)
    labels_reference = reference.astype(np.int16) * 3
    labels_prediction = prediction.astype(np.float32) * 0.5

    assert segmentation_case(labels_reference, labels_prediction, spacing=(1, 1, 1), tolerance_mm=1) == (
        segmentation_case(reference, prediction, spacing=(1, 1, 1), tolerance_mm=1)
    )


def test_bad_arguments_are_refused() -> None:
    mask = np.ones((4, 4), dtype=np.bool_)

    with pytest.raises(ValueError, match="shapes differ"):
        segmentation_case(mask, np.ones((4, 5), dtype=np.bool_), spacing=(1, 1), tolerance_mm=1)
    with pytest.raises(ValueError, match="spacing has 3 values"):
        segmentation_case(mask, mask, spacing=(1, 1, 1), tolerance_mm=1)
    with pytest.raises(ValueError, match="spacing must be positive"):
        segmentation_hd95(mask, mask, spacing=(1, 0))
    with pytest.raises(ValueError, match="tolerance_mm"):
        segmentation_case(mask, mask, spacing=(1, 1), tolerance_mm=-1)


def summary_cases() -> list[dict[str, float]]:
    rng = np.random.default_rng(13)
    return [
        {"dice": float(dice), "iou": float(dice / (2 - dice)), "hd95": float(hd95), "nsd": float(nsd)}
        for dice, hd95, nsd in zip(rng.random(25), rng.random(25) * 20, rng.random(25), strict=True)
    ]


def test_summary_is_the_mean_with_a_bootstrap_interval_over_cases() -> None:
    cases = summary_cases()

    summary = segmentation_summary(cases, confidence=0.9, bootstrap_resamples=500, seed=7)

    values = np.array([[case[name] for name in ("dice", "iou", "hd95", "nsd")] for case in cases])
    means = np.concatenate([values[indices].mean(axis=1) for indices in bootstrap_indices(25, 500, 7)])
    for column, name in enumerate(("dice", "iou", "hd95", "nsd")):
        low, high = np.percentile(means[:, column], [5.0, 95.0])
        assert summary[name]["value"] == pytest.approx(values[:, column].mean(), rel=1e-15)
        assert summary[name]["ci"] == pytest.approx([low, high], rel=1e-12, abs=1e-12)
        assert summary[name]["method"] == "bootstrap-percentile"
        assert type(summary[name]["value"]) is float


def test_summary_is_reproducible_from_its_seed() -> None:
    cases = summary_cases()

    first = segmentation_summary(cases, confidence=0.95, bootstrap_resamples=200, seed=20251)
    again = segmentation_summary(cases, confidence=0.95, bootstrap_resamples=200, seed=20251)
    other = segmentation_summary(cases, confidence=0.95, bootstrap_resamples=200, seed=20252)

    assert first == again
    assert first["dice"]["ci"] != other["dice"]["ci"]


def test_summary_without_cases_or_resamples() -> None:
    none = {"value": None, "ci": None, "method": "none"}

    assert segmentation_summary([], confidence=0.95, bootstrap_resamples=100, seed=0) == {
        "dice": none,
        "iou": none,
        "hd95": none,
        "nsd": none,
    }
    summary = segmentation_summary(
        [{"dice": 0.5, "iou": 1 / 3, "hd95": 4.0, "nsd": 0.25}],
        confidence=0.95,
        bootstrap_resamples=0,
        seed=0,
    )
    assert summary["hd95"] == {"value": 4.0, "ci": None, "method": "none"}


# The ``segmentation`` subcommand.


def label_folders(tmp_path: Path) -> tuple[Path, Path]:
    truth, predicted = tmp_path / "truth", tmp_path / "pred"
    truth.mkdir()
    predicted.mkdir()
    return truth, predicted


def options(truth: Path, predicted: Path, **extra: object) -> dict[str, object]:
    return {"truth": str(truth), "pred": str(predicted), "spacing": [1.0], "tolerance": 2.0, **extra}


def test_command_reports_every_case_and_counts_missing_predictions_as_failed(tmp_path: Path) -> None:
    truth, predicted = label_folders(tmp_path)
    first_reference, first_prediction = blobs((12, 14, 10), 14)
    second_reference, second_prediction = blobs((12, 14, 10), 15)
    np.save(truth / "case-a.npy", first_reference.astype(np.uint8) * 2)
    np.save(predicted / "case-a.npy", first_prediction.astype(np.uint8))
    np.save(truth / "case-b.npy", second_reference)
    np.save(predicted / "case-b.npy", second_prediction)
    np.save(truth / "case-c.npy", second_reference)
    (truth / "README.txt").write_text("not a case", encoding="utf-8")

    result = segmentation_command(options(truth, predicted, spacing=[0.5, 1.0, 2.0], tolerance=1.5))

    spacing = (0.5, 1.0, 2.0)
    expected_a = segmentation_case(first_reference, first_prediction, spacing=spacing, tolerance_mm=1.5)
    expected_b = segmentation_case(second_reference, second_prediction, spacing=spacing, tolerance_mm=1.5)
    expected_c = segmentation_case_failed((12, 14, 10), spacing)
    assert result["n"] == 3
    assert result["missing"] == 1
    assert result["spacing"] == [0.5, 1.0, 2.0]
    assert result["tolerance_mm"] == 1.5
    assert result["cases"] == [
        {"case_id": "case-a", **expected_a, "missing": False},
        {"case_id": "case-b", **expected_b, "missing": False},
        {"case_id": "case-c", **expected_c, "missing": True},
    ]
    assert result["metrics"] == segmentation_summary(
        [expected_a, expected_b, expected_c], confidence=0.95, bootstrap_resamples=2000, seed=0
    )


def test_command_applies_one_spacing_value_to_every_axis(tmp_path: Path) -> None:
    truth, predicted = label_folders(tmp_path)
    reference, prediction = blobs((12, 14, 10), 16)
    np.save(truth / "c1.npy", reference)
    np.save(predicted / "c1.npy", prediction)

    result = segmentation_command(options(truth, predicted, spacing=[2.0]))

    assert result["cases"][0]["hd95"] == medpy_binary.hd95(prediction, reference, voxelspacing=2.0)


def test_command_refuses_a_prediction_without_truth(tmp_path: Path) -> None:
    truth, predicted = label_folders(tmp_path)
    np.save(truth / "c1.npy", np.ones((4, 4), dtype=np.bool_))
    np.save(predicted / "c1.npy", np.ones((4, 4), dtype=np.bool_))
    np.save(predicted / "c9.npy", np.ones((4, 4), dtype=np.bool_))

    with pytest.raises(InputFileError, match=r"c9\.npy: 정답 폴더에 없는 case_id입니다: 'c9'"):
        segmentation_command(options(truth, predicted))


def test_command_refuses_masks_of_different_shapes(tmp_path: Path) -> None:
    truth, predicted = label_folders(tmp_path)
    np.save(truth / "c1.npy", np.ones((4, 4), dtype=np.bool_))
    np.save(predicted / "c1.npy", np.ones((4, 5), dtype=np.bool_))

    with pytest.raises(InputFileError, match=r"c1\.npy: 크기 \(4, 5\)가 정답의 크기 \(4, 4\)와 다릅니다"):
        segmentation_command(options(truth, predicted))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not an array at all", ".npy 배열로 읽을 수 없습니다"),
        (None, ".npy 배열로 읽을 수 없습니다"),
        (np.zeros(5), "2차원 또는 3차원이어야 합니다"),
        (np.full((3, 3), np.nan), "NaN 또는 무한대"),
        (np.array([["a", "b"], ["c", "d"]]), "숫자 배열이어야 합니다"),
    ],
)
def test_command_refuses_unreadable_label_maps(tmp_path: Path, content: object, message: str) -> None:
    truth, predicted = label_folders(tmp_path)
    path = truth / "c1.npy"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is None:
        # An object array is stored pickled; reading it would run code from the file, so it is refused.
        np.save(path, np.array([{"x": 1}], dtype=object), allow_pickle=True)
    else:
        np.save(path, np.asarray(content))

    with pytest.raises(InputFileError, match=message) as raised:
        segmentation_command(options(truth, predicted))

    assert str(path) in str(raised.value)


def test_command_refuses_a_spacing_that_does_not_fit_the_label_maps(tmp_path: Path) -> None:
    truth, predicted = label_folders(tmp_path)
    np.save(truth / "c1.npy", np.ones((4, 4), dtype=np.bool_))

    with pytest.raises(InputFileError, match="--spacing 값은 3개인데 레이블 맵은 2차원입니다"):
        segmentation_command(options(truth, predicted, spacing=[1.0, 1.0, 1.0]))


def test_command_refuses_missing_or_empty_folders(tmp_path: Path) -> None:
    truth, predicted = label_folders(tmp_path)

    with pytest.raises(InputFileError, match=r"<case_id>\.npy 레이블 맵이 없습니다"):
        segmentation_command(options(truth, predicted))
    with pytest.raises(InputFileError, match="정답 폴더가 없습니다"):
        segmentation_command(options(tmp_path / "absent", predicted))


def test_medbroker_metrics_segmentation_prints_the_result_as_json(tmp_path: Path) -> None:
    truth, predicted = label_folders(tmp_path)
    reference, prediction = blobs((12, 14, 10), 17)
    np.save(truth / "c1.npy", reference)
    np.save(predicted / "c1.npy", prediction)
    output = io.StringIO()

    call_command(
        "metrics",
        "segmentation",
        "--truth",
        str(truth),
        "--pred",
        str(predicted),
        "--spacing",
        "0.5,1,2",
        "--tolerance",
        "1.5",
        "--json",
        stdout=output,
    )

    expected = segmentation_command(options(truth, predicted, spacing=[0.5, 1.0, 2.0], tolerance=1.5))
    assert json.loads(output.getvalue()) == expected


def test_medbroker_metrics_segmentation_ends_with_status_2_on_a_bad_file(tmp_path: Path) -> None:
    truth, predicted = label_folders(tmp_path)
    np.save(truth / "c1.npy", np.ones((4, 4), dtype=np.bool_))
    np.save(predicted / "c1.npy", np.ones((5, 4), dtype=np.bool_))

    with pytest.raises(CommandError, match="크기") as raised:
        call_command("metrics", "segmentation", "--truth", str(truth), "--pred", str(predicted))

    assert raised.value.returncode == 2
