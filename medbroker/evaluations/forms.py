"""Forms of the performance-test pages. They only read the input into the shapes the services take (a test
set's fields, an analysis plan, a model manifest); the services validate the rules and say what is wrong."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from medbroker.catalog.models import Dataset
from medbroker.core.forms import KrdsFormMixin
from medbroker.evaluations.metrics.detection import format_rate
from medbroker.evaluations.models import DataKind, Evaluation, Submission, TaskType, TestReport, TestSet
from medbroker.evaluations.plans import (
    BOOTSTRAP_MAX,
    BOOTSTRAP_MIN,
    CI_METHODS,
    DEFAULT_FP_RATES,
    SEED_MAX,
    metric_label,
    plan_metric_names,
)
from medbroker.evaluations.selectors import (
    BOUND_LABELS,
    CRITERION_LABELS,
    METHOD_LABELS,
    SUBGROUP_ATTRIBUTES,
    SUBGROUP_LABELS,
    mapping_of,
    test_sets_active,
)

CONFIDENCE_CHOICES = [(0.9, "90%"), (0.95, "95%"), (0.99, "99%")]
CI_METHOD_CHOICES = [(code, METHOD_LABELS[code]) for code in CI_METHODS]
OPERATOR_CHOICES = [(">=", "≥"), ("<=", "≤")]
NORMALISATION_CHOICES = [
    ("none", _("없음")),
    ("minmax", _("최솟값-최댓값(0~1)")),
    ("zscore", _("평균·표준편차(z-score)")),
    ("scale", _("나누기(scale)")),
]
OUTPUT_CHOICES = [
    ("probability", _("양성 확률(0~1)")),
    ("logit", _("로짓(시그모이드 전)")),
    ("softmax", _("클래스별 확률(softmax 후)")),
    ("logits", _("클래스별 로짓(softmax 전)")),
    ("boxes", _("검출 상자 [x, y, w, h, score]")),
    ("mask_probability", _("화소별 확률 마스크")),
    ("mask_labels", _("화소별 레이블 맵")),
]
DEFAULT_OUTPUT = {
    TaskType.BINARY: "probability",
    TaskType.MULTICLASS: "softmax",
    TaskType.DETECTION: "boxes",
    TaskType.SEGMENTATION: "mask_labels",
}
# How many empty acceptance rows the plan form offers beyond those already in the plan.
ACCEPTANCE_EXTRA = 2


def metric_names(task_type: str, *, fp_rates: Any = None) -> list[str]:
    """The metrics an analysis plan of ``task_type`` may name (detection: at the plan's rates)."""
    plan = {"detection": {"fp_rates": list(fp_rates)}} if fp_rates else None
    return list(plan_metric_names(task_type, plan))


def _numbers(text: str, *, field: str, integers: bool = False) -> list[float]:
    values: list[float] = []
    for part in str(text or "").replace(";", ",").replace("×", ",").replace("x", ",").split(","):
        part = part.strip()
        if not part:
            continue
        try:
            values.append(int(part) if integers else float(part))
        except ValueError:
            raise forms.ValidationError(
                _(
                    "%(field)s에 숫자가 아닌 값 '%(value)s'이(가) 있습니다. 쉼표로 구분한 숫자를 입력해 주세요."
                )
                % {"field": field, "value": part}
            ) from None
    return values


class TestSetForm(KrdsFormMixin, forms.Form):
    name = forms.CharField(label=_("시험셋 이름"), max_length=200)
    version = forms.CharField(label=_("버전"), max_length=40, help_text=_("예: 1.0"))
    task_type = forms.ChoiceField(label=_("과제 유형"), choices=TaskType.choices)
    data_kind = forms.ChoiceField(label=_("데이터 종류"), choices=DataKind.choices)
    classes = forms.CharField(
        label=_("클래스·구조"),
        max_length=1000,
        help_text=_(
            "쉼표로 구분해 출력 순서대로 적습니다. 이진 분류는 '음성, 양성' 순서, 검출·분할은 레이블 1부터의 "
            "병변·구조 이름입니다. 예: 정상, 결절"
        ),
    )
    spacing = forms.CharField(
        label=_("화소 간격(mm)"),
        required=False,
        max_length=100,
        help_text=_("검출·분할의 거리 계산에 씁니다. 축 순서대로 쉼표로 구분합니다. 예: 0.7, 0.7"),
    )
    dataset = forms.ModelChoiceField(
        label=_("원천 데이터셋"),
        queryset=Dataset.objects.order_by("title"),
        required=False,
        help_text=_("시험셋을 만든 카탈로그의 데이터셋이 있으면 고릅니다."),
    )
    description = forms.CharField(label=_("설명"), required=False, widget=forms.Textarea(attrs={"rows": 3}))

    __test__ = False  # pytest: a form, not a test class

    def clean_classes(self) -> list[str]:
        return [name.strip() for name in self.cleaned_data["classes"].split(",") if name.strip()]

    def clean_spacing(self) -> list[float] | None:
        values = _numbers(self.cleaned_data.get("spacing") or "", field=str(_("화소 간격")))
        return values or None


class TestCasesImportForm(KrdsFormMixin, forms.Form):
    cases_csv = forms.FileField(
        label=_("증례 목록(CSV)"),
        help_text=_(
            "열: case_id, 참조 표준(label · boxes · mask 중 과제에 맞는 것), input(ZIP 안의 입력 파일), 하위군 "
            "속성(institution, manufacturer, age_group, sex). UTF-8로 저장합니다."
        ),
    )
    archive = forms.FileField(
        label=_("입력·마스크 파일(ZIP)"),
        required=False,
        help_text=_(
            "CSV가 가리키는 .npy 입력과 마스크 파일을 담은 ZIP입니다. 예측 결과 파일로만 시험하면 비워 둡니다."
        ),
    )

    __test__ = False


class EvaluationCreateForm(KrdsFormMixin, forms.Form):
    test_set = forms.ModelChoiceField(
        label=_("시험셋"),
        queryset=TestSet.objects.none(),
        empty_label=_("시험셋을 고르십시오"),
        help_text=_("사용 중(확정)인 시험셋만 고를 수 있습니다."),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["test_set"].queryset = test_sets_active()  # type: ignore[attr-defined]


class AcceptanceForm(KrdsFormMixin, forms.Form):
    metric = forms.ChoiceField(label=_("평가지표"), required=False)
    bound = forms.ChoiceField(
        label=_("비교 값"),
        required=False,
        choices=[(code, label) for code, label in BOUND_LABELS.items()],
        initial="lower",
    )
    operator = forms.ChoiceField(label=_("조건"), required=False, choices=OPERATOR_CHOICES, initial=">=")
    value = forms.FloatField(label=_("기준값"), required=False)

    def __init__(self, *args: Any, metrics: list[str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["metric"].choices = [("", "-"), *((name, metric_label(name)) for name in metrics or [])]  # type: ignore[attr-defined]

    def criterion(self) -> dict[str, Any] | None:
        """The row as a plan criterion; None for a row left empty."""
        data = self.cleaned_data
        if not data.get("metric") and data.get("value") is None:
            return None
        return {
            "metric": data.get("metric") or "",
            "bound": data.get("bound") or "lower",
            "operator": data.get("operator") or ">=",
            "value": data.get("value"),
        }

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("metric") and data.get("value") is None:
            self.add_error("value", _("기준값을 입력해 주세요."))
        if data.get("value") is not None and not data.get("metric"):
            self.add_error("metric", _("평가지표를 고르십시오."))
        return data


AcceptanceFormSet = forms.formset_factory(AcceptanceForm, extra=0, can_delete=False)


class PlanForm(KrdsFormMixin, forms.Form):
    """The analysis plan of an evaluation while it is draft; the acceptance rows come in a formset."""

    primary_metric = forms.ChoiceField(label=_("주 평가지표"))
    secondary_metrics = forms.MultipleChoiceField(
        label=_("보조 평가지표"), required=False, widget=forms.CheckboxSelectMultiple
    )
    threshold = forms.FloatField(
        label=_("양성 판정 임계값"),
        required=False,
        min_value=0,
        max_value=1,
        help_text=_("점수가 이 값 이상이면 양성으로 판정합니다(이진 분류)."),
    )
    confidence_level = forms.TypedChoiceField(
        label=_("신뢰수준"), choices=CONFIDENCE_CHOICES, coerce=float, initial=0.95
    )
    ci_method = forms.ChoiceField(
        label=_("비율 지표의 신뢰구간 방법"),
        choices=CI_METHOD_CHOICES,
        help_text=_(
            "민감도·특이도 같은 비율에 씁니다. AUROC는 DeLong, 나머지는 부트스트랩 백분위수 구간입니다."
        ),
    )
    bootstrap_resamples = forms.IntegerField(
        label=_("부트스트랩 반복 수"), min_value=BOOTSTRAP_MIN, max_value=BOOTSTRAP_MAX
    )
    seed = forms.IntegerField(
        label=_("부트스트랩 시드"),
        min_value=0,
        max_value=SEED_MAX,
        help_text=_("같은 시드면 같은 구간이 다시 나옵니다."),
    )
    subgroups = forms.MultipleChoiceField(
        label=_("분석할 하위군 속성"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        choices=[(name, SUBGROUP_LABELS[name]) for name in SUBGROUP_ATTRIBUTES],
    )
    compare_with_previous = forms.BooleanField(
        label=_("이전 실행과 AUROC 비교(DeLong 대응 검정)"), required=False
    )
    detection_criterion = forms.ChoiceField(
        label=_("검출 일치 판정"),
        required=False,
        choices=[(code, label) for code, label in CRITERION_LABELS.items()],
    )
    iou_threshold = forms.FloatField(label=_("IoU 임계값"), required=False, min_value=0, max_value=1)
    fp_rates = forms.CharField(
        label=_("FROC 위양성 수(영상당)"),
        required=False,
        max_length=200,
        help_text=_("쉼표로 구분합니다. 예: 0.125, 0.25, 0.5, 1, 2, 4, 8"),
    )
    tolerance_mm = forms.FloatField(label=_("표면 거리 허용오차(mm)"), required=False, min_value=0)

    def __init__(self, *args: Any, evaluation: Evaluation, **kwargs: Any) -> None:
        self.evaluation = evaluation
        self.task_type = evaluation.test_set.task_type
        plan = mapping_of(evaluation.plan)
        detection = mapping_of(plan.get("detection"))
        self.metrics = metric_names(self.task_type, fp_rates=detection.get("fp_rates"))
        kwargs.setdefault("initial", self.initial_from(plan))
        super().__init__(*args, **kwargs)
        choices = [(name, metric_label(name)) for name in self.metrics]
        self.fields["primary_metric"].choices = choices  # type: ignore[attr-defined]
        self.fields["secondary_metrics"].choices = choices  # type: ignore[attr-defined]
        # Only the parameters of the test set's task are asked for.
        if self.task_type != TaskType.BINARY:
            del self.fields["threshold"]
            del self.fields["compare_with_previous"]
        if self.task_type != TaskType.DETECTION:
            for name in ("detection_criterion", "iou_threshold", "fp_rates"):
                del self.fields[name]
        if self.task_type != TaskType.SEGMENTATION:
            del self.fields["tolerance_mm"]

    @staticmethod
    def initial_from(plan: dict[str, Any]) -> dict[str, Any]:
        detection = mapping_of(plan.get("detection"))
        segmentation = mapping_of(plan.get("segmentation"))
        return {
            "primary_metric": plan.get("primary_metric"),
            "secondary_metrics": list(plan.get("secondary_metrics") or []),
            "threshold": plan.get("threshold"),
            "confidence_level": plan.get("confidence_level"),
            "ci_method": plan.get("ci_method"),
            "bootstrap_resamples": plan.get("bootstrap_resamples"),
            "seed": plan.get("seed"),
            "subgroups": list(plan.get("subgroups") or []),
            "compare_with_previous": bool(plan.get("compare_with_previous")),
            "detection_criterion": detection.get("criterion"),
            "iou_threshold": detection.get("iou_threshold"),
            "fp_rates": ", ".join(format_rate(rate) for rate in detection.get("fp_rates") or []),
            "tolerance_mm": segmentation.get("tolerance_mm"),
        }

    def clean_fp_rates(self) -> list[float]:
        rates = _numbers(self.cleaned_data.get("fp_rates") or "", field=str(_("FROC 위양성 수")))
        return rates or list(DEFAULT_FP_RATES)

    def plan(self, acceptance: list[dict[str, Any]]) -> dict[str, Any]:
        """The plan to save: the evaluation's plan with what this form asks replaced."""
        data = self.cleaned_data
        plan = dict(mapping_of(self.evaluation.plan))
        plan.update(
            {
                "primary_metric": data["primary_metric"],
                "secondary_metrics": [
                    name for name in data.get("secondary_metrics") or [] if name != data["primary_metric"]
                ],
                "confidence_level": data["confidence_level"],
                "ci_method": data["ci_method"],
                "bootstrap_resamples": data["bootstrap_resamples"],
                "seed": data["seed"],
                "subgroups": list(data.get("subgroups") or []),
                "acceptance": acceptance,
            }
        )
        if "threshold" in self.fields:
            plan["threshold"] = data.get("threshold") if data.get("threshold") is not None else 0.5
            plan["compare_with_previous"] = bool(data.get("compare_with_previous"))
        if "fp_rates" in self.fields:
            detection = dict(plan.get("detection") or {})
            detection.update(
                {
                    "criterion": data.get("detection_criterion") or "iou",
                    "iou_threshold": data.get("iou_threshold")
                    if data.get("iou_threshold") is not None
                    else 0.5,
                    "fp_rates": data["fp_rates"],
                }
            )
            plan["detection"] = detection
        if "tolerance_mm" in self.fields:
            segmentation = dict(plan.get("segmentation") or {})
            segmentation["tolerance_mm"] = (
                data.get("tolerance_mm") if data.get("tolerance_mm") is not None else 2.0
            )
            plan["segmentation"] = segmentation
        return plan


def acceptance_formset(evaluation: Evaluation, data: Any = None, *, metrics: list[str] | None = None) -> Any:
    """The plan's acceptance rows and ``ACCEPTANCE_EXTRA`` empty ones."""
    plan = mapping_of(evaluation.plan)
    detection = mapping_of(plan.get("detection"))
    metrics = metrics or metric_names(evaluation.test_set.task_type, fp_rates=detection.get("fp_rates"))
    initial = [
        {
            "metric": row.get("metric"),
            "bound": row.get("bound"),
            "operator": row.get("operator"),
            "value": row.get("value"),
        }
        for row in plan.get("acceptance") or []
        if isinstance(row, dict)
    ]
    initial += [{"bound": "lower", "operator": ">="} for _index in range(ACCEPTANCE_EXTRA)]
    return AcceptanceFormSet(data, initial=initial, prefix="acceptance", form_kwargs={"metrics": metrics})


def acceptance_rows(formset: Any) -> list[dict[str, Any]]:
    return [row for row in (form.criterion() for form in formset.forms) if row is not None]


class SubmissionForm(KrdsFormMixin, forms.Form):
    """A company's submission: an ONNX model with its manifest, or a predictions file."""

    kind = forms.ChoiceField(
        label=_("제출 유형"),
        choices=Submission.Kind.choices,
        widget=forms.RadioSelect,
        initial=Submission.Kind.MODEL,
    )
    file = forms.FileField(
        label=_("파일"),
        help_text=_(
            "ONNX 모델(.onnx) 또는 폐쇄형 학습실에서 만든 예측 결과 파일(.csv: case_id와 점수·상자 열, "
            "분할은 .zip)입니다."
        ),
    )
    label = forms.CharField(
        label=_("제출 이름"), required=False, max_length=200, help_text=_("예: v1.2 임계값 조정 모델")
    )
    input_shape = forms.CharField(
        label=_("입력 크기"),
        required=False,
        max_length=60,
        initial="1, 1, 32, 32",
        help_text=_("모델 입력 텐서의 모양을 쉼표로 구분합니다. 예: 1, 1, 512, 512"),
    )
    input_layout = forms.ChoiceField(
        label=_("입력 배열 순서"), required=False, choices=[("NCHW", "NCHW"), ("NHWC", "NHWC")]
    )
    input_dtype = forms.ChoiceField(
        label=_("입력 자료형"),
        required=False,
        choices=[("float32", "float32"), ("float16", "float16"), ("uint8", "uint8")],
    )
    normalisation = forms.ChoiceField(label=_("정규화"), required=False, choices=NORMALISATION_CHOICES)
    normalisation_mean = forms.FloatField(label=_("정규화 평균"), required=False)
    normalisation_std = forms.FloatField(label=_("정규화 표준편차"), required=False)
    normalisation_scale = forms.FloatField(label=_("나눌 값(scale)"), required=False)
    window_center = forms.FloatField(
        label=_("창 중심(HU)"), required=False, help_text=_("CT 창 설정. 쓰지 않으면 비워 둡니다.")
    )
    window_width = forms.FloatField(label=_("창 너비(HU)"), required=False, min_value=1)
    output_type = forms.ChoiceField(label=_("출력 의미"), required=False, choices=OUTPUT_CHOICES)
    positive_index = forms.IntegerField(
        label=_("양성 클래스 위치"),
        required=False,
        min_value=0,
        help_text=_("출력이 클래스별 값일 때 양성 클래스의 위치(0부터)입니다."),
    )
    output_threshold = forms.FloatField(
        label=_("출력 임계값"),
        required=False,
        help_text=_("마스크 확률을 레이블로 바꿀 임계값입니다(영역 분할)."),
    )

    MANIFEST_FIELDS = (
        "input_shape",
        "input_layout",
        "input_dtype",
        "normalisation",
        "normalisation_mean",
        "normalisation_std",
        "normalisation_scale",
        "window_center",
        "window_width",
        "output_type",
        "positive_index",
        "output_threshold",
    )

    def __init__(self, *args: Any, task_type: str = TaskType.BINARY, **kwargs: Any) -> None:
        initial = kwargs.setdefault("initial", {})
        initial.setdefault("output_type", DEFAULT_OUTPUT.get(TaskType(task_type), "probability"))
        initial.setdefault("input_layout", "NCHW")
        initial.setdefault("input_dtype", "float32")
        initial.setdefault("normalisation", "none")
        super().__init__(*args, **kwargs)

    def clean_input_shape(self) -> list[int]:
        return [
            int(value)
            for value in _numbers(
                self.cleaned_data.get("input_shape") or "", field=str(_("입력 크기")), integers=True
            )
        ]

    def manifest(self) -> dict[str, Any] | None:
        """The model manifest (``evaluations.sandbox.manifest``); None for a predictions file."""
        data = self.cleaned_data
        if data.get("kind") != Submission.Kind.MODEL:
            return None
        normalisation: dict[str, Any] = {"type": data.get("normalisation") or "none"}
        for key in ("mean", "std", "scale"):
            value = data.get(f"normalisation_{key}")
            if value is not None:
                normalisation[key] = value
        manifest: dict[str, Any] = {
            "input": {
                "shape": data.get("input_shape") or [],
                "layout": data.get("input_layout") or "NCHW",
                "dtype": data.get("input_dtype") or "float32",
                "normalisation": normalisation,
            },
            "output": {"type": data.get("output_type") or "probability"},
        }
        if data.get("window_center") is not None and data.get("window_width") is not None:
            manifest["input"]["window"] = {"center": data["window_center"], "width": data["window_width"]}
        if data.get("positive_index") is not None:
            manifest["output"]["positive_index"] = data["positive_index"]
        if data.get("output_threshold") is not None:
            manifest["output"]["threshold"] = data["output_threshold"]
        return manifest


def manifest_parse(text: str | None) -> dict[str, Any] | None:
    """A manifest sent as a JSON string (the API's multipart field); None when empty."""
    if not text or not str(text).strip():
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise forms.ValidationError(
            _("모델 설명서(manifest)가 올바른 JSON이 아닙니다: %(error)s") % {"error": error.msg}
        ) from None
    if not isinstance(value, dict):
        raise forms.ValidationError(_("모델 설명서(manifest)는 JSON 객체여야 합니다."))
    return value


class ReportIssueForm(forms.Form):
    language = forms.ChoiceField(
        label=_("성적서 언어"),
        choices=TestReport.Language.choices,
        widget=forms.RadioSelect,
        initial=TestReport.Language.KO,
    )


class ReportVerifyForm(KrdsFormMixin, forms.Form):
    pdf = forms.FileField(label=_("성적서 PDF"), help_text=_("발급받은 성적서 PDF 파일을 그대로 올립니다."))
