from __future__ import annotations

from django.db import models
from django.db.models import F
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from medbroker.accounts.models import Organisation
from medbroker.core.models import TimeStampedModel


class BilingualName(models.Model):
    code = models.SlugField(_("코드"), max_length=40, unique=True)
    name = models.CharField(_("이름"), max_length=100)
    name_en = models.CharField(_("영문 이름"), max_length=100)
    order = models.PositiveSmallIntegerField(_("순서"), default=0)

    class Meta:
        abstract = True
        ordering = ["order", "name"]

    def __str__(self) -> str:
        return self.label

    @property
    def label(self) -> str:
        return self.name_en if (get_language() or "ko").startswith("en") and self.name_en else self.name


class DataType(models.TextChoices):
    IMAGING = "imaging", _("영상")
    TIME_SERIES = "time_series", _("시계열")


class BodyPart(BilingualName):
    """A body part or clinical category as the call's table names it (위, 대장, 요로결석, 응급복부…)."""

    class Meta(BilingualName.Meta):
        verbose_name = _("부위")
        verbose_name_plural = _("부위")


class Modality(BilingualName):
    data_type = models.CharField(_("데이터 유형"), max_length=20, choices=DataType.choices)
    dicom_code = models.CharField(_("DICOM 모달리티 코드"), max_length=16, blank=True)

    class Meta(BilingualName.Meta):
        verbose_name = _("모달리티")
        verbose_name_plural = _("모달리티")


class Institution(TimeStampedModel):
    organisation = models.OneToOneField(
        Organisation, verbose_name=_("기관 계정"), on_delete=models.PROTECT, related_name="institution"
    )
    region = models.CharField(_("지역"), max_length=50, blank=True)
    description = models.TextField(_("소개"), blank=True)
    # Set by the lab's operators only: a steward may scan folders under it and nowhere else, so that one
    # hospital's steward cannot point a dataset at another hospital's files under the same server root.
    scan_folder = models.CharField(
        _("데이터 보관 폴더"),
        max_length=500,
        blank=True,
        help_text=_(
            "이 기관의 데이터가 있는 서버 폴더의 절대 경로입니다. 허용된 데이터 보관 위치(MEDBROKER_SCAN_ROOTS) "
            "안이어야 하며, 기관의 데이터 관리자는 이 폴더 안에서만 스캔할 수 있습니다. 비워 두면 데이터 관리자는 "
            "폴더를 스캔할 수 없습니다."
        ),
    )

    class Meta:
        verbose_name = _("데이터 보유기관")
        verbose_name_plural = _("데이터 보유기관")
        ordering = ["organisation__name"]

    def __str__(self) -> str:
        return self.organisation.name

    @property
    def name(self) -> str:
        return self.organisation.name

    @property
    def label(self) -> str:
        """The name in the page's language (the English name where there is one)."""
        organisation = self.organisation
        english = (get_language() or "ko").startswith("en")
        return organisation.name_en if english and organisation.name_en else organisation.name


class Sensitivity(models.TextChoices):
    # Decides later whether online use (SSL-VPN, VDI, OTP) may be agreed: only for low (announcement §4 ⑤).
    LOW = "low", _("낮음")
    STANDARD = "standard", _("보통")
    HIGH = "high", _("높음")


class Dataset(TimeStampedModel):
    class Publication(models.TextChoices):
        DRAFT = "draft", _("작성 중")
        PUBLISHED = "published", _("공개")
        WITHDRAWN = "withdrawn", _("공개 중단")

    class Deidentification(models.TextChoices):
        NOT_CHECKED = "not_checked", _("점검 전")
        CLEAN = "clean", _("발견 사항 없음")
        FINDINGS = "findings", _("발견 사항 있음")
        OVERRIDDEN = "overridden", _("운영자 승인으로 공개 허용")

    institution = models.ForeignKey(
        Institution, verbose_name=_("보유기관"), on_delete=models.PROTECT, related_name="datasets"
    )
    title = models.CharField(_("데이터셋 이름"), max_length=200)
    title_en = models.CharField(_("영문 이름"), max_length=200, blank=True)
    description = models.TextField(_("설명"), blank=True)
    body_part = models.ForeignKey(
        BodyPart, verbose_name=_("부위"), on_delete=models.PROTECT, related_name="+"
    )
    modality = models.ForeignKey(
        Modality, verbose_name=_("모달리티"), on_delete=models.PROTECT, related_name="+"
    )
    data_type = models.CharField(_("데이터 유형"), max_length=20, choices=DataType.choices)
    annotated_count = models.PositiveIntegerField(_("Annotation 건수"), default=0)
    non_annotated_count = models.PositiveIntegerField(_("Non-Annotation 건수"), default=0)
    # Derived in the database so it can never drift from its parts and can be sorted and summed.
    total_count = models.GeneratedField(
        expression=F("annotated_count") + F("non_annotated_count"),
        output_field=models.PositiveIntegerField(),
        db_persist=True,
        verbose_name=_("합계"),
    )
    formats = models.JSONField(_("파일 형식"), default=list, blank=True, help_text=_('예: ["DICOM", "PNG"]'))
    annotation_description = models.TextField(_("Annotation 설명"), blank=True)
    sensitivity = models.CharField(
        _("민감도"), max_length=20, choices=Sensitivity.choices, default=Sensitivity.STANDARD
    )
    contact_name = models.CharField(_("문의 담당자"), max_length=100, blank=True)
    contact_email = models.EmailField(_("문의 이메일"), blank=True)
    contact_phone = models.CharField(_("문의 전화"), max_length=40, blank=True)
    publication = models.CharField(
        _("공개 상태"), max_length=20, choices=Publication.choices, default=Publication.DRAFT, db_index=True
    )
    published_at = models.DateTimeField(_("공개 시각"), null=True, blank=True)
    is_illustrative = models.BooleanField(
        _("예시 데이터"),
        default=False,
        help_text=_("공고에 세부 구성이 없어 예시로 보여주는 항목(시계열 10만여 건 등)"),
    )
    source_note = models.CharField(_("출처"), max_length=300, blank=True)
    key_information = models.JSONField(_("주요 정보"), default=dict, blank=True)
    # What the last scan of the data found (patients, studies, distributions, acquisition parameters),
    # written by the ingest step through ``dataset_scan_apply``; shown to companies with small cells
    # suppressed. Empty until the dataset is scanned.
    scan_summary = models.JSONField(_("스캔 요약"), default=dict, blank=True)
    scanned_at = models.DateTimeField(_("스캔 시각"), null=True, blank=True)
    # The de-identification audit of the last scan (DICOM PS3.15 Annex E): findings block publication
    # until they are fixed (a clean re-scan) or an operator overrides with a reason.
    deidentification = models.CharField(
        _("비식별 점검"),
        max_length=20,
        choices=Deidentification.choices,
        default=Deidentification.NOT_CHECKED,
    )
    deidentification_findings = models.PositiveIntegerField(_("발견 사항이 있는 파일 수"), default=0)
    deidentification_override_reason = models.TextField(_("공개 허용 사유"), blank=True)
    deidentification_override_by = models.ForeignKey(
        "accounts.User",
        verbose_name=_("공개 허용 운영자"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    deidentification_override_at = models.DateTimeField(_("공개 허용 시각"), null=True, blank=True)
    # Lower-cased text of every searchable field in both languages, kept by the catalogue services.
    search_document = models.TextField(editable=False, blank=True, default="")

    class Meta:
        verbose_name = _("데이터셋")
        verbose_name_plural = _("데이터셋")
        ordering = ["institution", "body_part__order", "modality__order", "title"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(data_type__in=["imaging", "time_series"]), name="dataset_data_type_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def display_title(self) -> str:
        return self.title_en if (get_language() or "ko").startswith("en") and self.title_en else self.title
