"""Performance testing on held-out data.

A ``TestSet`` is the lab's held-out data: cases with their reference standard and subgroup attributes, kept
in the lab's private storage and never shown per case to a company. An ``Evaluation`` is one company's test
on one test set: it carries the analysis plan, which is locked (and hashed) before any submission may be
run. A ``Submission`` is what the company hands in: an ONNX model with its manifest, or a predictions file
made in the closed learning room. An ``EvaluationRun`` computes the results of a submission, and a
``TestReport`` is the PDF issued from a run, with its integrity hash and signature.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from medbroker.accounts.models import Organisation
from medbroker.agreements.models import PerformanceTestRequest
from medbroker.catalog.models import Dataset
from medbroker.core.models import TimeStampedModel


class TaskType(models.TextChoices):
    BINARY = "binary", _("이진 분류")
    MULTICLASS = "multiclass", _("다중 분류")
    DETECTION = "detection", _("병변 검출")
    SEGMENTATION = "segmentation", _("영역 분할")


class DataKind(models.TextChoices):
    IMAGING = "imaging", _("영상")
    TIMESERIES = "timeseries", _("생체신호(시계열)")


class TestSet(TimeStampedModel):
    # Named like pytest's test classes; without this pytest tries to collect it wherever it is imported.
    __test__ = False

    class Status(models.TextChoices):
        DRAFT = "draft", _("작성 중")
        ACTIVE = "active", _("사용 중")
        RETIRED = "retired", _("사용 종료")

    name = models.CharField(_("시험셋 이름"), max_length=200)
    version = models.CharField(_("버전"), max_length=40)
    description = models.TextField(_("설명"), blank=True)
    task_type = models.CharField(_("과제 유형"), max_length=20, choices=TaskType.choices)
    data_kind = models.CharField(_("데이터 종류"), max_length=20, choices=DataKind.choices)
    # Class names in output order (binary: [negative, positive]); detection and segmentation: the
    # structures (lesion kinds, organs) in label order, label 1 being the first.
    classes = models.JSONField(_("클래스·구조"), default=list)
    dataset = models.ForeignKey(
        Dataset,
        verbose_name=_("원천 데이터셋"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="test_sets",
    )
    # Voxel or sample spacing of the case arrays, for distances in millimetres (segmentation, detection).
    spacing = models.JSONField(_("화소 간격(mm)"), default=list, blank=True)
    status = models.CharField(
        _("상태"), max_length=20, choices=Status.choices, default=Status.DRAFT, db_index=True
    )
    # SHA-256 over the cases (ids, references, attributes and input file hashes), fixed on activation:
    # a report names exactly the data it was computed on.
    content_sha256 = models.CharField(_("내용 해시"), max_length=64, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("등록자"), on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        verbose_name = _("시험셋")
        verbose_name_plural = _("시험셋")
        ordering = ["name", "-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["name", "version"], name="testset_unique_name_version"),
        ]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"


class TestCase(models.Model):
    __test__ = False

    test_set = models.ForeignKey(
        TestSet, verbose_name=_("시험셋"), on_delete=models.CASCADE, related_name="cases"
    )
    case_id = models.CharField(_("증례 ID"), max_length=100)
    # The reference standard. Binary: {"label": 0|1}; multi-class: {"label": <class index>};
    # detection: {"boxes": [[x, y, w, h, label], ...]}; segmentation: {"mask": "<file in storage>"}.
    reference = models.JSONField(_("참조 표준"), default=dict)
    # The model's input, relative to the test set's storage folder (.npy or DICOM); empty for a test set
    # that is only scored against predictions files.
    input_file = models.CharField(_("입력 파일"), max_length=300, blank=True)
    input_sha256 = models.CharField(_("입력 파일 해시"), max_length=64, blank=True)
    # Subgroup attributes: institution, manufacturer, age_group, sex (and any other the lab records).
    attributes = models.JSONField(_("하위군 속성"), default=dict, blank=True)

    class Meta:
        verbose_name = _("시험 증례")
        verbose_name_plural = _("시험 증례")
        ordering = ["test_set", "case_id"]
        constraints = [
            models.UniqueConstraint(fields=["test_set", "case_id"], name="testcase_unique_case_id"),
        ]

    def __str__(self) -> str:
        return self.case_id


class Evaluation(TimeStampedModel):
    """One company's performance test on one test set, with its analysis plan."""

    class Status(models.TextChoices):
        DRAFT = "draft", _("분석계획 작성 중")
        LOCKED = "locked", _("분석계획 확정")
        CLOSED = "closed", _("시험 종료")

    number = models.CharField(_("시험 번호"), max_length=40, unique=True)
    test_request = models.ForeignKey(
        PerformanceTestRequest,
        verbose_name=_("성능시험 요청"),
        on_delete=models.PROTECT,
        related_name="evaluations",
    )
    company = models.ForeignKey(
        Organisation, verbose_name=_("기업"), on_delete=models.PROTECT, related_name="evaluations"
    )
    test_set = models.ForeignKey(
        TestSet, verbose_name=_("시험셋"), on_delete=models.PROTECT, related_name="evaluations"
    )
    status = models.CharField(
        _("상태"), max_length=20, choices=Status.choices, default=Status.DRAFT, db_index=True
    )
    # The analysis plan (see ``evaluations.plans``): metrics, threshold, confidence level and method,
    # acceptance criteria. Editable while draft; locking stores its SHA-256 and freezes it.
    plan = models.JSONField(_("분석계획"), default=dict)
    plan_sha256 = models.CharField(_("분석계획 해시"), max_length=64, blank=True)
    plan_locked_at = models.DateTimeField(_("분석계획 확정 시각"), null=True, blank=True)
    plan_locked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("분석계획 확정자"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("등록자"), on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        verbose_name = _("성능시험")
        verbose_name_plural = _("성능시험")
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return self.number


class Submission(TimeStampedModel):
    class Kind(models.TextChoices):
        MODEL = "model", _("ONNX 모델")
        PREDICTIONS = "predictions", _("예측 결과 파일")

    evaluation = models.ForeignKey(
        Evaluation, verbose_name=_("성능시험"), on_delete=models.PROTECT, related_name="submissions"
    )
    kind = models.CharField(_("제출 유형"), max_length=20, choices=Kind.choices)
    label = models.CharField(_("제출 이름"), max_length=200, blank=True)
    # Relative to the evaluations storage folder; never served to anyone.
    file = models.CharField(_("파일"), max_length=300)
    file_name = models.CharField(_("원래 파일 이름"), max_length=255)
    file_size = models.BigIntegerField(_("파일 크기"), default=0)
    file_sha256 = models.CharField(_("파일 해시"), max_length=64)
    # For a model: input size, channels, normalisation, windowing, output meaning (``evaluations.manifest``).
    manifest = models.JSONField(_("모델 설명서"), default=dict, blank=True)
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("제출자"), on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        verbose_name = _("제출물")
        verbose_name_plural = _("제출물")
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.evaluation.number} · {self.label or self.file_name}"


class EvaluationRun(TimeStampedModel):
    class Status(models.TextChoices):
        QUEUED = "queued", _("대기")
        RUNNING = "running", _("진행 중")
        SUCCEEDED = "succeeded", _("완료")
        FAILED = "failed", _("실패")

    class Verdict(models.TextChoices):
        PASS = "pass", _("적합")
        FAIL = "fail", _("부적합")
        NONE = "none", _("판정 기준 없음")

    submission = models.ForeignKey(
        Submission, verbose_name=_("제출물"), on_delete=models.PROTECT, related_name="runs"
    )
    status = models.CharField(
        _("상태"), max_length=20, choices=Status.choices, default=Status.QUEUED, db_index=True
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("요청자"), on_delete=models.PROTECT, related_name="+"
    )
    started_at = models.DateTimeField(_("시작 시각"), null=True, blank=True)
    finished_at = models.DateTimeField(_("종료 시각"), null=True, blank=True)
    cases_total = models.PositiveIntegerField(_("대상 증례 수"), default=0)
    cases_done = models.PositiveIntegerField(_("처리한 증례 수"), default=0)
    # What the results were computed from, copied at the start: they stay true if anything changes later.
    test_set_version = models.CharField(_("시험셋 버전"), max_length=40, blank=True)
    test_set_sha256 = models.CharField(_("시험셋 해시"), max_length=64, blank=True)
    plan_sha256 = models.CharField(_("분석계획 해시"), max_length=64, blank=True)
    model_sha256 = models.CharField(_("제출 파일 해시"), max_length=64, blank=True)
    # Runner, Python, NumPy, ONNX Runtime versions, the sandbox's limits and its network isolation.
    environment = models.JSONField(_("실행 환경"), default=dict, blank=True)
    # {"cases": [...], "identical": bool, "max_abs_diff": float}
    determinism = models.JSONField(_("재현성 점검"), default=dict, blank=True)
    # Per-case outputs (scores, boxes or mask summaries): operators only; the paired comparison uses them.
    outputs = models.JSONField(_("증례별 출력"), default=dict, blank=True)
    # Cases that failed or timed out, counted as wrong: [{"case_id", "reason"}]. Operators only.
    failures = models.JSONField(_("실패 증례"), default=list, blank=True)
    # Metrics with intervals, subgroups, curves and the acceptance check (``evaluations.results``).
    results = models.JSONField(_("결과"), default=dict, blank=True)
    verdict = models.CharField(_("판정"), max_length=10, choices=Verdict.choices, blank=True)
    error_message = models.TextField(_("실패 사유"), blank=True)

    class Meta:
        verbose_name = _("시험 실행")
        verbose_name_plural = _("시험 실행")
        ordering = ["-created_at", "-pk"]
        constraints = [
            # One run at a time per submission: two would race to write the same results.
            models.UniqueConstraint(
                fields=["submission"],
                condition=models.Q(status__in=["queued", "running"]),
                name="evaluationrun_one_active_per_submission",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.submission} 실행 #{self.pk}"

    @property
    def percent(self) -> int:
        if self.status == self.Status.SUCCEEDED:
            return 100
        if not self.cases_total:
            return 0
        return min(100, self.cases_done * 100 // self.cases_total)


class TestReport(TimeStampedModel):
    class Language(models.TextChoices):
        KO = "ko", _("한국어")
        EN = "en", _("영어")

    run = models.ForeignKey(
        EvaluationRun, verbose_name=_("시험 실행"), on_delete=models.PROTECT, related_name="reports"
    )
    number = models.CharField(_("성적서 번호"), max_length=40, unique=True)
    language = models.CharField(_("언어"), max_length=2, choices=Language.choices, default=Language.KO)
    file = models.CharField(_("PDF 파일"), max_length=300)
    pdf_sha256 = models.CharField(_("PDF 해시"), max_length=64)
    # HMAC-SHA256 of "<number>:<pdf_sha256>" under the lab's signing key: anyone the lab answers can
    # check that a PDF is the one it issued (``/evaluations/reports/verify/``).
    signature = models.CharField(_("서명"), max_length=64)
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("발급자"), on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        verbose_name = _("시험 성적서")
        verbose_name_plural = _("시험 성적서")
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return self.number
