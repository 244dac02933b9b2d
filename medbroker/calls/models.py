"""Calls configured as data, data-demand consultations (step ①) and applications (step ②)."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from medbroker.accounts.models import Organisation
from medbroker.catalog.models import Dataset
from medbroker.core.models import TimeStampedModel

# ---------------------------------------------------------------------------------------------------------
# The call and everything a later call changes by configuration, not code
# ---------------------------------------------------------------------------------------------------------


class Call(TimeStampedModel):
    slug = models.SlugField(_("식별자"), max_length=80, unique=True)
    title = models.CharField(_("공모명"), max_length=300)
    title_en = models.CharField(_("영문 공모명"), max_length=300, blank=True)
    programme = models.CharField(_("지원사업명"), max_length=200, blank=True)
    agency = models.CharField(_("지원기관"), max_length=200, blank=True)
    summary = models.TextField(_("개요"), blank=True)
    support_types = models.JSONField(
        _("지원 내용"),
        default=list,
        blank=True,
        help_text=_('예: [{"code": "data", "name": "AI 의료데이터 활용 지원"}]'),
    )
    # Overview columns of the announcement's table (지원규모 / 지원금 / 기업부담금), shown as published.
    support_scale = models.CharField(_("지원규모"), max_length=200, blank=True)
    subsidy = models.CharField(_("지원금"), max_length=100, blank=True)
    company_contribution = models.CharField(_("기업부담금"), max_length=100, blank=True)
    intake_opens_at = models.DateTimeField(_("접수 시작"))
    # An exact instant: submission is refused by the server from this instant on (">= closes_at").
    intake_closes_at = models.DateTimeField(_("접수 마감"))
    support_ends_on = models.DateField(_("지원기간 종료일"))
    minimum_eligibility = models.PositiveSmallIntegerField(
        _("최소 충족 자격 수"), default=1, help_text=_("공고 지원대상 ⑤: 위 사항 중 1개 이상 해당")
    )
    # Receipts read "<prefix>-0001" (KHD2025-0001), numbered per call in order of first submission.
    receipt_prefix = models.CharField(
        _("접수번호 접두어"),
        max_length=20,
        blank=True,
        help_text=_("예: KHD2025 → KHD2025-0001. 비워 두면 식별자와 접수 연도로 만듭니다."),
    )
    # Rubric of the document review, bonus rules and their parameters: read by the review module.
    bonus_rules = models.JSONField(_("우대사항 규칙"), default=dict, blank=True)
    contact = models.JSONField(_("문의처"), default=list, blank=True)
    is_practice = models.BooleanField(_("연습용 공모"), default=False)
    is_published = models.BooleanField(_("공개"), default=True)

    class Meta:
        verbose_name = _("공모")
        verbose_name_plural = _("공모")
        ordering = ["-intake_opens_at"]
        constraints = [
            # Receipt numbers are unique across calls, so two calls never share a prefix.
            models.UniqueConstraint(
                fields=["receipt_prefix"],
                condition=~models.Q(receipt_prefix=""),
                name="call_unique_receipt_prefix",
            )
        ]

    def __str__(self) -> str:
        return self.title

    def is_open_at(self, when: dt.datetime) -> bool:
        return self.intake_opens_at <= when < self.intake_closes_at


class EligibilityCriterion(models.Model):
    class Requirement(models.TextChoices):
        DAEGU_ADDRESS = "daegu_address", _("대구 소재 주소")
        DOCUMENT = "document", _("확약서 제출")
        INSTITUTION = "institution", _("실증 의료기관 명시")
        NONE = "none", _("없음")

    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="eligibility_criteria")
    number = models.PositiveSmallIntegerField(_("번호"))
    code = models.SlugField(_("코드"), max_length=40)
    title = models.CharField(_("자격 요건"), max_length=500)
    title_en = models.CharField(_("영문 자격 요건"), max_length=500, blank=True)
    requirement = models.CharField(_("필요 증빙"), max_length=20, choices=Requirement.choices)
    required_document_code = models.SlugField(_("필요 서류 코드"), max_length=40, blank=True)

    class Meta:
        verbose_name = _("신청 자격")
        verbose_name_plural = _("신청 자격")
        ordering = ["call", "number"]
        constraints = [models.UniqueConstraint(fields=["call", "code"], name="eligibility_unique_code")]

    def __str__(self) -> str:
        return f"{self.number}. {self.title}"


class RequiredDocument(models.Model):
    class Condition(models.TextChoices):
        ALWAYS = "always", _("필수")
        IF_CRITERION = "if_criterion", _("해당 자격 선택 시 필수")
        OPTIONAL = "optional", _("선택")

    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="required_documents")
    code = models.SlugField(_("코드"), max_length=40)
    number = models.PositiveSmallIntegerField(_("번호"))
    title = models.CharField(_("서류명"), max_length=300)
    title_en = models.CharField(_("영문 서류명"), max_length=300, blank=True)
    condition = models.CharField(
        _("제출 조건"), max_length=20, choices=Condition.choices, default=Condition.ALWAYS
    )
    criterion_code = models.SlugField(_("관련 자격 코드"), max_length=40, blank=True)
    has_template = models.BooleanField(_("양식 있음"), default=True)
    template = models.FileField(_("양식 파일"), upload_to="call_templates/", blank=True)

    class Meta:
        verbose_name = _("제출 서류")
        verbose_name_plural = _("제출 서류")
        ordering = ["call", "number"]
        constraints = [models.UniqueConstraint(fields=["call", "code"], name="required_document_unique_code")]

    def __str__(self) -> str:
        return self.title


class RubricItem(models.Model):
    """One row of the document-review rubric (announcement "서면평가 기준")."""

    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="rubric_items")
    order = models.PositiveSmallIntegerField(_("순서"))
    code = models.SlugField(_("코드"), max_length=40)
    area = models.CharField(_("구분"), max_length=100)
    item = models.CharField(_("평가항목"), max_length=100)
    indicator = models.CharField(_("평가지표"), max_length=200)
    judged = models.JSONField(_("평가내용"), default=list)
    max_points = models.PositiveSmallIntegerField(_("배점"))

    class Meta:
        verbose_name = _("평가 항목")
        verbose_name_plural = _("평가 항목")
        ordering = ["call", "order"]
        constraints = [models.UniqueConstraint(fields=["call", "code"], name="rubric_item_unique_code")]

    def __str__(self) -> str:
        return f"{self.indicator} ({self.max_points})"


class Certification(models.Model):
    """A certification that counts for the bonus (announcement 붙임 "기술 및 품질 인증 기준")."""

    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="certifications")
    category = models.CharField(_("분류"), max_length=100)
    number = models.PositiveSmallIntegerField(_("번호"))
    name = models.CharField(_("종류"), max_length=100)
    description = models.CharField(_("인증내용"), max_length=200, blank=True)
    aliases = models.JSONField(_("다른 표기"), default=list, blank=True)

    class Meta:
        verbose_name = _("인정 인증")
        verbose_name_plural = _("인정 인증")
        ordering = ["call", "category", "number"]
        constraints = [models.UniqueConstraint(fields=["call", "name"], name="certification_unique_name")]

    def __str__(self) -> str:
        return self.name


class ComputeOption(models.Model):
    """A GPU type a company can ask for (announcement §3.2). One GPU per company; CPU and memory are shared."""

    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="compute_options")
    code = models.SlugField(_("코드"), max_length=40)
    gpu = models.CharField(_("GPU"), max_length=40)
    gpu_memory_gb = models.PositiveSmallIntegerField(_("GPU 메모리(GB)"))
    cpu_cores = models.PositiveSmallIntegerField(_("CPU 코어"))
    memory_gb = models.PositiveSmallIntegerField(_("메모리(GB)"))
    storage = models.CharField(_("스토리지"), max_length=40)
    order = models.PositiveSmallIntegerField(_("순서"), default=0)

    class Meta:
        verbose_name = _("컴퓨팅 자원 규격")
        verbose_name_plural = _("컴퓨팅 자원 규격")
        ordering = ["call", "order"]
        constraints = [models.UniqueConstraint(fields=["call", "code"], name="compute_option_unique_code")]

    def __str__(self) -> str:
        return f"{self.gpu} {self.gpu_memory_gb}GB"


# ---------------------------------------------------------------------------------------------------------
# Step ①: data-demand consultation
# ---------------------------------------------------------------------------------------------------------


class Consultation(TimeStampedModel):
    class Status(models.TextChoices):
        OPEN = "open", _("답변 대기")
        ANSWERED = "answered", _("답변 완료")
        CLOSED = "closed", _("종료")

    call = models.ForeignKey(
        Call, verbose_name=_("공모"), on_delete=models.PROTECT, related_name="consultations"
    )
    company = models.ForeignKey(
        Organisation, verbose_name=_("기업"), on_delete=models.PROTECT, related_name="consultations"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("작성자"), on_delete=models.PROTECT, related_name="+"
    )
    purpose = models.TextField(_("활용 목적"))
    status = models.CharField(
        _("상태"), max_length=20, choices=Status.choices, default=Status.OPEN, db_index=True
    )
    answered_at = models.DateTimeField(_("답변 시각"), null=True, blank=True)

    class Meta:
        verbose_name = _("수요 데이터 협의")
        verbose_name_plural = _("수요 데이터 협의")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.company} · {self.call}"


class ConsultationItem(models.Model):
    class Answer(models.TextChoices):
        PENDING = "pending", _("검토 중")
        AVAILABLE = "available", _("보유")
        PARTIAL = "partial", _("일부 보유")
        UNAVAILABLE = "unavailable", _("미보유")

    consultation = models.ForeignKey(Consultation, on_delete=models.CASCADE, related_name="items")
    dataset = models.ForeignKey(
        Dataset, verbose_name=_("데이터셋"), on_delete=models.PROTECT, related_name="+"
    )
    requested_amount = models.PositiveIntegerField(_("희망 건수"))
    needs_annotated = models.BooleanField(_("Annotation 데이터 필요"), default=False)
    answer = models.CharField(_("답변"), max_length=20, choices=Answer.choices, default=Answer.PENDING)
    available_amount = models.PositiveIntegerField(_("제공 가능 건수"), null=True, blank=True)
    answer_note = models.TextField(_("답변 내용"), blank=True)
    answered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    answered_at = models.DateTimeField(_("답변 시각"), null=True, blank=True)

    class Meta:
        verbose_name = _("협의 항목")
        verbose_name_plural = _("협의 항목")
        ordering = ["consultation", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["consultation", "dataset"], name="consultation_item_unique_dataset"
            )
        ]

    def __str__(self) -> str:
        return f"{self.dataset} × {self.requested_amount}"


class ConsultationMessage(models.Model):
    consultation = models.ForeignKey(Consultation, on_delete=models.CASCADE, related_name="messages")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    body = models.TextField(_("내용"))
    created_at = models.DateTimeField(_("작성 시각"), auto_now_add=True)

    class Meta:
        verbose_name = _("협의 메시지")
        verbose_name_plural = _("협의 메시지")
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return self.body[:40]


# ---------------------------------------------------------------------------------------------------------
# Step ②: application
# ---------------------------------------------------------------------------------------------------------


class Application(TimeStampedModel):
    class Status(models.TextChoices):
        DRAFT = "draft", _("작성 중")
        SUBMITTED = "submitted", _("제출 완료")
        RETURNED = "returned", _("보완 요청")
        RESUBMITTED = "resubmitted", _("보완 제출")
        WITHDRAWN = "withdrawn", _("신청 철회")

    call = models.ForeignKey(
        Call, verbose_name=_("공모"), on_delete=models.PROTECT, related_name="applications"
    )
    company = models.ForeignKey(
        Organisation, verbose_name=_("기업"), on_delete=models.PROTECT, related_name="applications"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("작성자"), on_delete=models.PROTECT, related_name="+"
    )
    consultation = models.ForeignKey(
        Consultation,
        verbose_name=_("수요 데이터 협의"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="applications",
    )
    status = models.CharField(
        _("상태"), max_length=20, choices=Status.choices, default=Status.DRAFT, db_index=True
    )
    receipt_number = models.CharField(_("접수번호"), max_length=40, unique=True, null=True, blank=True)
    submitted_at = models.DateTimeField(_("최초 제출 시각"), null=True, blank=True)
    last_submitted_at = models.DateTimeField(_("최근 제출 시각"), null=True, blank=True)

    # Business plan (사업계획서) sections, in the order of the review rubric.
    project_title = models.CharField(_("과제명"), max_length=300, blank=True)
    summary = models.TextField(_("사업 개요"), blank=True)
    organisation_plan = models.TextField(_("추진 조직 및 역량"), blank=True)
    staffing_plan = models.TextField(_("전담인력 및 역할분담"), blank=True)
    objectives = models.TextField(_("사업 목표(최종·단계별)"), blank=True)
    contents_strategy = models.TextField(_("사업 내용 및 추진 전략·일정"), blank=True)
    technology = models.TextField(_("보유 기술 및 차별성·상용화 계획"), blank=True)
    expected_effects = models.TextField(_("기대효과(의료산업·지역 기여)"), blank=True)

    compute_option = models.ForeignKey(
        ComputeOption,
        verbose_name=_("희망 GPU"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    compute_intended_use = models.TextField(_("컴퓨팅 자원 활용 계획"), blank=True)
    # The company's address as it stood at (re)submission: eligibility ① of a submitted application is
    # judged on it, so a later edit of the company profile cannot change a submitted case.
    company_address_at_submission = models.CharField(_("제출 시 기업 주소"), max_length=300, blank=True)
    realworld_institution = models.CharField(
        _("실증 예정 의료기관"), max_length=200, blank=True, help_text=_("신청 자격 ③에 해당할 때")
    )

    class Meta:
        verbose_name = _("지원 신청")
        verbose_name_plural = _("지원 신청")
        ordering = ["-created_at"]
        constraints = [
            # One live application per company and call; a withdrawn one does not block a new one.
            models.UniqueConstraint(
                fields=["call", "company"],
                condition=~models.Q(status="withdrawn"),
                name="application_one_live_per_company_and_call",
            )
        ]

    def __str__(self) -> str:
        return f"{self.receipt_number or _('미제출')} · {self.company}"


class EligibilityDeclaration(models.Model):
    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="eligibility")
    criterion = models.ForeignKey(EligibilityCriterion, on_delete=models.PROTECT, related_name="+")
    declared = models.BooleanField(_("해당"), default=False)
    detail = models.CharField(_("근거"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("자격 선언")
        verbose_name_plural = _("자격 선언")
        constraints = [
            models.UniqueConstraint(
                fields=["application", "criterion"], name="eligibility_declaration_unique"
            )
        ]


class ApplicationDataset(models.Model):
    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="requested_datasets")
    dataset = models.ForeignKey(
        Dataset, verbose_name=_("데이터셋"), on_delete=models.PROTECT, related_name="+"
    )
    amount = models.PositiveIntegerField(_("희망 건수"))
    needs_annotated = models.BooleanField(_("Annotation 데이터 필요"), default=False)

    class Meta:
        verbose_name = _("신청 데이터")
        verbose_name_plural = _("신청 데이터")
        constraints = [
            models.UniqueConstraint(fields=["application", "dataset"], name="application_dataset_unique")
        ]


class ApplicationDocument(models.Model):
    """An uploaded file. ``file`` has a generated name; the user's name is kept only as text."""

    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="documents")
    requirement = models.ForeignKey(
        RequiredDocument, verbose_name=_("서류"), on_delete=models.PROTECT, related_name="+"
    )
    file = models.FileField(_("파일"), upload_to="applications/%Y/%m/")
    original_name = models.CharField(_("원래 파일명"), max_length=255)
    detected_type = models.CharField(_("확인된 형식"), max_length=10)
    size = models.PositiveBigIntegerField(_("크기"))
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    uploaded_at = models.DateTimeField(_("업로드 시각"), auto_now_add=True)

    class Meta:
        verbose_name = _("제출 서류 파일")
        verbose_name_plural = _("제출 서류 파일")
        ordering = ["requirement__number", "-uploaded_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["application", "requirement"], name="application_document_one_per_kind"
            )
        ]

    def __str__(self) -> str:
        return self.original_name


class RevenueRecord(models.Model):
    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="revenues")
    year = models.PositiveSmallIntegerField(_("연도"))
    amount_krw = models.BigIntegerField(_("매출액(원)"))
    provisional = models.BooleanField(
        _("가결산"), default=False, help_text=_("재무제표 발행 전이라 가결산재무제표를 제출한 경우")
    )

    class Meta:
        verbose_name = _("매출액")
        verbose_name_plural = _("매출액")
        ordering = ["application", "year"]
        constraints = [models.UniqueConstraint(fields=["application", "year"], name="revenue_unique_year")]


class GovernmentProject(models.Model):
    class Kind(models.TextChoices):
        GOVERNMENT = "government", _("정부과제")
        OWN = "own", _("자체기술개발")

    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="projects")
    kind = models.CharField(_("구분"), max_length=20, choices=Kind.choices, default=Kind.GOVERNMENT)
    project_id = models.CharField(_("과제 번호"), max_length=100)
    title = models.CharField(_("과제명"), max_length=300)
    agency = models.CharField(_("전문기관·발주처"), max_length=200, blank=True)
    started_on = models.DateField(_("시작일"))
    ended_on = models.DateField(_("종료일"))

    class Meta:
        verbose_name = _("정부과제·자체개발")
        verbose_name_plural = _("정부과제·자체개발")
        ordering = ["application", "started_on"]


class CertificationHeld(models.Model):
    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="certifications")
    certification = models.ForeignKey(
        Certification, verbose_name=_("인증"), on_delete=models.PROTECT, related_name="+"
    )
    certificate_number = models.CharField(_("인증 번호"), max_length=100, blank=True)
    valid_from = models.DateField(_("유효 시작일"), null=True, blank=True)
    valid_until = models.DateField(_("유효 종료일"), null=True, blank=True)

    class Meta:
        verbose_name = _("보유 인증")
        verbose_name_plural = _("보유 인증")


class IntellectualProperty(models.Model):
    class Kind(models.TextChoices):
        PATENT = "patent", _("특허")
        UTILITY = "utility", _("실용신안")
        DESIGN = "design", _("디자인")
        TRADEMARK = "trademark", _("상표")
        SOFTWARE = "software", _("프로그램 저작권")

    application = models.ForeignKey(
        Application, on_delete=models.CASCADE, related_name="intellectual_property"
    )
    kind = models.CharField(_("구분"), max_length=20, choices=Kind.choices, default=Kind.PATENT)
    registration_number = models.CharField(_("등록 번호"), max_length=100)
    title = models.CharField(_("명칭"), max_length=300)
    registered_on = models.DateField(_("등록일"))

    class Meta:
        verbose_name = _("지식재산권")
        verbose_name_plural = _("지식재산권")
        ordering = ["application", "registered_on"]


class ApplicationStatusChange(models.Model):
    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="status_changes")
    from_status = models.CharField(_("이전 상태"), max_length=20, blank=True)
    to_status = models.CharField(_("새 상태"), max_length=20)
    changed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    reason = models.TextField(_("사유"), blank=True)
    changed_at = models.DateTimeField(_("변경 시각"))

    class Meta:
        verbose_name = _("상태 변경 이력")
        verbose_name_plural = _("상태 변경 이력")
        ordering = ["changed_at", "pk"]
