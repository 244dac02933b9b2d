"""Step ⑤ of the call, the data side: access grants per dataset, online access (SSL-VPN, VDI, OTP), requests
to view more of the lab's data, and the closed learning room with its seats and bookings.

A grant never outlives its agreement: every access check compares the current instant with the grant's
window (``starts_at`` ≤ now < ``ends_at``) and the agreement's state, so expiry needs no job to have run;
the periodic task only records the expiry and tells the company.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from medbroker.accounts.models import Organisation
from medbroker.agreements.models import Agreement
from medbroker.catalog.models import Dataset
from medbroker.core.models import TimeStampedModel


class ViewingRequest(TimeStampedModel):
    """A company asks to view lab data beyond what it applied for, in the closed room (announcement §4 ⑤)."""

    class Status(models.TextChoices):
        PENDING = "pending", _("승인 대기")
        APPROVED = "approved", _("승인")
        REJECTED = "rejected", _("반려")
        WITHDRAWN = "withdrawn", _("요청 철회")

    agreement = models.ForeignKey(
        Agreement, verbose_name=_("협약"), on_delete=models.PROTECT, related_name="viewing_requests"
    )
    dataset = models.ForeignKey(
        Dataset, verbose_name=_("데이터셋"), on_delete=models.PROTECT, related_name="+"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("요청자"), on_delete=models.PROTECT, related_name="+"
    )
    reason = models.TextField(_("열람 목적"))
    status = models.CharField(
        _("상태"), max_length=20, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("처리자"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    decided_at = models.DateTimeField(_("처리 시각"), null=True, blank=True)
    decision_note = models.TextField(_("처리 의견"), blank=True)

    class Meta:
        verbose_name = _("추가 열람 요청")
        verbose_name_plural = _("추가 열람 요청")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["agreement", "dataset"],
                condition=models.Q(status="pending"),
                name="viewing_request_one_pending_per_dataset",
            )
        ]


class AccessGrant(TimeStampedModel):
    class Mode(models.TextChoices):
        # The default: data is used offline in the closed learning room (announcement §4 ⑤).
        CLOSED_ROOM = "closed_room", _("폐쇄형 학습실")
        ONLINE = "online", _("온라인(SSL-VPN·VDI·OTP)")

    class Kind(models.TextChoices):
        AGREED = "agreed", _("협약 데이터")
        VIEWING = "viewing", _("추가 열람")

    class Status(models.TextChoices):
        ACTIVE = "active", _("이용 가능")
        REVOKED = "revoked", _("이용 중지")
        EXPIRED = "expired", _("기간 만료")
        # Ended because the agreement no longer covers it (amendment removed the dataset, agreement ended).
        CLOSED = "closed", _("종료")

    agreement = models.ForeignKey(
        Agreement, verbose_name=_("협약"), on_delete=models.PROTECT, related_name="access_grants"
    )
    dataset = models.ForeignKey(
        Dataset, verbose_name=_("데이터셋"), on_delete=models.PROTECT, related_name="access_grants"
    )
    kind = models.CharField(_("구분"), max_length=20, choices=Kind.choices, default=Kind.AGREED)
    mode = models.CharField(_("이용 방식"), max_length=20, choices=Mode.choices, default=Mode.CLOSED_ROOM)
    view_only = models.BooleanField(_("열람 전용"), default=False)
    viewing_request = models.OneToOneField(
        ViewingRequest,
        verbose_name=_("추가 열람 요청"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="grant",
    )
    starts_at = models.DateTimeField(_("이용 시작"))
    # Exclusive: the first instant the grant no longer works (00:00:00 KST after the last day).
    ends_at = models.DateTimeField(_("이용 종료"))
    status = models.CharField(
        _("상태"), max_length=20, choices=Status.choices, default=Status.ACTIVE, db_index=True
    )
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("부여자"), on_delete=models.PROTECT, related_name="+"
    )
    revoked_at = models.DateTimeField(_("중지 시각"), null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("중지한 사람"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    revoke_reason = models.TextField(_("중지 사유"), blank=True)
    closed_at = models.DateTimeField(_("종료 처리 시각"), null=True, blank=True)
    # When each notice went out, so the periodic task tells the company once.
    notified_start_at = models.DateTimeField(_("시작 알림 시각"), null=True, blank=True)
    notified_expiring_at = models.DateTimeField(_("만료 예정 알림 시각"), null=True, blank=True)

    class Meta:
        verbose_name = _("데이터 이용 권한")
        verbose_name_plural = _("데이터 이용 권한")
        ordering = ["agreement", "dataset"]
        constraints = [
            models.UniqueConstraint(
                fields=["agreement", "dataset"],
                condition=models.Q(status="active"),
                name="access_grant_one_active_per_dataset",
            ),
            models.CheckConstraint(
                condition=models.Q(ends_at__gt=models.F("starts_at")), name="access_grant_window_order"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.agreement.number} · {self.dataset}"


class OnlineAccount(TimeStampedModel):
    """The SSL-VPN and VDI accounts the lab issued to one company member for online use."""

    agreement = models.ForeignKey(
        Agreement, verbose_name=_("협약"), on_delete=models.PROTECT, related_name="online_accounts"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("사용자"), on_delete=models.PROTECT, related_name="+"
    )
    vpn_account = models.CharField(_("SSL-VPN 계정"), max_length=100)
    vdi_account = models.CharField(_("VDI 계정"), max_length=100)
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("발급자"), on_delete=models.PROTECT, related_name="+"
    )
    revoked_at = models.DateTimeField(_("회수 시각"), null=True, blank=True)

    class Meta:
        verbose_name = _("온라인 이용 계정")
        verbose_name_plural = _("온라인 이용 계정")
        constraints = [
            models.UniqueConstraint(
                fields=["agreement", "user"],
                condition=models.Q(revoked_at__isnull=True),
                name="online_account_one_live_per_user",
            )
        ]


class OnlineSession(models.Model):
    """One online session, opened only after a fresh OTP code at its start."""

    grant = models.ForeignKey(AccessGrant, on_delete=models.PROTECT, related_name="online_sessions")
    account = models.ForeignKey(OnlineAccount, on_delete=models.PROTECT, related_name="sessions")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("사용자"), on_delete=models.PROTECT, related_name="+"
    )
    started_at = models.DateTimeField(_("시작 시각"))
    ended_at = models.DateTimeField(_("종료 시각"), null=True, blank=True)
    client_address = models.GenericIPAddressField(_("접속 주소"), null=True, blank=True)
    otp_device = models.CharField(_("OTP 기기"), max_length=120, blank=True)

    class Meta:
        verbose_name = _("온라인 이용 세션")
        verbose_name_plural = _("온라인 이용 세션")
        ordering = ["-started_at"]


class Room(models.Model):
    name = models.CharField(_("학습실 이름"), max_length=100, unique=True)
    location = models.CharField(_("위치"), max_length=200, blank=True)
    order = models.PositiveSmallIntegerField(_("순서"), default=0)
    is_active = models.BooleanField(_("운영 중"), default=True)

    class Meta:
        verbose_name = _("폐쇄형 학습실")
        verbose_name_plural = _("폐쇄형 학습실")
        ordering = ["order", "name"]

    def __str__(self) -> str:
        return self.name


class Seat(models.Model):
    room = models.ForeignKey(Room, verbose_name=_("학습실"), on_delete=models.PROTECT, related_name="seats")
    label = models.CharField(_("좌석"), max_length=20)
    is_active = models.BooleanField(_("사용 가능"), default=True)

    class Meta:
        verbose_name = _("좌석")
        verbose_name_plural = _("좌석")
        ordering = ["room__order", "room__name", "label"]
        constraints = [models.UniqueConstraint(fields=["room", "label"], name="seat_unique_label")]

    def __str__(self) -> str:
        return f"{self.room.name} {self.label}"


class ClosedRoomBooking(TimeStampedModel):
    """One seat for one slot of the day's fixed grid (``MEDBROKER_ROOM_SLOTS``)."""

    class Status(models.TextChoices):
        BOOKED = "booked", _("예약")
        CHECKED_IN = "checked_in", _("입실")
        CHECKED_OUT = "checked_out", _("퇴실")
        CANCELLED = "cancelled", _("취소")

    seat = models.ForeignKey(Seat, verbose_name=_("좌석"), on_delete=models.PROTECT, related_name="bookings")
    agreement = models.ForeignKey(
        Agreement, verbose_name=_("협약"), on_delete=models.PROTECT, related_name="room_bookings"
    )
    company = models.ForeignKey(
        Organisation, verbose_name=_("기업"), on_delete=models.PROTECT, related_name="room_bookings"
    )
    booked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("예약자"), on_delete=models.PROTECT, related_name="+"
    )
    starts_at = models.DateTimeField(_("시작"))
    ends_at = models.DateTimeField(_("종료"))
    status = models.CharField(
        _("상태"), max_length=20, choices=Status.choices, default=Status.BOOKED, db_index=True
    )
    checked_in_at = models.DateTimeField(_("입실 시각"), null=True, blank=True)
    checked_out_at = models.DateTimeField(_("퇴실 시각"), null=True, blank=True)
    attendance_recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("입·퇴실 기록자"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    cancelled_at = models.DateTimeField(_("취소 시각"), null=True, blank=True)
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("취소한 사람"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    cancel_reason = models.CharField(_("취소 사유"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("학습실 예약")
        verbose_name_plural = _("학습실 예약")
        ordering = ["starts_at", "seat"]
        constraints = [
            # No double booking, even when two requests race: the database refuses the second row.
            models.UniqueConstraint(
                fields=["seat", "starts_at"],
                condition=~models.Q(status="cancelled"),
                name="room_booking_one_per_seat_and_slot",
            ),
            # One person sits in one seat at a time.
            models.UniqueConstraint(
                fields=["booked_by", "starts_at"],
                condition=~models.Q(status="cancelled"),
                name="room_booking_one_seat_per_person_and_slot",
            ),
            models.CheckConstraint(
                condition=models.Q(ends_at__gt=models.F("starts_at")), name="room_booking_slot_order"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.seat} · {self.starts_at:%Y-%m-%d %H:%M}"
