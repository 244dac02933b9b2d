"""API of the closed learning room (``/api/v1/rooms/…``): the same rules as the pages.

A company member reads its week (free seats per slot and whether it may book there), books and cancels;
operators and auditors list every booking, operators cancel any. Another company's booking is 404; roles
without business here get 403; refusals come back as ``{"code", "message", "field"}``.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import Router, Schema, Status

from medbroker.access.models import ClosedRoomBooking, Seat
from medbroker.access.selectors.rooms import (
    booking_for_user,
    bookings_visible_to,
    room_agreements_for_user,
    room_week_for_company,
)
from medbroker.access.services.rooms import booking_cancel, booking_create
from medbroker.accounts.api_auth import api_auth
from medbroker.accounts.models import Role, User
from medbroker.accounts.permissions import STAFF_READ_ROLES
from medbroker.agreements.models import Agreement
from medbroker.core import timeutils
from medbroker.core.errors import NotFoundError, PermissionDeniedError

router = Router(tags=["rooms"], auth=api_auth)


class SeatOut(Schema):
    id: int
    room: str
    label: str


class SlotOut(Schema):
    starts_at: dt.datetime
    ends_at: dt.datetime
    hours: Decimal
    free_count: int
    free_seats: list[SeatOut]
    bookable: bool
    reason_code: str
    reason: str
    own_booking_id: int | None


class WeekOut(Schema):
    agreement_id: int
    agreement_number: str
    week_start: dt.date
    hours_used: Decimal
    hours_limit: Decimal
    slots: list[SlotOut]


class BookingOut(Schema):
    id: int
    agreement_id: int
    agreement_number: str
    company: str
    room: str
    seat_id: int
    seat: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    status: str
    status_label: str
    booked_by: str
    checked_in_at: dt.datetime | None
    checked_out_at: dt.datetime | None
    cancelled_at: dt.datetime | None
    cancel_reason: str


class BookingIn(Schema):
    seat_id: int
    starts_at: dt.datetime
    # The company's newest agreement in force when left out.
    agreement_id: int | None = None


class CancelIn(Schema):
    reason: str = ""


def _user(request: HttpRequest, *roles: str) -> User:
    user: User = request.auth  # type: ignore[attr-defined]
    if not user.has_role(*roles):
        raise PermissionDeniedError("forbidden", _("이 기능을 사용할 권한이 없습니다."))
    return user


def _kst(value: dt.datetime | None) -> dt.datetime | None:
    return timeutils.to_kst(value) if value else None


def _agreement(user: User, pk: int | None) -> Agreement:
    agreements = room_agreements_for_user(user)
    agreement = agreements.first() if pk is None else agreements.filter(pk=pk).first()
    if agreement is None:
        raise NotFoundError("agreement_not_found", _("학습실을 예약할 수 있는 협약을 찾을 수 없습니다."))
    return agreement


def _booking_out(booking: ClosedRoomBooking) -> dict[str, object]:
    return {
        "id": booking.pk,
        "agreement_id": booking.agreement_id,
        "agreement_number": booking.agreement.number,
        "company": booking.company.name,
        "room": booking.seat.room.name,
        "seat_id": booking.seat_id,
        "seat": booking.seat.label,
        "starts_at": _kst(booking.starts_at),
        "ends_at": _kst(booking.ends_at),
        "status": booking.status,
        "status_label": str(booking.get_status_display()),
        "booked_by": str(booking.booked_by),
        "checked_in_at": _kst(booking.checked_in_at),
        "checked_out_at": _kst(booking.checked_out_at),
        "cancelled_at": _kst(booking.cancelled_at),
        "cancel_reason": booking.cancel_reason,
    }


@router.get("/slots", response=WeekOut)
def slots_list(
    request: HttpRequest, week: dt.date | None = None, agreement_id: int | None = None
) -> dict[str, object]:
    """The week of ``week`` (any day of it; this week by default) for the caller's company."""
    user = _user(request, Role.APPLICANT)
    agreement = _agreement(user, agreement_id)
    room_week = room_week_for_company(agreement, week or timeutils.today_kst(), user=user)
    return {
        "agreement_id": agreement.pk,
        "agreement_number": agreement.number,
        "week_start": room_week.week_start,
        "hours_used": room_week.hours_used,
        "hours_limit": room_week.hours_limit,
        "slots": [
            {
                "starts_at": slot.starts_at,
                "ends_at": slot.ends_at,
                "hours": slot.hours,
                "free_count": slot.free_count,
                "free_seats": [
                    {"id": seat.pk, "room": seat.room.name, "label": seat.label} for seat in slot.free_seats
                ],
                "bookable": slot.bookable,
                "reason_code": slot.reason_code,
                "reason": slot.reason,
                "own_booking_id": slot.own_booking.pk if slot.own_booking else None,
            }
            for slot in room_week.slots
        ],
    }


@router.get("/bookings", response=list[BookingOut])
def bookings_list(
    request: HttpRequest, since: dt.date | None = None, until: dt.date | None = None
) -> list[dict[str, object]]:
    """Bookings the caller may see (own company's; every one for operators and auditors), by slot start;
    ``since``/``until`` are KST days, both included."""
    user = _user(request, Role.APPLICANT, *STAFF_READ_ROLES)
    bookings = bookings_visible_to(user).order_by("starts_at", "seat__room__order", "seat__label")
    if since is not None:
        bookings = bookings.filter(starts_at__gte=timeutils.kst(since.year, since.month, since.day))
    if until is not None:
        after = until + dt.timedelta(days=1)
        bookings = bookings.filter(starts_at__lt=timeutils.kst(after.year, after.month, after.day))
    return [_booking_out(booking) for booking in bookings]


@router.post("/bookings", response={201: BookingOut})
def bookings_create(request: HttpRequest, payload: BookingIn) -> Status[dict[str, object]]:
    user = _user(request, Role.APPLICANT)
    agreement = _agreement(user, payload.agreement_id)
    seat = Seat.objects.filter(pk=payload.seat_id).first()
    if seat is None:
        raise NotFoundError("seat_not_found", _("좌석을 찾을 수 없습니다."), field="seat_id")
    starts_at = payload.starts_at
    if timezone.is_naive(starts_at):
        # A time without an offset is a Korean wall-clock time, as everywhere on the platform.
        starts_at = timezone.make_aware(starts_at, timeutils.KST)
    booking = booking_create(agreement=agreement, seat=seat, starts_at=starts_at, actor=user, request=request)
    return Status(201, _booking_out(booking))


@router.post("/bookings/{booking_id}/cancel", response=BookingOut)
def bookings_cancel(
    request: HttpRequest, booking_id: int, payload: CancelIn | None = None
) -> dict[str, object]:
    user = _user(request, Role.APPLICANT, Role.OPERATOR)
    booking = booking_for_user(user, booking_id)
    if booking is None:
        raise NotFoundError("booking_not_found", _("예약을 찾을 수 없습니다."))
    reason = payload.reason if payload is not None else ""
    return _booking_out(booking_cancel(booking=booking, actor=user, reason=reason, request=request))
