"""The analysis plan: defaults, validation with a message per problem, the canonical hash, metric labels."""

from __future__ import annotations

import hashlib
from types import SimpleNamespace
from typing import Any

import pytest

from medbroker.core.errors import DomainError
from medbroker.evaluations.plans import (
    LOWER_IS_BETTER,
    METRICS_BY_TASK,
    metric_label,
    metric_lower_is_better,
    plan_default,
    plan_metric_names,
    plan_sha256,
    plan_validate,
)

BINARY = SimpleNamespace(task_type="binary")
DETECTION = SimpleNamespace(task_type="detection")


def test_the_default_binary_plan() -> None:
    assert plan_default("binary") == {
        "primary_metric": "sensitivity",
        "secondary_metrics": ["specificity", "auroc"],
        "threshold": 0.5,
        "confidence_level": 0.95,
        "ci_method": "wilson",
        "bootstrap_resamples": 2000,
        "seed": 20251,
        "acceptance": [],
        "subgroups": ["institution", "manufacturer", "age_group", "sex"],
        "detection": {
            "criterion": "iou",
            "iou_threshold": 0.5,
            "fp_rates": [0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0],
        },
        "segmentation": {"tolerance_mm": 2.0},
        "compare_with_previous": True,
    }


@pytest.mark.parametrize(
    ("task_type", "primary", "secondary"),
    [
        ("multiclass", "accuracy", ["macro_sensitivity", "macro_f1", "macro_auroc"]),
        ("detection", "froc_score", ["average_precision", "sensitivity_at_1"]),
        ("segmentation", "dice", ["hd95", "nsd"]),
    ],
)
def test_each_task_starts_with_its_own_metrics(task_type: str, primary: str, secondary: list[str]) -> None:
    plan = plan_default(task_type)

    assert (plan["primary_metric"], plan["secondary_metrics"]) == (primary, secondary)
    # A default plan is a valid one.
    assert plan_validate(plan, test_set=SimpleNamespace(task_type=task_type)) == plan


def test_the_metrics_of_each_task() -> None:
    assert METRICS_BY_TASK == {
        "binary": (
            "sensitivity",
            "specificity",
            "ppv",
            "npv",
            "accuracy",
            "balanced_accuracy",
            "f1",
            "auroc",
            "auprc",
            "brier",
            "ece",
        ),
        "multiclass": (
            "accuracy",
            "macro_sensitivity",
            "macro_specificity",
            "macro_ppv",
            "macro_f1",
            "macro_auroc",
        ),
        "detection": (
            "average_precision",
            "froc_score",
            "sensitivity_at_0.125",
            "sensitivity_at_0.25",
            "sensitivity_at_0.5",
            "sensitivity_at_1",
            "sensitivity_at_2",
            "sensitivity_at_4",
            "sensitivity_at_8",
        ),
        "segmentation": ("dice", "iou", "hd95", "nsd"),
    }
    assert plan_metric_names("detection", {"detection": {"fp_rates": [0.5, 3]}}) == (
        "average_precision",
        "froc_score",
        "sensitivity_at_0.5",
        "sensitivity_at_3",
    )


def test_the_hash_is_sha256_of_the_canonical_json() -> None:
    plan = {"threshold": 0.5, "acceptance": [], "primary_metric": "민감도", "seed": 7}
    # Sorted keys, no spaces, non-ASCII as UTF-8, written out by hand.
    canonical = '{"acceptance":[],"primary_metric":"민감도","seed":7,"threshold":0.5}'.encode()

    assert plan_sha256(plan) == hashlib.sha256(canonical).hexdigest()
    assert plan_sha256(dict(reversed(list(plan.items())))) == plan_sha256(plan)


def test_a_plan_is_normalised() -> None:
    plan = {
        "primary_metric": "sensitivity",
        "secondary_metrics": ["auroc", "sensitivity", "auroc", "specificity"],
        "threshold": 1,
        "confidence_level": 0.9,
        "ci_method": "clopper-pearson",
        "bootstrap_resamples": 500.0,
        "acceptance": [{"metric": "sensitivity", "bound": "lower", "operator": ">=", "value": 1}],
        "subgroups": ["sex", "sex", "site"],
        "detection": {"criterion": "centre", "iou_threshold": 1, "fp_rates": [2, 0.5, 2]},
    }

    normalised = plan_validate(plan, test_set=BINARY)

    assert normalised == {
        "primary_metric": "sensitivity",
        "secondary_metrics": ["auroc", "specificity"],
        "threshold": 1.0,
        "confidence_level": 0.9,
        "ci_method": "clopper-pearson",
        "bootstrap_resamples": 500,
        "seed": 20251,
        "acceptance": [{"metric": "sensitivity", "bound": "lower", "operator": ">=", "value": 1.0}],
        "subgroups": ["sex", "site"],
        "detection": {"criterion": "centre", "iou_threshold": 1.0, "fp_rates": [0.5, 2.0]},
        "segmentation": {"tolerance_mm": 2.0},
        "compare_with_previous": True,
    }
    assert isinstance(normalised["threshold"], float)


def test_detection_metrics_follow_the_plans_rates() -> None:
    plan = {
        "primary_metric": "sensitivity_at_3",
        "secondary_metrics": [],
        "detection": {"criterion": "iou", "iou_threshold": 0.3, "fp_rates": [3]},
        "acceptance": [{"metric": "sensitivity_at_3", "bound": "value", "operator": ">=", "value": 0.7}],
    }

    normalised = plan_validate(plan, test_set=DETECTION)

    assert (normalised["primary_metric"], normalised["detection"]["fp_rates"]) == ("sensitivity_at_3", [3.0])
    with pytest.raises(DomainError) as error:
        plan_validate({**plan, "primary_metric": "sensitivity_at_1"}, test_set=DETECTION)
    assert error.value.field == "primary_metric"


def _acceptance(**row: Any) -> dict[str, Any]:
    return {
        "acceptance": [{"metric": "sensitivity", "bound": "lower", "operator": ">=", "value": 0.8, **row}]
    }


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        (
            {"primary_metric": "dice"},
            "primary_metric",
            "'dice'은(는) 이 과제(binary)에서 쓸 수 있는 지표가 아닙니다.",
        ),
        ({"secondary_metrics": ["auroc", "macro_f1"]}, "secondary_metrics", "'macro_f1'"),
        ({"secondary_metrics": "auroc"}, "secondary_metrics", "보조 지표는 목록이어야 합니다."),
        ({"threshold": 1.2}, "threshold", "판정 임계값은 0과 1 사이여야 합니다."),
        ({"threshold": -0.1}, "threshold", "판정 임계값은 0과 1 사이여야 합니다."),
        ({"threshold": "0.5"}, "threshold", "판정 임계값은(는) 숫자여야 합니다."),
        ({"threshold": True}, "threshold", "판정 임계값은(는) 숫자여야 합니다."),
        ({"threshold": float("nan")}, "threshold", "판정 임계값은(는) 유한한 숫자여야 합니다."),
        ({"confidence_level": 0.5}, "confidence_level", "신뢰수준은 0.5보다 크고 1보다 작아야 합니다"),
        ({"confidence_level": 1.0}, "confidence_level", "신뢰수준은 0.5보다 크고 1보다 작아야 합니다"),
        ({"ci_method": "wald"}, "ci_method", "신뢰구간 방법은 wilson 또는 clopper-pearson이어야 합니다."),
        ({"bootstrap_resamples": 199}, "bootstrap_resamples", "200 이상 20000 이하"),
        ({"bootstrap_resamples": 20001}, "bootstrap_resamples", "200 이상 20000 이하"),
        ({"bootstrap_resamples": 1000.5}, "bootstrap_resamples", "정수여야 합니다."),
        ({"seed": -1}, "seed", "난수 시드는 0 이상"),
        (_acceptance(metric="dice"), "acceptance", "판정 기준 1번째 줄: 'dice'"),
        (
            _acceptance(bound="middle"),
            "acceptance",
            "판정 기준 1번째 줄: bound는 lower, value, upper 중 하나",
        ),
        (_acceptance(operator=">"), "acceptance", "판정 기준 1번째 줄: operator는 >= 또는 <=여야 합니다."),
        (
            _acceptance(value=80),
            "acceptance",
            "판정 기준 1번째 줄: 이 지표의 기준값은 0과 1 사이여야 합니다.",
        ),
        ({"acceptance": [{"metric": "sensitivity"}]}, "acceptance", "metric, bound, operator, value 네 항목"),
        ({"subgroups": ["../etc"]}, "subgroups", "하위군 속성 이름이 올바르지 않습니다: ../etc"),
        ({"compare_with_previous": "yes"}, "compare_with_previous", "true 또는 false"),
        (
            {"detection": {"criterion": "overlap"}},
            "detection",
            "검출 판정 기준은 iou 또는 centre여야 합니다.",
        ),
        ({"detection": {"fp_rates": [0, 1]}}, "detection", "영상당 위양성 수는 0보다 커야"),
        ({"segmentation": {"tolerance_mm": 0}}, "segmentation", "허용 거리(mm)는 0보다 크고 100 이하"),
        ({"colour": "blue"}, "plan", "분석계획에 알 수 없는 항목이 있습니다: colour"),
    ],
)
def test_each_problem_is_named_on_its_field(change: dict[str, Any], field: str, message: str) -> None:
    with pytest.raises(DomainError) as error:
        plan_validate({**plan_default("binary"), **change}, test_set=BINARY)

    assert (error.value.code, error.value.field) == ("plan_invalid", field)
    assert message in str(error.value)


def test_hd95_takes_millimetres_as_a_target() -> None:
    plan = {
        **plan_default("segmentation"),
        "acceptance": [{"metric": "hd95", "bound": "upper", "operator": "<=", "value": 5}],
    }

    assert plan_validate(plan, test_set=SimpleNamespace(task_type="segmentation"))["acceptance"] == [
        {"metric": "hd95", "bound": "upper", "operator": "<=", "value": 5.0}
    ]


@pytest.mark.parametrize(
    ("task_type", "metric", "bound", "operator", "value"),
    [
        ("binary", "sensitivity", "lower", ">=", 0.8),
        ("binary", "sensitivity", "value", ">=", 0.8),
        ("binary", "auroc", "lower", ">=", 0.9),
        ("binary", "brier", "upper", "<=", 0.2),
        ("binary", "ece", "value", "<=", 0.1),
        ("segmentation", "hd95", "upper", "<=", 5),
        ("segmentation", "hd95", "value", "<=", 5),
        ("segmentation", "dice", "lower", ">=", 0.7),
    ],
)
def test_criteria_that_judge_on_the_cautious_side_are_allowed(
    task_type: str, metric: str, bound: str, operator: str, value: float
) -> None:
    row = {"metric": metric, "bound": bound, "operator": operator, "value": value}

    plan = plan_validate(
        {**plan_default(task_type), "acceptance": [row]}, test_set=SimpleNamespace(task_type=task_type)
    )

    assert plan["acceptance"] == [{**row, "value": float(value)}]


@pytest.mark.parametrize(
    ("task_type", "metric", "bound", "operator", "message"),
    [
        ("binary", "sensitivity", "upper", ">=", "sensitivity은(는) 값이 클수록 좋은 지표이므로"),
        ("binary", "auroc", "lower", "<=", "auroc은(는) 값이 클수록 좋은 지표이므로"),
        ("binary", "specificity", "value", "<=", "lower(신뢰구간 하한) 또는 value에 >= 로만"),
        ("binary", "brier", "lower", "<=", "brier은(는) 값이 작을수록 좋은 지표이므로"),
        ("binary", "ece", "upper", ">=", "upper(신뢰구간 상한) 또는 value에 <= 로만"),
        ("segmentation", "hd95", "lower", "<=", "hd95은(는) 값이 작을수록 좋은 지표이므로"),
        ("segmentation", "nsd", "upper", ">=", "nsd은(는) 값이 클수록 좋은 지표이므로"),
    ],
)
def test_criteria_a_bad_model_could_meet_are_refused(
    task_type: str, metric: str, bound: str, operator: str, message: str
) -> None:
    good = {"metric": "sensitivity" if task_type == "binary" else "dice", "bound": "lower"}
    rows = [
        {**good, "operator": ">=", "value": 0.5},
        {"metric": metric, "bound": bound, "operator": operator, "value": 0.5},
    ]

    with pytest.raises(DomainError) as error:
        plan_validate(
            {**plan_default(task_type), "acceptance": rows}, test_set=SimpleNamespace(task_type=task_type)
        )

    assert (error.value.code, error.value.field) == ("plan_invalid", "acceptance")
    assert str(error.value).startswith("판정 기준 2번째 줄: ")
    assert message in str(error.value)


def test_metric_labels_in_korean() -> None:
    names = [
        "sensitivity",
        "specificity",
        "ppv",
        "npv",
        "accuracy",
        "balanced_accuracy",
        "f1",
        "auroc",
        "auprc",
        "brier",
        "ece",
        "average_precision",
        "froc_score",
        "sensitivity_at_1",
        "sensitivity_at_0.5",
        "dice",
        "iou",
        "hd95",
        "nsd",
    ]

    assert [metric_label(name) for name in names] == [
        "민감도",
        "특이도",
        "양성예측도",
        "음성예측도",
        "정확도",
        "균형 정확도",
        "F1 점수",
        "AUROC",
        "AUPRC",
        "Brier 점수",
        "보정 오차(ECE)",
        "평균 정밀도(AP)",
        "FROC 점수",
        "영상당 위양성 1개에서의 민감도",
        "영상당 위양성 0.5개에서의 민감도",
        "Dice",
        "IoU",
        "HD95(mm)",
        "NSD",
    ]
    assert metric_label("unknown_metric") == "unknown_metric"


def test_which_metrics_are_better_when_lower() -> None:
    assert {"brier", "ece", "hd95"} == LOWER_IS_BETTER
    assert [metric_lower_is_better(name) for name in ("brier", "ece", "hd95", "auroc", "dice")] == [
        True,
        True,
        True,
        False,
        False,
    ]
