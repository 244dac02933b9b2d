"""Detection metrics: matching, FROC and sensitivity at fixed false positives per image, AP against
scikit-learn, image-level bootstrap intervals, and the ``detection`` subcommand's reading of CSV files."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from sklearn.metrics import average_precision_score

from medbroker.evaluations.metrics.detection import (
    FROC_MAX_POINTS,
    detection_command,
    detection_metrics,
    format_rate,
)
from medbroker.evaluations.metrics.files import InputFileError
from medbroker.evaluations.metrics.intervals import bootstrap_indices, percentile_interval

RATE_NAMES = [f"sensitivity_at_{name}" for name in ("0.125", "0.25", "0.5", "1", "2", "4", "8")]


def test_rates_are_named_without_trailing_zeros() -> None:
    assert [format_rate(rate) for rate in (0.125, 0.25, 0.5, 1, 2.0, 4, 8.0, 0.1)] == [
        "0.125",
        "0.25",
        "0.5",
        "1",
        "2",
        "4",
        "8",
        "0.1",
    ]


def test_froc_sensitivities_and_ap_of_a_small_example() -> None:
    references = {"a": [[0, 0, 10, 10]], "b": []}
    predictions = {
        "a": [[0, 0, 10, 10, 0.9], [1, 1, 10, 10, 0.8], [50, 50, 5, 5, 0.7]],
        "b": [[0, 0, 10, 10, 0.95]],
    }

    result = detection_metrics(references, predictions, bootstrap_resamples=0)

    # Ranked: 0.95 false (b), 0.9 hit, 0.8 false (a second box on the lesion already hit), 0.7 false.
    assert result["n_images"] == 2
    assert result["n_lesions"] == 1
    assert result["n_predictions"] == 4
    assert result["froc"] == [[0.0, 0.0], [0.5, 1.0], [1.0, 1.0], [1.5, 1.0]]
    values = {name: metric["value"] for name, metric in result["metrics"].items()}
    assert values == {
        "average_precision": 0.5,
        "froc_score": 5 / 7,
        "sensitivity_at_0.125": 0.0,
        "sensitivity_at_0.25": 0.0,
        "sensitivity_at_0.5": 1.0,
        "sensitivity_at_1": 1.0,
        "sensitivity_at_2": 1.0,
        "sensitivity_at_4": 1.0,
        "sensitivity_at_8": 1.0,
    }
    assert all(metric["ci"] is None and metric["method"] == "none" for metric in result["metrics"].values())


def test_a_prediction_takes_the_lesion_of_highest_iou() -> None:
    # The first prediction overlaps A with IoU 70/130 and B with 90/110: it takes B. The second would hit
    # only B (IoU 1; with A 60/140 < 0.5), already taken: a false positive, and A is missed.
    references = {"img": [[0, 0, 10, 10], [4, 0, 10, 10]]}
    predictions = {"img": [[3, 0, 10, 10, 0.9], [4, 0, 10, 10, 0.8]]}

    result = detection_metrics(references, predictions, fp_rates=(1,), bootstrap_resamples=0)

    assert result["froc"] == [[0.0, 0.0], [0.0, 0.5], [1.0, 0.5]]
    assert result["metrics"]["sensitivity_at_1"]["value"] == 0.5
    assert result["metrics"]["average_precision"]["value"] == 0.5


def test_centre_criterion_hits_when_the_centre_lies_inside_edges_included() -> None:
    references = {"img": [[45, 45, 10, 10], [200, 200, 10, 10]]}
    # A large box centred in the first lesion (IoU 0.01), and a box whose centre is on the second's edge.
    predictions = {"img": [[0, 0, 100, 100, 0.9], [205, 190, 10, 20, 0.8]]}

    centre = detection_metrics(
        references, predictions, criterion="centre", fp_rates=(0,), bootstrap_resamples=0
    )
    iou = detection_metrics(references, predictions, criterion="iou", fp_rates=(0,), bootstrap_resamples=0)

    assert centre["metrics"]["sensitivity_at_0"]["value"] == 1.0
    assert iou["metrics"]["sensitivity_at_0"]["value"] == 0.0
    assert iou["froc"] == [[0.0, 0.0], [1.0, 0.0], [2.0, 0.0]]


def random_detections(
    seed: int, *, images: int = 40, all_detected: bool = False
) -> tuple[dict[str, list[list[float]]], dict[str, list[list[float]]], list[int], list[float]]:
    """References, predictions, and the labels and scores of the predictions (hit or not) as built.

    Predictions near a lesion are within 1 pixel of it (IoU well above 0.5) and false ones lie far from
    every lesion, so whether each is a hit is known; scores have one decimal, so there are ties.
    """
    rng = np.random.default_rng(seed)
    references: dict[str, list[list[float]]] = {}
    predictions: dict[str, list[list[float]]] = {}
    labels: list[int] = []
    scores: list[float] = []
    for image in range(images):
        case_id = f"case-{image:03d}"
        lesions = [[*rng.uniform(0, 300, 2), *rng.uniform(20, 40, 2)] for _ in range(int(rng.integers(0, 4)))]
        references[case_id] = [[float(value) for value in lesion] for lesion in lesions]
        boxes = []
        for lesion in lesions:
            if all_detected or rng.random() < 0.7:
                score = round(float(rng.uniform(0.2, 1.0)), 1)
                boxes.append([lesion[0] + 1, lesion[1] - 1, lesion[2], lesion[3], score])
                labels.append(1)
                scores.append(score)
        for _ in range(int(rng.integers(0, 4))):
            score = round(float(rng.uniform(0.0, 0.9)), 1)
            boxes.append([*rng.uniform(400, 500, 2), 8.0, 8.0, score])
            labels.append(0)
            scores.append(score)
        if boxes:
            predictions[case_id] = [[float(value) for value in box] for box in boxes]
    return references, predictions, labels, scores


def test_ap_equals_scikit_learn_when_every_lesion_is_detectable() -> None:
    references, predictions, labels, scores = random_detections(21, all_detected=True)

    result = detection_metrics(references, predictions, bootstrap_resamples=0)

    assert result["n_lesions"] == sum(labels)
    assert result["metrics"]["average_precision"]["value"] == pytest.approx(
        average_precision_score(labels, scores), rel=1e-12
    )


def test_ap_counts_lesions_never_detected_in_the_recall() -> None:
    references, predictions, labels, scores = random_detections(22)

    result = detection_metrics(references, predictions, bootstrap_resamples=0)

    # Recall over all lesions is recall over the detected ones times the share detected.
    assert sum(labels) < result["n_lesions"]
    assert result["metrics"]["average_precision"]["value"] == pytest.approx(
        average_precision_score(labels, scores) * sum(labels) / result["n_lesions"], rel=1e-12
    )


def brute_force_sensitivity_at(
    references: dict[str, list[list[float]]], predictions: dict[str, list[list[float]]], rate: float
) -> float:
    """Match again from scratch at every threshold; the best sensitivity with FP per image ≤ rate."""
    thresholds = sorted({box[4] for boxes in predictions.values() for box in boxes}, reverse=True)
    best = 0.0
    lesions = sum(len(boxes) for boxes in references.values())
    for threshold in thresholds:
        kept = {case: [box for box in boxes if box[4] >= threshold] for case, boxes in predictions.items()}
        result = detection_metrics(references, kept, fp_rates=(1e9,), bootstrap_resamples=0)
        hits = round(result["metrics"]["sensitivity_at_1000000000"]["value"] * lesions)
        false_positives = sum(len(boxes) for boxes in kept.values()) - hits
        if false_positives / len(references) <= rate:
            best = max(best, hits / lesions)
    return best


def test_sensitivity_at_each_rate_matches_matching_again_at_every_threshold() -> None:
    references, predictions, _, _ = random_detections(23, images=25)

    result = detection_metrics(references, predictions, bootstrap_resamples=0)

    for rate, name in zip((0.125, 0.25, 0.5, 1, 2, 4, 8), RATE_NAMES, strict=True):
        assert result["metrics"][name]["value"] == brute_force_sensitivity_at(references, predictions, rate)
    assert result["metrics"]["froc_score"]["value"] == pytest.approx(
        np.mean([result["metrics"][name]["value"] for name in RATE_NAMES]), rel=1e-15
    )


def test_bootstrap_intervals_equal_resampling_the_images_one_by_one() -> None:
    references, predictions, _, _ = random_detections(24, images=30)
    resamples, seed = 60, 5

    result = detection_metrics(
        references, predictions, bootstrap_resamples=resamples, seed=seed, confidence=0.9
    )

    case_ids = sorted(references)
    names = ["average_precision", "froc_score", *RATE_NAMES]
    values: dict[str, list[float]] = {name: [] for name in names}
    for batch in bootstrap_indices(len(case_ids), resamples, seed):
        for indices in batch:
            # A drawn image again and again under new names: what the weights stand for.
            drawn = [(f"{position:03d}", case_ids[index]) for position, index in enumerate(indices)]
            resampled = detection_metrics(
                {name: references[case] for name, case in drawn},
                {name: predictions[case] for name, case in drawn if case in predictions},
                bootstrap_resamples=0,
            )
            for name in names:
                value = resampled["metrics"][name]["value"]
                values[name].append(np.nan if value is None else value)
    for name in names:
        assert result["metrics"][name]["method"] == "bootstrap-percentile"
        assert result["metrics"][name]["ci"] == pytest.approx(
            list(percentile_interval(np.array(values[name]), 0.9)), rel=1e-12, abs=1e-12
        )


def test_bootstrap_is_reproducible_from_its_seed_and_gives_plain_floats() -> None:
    references, predictions, _, _ = random_detections(25)

    first = detection_metrics(references, predictions, bootstrap_resamples=300, seed=20251)
    again = detection_metrics(references, predictions, bootstrap_resamples=300, seed=20251)
    other = detection_metrics(references, predictions, bootstrap_resamples=300, seed=1)

    assert first == again
    assert first["metrics"]["froc_score"]["ci"] != other["metrics"]["froc_score"]["ci"]
    metric = first["metrics"]["average_precision"]
    assert type(metric["value"]) is float
    assert [type(bound) for bound in metric["ci"]] == [float, float]
    assert all(type(value) is float for point in first["froc"] for value in point)


def test_results_do_not_depend_on_the_order_of_the_cases() -> None:
    references, predictions, _, _ = random_detections(26)

    forwards = detection_metrics(references, predictions, bootstrap_resamples=100, seed=3)
    backwards = detection_metrics(
        dict(reversed(references.items())),
        dict(reversed(predictions.items())),
        bootstrap_resamples=100,
        seed=3,
    )

    assert forwards == backwards


def test_without_lesions_nothing_can_be_computed() -> None:
    none = {"value": None, "ci": None, "method": "none"}

    result = detection_metrics({"a": [], "b": []}, {"a": [[0, 0, 5, 5, 0.9]]}, fp_rates=(1,))
    empty = detection_metrics({}, {}, fp_rates=(1,))

    assert result == {
        "n_images": 2,
        "n_lesions": 0,
        "n_predictions": 1,
        "metrics": {"average_precision": none, "froc_score": none, "sensitivity_at_1": none},
        "froc": [],
    }
    assert empty["n_images"] == 0 and empty["metrics"]["froc_score"] == none


def test_lesions_without_any_prediction_score_zero() -> None:
    result = detection_metrics({"a": [[0, 0, 5, 5]]}, {}, fp_rates=(1,), bootstrap_resamples=50)

    assert result["metrics"]["average_precision"] == {
        "value": 0.0,
        "ci": [0.0, 0.0],
        "method": "bootstrap-percentile",
    }
    assert result["metrics"]["sensitivity_at_1"]["value"] == 0.0
    assert result["froc"] == [[0.0, 0.0]]


def test_a_long_froc_curve_is_thinned_keeping_both_ends() -> None:
    references = {f"c{index:04d}": [[0.0, 0.0, 10.0, 10.0]] for index in range(500)}
    # One false positive on every image, each at its own score below the hits, so every step is a corner.
    predictions = {
        case: [[0.0, 0.0, 10.0, 10.0, 1.0], [100.0, 100.0, 5.0, 5.0, index / 1000]]
        for index, case in enumerate(references)
    }

    result = detection_metrics(references, predictions, bootstrap_resamples=0)

    assert len(result["froc"]) == FROC_MAX_POINTS
    assert result["froc"][0] == [0.0, 0.0]
    assert result["froc"][-1] == [1.0, 1.0]
    assert [point[1] for point in result["froc"][1:]] == [1.0] * (FROC_MAX_POINTS - 1)
    assert all(
        left[0] < right[0] for left, right in zip(result["froc"][1:], result["froc"][2:], strict=False)
    )


@pytest.mark.parametrize(
    ("references", "predictions", "arguments", "message"),
    [
        ({"a": []}, {"z": [[0, 0, 1, 1, 0.5]]}, {}, "not in the references"),
        ({"a": [[0, 0, -1, 1]]}, {}, {}, "negative width or height"),
        ({"a": []}, {"a": [[0, 0, 1, 1]]}, {}, "must have 5 numbers"),
        ({"a": []}, {"a": [[0, 0, 1, 1, float("nan")]]}, {}, "not a finite number"),
        ({"a": []}, {}, {"criterion": "overlap"}, "unknown detection criterion"),
        ({"a": []}, {}, {"iou_threshold": 0.0}, "iou_threshold"),
        ({"a": []}, {}, {"fp_rates": ()}, "fp_rates"),
    ],
)
def test_bad_input_is_refused(
    references: dict[str, Any], predictions: dict[str, Any], arguments: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        detection_metrics(references, predictions, **arguments)


# The ``detection`` subcommand.


def write(path: Path, text: str, *, bom: bool = False) -> Path:
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return path


def test_command_reads_the_csv_files_and_reports_the_metrics(tmp_path: Path) -> None:
    truth = write(
        tmp_path / "truth.csv",
        "case_id,x,y,w,h,site\nimg-1,0,0,10,10,A\nimg-1,100,100,20,20,A\nimg-2,,,,,B\nimg-3,5,5,8,8,B\n",
        bom=True,
    )
    predicted = write(
        tmp_path / "pred.csv",
        "case_id,x,y,w,h,score\nimg-1,1,0,10,10,0.9\nimg-1,300,300,5,5,0.4\nimg-2,0,0,4,4,0.6\nimg-3,40,40,8,8,0.3\n",
    )

    result = detection_command({"truth": str(truth), "pred": str(predicted), "criterion": "iou", "iou": 0.5})

    expected = detection_metrics(
        {"img-1": [[0, 0, 10, 10], [100, 100, 20, 20]], "img-2": [], "img-3": [[5, 5, 8, 8]]},
        {
            "img-1": [[1, 0, 10, 10, 0.9], [300, 300, 5, 5, 0.4]],
            "img-2": [[0, 0, 4, 4, 0.6]],
            "img-3": [[40, 40, 8, 8, 0.3]],
        },
        bootstrap_resamples=2000,
        seed=0,
    )
    assert result == {
        "n_images": 3,
        "n_lesions": 3,
        "n_predictions": 4,
        "criterion": "iou",
        "iou_threshold": 0.5,
        "metrics": expected["metrics"],
        "froc": expected["froc"],
    }
    assert result["froc"] == [[0.0, 0.0], [0.0, 1 / 3], [1 / 3, 1 / 3], [2 / 3, 1 / 3], [1.0, 1 / 3]]


def test_command_uses_the_centre_criterion_when_asked(tmp_path: Path) -> None:
    truth = write(tmp_path / "truth.csv", "case_id,x,y,w,h\nimg-1,45,45,10,10\n")
    predicted = write(tmp_path / "pred.csv", "case_id,x,y,w,h,score\nimg-1,0,0,100,100,0.9\n")

    result = detection_command(
        {"truth": str(truth), "pred": str(predicted), "criterion": "centre", "iou": 0.5}
    )

    assert result["criterion"] == "centre"
    assert result["iou_threshold"] is None
    assert result["metrics"]["sensitivity_at_0.125"]["value"] == 1.0


TRUTH_OK = "case_id,x,y,w,h\nimg-1,0,0,10,10\n"
PRED_OK = "case_id,x,y,w,h,score\nimg-1,0,0,10,10,0.9\n"


@pytest.mark.parametrize(
    ("truth_text", "pred_text", "message"),
    [
        (
            "case_id,x,y,w,h\nimg-1,0,0,-3,10\n",
            PRED_OK,
            "truth.csv 2번째 줄(데이터 1행): w 값은 음수일 수 없습니다: '-3'",
        ),
        (
            TRUTH_OK,
            "case_id,x,y,w,h,score\n\nimg-1,0,0,10,-1,0.9\n",
            "pred.csv 3번째 줄(데이터 1행): h 값은 음수일 수 없습니다: '-1'",
        ),
        (
            "case_id,x,y,w,h\nimg-1,0,zero,10,10\n",
            PRED_OK,
            "truth.csv 2번째 줄(데이터 1행): y 값이 숫자가 아닙니다: 'zero'",
        ),
        (
            TRUTH_OK,
            "case_id,x,y,w,h,score\nimg-1,0,0,10,10,high\n",
            "pred.csv 2번째 줄(데이터 1행): score 값이 숫자가",
        ),
        (
            TRUTH_OK,
            "case_id,x,y,w,h,score\nimg-1,0,0,10,10,inf\n",
            "pred.csv 2번째 줄(데이터 1행): score 값이 유한한",
        ),
        (
            TRUTH_OK,
            "case_id,x,y,w,h,score\nimg-1,0,0,10,10,\n",
            "pred.csv 2번째 줄(데이터 1행): score 값이 비어",
        ),
        (
            TRUTH_OK,
            "case_id,x,y,w,h,score\nimg-1,0,0,10,10,0.9\nimg-7,0,0,10,10,0.5\n",
            "pred.csv 3번째 줄(데이터 2행): 정답 파일에 없는 case_id입니다: 'img-7'",
        ),
        ("case_id,x,y,w\nimg-1,0,0,10\n", PRED_OK, "truth.csv 1번째 줄(머리글): 필요한 열이 없습니다: h"),
        (
            TRUTH_OK,
            "case_id,x,y,w,h\nimg-1,0,0,10,10\n",
            "pred.csv 1번째 줄(머리글): 필요한 열이 없습니다: score",
        ),
        (
            "case_id,x,y,w,h\nimg-1,0,0,,10\n",
            PRED_OK,
            "truth.csv 2번째 줄(데이터 1행): x, y, w, h는 모두 채우거나",
        ),
        ("case_id,x,y,w,h\n,0,0,10,10\n", PRED_OK, "truth.csv 2번째 줄(데이터 1행): case_id가 비어 있습니다"),
        ("", PRED_OK, "truth.csv: 빈 파일입니다"),
        ("case_id,x,y,w,h\n", PRED_OK, "truth.csv: 머리글 아래에 데이터 행이 없습니다"),
    ],
)
def test_command_refuses_bad_rows_naming_the_file_and_line(
    tmp_path: Path, truth_text: str, pred_text: str, message: str
) -> None:
    truth = write(tmp_path / "truth.csv", truth_text)
    predicted = write(tmp_path / "pred.csv", pred_text)

    with pytest.raises(InputFileError, match=re.escape(message)):
        detection_command({"truth": str(truth), "pred": str(predicted), "criterion": "iou", "iou": 0.5})


def test_command_refuses_files_it_cannot_read(tmp_path: Path) -> None:
    truth = write(tmp_path / "truth.csv", TRUTH_OK)
    latin = tmp_path / "pred.csv"
    latin.write_bytes("case_id,x,y,w,h,score\nimg-1,0,0,10,10,0.9 é\n".encode("latin-1"))

    with pytest.raises(InputFileError, match=r"absent\.csv: 파일이 없습니다"):
        detection_command(
            {"truth": str(tmp_path / "absent.csv"), "pred": str(latin), "criterion": "iou", "iou": 0.5}
        )
    with pytest.raises(InputFileError, match=r"pred\.csv 2번째 줄: UTF-8 텍스트가 아닙니다"):
        detection_command({"truth": str(truth), "pred": str(latin), "criterion": "iou", "iou": 0.5})


def test_medbroker_metrics_detection_prints_the_result_as_json(tmp_path: Path) -> None:
    truth = write(tmp_path / "truth.csv", "case_id,x,y,w,h\nimg-1,0,0,10,10\nimg-2,,,,\n")
    predicted = write(
        tmp_path / "pred.csv", "case_id,x,y,w,h,score\nimg-1,0,0,10,10,0.9\nimg-2,0,0,4,4,0.6\n"
    )
    output = io.StringIO()

    call_command(
        "metrics",
        "detection",
        "--truth",
        str(truth),
        "--pred",
        str(predicted),
        "--criterion",
        "centre",
        "--json",
        stdout=output,
    )

    expected = detection_command(
        {"truth": str(truth), "pred": str(predicted), "criterion": "centre", "iou": 0.5}
    )
    assert json.loads(output.getvalue()) == expected


def test_medbroker_metrics_detection_ends_with_status_2_on_a_bad_file(tmp_path: Path) -> None:
    truth = write(tmp_path / "truth.csv", "case_id,x,y,w,h\nimg-1,0,0,-10,10\n")
    predicted = write(tmp_path / "pred.csv", PRED_OK)

    with pytest.raises(
        CommandError, match=re.escape("truth.csv 2번째 줄(데이터 1행): w 값은 음수")
    ) as raised:
        call_command("metrics", "detection", "--truth", str(truth), "--pred", str(predicted), "--json")

    assert raised.value.returncode == 2
