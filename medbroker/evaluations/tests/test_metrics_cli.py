"""``medbroker metrics classification|detection|segmentation``: values, output and bad files."""

from __future__ import annotations

import io
import json
import math
import os
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError, CommandParser
from scipy import stats
from sklearn.metrics import accuracy_score, precision_score, recall_score, roc_auc_score
from statsmodels.stats.proportion import proportion_confint

from medbroker.evaluations.management.commands import metrics as command_module
from medbroker.evaluations.metrics.files import InputFileError, csv_table_read

REPOSITORY = Path(__file__).resolve().parents[3]


def exact(expected: Any) -> Any:
    """Equal to float64 precision: what two correct computations of the same quantity give."""
    return pytest.approx(expected, rel=1e-12, abs=1e-12)


def write(path: Path, text: str, *, bom: bool = False) -> Path:
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return path


def run_json(*arguments: str) -> dict[str, Any]:
    out = io.StringIO()
    call_command("metrics", *arguments, "--json", stdout=out)
    text = out.getvalue()
    assert text.count("\n") <= 1  # one JSON object
    result: dict[str, Any] = json.loads(text)
    return result


def run_cli(*arguments: str) -> subprocess.CompletedProcess[str]:
    # A database nobody can reach: the command must not need one.
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": "postgres://nobody@127.0.0.1:9/nothing",
    }
    return subprocess.run(
        [sys.executable, "-m", "medbroker", "metrics", *arguments],
        cwd=REPOSITORY,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def delong_reference(labels: np.ndarray, scores: np.ndarray) -> tuple[float, float]:
    x = scores[labels == 1][:, None]
    y = scores[labels == 0][None, :]
    psi = (x > y) + 0.5 * (x == y)
    v10, v01 = psi.mean(axis=1), psi.mean(axis=0)
    return float(psi.mean()), float(v10.var(ddof=1) / v10.size + v01.var(ddof=1) / v01.size)


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path, np.ndarray, np.ndarray]:
    """40 cases with tied scores, written in different orders, with extra columns."""
    rng = np.random.default_rng(40)
    labels = (rng.random(40) < 0.4).astype(int)
    scores = np.round(1 / (1 + np.exp(-(rng.normal(size=40) + 1.5 * labels - 0.7))), 2)
    case_ids = [f"CASE-{index:03d}" for index in range(40)]
    truth = "case_id,label,institution\n" + "".join(
        f"{case_id},{label},병원{index % 3}\n"
        for index, (case_id, label) in enumerate(zip(case_ids, labels, strict=True))
    )
    order = rng.permutation(40)
    predictions = "score,case_id\n" + "".join(
        f"{float(scores[index])!r},{case_ids[index]}\n" for index in order
    )
    return (
        write(tmp_path / "truth.csv", truth, bom=True),
        write(tmp_path / "pred.csv", predictions),
        labels,
        scores,
    )


# --- values -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("ci", "statsmodels_method"), [("wilson", "wilson"), ("clopper-pearson", "beta")])
@pytest.mark.parametrize("threshold", [0.5, 0.35])
def test_classification_values(
    files: tuple[Path, Path, np.ndarray, np.ndarray], ci: str, statsmodels_method: str, threshold: float
) -> None:
    truth, predictions, labels, scores = files
    predicted = (scores >= threshold).astype(int)
    auc, variance = delong_reference(labels, scores)
    half_width = stats.norm.ppf(0.975) * math.sqrt(variance)

    result = run_json(
        "classification",
        "--truth",
        str(truth),
        "--pred",
        str(predictions),
        "--threshold",
        str(threshold),
        "--ci",
        ci,
    )

    def interval(successes: int, total: int) -> list[Any]:
        low, high = proportion_confint(successes, total, alpha=0.05, method=statsmodels_method)
        return [exact(low), exact(high)]

    tp = int(((predicted == 1) & (labels == 1)).sum())
    fp = int(((predicted == 1) & (labels == 0)).sum())
    tn = int(((predicted == 0) & (labels == 0)).sum())
    fn = int(((predicted == 0) & (labels == 1)).sum())
    assert result == {
        "n": 40,
        "missing": 0,
        "threshold": threshold,
        "metrics": {
            "sensitivity": {
                "value": exact(recall_score(labels, predicted)),
                "ci": interval(tp, tp + fn),
                "method": ci,
            },
            "specificity": {
                "value": exact(recall_score(labels, predicted, pos_label=0)),
                "ci": interval(tn, tn + fp),
                "method": ci,
            },
            "ppv": {
                "value": exact(precision_score(labels, predicted)),
                "ci": interval(tp, tp + fp),
                "method": ci,
            },
            "npv": {
                "value": exact(precision_score(labels, predicted, pos_label=0)),
                "ci": interval(tn, tn + fn),
                "method": ci,
            },
            "accuracy": {
                "value": exact(accuracy_score(labels, predicted)),
                "ci": interval(tp + tn, 40),
                "method": ci,
            },
            "auroc": {
                "value": exact(roc_auc_score(labels, scores)),
                "ci": [
                    pytest.approx(max(auc - half_width, 0), abs=1e-12),
                    pytest.approx(min(auc + half_width, 1), abs=1e-12),
                ],
                "method": "delong",
            },
        },
    }
    assert list(result["metrics"]) == ["sensitivity", "specificity", "ppv", "npv", "accuracy", "auroc"]


def test_classification_missing_predictions_count_as_wrong(tmp_path: Path) -> None:
    truth = write(tmp_path / "truth.csv", "case_id,label\na,1\nb,0\nc,1\nd,0\ne,1\nf,0\n")
    predictions = write(tmp_path / "pred.csv", "case_id,score\na,0.9\nb,0.2\nc,0.6\nd,0.4\n")
    # e (a positive) is predicted negative and f (a negative) positive, both ranked worst.
    labels = np.array([1, 0, 1, 0, 1, 0])
    predicted = np.array([1, 0, 1, 0, 0, 1])
    scores = np.array([0.9, 0.2, 0.6, 0.4, -1.0, 2.0])

    result = run_json("classification", "--truth", str(truth), "--pred", str(predictions))

    assert (result["n"], result["missing"], result["threshold"]) == (6, 2, 0.5)
    assert result["metrics"]["sensitivity"]["value"] == pytest.approx(recall_score(labels, predicted))
    assert result["metrics"]["specificity"]["value"] == pytest.approx(2 / 3)
    assert result["metrics"]["accuracy"]["value"] == pytest.approx(4 / 6)
    assert result["metrics"]["auroc"]["value"] == exact(roc_auc_score(labels, scores))
    assert result["metrics"]["auroc"]["value"] == pytest.approx(4 / 9)


def test_classification_missing_predictions_are_wrong_at_any_threshold(tmp_path: Path) -> None:
    truth = write(tmp_path / "truth.csv", "case_id,label\na,1\nb,0\nc,1\nd,0\n")
    predictions = write(tmp_path / "pred.csv", "case_id,score\na,-3\nb,-8\n")

    result = run_json(
        "classification", "--truth", str(truth), "--pred", str(predictions), "--threshold", "-5"
    )

    # a (-3) is positive at -5, b (-8) negative; the missing positive c and negative d are both wrong,
    # and rank below / above everything: only (a, b) of the four pairs is ordered right.
    assert result["metrics"]["sensitivity"]["value"] == 0.5
    assert result["metrics"]["specificity"]["value"] == 0.5
    assert result["metrics"]["auroc"]["value"] == 0.25


def test_classification_with_one_class_has_no_auroc(tmp_path: Path) -> None:
    truth = write(tmp_path / "truth.csv", "case_id,label\na,1\nb,1\nc,1\n")
    predictions = write(tmp_path / "pred.csv", "case_id,score\na,0.9\nb,0.2\nc,0.6\n")

    result = run_json("classification", "--truth", str(truth), "--pred", str(predictions))

    assert result["metrics"]["auroc"] == {"value": None, "ci": None, "method": "none"}
    assert result["metrics"]["specificity"] == {"value": None, "ci": None, "method": "none"}
    assert result["metrics"]["npv"]["value"] == 0.0
    assert result["metrics"]["sensitivity"]["value"] == pytest.approx(2 / 3)


def test_classification_perfect_separation_has_an_auroc_without_interval(tmp_path: Path) -> None:
    truth = write(tmp_path / "truth.csv", "case_id,label\na,0\nb,0\nc,1\nd,1\n")
    predictions = write(tmp_path / "pred.csv", "case_id,score\na,0.1\nb,0.2\nc,0.8\nd,0.9\n")

    result = run_json("classification", "--truth", str(truth), "--pred", str(predictions))

    assert result["metrics"]["auroc"] == {"value": 1.0, "ci": None, "method": "none"}


def test_classification_table(files: tuple[Path, Path, np.ndarray, np.ndarray]) -> None:
    truth, predictions, labels, scores = files
    out = io.StringIO()
    sensitivity = recall_score(labels, scores >= 0.5)

    call_command("metrics", "classification", "--truth", str(truth), "--pred", str(predictions), stdout=out)

    lines = out.getvalue().splitlines()
    assert lines[0] == "사례 수 40, 예측 누락 0, 임계값 0.5"
    assert lines[1].split() == ["지표", "값", "95%", "신뢰구간", "방법"]
    assert [line.split()[0] for line in lines[3:]] == [
        "민감도",
        "특이도",
        "양성예측도",
        "음성예측도",
        "정확도",
        "AUROC",
    ]
    assert lines[3].split()[1] == f"{sensitivity:.4f}"
    assert lines[3].split()[-1] == "wilson"
    assert lines[8].split()[-1] == "delong"


def test_classification_table_shows_what_cannot_be_computed(tmp_path: Path) -> None:
    truth = write(tmp_path / "truth.csv", "case_id,label\na,0\nb,0\n")
    predictions = write(tmp_path / "pred.csv", "case_id,score\na,0.1\nb,0.7\n")
    out = io.StringIO()

    call_command("metrics", "classification", "--truth", str(truth), "--pred", str(predictions), stdout=out)

    rows = {line.split()[0]: line.split()[1:] for line in out.getvalue().splitlines()[3:]}
    assert rows["민감도"] == ["계산", "불가", "-", "none"]
    assert rows["AUROC"] == ["계산", "불가", "-", "none"]
    assert rows["특이도"][0] == "0.5000"


# --- bad files --------------------------------------------------------------------------------------------

GOOD_TRUTH = "case_id,label\na,1\nb,0\nc,1\n"
GOOD_PREDICTIONS = "case_id,score\na,0.9\nb,0.2\nc,0.6\n"


@pytest.mark.parametrize(
    ("truth", "predictions", "message"),
    [
        ("", GOOD_PREDICTIONS, "truth.csv: 빈 파일입니다"),
        ("\n\n", GOOD_PREDICTIONS, "truth.csv: 빈 파일입니다"),
        ("case_id,label\n", GOOD_PREDICTIONS, "truth.csv: 머리글 아래에 데이터 행이 없습니다"),
        (
            "id,label\na,1\n",
            GOOD_PREDICTIONS,
            "truth.csv 1번째 줄(머리글): 필요한 열이 없습니다: case_id (머리글: id, label)",
        ),
        (
            "case_id,label,label\na,1,1\n",
            GOOD_PREDICTIONS,
            "truth.csv 1번째 줄(머리글): 열 이름 'label'이 두 번 나옵니다",
        ),
        (
            "case_id,label\na,1\n,0\n",
            GOOD_PREDICTIONS,
            "truth.csv 3번째 줄(데이터 2행): case_id가 비어 있습니다",
        ),
        (
            "case_id,label\na,1\nb,0\n\na,0\n",
            GOOD_PREDICTIONS,
            "truth.csv 5번째 줄(데이터 3행): case_id 'a'가 중복됩니다(2번째 줄에 이미 있음)",
        ),
        (
            "case_id,label\na,1\nb,2\n",
            GOOD_PREDICTIONS,
            "truth.csv 3번째 줄(데이터 2행): label는 0 또는 1이어야 합니다: '2'",
        ),
        (
            "case_id,label\na,yes\n",
            GOOD_PREDICTIONS,
            "truth.csv 2번째 줄(데이터 1행): label는 0 또는 1이어야 합니다: 'yes'",
        ),
        (
            "case_id,label\na,\n",
            GOOD_PREDICTIONS,
            "truth.csv 2번째 줄(데이터 1행): label는 0 또는 1이어야 합니다: ''",
        ),
        (
            "case_id,label\na,1,x\n",
            GOOD_PREDICTIONS,
            "truth.csv 2번째 줄(데이터 1행): 값이 머리글의 열 수(2)보다 많습니다",
        ),
        (
            GOOD_TRUTH,
            "case,score\na,0.1\n",
            "pred.csv 1번째 줄(머리글): 필요한 열이 없습니다: case_id (머리글: case, score)",
        ),
        (
            GOOD_TRUTH,
            "case_id,score\na,0.9\nb,abc\n",
            "pred.csv 3번째 줄(데이터 2행): score 값이 숫자가 아닙니다: 'abc'",
        ),
        (
            GOOD_TRUTH,
            "case_id,score\na,0.9\nb,nan\n",
            "pred.csv 3번째 줄(데이터 2행): score 값이 유한한 숫자가 아닙니다: 'nan'",
        ),
        (
            GOOD_TRUTH,
            "case_id,score\na,inf\n",
            "pred.csv 2번째 줄(데이터 1행): score 값이 유한한 숫자가 아닙니다: 'inf'",
        ),
        (GOOD_TRUTH, "case_id,score\na,\n", "pred.csv 2번째 줄(데이터 1행): score 값이 비어 있습니다"),
        (
            GOOD_TRUTH,
            "case_id,score\na,0.9\na,0.8\n",
            "pred.csv 3번째 줄(데이터 2행): case_id 'a'가 중복됩니다(2번째 줄에 이미 있음)",
        ),
        (
            GOOD_TRUTH,
            "case_id,score\na,0.9\nz,0.8\n",
            "pred.csv 3번째 줄(데이터 2행): 정답 파일에 없는 case_id입니다: 'z'",
        ),
        (
            GOOD_TRUTH,
            'case_id,score\na,"0.9\n',
            "pred.csv 2번째 줄: CSV 형식이 잘못되었습니다: unexpected end of data",
        ),
    ],
)
def test_classification_bad_files(tmp_path: Path, truth: str, predictions: str, message: str) -> None:
    truth_path = write(tmp_path / "truth.csv", truth)
    predictions_path = write(tmp_path / "pred.csv", predictions)
    out = io.StringIO()

    with pytest.raises(CommandError) as raised:
        call_command(
            "metrics",
            "classification",
            "--truth",
            str(truth_path),
            "--pred",
            str(predictions_path),
            stdout=out,
        )

    assert str(raised.value).startswith(message)
    assert raised.value.returncode == 2
    assert out.getvalue() == ""


def test_classification_file_not_utf8(tmp_path: Path) -> None:
    truth = tmp_path / "truth.csv"
    truth.write_bytes("case_id,label\n환자1,1\n".encode("cp949"))
    predictions = write(tmp_path / "pred.csv", GOOD_PREDICTIONS)

    with pytest.raises(CommandError, match=r"^truth.csv 2번째 줄: UTF-8 텍스트가 아닙니다") as raised:
        call_command("metrics", "classification", "--truth", str(truth), "--pred", str(predictions))

    assert raised.value.returncode == 2


def test_a_bad_byte_deep_in_a_file_is_named_by_its_line(tmp_path: Path) -> None:
    rows = "".join(f"c{index},{index % 2}\n" for index in range(5000)).encode()
    truth = tmp_path / "truth.csv"
    truth.write_bytes(b"\xef\xbb\xbfcase_id,label\n" + rows[:30000] + b"\xff,1\n" + rows[30000:])
    line = 2 + rows[:30000].count(b"\n")

    with pytest.raises(InputFileError) as raised:
        csv_table_read(truth, required=("case_id", "label"))

    assert str(raised.value) == (
        f"truth.csv {line}번째 줄: UTF-8 텍스트가 아닙니다(엑셀에서는 'CSV UTF-8'로 저장하세요)"
    )


def test_rows_past_the_limit_are_refused_before_the_rest_is_read(tmp_path: Path) -> None:
    source = b"case_id,score\n" + b"a,0.1\nb,0.2\nc,0.3\n" + b'"unterminated\n' * 10

    with pytest.raises(InputFileError) as raised:
        csv_table_read(source, required=("case_id", "score"), name="pred.csv", max_rows=2)
    table = csv_table_read(source[: -len(b'"unterminated\n') * 10], required=("case_id",), max_rows=3)

    assert str(raised.value) == "pred.csv 4번째 줄(데이터 3행): 데이터 행이 너무 많습니다(2행까지)"
    assert [row.values for row in table.rows] == [
        {"case_id": "a", "score": "0.1"},
        {"case_id": "b", "score": "0.2"},
        {"case_id": "c", "score": "0.3"},
    ]


def test_classification_missing_file(tmp_path: Path) -> None:
    predictions = write(tmp_path / "pred.csv", GOOD_PREDICTIONS)

    with pytest.raises(CommandError, match=r"truth\.csv: 파일이 없습니다") as raised:
        call_command(
            "metrics", "classification", "--truth", str(tmp_path / "truth.csv"), "--pred", str(predictions)
        )

    assert raised.value.returncode == 2


def test_classification_folder_instead_of_file(tmp_path: Path) -> None:
    truth = write(tmp_path / "truth.csv", GOOD_TRUTH)

    with pytest.raises(CommandError, match="파일이 아니라 폴더입니다") as raised:
        call_command("metrics", "classification", "--truth", str(truth), "--pred", str(tmp_path))

    assert raised.value.returncode == 2


# --- the console command ----------------------------------------------------------------------------------


def test_console_command_prints_one_json_object(files: tuple[Path, Path, np.ndarray, np.ndarray]) -> None:
    truth, predictions, labels, scores = files

    completed = run_cli("classification", "--truth", str(truth), "--pred", str(predictions), "--json")

    assert completed.returncode == 0, completed.stderr
    result = json.loads(completed.stdout)
    assert result["n"] == 40
    assert result["metrics"]["auroc"]["value"] == exact(roc_auc_score(labels, scores))


def test_console_command_exits_2_on_a_bad_file(tmp_path: Path) -> None:
    truth = write(tmp_path / "truth.csv", "case_id,label\na,1\nb,3\n")
    predictions = write(tmp_path / "pred.csv", GOOD_PREDICTIONS)

    completed = run_cli("classification", "--truth", str(truth), "--pred", str(predictions), "--json")

    assert completed.returncode == 2
    assert completed.stdout == ""
    assert "truth.csv 3번째 줄(데이터 2행): label는 0 또는 1이어야 합니다: '3'" in completed.stderr


def test_console_command_exits_2_on_a_missing_file(tmp_path: Path) -> None:
    predictions = write(tmp_path / "pred.csv", GOOD_PREDICTIONS)

    completed = run_cli(
        "classification", "--truth", str(tmp_path / "nowhere.csv"), "--pred", str(predictions)
    )

    assert completed.returncode == 2
    assert "nowhere.csv: 파일이 없습니다" in completed.stderr


def test_console_command_exits_2_on_bad_options(tmp_path: Path) -> None:
    completed = run_cli("classification", "--truth", "x.csv", "--pred", "y.csv", "--ci", "wald")

    assert completed.returncode == 2
    assert "invalid choice: 'wald'" in completed.stderr


# --- detection and segmentation are handed to their modules -----------------------------------------------


@pytest.fixture
def fake_detection(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """A stand-in detection module: records the options it gets, answers a fixed result."""
    received: list[dict[str, Any]] = []

    def detection_arguments(parser: CommandParser) -> None:
        parser.add_argument("--truth", required=True)
        parser.add_argument("--pred", required=True)
        parser.add_argument("--iou", type=float, default=0.5)

    def detection_command(options: dict[str, Any]) -> dict[str, Any]:
        received.append(options)
        if options["truth"] == "bad.csv":
            raise InputFileError("bad.csv 3번째 줄(데이터 2행): w 값이 음수입니다: '-1'")
        return {
            "n_images": 2,
            "n_lesions": 3,
            "metrics": {
                "average_precision": {
                    "value": np.float64(0.75),
                    "ci": [0.5, 1.0],
                    "method": "bootstrap-percentile",
                },
                "sensitivity_at_1": {"value": None, "ci": None, "method": "none"},
            },
            "froc": [[0.5, float("nan")]],
        }

    module = types.ModuleType("medbroker.evaluations.metrics.detection")
    module.detection_arguments = detection_arguments  # type: ignore[attr-defined]
    module.detection_command = detection_command  # type: ignore[attr-defined]
    real_import = command_module.importlib.import_module

    def import_module(name: str) -> Any:
        return module if name == "medbroker.evaluations.metrics.detection" else real_import(name)

    monkeypatch.setattr(command_module.importlib, "import_module", import_module)
    return received


def test_detection_is_handed_its_options(fake_detection: list[dict[str, Any]]) -> None:
    result = run_json("detection", "--truth", "t.csv", "--pred", "p.csv", "--iou", "0.3")

    assert fake_detection == [{"truth": "t.csv", "pred": "p.csv", "iou": 0.3, "json": True}]
    assert result == {
        "n_images": 2,
        "n_lesions": 3,
        "metrics": {
            "average_precision": {"value": 0.75, "ci": [0.5, 1.0], "method": "bootstrap-percentile"},
            "sensitivity_at_1": {"value": None, "ci": None, "method": "none"},
        },
        "froc": [[0.5, None]],
    }


def test_detection_table(fake_detection: list[dict[str, Any]]) -> None:
    out = io.StringIO()

    call_command("metrics", "detection", "--truth", "t.csv", "--pred", "p.csv", stdout=out)

    lines = out.getvalue().splitlines()
    assert lines[0] == "영상 수 2, 병변 수 3"
    assert lines[3].split() == ["평균", "정밀도(AP)", "0.7500", "[0.5000,", "1.0000]", "bootstrap-percentile"]
    assert lines[4].split() == ["영상당", "위양성", "1개에서의", "민감도", "계산", "불가", "-", "none"]


def test_detection_bad_file_exits_2(fake_detection: list[dict[str, Any]]) -> None:
    with pytest.raises(CommandError, match=r"^bad.csv 3번째 줄\(데이터 2행\): w 값이 음수입니다") as raised:
        call_command("metrics", "detection", "--truth", "bad.csv", "--pred", "p.csv")

    assert raised.value.returncode == 2


def test_detection_options_are_checked_by_its_parser(fake_detection: list[dict[str, Any]]) -> None:
    with pytest.raises(CommandError, match="the following arguments are required: --pred"):
        call_command("metrics", "detection", "--truth", "t.csv")

    assert fake_detection == []


def test_json_output_is_strict() -> None:
    assert command_module.json_safe({"a": [np.float32(0.5), math.inf], "b": np.int64(3)}) == {
        "a": [0.5, None],
        "b": 3,
    }
