"""Step ⑤ of the call, the compute side: the lab's GPU inventory, one GPU per selected company, the waiting
list when none of the granted type is free, and GPU-hour usage imported from the cluster.

CPU cores and memory of a node are shared by the companies on it (announcement §3.2): the platform shows
each company its share, never a promise.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from medbroker.accounts.models import Organisation
from medbroker.agreements.models import Agreement
from medbroker.core.models import TimeStampedModel


class GpuNode(models.Model):
    name = models.CharField(_("노드 이름"), max_length=60, unique=True)
    # The GPU type is the pair (model, memory): it matches a call's ComputeOption (gpu, gpu_memory_gb).
    gpu_model = models.CharField(_("GPU 모델"), max_length=40)
    gpu_memory_gb = models.PositiveSmallIntegerField(_("GPU 메모리(GB)"))
    cpu_cores = models.PositiveSmallIntegerField(_("CPU 코어"))
    memory_gb = models.PositiveSmallIntegerField(_("메모리(GB)"))
    storage_per_company = models.CharField(_("기업당 스토리지"), max_length=40, default="1TB (HDD)")
    is_active = models.BooleanField(_("운영 중"), default=True)
    order = models.PositiveSmallIntegerField(_("순서"), default=0)

    class Meta:
        verbose_name = _("GPU 노드")
        verbose_name_plural = _("GPU 노드")
        ordering = ["order", "name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.gpu_model} {self.gpu_memory_gb}GB)"


class Gpu(models.Model):
    node = models.ForeignKey(GpuNode, verbose_name=_("노드"), on_delete=models.PROTECT, related_name="gpus")
    index = models.PositiveSmallIntegerField(_("GPU 번호"))
    is_active = models.BooleanField(_("사용 가능"), default=True)

    class Meta:
        verbose_name = _("GPU")
        verbose_name_plural = _("GPU")
        ordering = ["node__order", "node__name", "index"]
        constraints = [models.UniqueConstraint(fields=["node", "index"], name="gpu_unique_index")]

    def __str__(self) -> str:
        return f"{self.node.name}/gpu{self.index}"


# Statuses in which an allocation holds its GPU; the constraints below count only these.
HOLDING_STATUSES = ("offered", "active")


class GpuAllocation(TimeStampedModel):
    class Status(models.TextChoices):
        # Offered to the next company on the waiting list; it holds the GPU until accepted or declined.
        OFFERED = "offered", _("배정 제안")
        ACTIVE = "active", _("사용 중")
        RELEASED = "released", _("반납")

    gpu = models.ForeignKey(Gpu, verbose_name=_("GPU"), on_delete=models.PROTECT, related_name="allocations")
    agreement = models.ForeignKey(
        Agreement, verbose_name=_("협약"), on_delete=models.PROTECT, related_name="gpu_allocations"
    )
    status = models.CharField(
        _("상태"), max_length=20, choices=Status.choices, default=Status.ACTIVE, db_index=True
    )
    allocated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("배정자"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    allocated_at = models.DateTimeField(_("배정 시각"))
    accepted_at = models.DateTimeField(_("수락 시각"), null=True, blank=True)
    released_at = models.DateTimeField(_("반납 시각"), null=True, blank=True)
    release_reason = models.CharField(_("반납 사유"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("GPU 배정")
        verbose_name_plural = _("GPU 배정")
        ordering = ["-allocated_at"]
        constraints = [
            # One GPU per selected company (announcement §3.2) and one company per GPU, enforced by the
            # database so two operators allocating at once cannot break either.
            models.UniqueConstraint(
                fields=["agreement"],
                condition=models.Q(status__in=HOLDING_STATUSES),
                name="gpu_allocation_one_per_agreement",
            ),
            models.UniqueConstraint(
                fields=["gpu"],
                condition=models.Q(status__in=HOLDING_STATUSES),
                name="gpu_allocation_one_holder_per_gpu",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.gpu} → {self.agreement.number}"


class GpuWaitlistEntry(TimeStampedModel):
    """A company waiting for a GPU of its granted type; served in selection order (rank), then arrival."""

    class Status(models.TextChoices):
        WAITING = "waiting", _("대기")
        OFFERED = "offered", _("배정 제안")
        WITHDRAWN = "withdrawn", _("대기 취소")

    agreement = models.ForeignKey(
        Agreement, verbose_name=_("협약"), on_delete=models.PROTECT, related_name="gpu_waitlist"
    )
    gpu_model = models.CharField(_("GPU 모델"), max_length=40)
    gpu_memory_gb = models.PositiveSmallIntegerField(_("GPU 메모리(GB)"))
    # Copied from the decision when the company joins, so the order can be explained later.
    selection_rank = models.PositiveSmallIntegerField(_("선정 순위"), null=True, blank=True)
    status = models.CharField(
        _("상태"), max_length=20, choices=Status.choices, default=Status.WAITING, db_index=True
    )
    offered_at = models.DateTimeField(_("제안 시각"), null=True, blank=True)

    class Meta:
        verbose_name = _("GPU 대기")
        verbose_name_plural = _("GPU 대기")
        ordering = ["gpu_model", "gpu_memory_gb", "selection_rank", "created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["agreement"],
                condition=models.Q(status="waiting"),
                name="gpu_waitlist_one_waiting_per_agreement",
            )
        ]


class UsageImport(models.Model):
    """One CSV of GPU hours from the cluster; the same file (by SHA-256) is imported once."""

    original_name = models.CharField(_("파일명"), max_length=255)
    sha256 = models.CharField(_("SHA-256"), max_length=64, unique=True)
    rows = models.PositiveIntegerField(_("행 수"), default=0)
    imported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("가져온 사람"), on_delete=models.PROTECT, related_name="+"
    )
    imported_at = models.DateTimeField(_("가져온 시각"), auto_now_add=True)

    class Meta:
        verbose_name = _("사용량 가져오기")
        verbose_name_plural = _("사용량 가져오기")
        ordering = ["-imported_at"]


class GpuUsageRecord(models.Model):
    """GPU hours of one company on one GPU on one day, as the cluster reported them."""

    agreement = models.ForeignKey(
        Agreement, verbose_name=_("협약"), on_delete=models.PROTECT, related_name="gpu_usage"
    )
    company = models.ForeignKey(
        Organisation, verbose_name=_("기업"), on_delete=models.PROTECT, related_name="gpu_usage"
    )
    gpu = models.ForeignKey(Gpu, verbose_name=_("GPU"), on_delete=models.PROTECT, related_name="usage")
    day = models.DateField(_("사용일"))
    gpu_hours = models.DecimalField(
        _("GPU 사용 시간"), max_digits=7, decimal_places=2, validators=[MinValueValidator(Decimal("0"))]
    )
    source = models.ForeignKey(
        UsageImport, verbose_name=_("출처"), on_delete=models.PROTECT, related_name="records"
    )

    class Meta:
        verbose_name = _("GPU 사용 기록")
        verbose_name_plural = _("GPU 사용 기록")
        ordering = ["day", "gpu"]
        constraints = [
            # A later file for the same day replaces the figure instead of adding to it.
            models.UniqueConstraint(fields=["agreement", "gpu", "day"], name="gpu_usage_one_per_day"),
            models.CheckConstraint(condition=models.Q(gpu_hours__lte=24), name="gpu_usage_at_most_a_day"),
        ]


class Workspace(TimeStampedModel):
    """One JupyterLab server of one person on the hub, from the platform's start to its stop.

    The platform asks the hub to start it with a one-time launch token in ``user_options``; the hub asks the
    platform back (``workspace_authorize``) before the server runs, and only then learns which datasets it
    may show and which GPU it may use. What was opened is kept here, so the reconciler can stop the server
    once any of it is no longer allowed.
    """

    class Status(models.TextChoices):
        STARTING = "starting", _("시작 중")
        RUNNING = "running", _("실행 중")
        STOPPED = "stopped", _("중지됨")
        FAILED = "failed", _("시작 실패")

    class Setting(models.TextChoices):
        ONLINE = "online", _("온라인(원격)")
        CLOSED_ROOM = "closed_room", _("폐쇄형 학습실")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("사용자"),
        on_delete=models.PROTECT,
        related_name="workspaces",
    )
    agreement = models.ForeignKey(
        Agreement, verbose_name=_("협약"), on_delete=models.PROTECT, related_name="workspaces"
    )
    allocation = models.ForeignKey(
        GpuAllocation, verbose_name=_("GPU 배정"), on_delete=models.PROTECT, related_name="workspaces"
    )
    hub_user = models.CharField(_("허브 사용자"), max_length=64, db_index=True)
    setting = models.CharField(_("이용 환경"), max_length=20, choices=Setting.choices)
    status = models.CharField(
        _("상태"), max_length=20, choices=Status.choices, default=Status.STARTING, db_index=True
    )
    # SHA-256 of the one-time launch token: the hub shows the token, the platform keeps only its hash.
    launch_token_sha256 = models.CharField(_("시작 토큰 해시"), max_length=64, unique=True)
    launch_expires_at = models.DateTimeField(_("시작 토큰 만료 시각"))
    # The grants and datasets the hub was told to show, as [{grant, dataset, name, title}], and the GPU.
    datasets = models.JSONField(_("연결된 데이터"), default=list, blank=True)
    gpu = models.JSONField(_("GPU"), default=dict, blank=True)
    client_address = models.GenericIPAddressField(_("요청 주소"), null=True, blank=True)
    requested_at = models.DateTimeField(_("요청 시각"))
    started_at = models.DateTimeField(_("시작 시각"), null=True, blank=True)
    stopped_at = models.DateTimeField(_("중지 시각"), null=True, blank=True)
    stop_reason = models.CharField(_("중지 사유 코드"), max_length=40, blank=True)
    stop_message = models.CharField(_("중지 사유"), max_length=300, blank=True)
    stopped_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("중지한 사람"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        verbose_name = _("작업 공간")
        verbose_name_plural = _("작업 공간")
        ordering = ["-requested_at"]
        constraints = [
            # One server per person: the hub runs one default server per user.
            models.UniqueConstraint(
                fields=["user"],
                condition=models.Q(status__in=("starting", "running")),
                name="workspace_one_open_per_user",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.hub_user} ({self.get_status_display()})"

    @property
    def is_open(self) -> bool:
        return self.status in (self.Status.STARTING, self.Status.RUNNING)
