"""Writes of the closed learning room: its rooms and seats, bookings, cancellations and attendance.

Data that may not leave the lab is used in this room (announcement §4 ⑤), so a seat is bookable only inside
a closed-room grant of the company's agreement. Two guarantees hold under concurrent requests: one seat per
slot (the database constraint ``room_booking_one_per_seat_and_slot``, not a check-then-act) and the weekly
hour limit of a company (its bookings are serialised by locking its agreement rows). A grant that lapses
after booking frees its seats through the periodic reconciler (``bookings_reconcile``), and check-in asks
again whether a grant still covers the slot.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.http import HttpRequest
from django.urls import reverse
from django.utils.translation import gettext as _

from medbroker.access.models import AccessGrant, ClosedRoomBooking, Room, Seat
from medbroker.access.selectors.rooms import (
    CHECK_IN_GRACE,
    booking_check_in_opens_at,
    booking_check_out_closes_at,
    bookings_uncovered,
    company_week_hours,
    room_is_open,
    room_open_days_label,
    room_slot_end,
    room_slot_granted,
    slot_hours,
    week_start_of,
    weekday_short,
    weekly_hours_limit,
)
from medbroker.accounts.models import Role, User
from medbroker.accounts.permissions import operator_ensure
from medbroker.accounts.services.notifications import notification_send
from medbroker.agreements.models import Agreement
from medbroker.agreements.selectors import agreement_member_ensure
from medbroker.audit.services import audit_record
from medbroker.core import timeutils
from medbroker.core.errors import DomainError


def slot_label(starts_at: dt.datetime, ends_at: dt.datetime) -> str:
    """``2025-09-16 09:00–12:00 KST``: how a slot is written in notices and the audit log."""
    start, end = timeutils.to_kst(starts_at), timeutils.to_kst(ends_at)
    return f"{start:%Y-%m-%d %H:%M}–{end:%H:%M} KST"


def _hours_text(hours: Decimal) -> str:
    """``Decimal("10.00")`` → "10", ``Decimal("2.50")`` → "2.5" (never "1E+1")."""
    return format(hours.normalize(), "f")


def _booking_data(booking: ClosedRoomBooking) -> dict[str, object]:
    return {
        "agreement": booking.agreement.number,
        "company_id": booking.company_id,
        "room": booking.seat.room.name,
        "seat": booking.seat.label,
        "starts_at": timeutils.to_kst(booking.starts_at).isoformat(),
        "ends_at": timeutils.to_kst(booking.ends_at).isoformat(),
        "booked_by_id": booking.booked_by_id,
    }


def _booking_summary(booking: ClosedRoomBooking) -> str:
    return f"{booking.seat} {slot_label(booking.starts_at, booking.ends_at)}"


def _booking_link(booking: ClosedRoomBooking) -> str:
    return reverse("access:booking_detail", args=[booking.pk])


# ---------------------------------------------------------------------------------------------------------
# Rooms and seats
# ---------------------------------------------------------------------------------------------------------


def _seats_add(room: Room, count: int) -> list[Seat]:
    added = []
    for number in range(1, count + 1):
        seat, created = Seat.objects.get_or_create(room=room, label=f"{room.order}-{number:02d}")
        if created:
            added.append(seat)
    return added


@transaction.atomic
def rooms_configure(*, layout: Sequence[tuple[str, str, int]], actor: User | None = None) -> list[Room]:
    """Make the rooms of ``layout`` — (name, location, seat count) — exist with at least their seats.

    Idempotent: running it again adds only what is missing. Seats are never deleted here, booked or not,
    so the history of every booking keeps its seat; an operator stops a seat from the rooms page instead.
    """
    rooms = []
    changes: list[str] = []
    for order, (name, location, seat_count) in enumerate(layout, start=1):
        if seat_count < 1:
            raise DomainError("seat_count_invalid", _("좌석 수는 1 이상이어야 합니다."), field="seat_count")
        room, created = Room.objects.get_or_create(name=name, defaults={"location": location, "order": order})
        if created:
            changes.append(f"room {name}")
        elif room.location != location:
            room.location = location
            room.save(update_fields=["location"])
            changes.append(f"location {name}")
        added = _seats_add(room, seat_count)
        changes.extend(f"seat {seat}" for seat in added)
        rooms.append(room)
    if changes:
        audit_record(
            action="access.rooms_configured",
            actor=actor,
            object_type="access.room",
            summary=f"closed room layout: {len(changes)} changes",
            data={"layout": [list(item) for item in layout], "changes": changes},
        )
    return rooms


@transaction.atomic
def room_add(
    *, name: str, location: str, seat_count: int, actor: User, request: HttpRequest | None = None
) -> Room:
    operator_ensure(actor, _("학습실 추가"))
    name = name.strip()
    if not name:
        raise DomainError("room_name_required", _("학습실 이름을 입력해 주세요."), field="name")
    if not 1 <= seat_count <= 50:
        raise DomainError("seat_count_invalid", _("좌석 수는 1에서 50 사이여야 합니다."), field="seat_count")
    if Room.objects.filter(name=name).exists():
        raise DomainError(
            "room_exists", _("같은 이름의 학습실이 있습니다: %(name)s") % {"name": name}, field="name"
        )
    order = (Room.objects.aggregate(last=Max("order"))["last"] or 0) + 1
    room = Room.objects.create(name=name, location=location.strip(), order=order)
    seats = _seats_add(room, seat_count)
    audit_record(
        action="access.room_added",
        actor=actor,
        target=room,
        summary=f"{room.name} with {len(seats)} seats",
        data={"name": room.name, "location": room.location, "seats": [s.label for s in seats]},
        request=request,
    )
    return room


@transaction.atomic
def seat_active_set(*, seat: Seat, active: bool, actor: User, request: HttpRequest | None = None) -> Seat:
    """Stop a seat from taking new bookings, or open it again. Bookings it already has stay as they are:
    the operator cancels them one by one, with a reason the company is told."""
    operator_ensure(actor, _("좌석 관리"))
    seat = Seat.objects.select_for_update().select_related("room").get(pk=seat.pk)
    if seat.is_active == active:
        return seat
    seat.is_active = active
    seat.save(update_fields=["is_active"])
    audit_record(
        action="access.seat_activated" if active else "access.seat_deactivated",
        actor=actor,
        target=seat,
        summary=str(seat),
        data={"room": seat.room.name, "seat": seat.label},
        request=request,
    )
    return seat


# ---------------------------------------------------------------------------------------------------------
# Bookings
# ---------------------------------------------------------------------------------------------------------


def _company_bookings_lock(agreement: Agreement) -> None:
    # Every booking of one company takes the locks of all its agreement rows, in the same order, before it
    # counts the week's hours: a second request of the same company waits here and then counts the first
    # one's booking, so the weekly limit holds even when members book at the same moment. Bookings of
    # different companies never wait for each other.
    list(
        Agreement.objects.select_for_update()
        .filter(company_id=agreement.company_id)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def _conflict_raise(*, seat: Seat, starts_at: dt.datetime, actor: User) -> None:
    live = ClosedRoomBooking.objects.exclude(status=ClosedRoomBooking.Status.CANCELLED)
    if live.filter(booked_by=actor, starts_at=starts_at).exists():
        raise DomainError(
            "already_booked_slot",
            _("이 시간에 이미 다른 좌석을 예약했습니다. 한 사람은 한 시간에 한 좌석만 예약할 수 있습니다."),
            status_code=409,
        )
    if live.filter(seat=seat, starts_at=starts_at).exists():
        raise DomainError(
            "seat_taken",
            _("방금 다른 예약이 들어와 이 좌석은 마감되었습니다. 다른 좌석을 골라 주세요."),
            status_code=409,
            field="seat",
        )


@transaction.atomic
def booking_create(
    *,
    agreement: Agreement,
    seat: Seat,
    starts_at: dt.datetime,
    actor: User,
    request: HttpRequest | None = None,
) -> ClosedRoomBooking:
    """Book ``seat`` for the slot that starts at ``starts_at``, for a member of the agreement's company."""
    agreement_member_ensure(agreement, actor)
    ends_at = room_slot_end(starts_at)
    day = timeutils.to_kst(starts_at).date()
    if ends_at is None and not room_is_open(day):
        # A closed day has no slot at all; saying so is clearer than "not a slot of the grid".
        raise DomainError(
            "room_closed_day",
            _("%(day)s은(는) 학습실 휴관일입니다. 학습실은 %(days)s요일에 운영합니다.")
            % {"day": f"{day:%Y-%m-%d}({weekday_short(day)})", "days": room_open_days_label()},
            field="starts_at",
        )
    if ends_at is None:
        raise DomainError("not_a_slot", _("예약은 정해진 시간대 단위로만 할 수 있습니다."), field="starts_at")
    if starts_at <= timeutils.now():
        raise DomainError(
            "slot_past", _("이미 시작했거나 지난 시간대는 예약할 수 없습니다."), field="starts_at"
        )
    seat = Seat.objects.select_related("room").get(pk=seat.pk)
    if not (seat.is_active and seat.room.is_active):
        raise DomainError(
            "seat_inactive", _("사용이 중지된 좌석입니다: %(seat)s") % {"seat": seat}, field="seat"
        )
    _company_bookings_lock(agreement)
    agreement = Agreement.objects.select_related("company").get(pk=agreement.pk)
    if not room_slot_granted(agreement, starts_at=starts_at, ends_at=ends_at):
        raise DomainError(
            "outside_grant_window",
            _(
                "이 시간대는 폐쇄형 학습실 데이터 이용 기간 밖입니다. 이용 권한이 있는 기간에만 예약할 수 있습니다."
            ),
            status_code=403,
            field="starts_at",
        )
    hours = slot_hours(starts_at, ends_at)
    week_start = week_start_of(timeutils.to_kst(starts_at).date())
    used = company_week_hours(agreement.company, week_start)
    limit = weekly_hours_limit()
    if used + hours > limit:
        raise DomainError(
            "weekly_limit",
            _(
                "주간 이용 한도를 넘습니다: 이번 주(%(week)s 시작) %(used)s시간 사용 중, 한도 %(limit)s시간, "
                "이 시간대는 %(hours)s시간입니다."
            )
            % {
                "week": week_start.isoformat(),
                "used": _hours_text(used),
                "limit": _hours_text(limit),
                "hours": _hours_text(hours),
            },
            status_code=409,
            details={"hours_used": str(used), "hours_limit": str(limit), "slot_hours": str(hours)},
        )
    try:
        with transaction.atomic():
            booking = ClosedRoomBooking.objects.create(
                seat=seat,
                agreement=agreement,
                company=agreement.company,
                booked_by=actor,
                starts_at=starts_at,
                ends_at=ends_at,
            )
    except IntegrityError:
        _conflict_raise(seat=seat, starts_at=starts_at, actor=actor)
        raise
    audit_record(
        action="access.booking_created",
        actor=actor,
        target=booking,
        summary=_booking_summary(booking),
        data={**_booking_data(booking), "week_hours_after": str(used + hours)},
        request=request,
    )
    notification_send(
        users=[actor],
        kind="booking_confirmed",
        title=_("폐쇄형 학습실 예약 확정"),
        body=_("%(room)s %(seat)s 좌석, %(slot)s 예약이 확정되었습니다. 위치: %(location)s")
        % {
            "room": seat.room.name,
            "seat": seat.label,
            "slot": slot_label(starts_at, ends_at),
            "location": seat.room.location or "-",
        },
        link=_booking_link(booking),
    )
    return booking


def _booking_lock(booking: ClosedRoomBooking) -> ClosedRoomBooking:
    return (
        ClosedRoomBooking.objects.select_for_update(of=("self",))
        .select_related("seat__room", "agreement", "company", "booked_by")
        .get(pk=booking.pk)
    )


@transaction.atomic
def booking_cancel(
    *, booking: ClosedRoomBooking, actor: User, reason: str = "", request: HttpRequest | None = None
) -> ClosedRoomBooking:
    """Cancel a booking: the company's members until the slot starts; operators at any time, with a reason
    the company is told (a seat that broke, a no-show)."""
    booking = _booking_lock(booking)
    reason = reason.strip()
    by_operator = actor.has_role(Role.OPERATOR)
    if by_operator:
        if not reason:
            raise DomainError(
                "reason_required", _("운영자가 취소할 때는 사유를 적어 주세요."), field="reason"
            )
    else:
        agreement_member_ensure(booking.agreement, actor)
    if booking.status != ClosedRoomBooking.Status.BOOKED:
        raise DomainError(
            "booking_not_cancellable",
            _("%(status)s 상태의 예약은 취소할 수 없습니다.") % {"status": booking.get_status_display()},
            status_code=409,
        )
    now = timeutils.now()
    if not by_operator and booking.starts_at <= now:
        raise DomainError(
            "cancel_too_late",
            _("시작한 예약은 취소할 수 없습니다. 운영자에게 문의해 주세요."),
            status_code=409,
        )
    booking.status = ClosedRoomBooking.Status.CANCELLED
    booking.cancelled_at = now
    booking.cancelled_by = actor
    booking.cancel_reason = reason[:300]
    booking.save(update_fields=["status", "cancelled_at", "cancelled_by", "cancel_reason", "updated_at"])
    audit_record(
        action="access.booking_cancelled",
        actor=actor,
        target=booking,
        summary=_booking_summary(booking),
        data={**_booking_data(booking), "reason": booking.cancel_reason, "by_operator": by_operator},
        request=request,
    )
    body = _("%(room)s %(seat)s 좌석, %(slot)s 예약이 취소되었습니다.") % {
        "room": booking.seat.room.name,
        "seat": booking.seat.label,
        "slot": slot_label(booking.starts_at, booking.ends_at),
    }
    if by_operator:
        body = f"{body} " + _("운영자 취소 사유: %(reason)s") % {"reason": booking.cancel_reason}
    notification_send(
        users=[booking.booked_by],
        kind="booking_cancelled",
        title=_("폐쇄형 학습실 예약 취소"),
        body=body,
        link=_booking_link(booking),
    )
    return booking


@transaction.atomic
def booking_check_in(
    *, booking: ClosedRoomBooking, actor: User, request: HttpRequest | None = None
) -> ClosedRoomBooking:
    """The operator at the room records that the company's member came in: from ``CHECK_IN_GRACE`` before
    the slot until it ends, and only while a closed-room grant of the agreement still covers the slot (a
    grant revoked or an agreement terminated after booking leaves the seat booked but unusable)."""
    operator_ensure(actor, _("입실 기록"))
    booking = _booking_lock(booking)
    if booking.status != ClosedRoomBooking.Status.BOOKED:
        raise DomainError(
            "booking_not_booked",
            _("%(status)s 상태의 예약은 입실 처리할 수 없습니다.") % {"status": booking.get_status_display()},
            status_code=409,
        )
    now = timeutils.now()
    opens_at = booking_check_in_opens_at(booking)
    if now < opens_at:
        raise DomainError(
            "check_in_too_early",
            _("입실은 예약 시간대(%(slot)s) 시작 %(minutes)d분 전인 %(opens)s부터 기록할 수 있습니다.")
            % {
                "slot": slot_label(booking.starts_at, booking.ends_at),
                "minutes": CHECK_IN_GRACE // dt.timedelta(minutes=1),
                "opens": f"{timeutils.to_kst(opens_at):%Y-%m-%d %H:%M}",
            },
            status_code=409,
        )
    if now >= booking.ends_at:
        raise DomainError(
            "check_in_too_late",
            _("예약 시간대(%(slot)s)가 끝나 입실을 기록할 수 없습니다.")
            % {"slot": slot_label(booking.starts_at, booking.ends_at)},
            status_code=409,
        )
    if not room_slot_granted(booking.agreement, starts_at=booking.starts_at, ends_at=booking.ends_at):
        raise DomainError(
            "booking_not_covered",
            _(
                "이 시간대를 덮는 폐쇄형 학습실 데이터 이용 권한이 없어 입실을 기록할 수 없습니다. "
                "이용 권한이 중지·만료·종료되었거나 협약이 효력을 잃었습니다."
            ),
            status_code=409,
        )
    booking.status = ClosedRoomBooking.Status.CHECKED_IN
    booking.checked_in_at = now
    booking.attendance_recorded_by = actor
    booking.save(update_fields=["status", "checked_in_at", "attendance_recorded_by", "updated_at"])
    audit_record(
        action="access.booking_checked_in",
        actor=actor,
        target=booking,
        summary=_booking_summary(booking),
        data={**_booking_data(booking), "checked_in_at": timeutils.to_kst(now).isoformat()},
        request=request,
    )
    return booking


@transaction.atomic
def booking_check_out(
    *, booking: ClosedRoomBooking, actor: User, request: HttpRequest | None = None
) -> ClosedRoomBooking:
    """The operator records that the member left: after check-in and until the end of that KST day."""
    operator_ensure(actor, _("퇴실 기록"))
    booking = _booking_lock(booking)
    closes_at = booking_check_out_closes_at(booking)
    if booking.status != ClosedRoomBooking.Status.CHECKED_IN or closes_at is None:
        raise DomainError(
            "booking_not_checked_in", _("입실 기록이 있는 예약만 퇴실 처리할 수 있습니다."), status_code=409
        )
    now = timeutils.now()
    if now >= closes_at:
        raise DomainError(
            "check_out_too_late",
            _(
                "퇴실은 입실한 날(%(day)s) 안에만 기록할 수 있습니다. "
                "지난 날의 퇴실 시각은 확인할 수 없어 기록하지 않습니다."
            )
            % {"day": (timeutils.to_kst(closes_at) - dt.timedelta(days=1)).date().isoformat()},
            status_code=409,
        )
    booking.status = ClosedRoomBooking.Status.CHECKED_OUT
    booking.checked_out_at = now
    booking.attendance_recorded_by = actor
    booking.save(update_fields=["status", "checked_out_at", "attendance_recorded_by", "updated_at"])
    audit_record(
        action="access.booking_checked_out",
        actor=actor,
        target=booking,
        summary=_booking_summary(booking),
        data={**_booking_data(booking), "checked_out_at": timeutils.to_kst(now).isoformat()},
        request=request,
    )
    return booking


# ---------------------------------------------------------------------------------------------------------
# The reconciler: a grant revoked, expired or closed, or an agreement that ends, has no booking event, so a
# periodic task frees the seats and the weekly hours that bookings no longer covered still hold
# ---------------------------------------------------------------------------------------------------------


def _lapse_cause(booking: ClosedRoomBooking) -> tuple[str, str]:
    """Why no grant covers the booking any more: a code for the audit log and the sentence the company reads."""
    agreement = booking.agreement
    if agreement.status == Agreement.Status.TERMINATED:
        return "agreement_terminated", _("협약이 해지되어 예약이 자동으로 취소되었습니다.")
    if agreement.status == Agreement.Status.ENDED:
        return "agreement_ended", _("협약 기간이 끝나 예약이 자동으로 취소되었습니다.")
    if agreement.status != Agreement.Status.ACTIVE:
        return "agreement_not_in_force", _("협약이 효력 중이 아니어서 예약이 자동으로 취소되었습니다.")
    # The grant that had opened this slot: a closed-room grant of the agreement whose window meets it.
    lapsed = (
        AccessGrant.objects.filter(
            agreement=agreement,
            mode=AccessGrant.Mode.CLOSED_ROOM,
            starts_at__lt=booking.ends_at,
            ends_at__gt=booking.starts_at,
        )
        .exclude(status=AccessGrant.Status.ACTIVE)
        .order_by("-updated_at", "-pk")
        .first()
    )
    if lapsed is not None and lapsed.status == AccessGrant.Status.REVOKED:
        return "grant_revoked", _(
            "데이터 이용이 중지되어 예약이 자동으로 취소되었습니다. 중지 사유: %(reason)s"
        ) % {"reason": lapsed.revoke_reason}
    if lapsed is not None and lapsed.status == AccessGrant.Status.CLOSED:
        return "grant_closed", _("협약 범위에서 빠져 데이터 이용이 종료되어 예약이 자동으로 취소되었습니다.")
    if lapsed is not None and lapsed.status == AccessGrant.Status.EXPIRED:
        return "grant_expired", _("데이터 이용 기간이 끝나 예약이 자동으로 취소되었습니다.")
    return "outside_grant_window", _(
        "예약한 시간대가 폐쇄형 학습실 데이터 이용 기간 밖이 되어 예약이 자동으로 취소되었습니다."
    )


def _booking_lapse(pk: int, *, now: dt.datetime) -> bool:
    with transaction.atomic():
        booking = (
            ClosedRoomBooking.objects.select_for_update(of=("self",))
            .select_related("seat__room", "agreement", "company", "booked_by")
            .filter(pk=pk, status=ClosedRoomBooking.Status.BOOKED, starts_at__gt=now)
            .first()
        )
        # Cancelled or started meanwhile, or covered again (a grant issued since the query): leave it.
        if booking is None or room_slot_granted(
            booking.agreement, starts_at=booking.starts_at, ends_at=booking.ends_at
        ):
            return False
        cause, reason = _lapse_cause(booking)
        booking.status = ClosedRoomBooking.Status.CANCELLED
        booking.cancelled_at = now
        booking.cancelled_by = None
        booking.cancel_reason = reason[:300]
        booking.save(update_fields=["status", "cancelled_at", "cancelled_by", "cancel_reason", "updated_at"])
        audit_record(
            action="access.booking_cancelled",
            actor=None,
            target=booking,
            summary=_booking_summary(booking),
            data={
                **_booking_data(booking),
                "reason": "grant_lapsed",
                "cause": cause,
                "cancel_reason": booking.cancel_reason,
                "by_operator": False,
            },
        )
        notification_send(
            users=[booking.booked_by],
            kind="booking_cancelled",
            title=_("폐쇄형 학습실 예약 취소"),
            body=_("%(room)s %(seat)s 좌석, %(slot)s 예약이 취소되었습니다. 사유: %(reason)s")
            % {
                "room": booking.seat.room.name,
                "seat": booking.seat.label,
                "slot": slot_label(booking.starts_at, booking.ends_at),
                "reason": booking.cancel_reason,
            },
            link=_booking_link(booking),
            dedupe_key=f"access.booking_lapsed:{booking.pk}",
        )
    return True


def bookings_reconcile(*, now: dt.datetime) -> dict[str, int]:
    """Cancel every booking that has not started at ``now`` and that no usable closed-room grant of its
    agreement covers any more, so its seat goes back to other companies and its hours to the weekly limit.

    Each booking is handled in its own transaction under a row lock and checked again there, so a second
    run, even a concurrent one, cancels nothing twice and sends no second notice. A booking that has already
    started is left to the operator: check-in refuses it (``booking_not_covered``).
    """
    cancelled = 0
    for pk in list(bookings_uncovered(at=now).order_by("starts_at", "pk").values_list("pk", flat=True)):
        cancelled += _booking_lapse(pk, now=now)
    return {"cancelled": cancelled}
