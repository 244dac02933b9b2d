"""``medbroker metrics classification|detection|segmentation``: a model's metrics from files, without the platform.

``medbroker metrics classification --truth TRUTH.csv --pred PRED.csv [--threshold T]
[--ci wilson|clopper-pearson] [--json]``: TRUTH has ``case_id,label`` (0/1), PRED ``case_id,score``; a case
is positive when ``score >= T`` (0.5 by default). A truth case without a prediction counts as wrong: a
missing positive as predicted negative, a missing negative as predicted positive, both ranked worst for
AUROC. With ``--json`` one JSON object is printed::

    {"n": 40, "missing": 1, "threshold": 0.5,
     "metrics": {"sensitivity": {"value": 0.83, "ci": [0.61, 0.94], "method": "wilson"}, ...}}

with sensitivity, specificity, ppv, npv, accuracy (the ``--ci`` proportion interval) and auroc (DeLong), all
at 95 %; a metric that cannot be computed (AUROC with one class) is ``{"value": null, "ci": null, "method":
"none"}``. Without ``--json`` the same figures are printed as a table.

``detection`` and ``segmentation`` take the options of their metric modules
(``medbroker metrics detection --help``).

A file that cannot be used (missing, not UTF-8, a missing column, a bad or duplicate row…) ends the command
with its file, row and problem on stderr and exit status 2. The command needs no database.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
from django.core.management.base import BaseCommand, CommandError, CommandParser

from medbroker.evaluations.metrics.classification import binary_metrics, worst_case_scores
from medbroker.evaluations.metrics.files import (
    InputFileError,
    classification_predictions_read,
    classification_truth_read,
)

CONFIDENCE = 0.95
CLASSIFICATION_METRICS = ("sensitivity", "specificity", "ppv", "npv", "accuracy", "auroc")
DELEGATED = {
    "detection": "검출(바운딩 박스) 지표: 평균 정밀도, FROC",
    "segmentation": "분할 지표: Dice, IoU, HD95, NSD",
}
METRIC_LABELS = {
    "sensitivity": "민감도",
    "specificity": "특이도",
    "ppv": "양성예측도",
    "npv": "음성예측도",
    "accuracy": "정확도",
    "balanced_accuracy": "균형 정확도",
    "f1": "F1 점수",
    "auroc": "AUROC",
    "auprc": "AUPRC",
    "brier": "Brier 점수",
    "ece": "보정 오차(ECE)",
    "average_precision": "평균 정밀도(AP)",
    "froc_score": "FROC 점수",
    "dice": "Dice",
    "iou": "IoU",
    "hd95": "HD95(mm)",
    "nsd": "NSD",
}
SUMMARY_LABELS = {
    "n": "사례 수",
    "missing": "예측 누락",
    "threshold": "임계값",
    "n_images": "영상 수",
    "n_lesions": "병변 수",
    "n_predictions": "예측 수",
    "criterion": "일치 기준",
    "iou_threshold": "IoU 기준",
    "spacing": "화소 간격(mm)",
    "tolerance_mm": "허용 거리(mm)",
}


def metric_label(name: str) -> str:
    if name.startswith("sensitivity_at_"):
        return f"영상당 위양성 {name.removeprefix('sensitivity_at_')}개에서의 민감도"
    return METRIC_LABELS.get(name, name)


def json_safe(value: Any) -> Any:
    """The value with numpy scalars as plain numbers and non-finite floats as null: strict JSON."""
    if isinstance(value, dict):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    if isinstance(value, np.ndarray):
        return json_safe(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _number(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def metrics_table(result: dict[str, Any]) -> str:
    """The summary line and a table of metric, value, 95 % interval and method, for reading."""
    summary = [
        f"{SUMMARY_LABELS.get(key, key)} {_summary_value(value)}"
        for key, value in result.items()
        if key != "metrics" and not isinstance(value, dict) and not _is_table(value)
    ]
    rows = [("지표", "값", f"{CONFIDENCE:.0%} 신뢰구간", "방법")]
    for name, metric in result.get("metrics", {}).items():
        ci = metric.get("ci")
        interval = f"[{_number(ci[0])}, {_number(ci[1])}]" if ci else "-"
        value = metric.get("value")
        rows.append(
            (
                metric_label(name),
                _number(value) if value is not None else "계산 불가",
                interval,
                metric.get("method", ""),
            )
        )
    widths = [max(_display_width(row[column]) for row in rows) for column in range(4)]
    lines = [", ".join(summary)] if summary else []
    for index, row in enumerate(rows):
        cells = [_pad(cell, widths[column]) for column, cell in enumerate(row)]
        lines.append("  ".join(cells).rstrip())
        if index == 0:
            lines.append("  ".join("-" * width for width in widths))
    return "\n".join(lines)


def _is_table(value: Any) -> bool:
    # Curves and per-case lists are for --json; the readable output keeps to the figures.
    return isinstance(value, list) and any(isinstance(item, list | dict) for item in value)


def _summary_value(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(_summary_plain(item) for item in value)
    return _summary_plain(value)


def _summary_plain(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _display_width(text: str) -> int:
    # Hangul takes two columns in a terminal; the table would not line up counting characters.
    return sum(2 if "\uac00" <= char <= "\ud7a3" or "\u3130" <= char <= "\u318f" else 1 for char in text)


def _pad(text: str, width: int) -> str:
    return text + " " * (width - _display_width(text))


def classification_compute(
    truth_path: Path, prediction_path: Path, *, threshold: float, ci_method: str
) -> dict[str, Any]:
    """What ``metrics classification --json`` prints, from the two files."""
    truth = classification_truth_read(truth_path)
    predictions = classification_predictions_read(prediction_path, case_ids=truth.keys())
    labels = np.fromiter(truth.values(), dtype=np.int64, count=len(truth))
    scores = np.array([predictions.get(case_id, math.nan) for case_id in truth], dtype=np.float64)
    missing = np.isnan(scores)
    scores = worst_case_scores(labels, scores, missing, threshold=threshold)
    computed = binary_metrics(
        labels,
        scores,
        threshold=threshold,
        ci_method=ci_method,
        confidence=CONFIDENCE,
        bootstrap_resamples=0,
    )
    return {
        "n": int(labels.size),
        "missing": int(missing.sum()),
        "threshold": threshold,
        "metrics": {name: computed["metrics"][name] for name in CLASSIFICATION_METRICS},
    }


def _finite_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"숫자가 아닙니다: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"유한한 숫자가 아닙니다: {text!r}")
    return value


class Command(BaseCommand):
    help = "정답 파일과 예측 파일로 분류·검출·분할 모델의 성능 지표와 95% 신뢰구간을 계산합니다."
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        tasks = parser.add_subparsers(
            dest="task", required=True, metavar="{classification,detection,segmentation}"
        )
        classification = tasks.add_parser(
            "classification",
            help="이진 분류 지표: 민감도, 특이도, 양성·음성예측도, 정확도, AUROC",
            description="정답(case_id,label)과 예측(case_id,score) CSV로 이진 분류 지표를 계산합니다.",
        )
        classification.add_argument("--truth", type=Path, required=True, help="정답 CSV (case_id,label: 0/1)")
        classification.add_argument("--pred", type=Path, required=True, help="예측 CSV (case_id,score)")
        classification.add_argument(
            "--threshold", type=_finite_float, default=0.5, help="점수가 이 값 이상이면 양성 (기본 0.5)"
        )
        classification.add_argument(
            "--ci",
            choices=("wilson", "clopper-pearson"),
            default="wilson",
            help="비율 지표의 신뢰구간 방법 (기본 wilson)",
        )
        classification.add_argument("--json", action="store_true", help="결과를 JSON 한 개로 출력")
        for task, help_text in DELEGATED.items():
            # The options of detection and segmentation belong to their metric modules, which are imported
            # only when that subcommand runs: everything after the task's name is handed to the parser
            # those modules build. The odd prefix character keeps this parser from reading "--truth" as
            # an option of its own.
            delegated = tasks.add_parser(
                task,
                help=f"{help_text} (옵션: medbroker metrics {task} --help)",
                add_help=False,
                prefix_chars="\x01",
            )
            delegated.add_argument("arguments", nargs=argparse.REMAINDER)

    def handle(self, *args: Any, **options: Any) -> None:
        task = options["task"]
        try:
            if task == "classification":
                result = classification_compute(
                    options["truth"], options["pred"], threshold=options["threshold"], ci_method=options["ci"]
                )
                as_json = options["json"]
            else:
                result, as_json = self._delegated(task, list(options.get("arguments") or []))
        except InputFileError as error:
            raise CommandError(str(error), returncode=2) from error
        except OSError as error:
            where = f": {error.filename}" if error.filename else ""
            raise CommandError(
                f"파일을 읽을 수 없습니다{where}: {error.strerror or error}", returncode=2
            ) from error
        if as_json:
            self.stdout.write(json.dumps(json_safe(result), ensure_ascii=False, allow_nan=False))
        else:
            self.stdout.write(metrics_table(json_safe(result)))

    def _delegated(self, task: str, arguments: list[str]) -> tuple[dict[str, Any], bool]:
        module = importlib.import_module(f"medbroker.evaluations.metrics.{task}")
        parser = CommandParser(
            prog=f"medbroker metrics {task}",
            description=DELEGATED[task],
            called_from_command_line=bool(getattr(self, "_called_from_command_line", False)),
        )
        getattr(module, f"{task}_arguments")(parser)
        with contextlib.suppress(argparse.ArgumentError):  # unless the module declares --json itself
            parser.add_argument("--json", action="store_true", help="결과를 JSON 한 개로 출력")
        options = vars(parser.parse_args(arguments))
        result = getattr(module, f"{task}_command")(options)
        return result, bool(options.get("json"))
