"""Step ⑥ of the call: the company's results report on its data and compute use, and its review."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from medbroker.agreements.models import Agreement
from medbroker.core.models import TimeStampedModel


class ResultsReport(TimeStampedModel):
    class Status(models.TextChoices):
        DRAFT = "draft", _("작성 중")
        SUBMITTED = "submitted", _("제출 완료")
        RETURNED = "returned", _("보완 요청")
        ACCEPTED = "accepted", _("승인")

    agreement = models.OneToOneField(
        Agreement, verbose_name=_("협약"), on_delete=models.PROTECT, related_name="results_report"
    )
    due_on = models.DateField(_("제출 기한"))
    status = models.CharField(
        _("상태"), max_length=20, choices=Status.choices, default=Status.DRAFT, db_index=True
    )
    data_usage = models.TextField(_("데이터 활용 내역"), blank=True)
    compute_usage = models.TextField(_("컴퓨팅 자원 활용 내역"), blank=True)
    model_performance = models.TextField(_("AI 모델 성능"), blank=True)
    summary = models.TextField(_("성과 요약"), blank=True)
    revenue_krw = models.BigIntegerField(_("관련 매출(원)"), null=True, blank=True)
    jobs_created = models.PositiveIntegerField(_("신규 고용(명)"), null=True, blank=True)
    submitted_at = models.DateTimeField(_("제출 시각"), null=True, blank=True)
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("제출자"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    # When the due-date reminder went out, so the periodic task sends it once.
    notified_due_at = models.DateTimeField(_("기한 알림 시각"), null=True, blank=True)

    class Meta:
        verbose_name = _("결과보고서")
        verbose_name_plural = _("결과보고서")
        ordering = ["due_on", "agreement"]

    def __str__(self) -> str:
        return f"{self.agreement.number} 결과보고서"


class ReportOutcome(models.Model):
    class Kind(models.TextChoices):
        PAPER = "paper", _("논문")
        PATENT = "patent", _("특허")
        CERTIFICATION = "certification", _("인증")
        APPROVAL = "approval", _("인허가")
        OTHER = "other", _("기타")

    report = models.ForeignKey(ResultsReport, on_delete=models.CASCADE, related_name="outcomes")
    kind = models.CharField(_("구분"), max_length=20, choices=Kind.choices)
    title = models.CharField(_("제목·명칭"), max_length=300)
    reference = models.CharField(_("번호·게재처"), max_length=200, blank=True)
    achieved_on = models.DateField(_("일자"), null=True, blank=True)
    note = models.CharField(_("비고"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("성과 항목")
        verbose_name_plural = _("성과 항목")
        ordering = ["report", "kind", "achieved_on", "pk"]


class ReportAttachment(models.Model):
    report = models.ForeignKey(ResultsReport, on_delete=models.CASCADE, related_name="attachments")
    file = models.FileField(_("파일"), upload_to="reports/%Y/%m/")
    original_name = models.CharField(_("원래 파일명"), max_length=255)
    detected_type = models.CharField(_("확인된 형식"), max_length=10)
    size = models.PositiveIntegerField(_("크기(바이트)"))
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("올린 사람"), on_delete=models.PROTECT, related_name="+"
    )
    uploaded_at = models.DateTimeField(_("올린 시각"), auto_now_add=True)

    class Meta:
        verbose_name = _("결과보고서 첨부")
        verbose_name_plural = _("결과보고서 첨부")
        ordering = ["report", "uploaded_at"]


class ReportReview(models.Model):
    class Verdict(models.TextChoices):
        ACCEPTED = "accepted", _("승인")
        RETURNED = "returned", _("보완 요청")

    report = models.ForeignKey(ResultsReport, on_delete=models.CASCADE, related_name="reviews")
    verdict = models.CharField(_("검토 결과"), max_length=20, choices=Verdict.choices)
    comment = models.TextField(_("검토 의견"), blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("검토자"), on_delete=models.PROTECT, related_name="+"
    )
    reviewed_at = models.DateTimeField(_("검토 시각"))

    class Meta:
        verbose_name = _("결과보고서 검토")
        verbose_name_plural = _("결과보고서 검토")
        ordering = ["report", "reviewed_at"]
