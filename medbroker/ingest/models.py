"""The ingest step: where a dataset's files are, how they are judged, and what each scan found.

A dataset's key information and de-identification state live on the catalogue's ``Dataset`` (written
through catalogue services); this app keeps the working material: the scan settings, the scan jobs with
their progress, and one row per file seen, so that a re-scan reads only what changed.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from medbroker.catalog.models import Dataset
from medbroker.core.models import TimeStampedModel


class ScanProfile(TimeStampedModel):
    """How a dataset is scanned and judged: its folder or PACS, and the options of PS3.15 Annex E it keeps."""

    dataset = models.OneToOneField(
        Dataset, verbose_name=_("데이터셋"), on_delete=models.CASCADE, related_name="scan_profile"
    )
    source_path = models.CharField(
        _("데이터 폴더"),
        max_length=500,
        blank=True,
        help_text=_(
            "서버에서 데이터가 있는 폴더의 절대 경로입니다. 허용된 데이터 보관 위치 안이어야 합니다."
        ),
    )
    dicomweb_url = models.URLField(
        _("DICOMweb 주소"), max_length=500, blank=True, help_text=_("PACS의 QIDO-RS 기본 주소")
    )
    # Annex E's Retain Institution Identity Option: institution names and addresses may stay.
    retain_institution_identity = models.BooleanField(_("기관 정보 유지 옵션"), default=False)
    # Annex E's Retain Device Identity Option: station names and device serial numbers may stay.
    retain_device_identity = models.BooleanField(_("장비 정보 유지 옵션"), default=False)
    # Annex E's Retain Safe Private Option: these private elements, as "gggg,xxee@CREATOR", may stay.
    private_safe_list = models.JSONField(_("허용 비공개 태그"), default=list, blank=True)
    # Sidecar label files, as glob patterns matched against file names ("*.json", "*_mask.nii.gz"):
    # a case with such a file in one of its folders counts as annotated.
    label_patterns = models.JSONField(_("라벨 파일 패턴"), default=list, blank=True)
    # A regular expression every PatientID must match in full (the hospital's pseudonym scheme);
    # empty means patient IDs are not checked against a scheme.
    pseudonym_pattern = models.CharField(_("가명 ID 형식(정규식)"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("스캔 설정")
        verbose_name_plural = _("스캔 설정")

    def __str__(self) -> str:
        return f"{self.dataset} 스캔 설정"


class ScanSource(models.TextChoices):
    FOLDER = "folder", _("폴더")
    DICOMWEB = "dicomweb", _("DICOMweb(PACS)")


class ScanJob(TimeStampedModel):
    class Status(models.TextChoices):
        QUEUED = "queued", _("대기")
        RUNNING = "running", _("진행 중")
        SUCCEEDED = "succeeded", _("완료")
        FAILED = "failed", _("실패")

    dataset = models.ForeignKey(
        Dataset, verbose_name=_("데이터셋"), on_delete=models.CASCADE, related_name="scan_jobs"
    )
    source = models.CharField(_("대상"), max_length=20, choices=ScanSource.choices)
    location = models.CharField(_("위치"), max_length=500)
    status = models.CharField(
        _("상태"), max_length=20, choices=Status.choices, default=Status.QUEUED, db_index=True
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("요청자"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    started_at = models.DateTimeField(_("시작 시각"), null=True, blank=True)
    finished_at = models.DateTimeField(_("종료 시각"), null=True, blank=True)
    # Progress: files (or PACS instances) to read and read so far.
    files_total = models.PositiveIntegerField(_("대상 파일 수"), default=0)
    files_done = models.PositiveIntegerField(_("처리한 파일 수"), default=0)
    files_new = models.PositiveIntegerField(_("새 파일"), default=0)
    files_changed = models.PositiveIntegerField(_("바뀐 파일"), default=0)
    files_removed = models.PositiveIntegerField(_("없어진 파일"), default=0)
    files_unchanged = models.PositiveIntegerField(_("바뀌지 않은 파일"), default=0)
    errors_count = models.PositiveIntegerField(_("오류 수"), default=0)
    # The scan's summary object (what ``medbroker scan --json`` prints), errors capped.
    summary = models.JSONField(_("요약"), default=dict, blank=True)
    error_message = models.TextField(_("실패 사유"), blank=True)

    class Meta:
        verbose_name = _("스캔 작업")
        verbose_name_plural = _("스캔 작업")
        ordering = ["-created_at", "-pk"]
        constraints = [
            # One scan at a time per dataset: two would race over the same file rows.
            models.UniqueConstraint(
                fields=["dataset"],
                condition=models.Q(status__in=["queued", "running"]),
                name="scanjob_one_active_per_dataset",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.dataset} 스캔 #{self.pk}"

    @property
    def percent(self) -> int:
        if self.status == self.Status.SUCCEEDED:
            return 100
        if not self.files_total:
            return 0
        return min(100, self.files_done * 100 // self.files_total)


class ScannedFile(models.Model):
    """One file (or PACS instance) as the last scan saw it: the key of the incremental re-scan."""

    dataset = models.ForeignKey(
        Dataset, verbose_name=_("데이터셋"), on_delete=models.CASCADE, related_name="scanned_files"
    )
    source = models.CharField(_("대상"), max_length=20, choices=ScanSource.choices)
    # Relative to the scanned folder ("/" separators), or "<study>/<series>/<instance>" for DICOMweb.
    path = models.CharField(_("경로"), max_length=1000)
    size = models.BigIntegerField(_("크기"), default=0)
    mtime_ns = models.BigIntegerField(_("수정 시각(ns)"), default=0)
    kind = models.CharField(_("종류"), max_length=20)
    record = models.JSONField(_("헤더 정보"), default=dict)

    class Meta:
        verbose_name = _("스캔한 파일")
        verbose_name_plural = _("스캔한 파일")
        ordering = ["dataset", "source", "path"]
        constraints = [
            models.UniqueConstraint(fields=["dataset", "source", "path"], name="scannedfile_unique_path"),
        ]

    def __str__(self) -> str:
        return self.path
