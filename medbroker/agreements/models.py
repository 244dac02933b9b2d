"""Step ④ of the call: the agreement between the lab and a selected company, its amendments and signatures,
and the company's requests for a performance test of its algorithm (carried out by the evaluations app).

An agreement's terms live in versions: version 1 is the original, each amendment (another dataset, another
GPU) is a new version signed again by both sides. Only the version in force grants anything; the history of
every earlier version stays, with its signatures.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from medbroker.accounts.models import Organisation
from medbroker.calls.models import Call, ComputeOption
from medbroker.catalog.models import Dataset
from medbroker.core import timeutils
from medbroker.core.models import TimeStampedModel
from medbroker.reviews.models import Decision


class Agreement(TimeStampedModel):
    class Status(models.TextChoices):
        # Terms drafted, waiting for both signatures: grants nothing yet.
        AWAITING_SIGNATURES = "awaiting_signatures", _("서명 대기")
        ACTIVE = "active", _("협약 체결")
        ENDED = "ended", _("기간 종료")
        TERMINATED = "terminated", _("협약 해지")

    number = models.CharField(_("협약번호"), max_length=60, unique=True)
    decision = models.OneToOneField(
        Decision, verbose_name=_("선정 결과"), on_delete=models.PROTECT, related_name="agreement"
    )
    call = models.ForeignKey(
        Call, verbose_name=_("공모"), on_delete=models.PROTECT, related_name="agreements"
    )
    company = models.ForeignKey(
        Organisation, verbose_name=_("기업"), on_delete=models.PROTECT, related_name="agreements"
    )
    status = models.CharField(
        _("상태"),
        max_length=30,
        choices=Status.choices,
        default=Status.AWAITING_SIGNATURES,
        db_index=True,
    )
    # The period runs from the signing date (the day the second signature lands) to the end of the call's
    # support period, end of that day KST (announcement §4 ④–⑤: 2025-11-28 for the 2025 call).
    starts_on = models.DateField(_("협약 시작일"), null=True, blank=True)
    ends_on = models.DateField(_("협약 종료일"))
    signed_at = models.DateTimeField(_("체결 시각"), null=True, blank=True)
    terminated_at = models.DateTimeField(_("해지 시각"), null=True, blank=True)
    termination_reason = models.TextField(_("해지 사유"), blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("작성자"), on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        verbose_name = _("협약")
        verbose_name_plural = _("협약")
        ordering = ["call", "number"]

    def __str__(self) -> str:
        return f"{self.number} · {self.company}"

    @property
    def period_starts_at(self) -> dt.datetime | None:
        if self.starts_on is None:
            return None
        return timeutils.kst(self.starts_on.year, self.starts_on.month, self.starts_on.day)

    @property
    def period_ends_at(self) -> dt.datetime:
        """The first instant after the period: 00:00:00 KST of the day after ``ends_on`` (exclusive end)."""
        after = self.ends_on + dt.timedelta(days=1)
        return timeutils.kst(after.year, after.month, after.day)


class AgreementVersion(models.Model):
    """One set of terms. Version 1 is the original agreement; each amendment adds a version."""

    class Status(models.TextChoices):
        PENDING = "pending", _("서명 진행 중")
        EFFECTIVE = "effective", _("효력 있음")
        SUPERSEDED = "superseded", _("변경됨")
        CANCELLED = "cancelled", _("취소")

    agreement = models.ForeignKey(Agreement, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveSmallIntegerField(_("차수"))
    status = models.CharField(
        _("상태"), max_length=20, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    compute_option = models.ForeignKey(
        ComputeOption,
        verbose_name=_("지원 GPU"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    # Online use (SSL-VPN, VDI, OTP) may be agreed for low-sensitivity data only (announcement §4 ⑤).
    allows_online = models.BooleanField(_("온라인 이용 허용"), default=False)
    reason = models.TextField(_("변경 사유"), blank=True)
    # The agreement text as generated for signing (PDF), so both sides sign the same document.
    document = models.FileField(_("협약서"), upload_to="agreements/%Y/%m/", blank=True)
    document_sha256 = models.CharField(_("협약서 SHA-256"), max_length=64, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("작성자"), on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(_("작성 시각"), auto_now_add=True)
    effective_at = models.DateTimeField(_("효력 발생 시각"), null=True, blank=True)

    class Meta:
        verbose_name = _("협약 차수")
        verbose_name_plural = _("협약 차수")
        ordering = ["agreement", "number"]
        constraints = [
            models.UniqueConstraint(fields=["agreement", "number"], name="agreement_version_unique_number"),
            # One set of terms in force and at most one amendment being signed at a time.
            models.UniqueConstraint(
                fields=["agreement"],
                condition=models.Q(status="effective"),
                name="agreement_version_one_effective",
            ),
            models.UniqueConstraint(
                fields=["agreement"],
                condition=models.Q(status="pending"),
                name="agreement_version_one_pending",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.agreement.number} v{self.number}"


class AgreementDataset(models.Model):
    version = models.ForeignKey(AgreementVersion, on_delete=models.CASCADE, related_name="datasets")
    dataset = models.ForeignKey(
        Dataset, verbose_name=_("데이터셋"), on_delete=models.PROTECT, related_name="+"
    )
    amount = models.PositiveIntegerField(_("지원 건수"))
    needs_annotated = models.BooleanField(_("Annotation 데이터"), default=False)

    class Meta:
        verbose_name = _("협약 데이터")
        verbose_name_plural = _("협약 데이터")
        ordering = ["version", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["version", "dataset"], name="agreement_dataset_unique")
        ]


class AgreementSignature(models.Model):
    class Side(models.TextChoices):
        LAB = "lab", _("주관기관")
        COMPANY = "company", _("기업")

    class Method(models.TextChoices):
        UPLOAD = "upload", _("서명본 업로드")
        OTP = "otp", _("전자 확인(OTP)")

    version = models.ForeignKey(AgreementVersion, on_delete=models.CASCADE, related_name="signatures")
    side = models.CharField(_("서명 주체"), max_length=10, choices=Side.choices)
    method = models.CharField(_("서명 방법"), max_length=10, choices=Method.choices)
    signer = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("서명자"), on_delete=models.PROTECT, related_name="+"
    )
    signed_at = models.DateTimeField(_("서명 시각"))
    file = models.FileField(_("서명본"), upload_to="agreements/signed/%Y/%m/", blank=True)
    original_name = models.CharField(_("원래 파일명"), max_length=255, blank=True)
    file_sha256 = models.CharField(_("서명본 SHA-256"), max_length=64, blank=True)
    # Which device confirmed an OTP signature (its persistent id), so the signature can be explained.
    otp_device = models.CharField(_("OTP 기기"), max_length=120, blank=True)

    class Meta:
        verbose_name = _("협약 서명")
        verbose_name_plural = _("협약 서명")
        ordering = ["version", "signed_at"]
        constraints = [
            models.UniqueConstraint(fields=["version", "side"], name="agreement_signature_one_per_side")
        ]


class PerformanceTestRequest(TimeStampedModel):
    """A company's request that the lab test its AI algorithm on the internal test PC (announcement §4 ⑤).

    Recorded here; the evaluations app carries it out and fills ``evaluation_reference``.
    """

    class Status(models.TextChoices):
        REQUESTED = "requested", _("요청 접수")
        ACCEPTED = "accepted", _("수락")
        COMPLETED = "completed", _("시험 완료")
        REJECTED = "rejected", _("반려")
        WITHDRAWN = "withdrawn", _("요청 철회")

    agreement = models.ForeignKey(
        Agreement, verbose_name=_("협약"), on_delete=models.PROTECT, related_name="test_requests"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("요청자"), on_delete=models.PROTECT, related_name="+"
    )
    algorithm_name = models.CharField(_("알고리즘 이름"), max_length=200)
    algorithm_version = models.CharField(_("버전"), max_length=60, blank=True)
    task_description = models.TextField(_("알고리즘 설명(입력·출력·과제)"))
    intended_use = models.TextField(_("사용 목적"), blank=True)
    preferred_period = models.CharField(_("희망 시기"), max_length=200, blank=True)
    status = models.CharField(
        _("상태"), max_length=20, choices=Status.choices, default=Status.REQUESTED, db_index=True
    )
    operator_comment = models.TextField(_("운영자 의견"), blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("처리자"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    decided_at = models.DateTimeField(_("처리 시각"), null=True, blank=True)
    evaluation_reference = models.CharField(_("시험 기록 번호"), max_length=60, blank=True)

    class Meta:
        verbose_name = _("성능시험 요청")
        verbose_name_plural = _("성능시험 요청")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.agreement.number} · {self.algorithm_name}"
