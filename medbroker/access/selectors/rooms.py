"""Reads of the closed learning room: the slot grid, a day of every seat, a company's week, hours booked.

The grid is fixed per day (``MEDBROKER_ROOM_SLOTS``, KST wall-clock times) and applies on the days the centre
is open (``MEDBROKER_ROOM_OPEN_DAYS``; a closed day has no slot), so a booking is identified by its seat and
its slot's start; a company may book only inside a closed-room grant of its agreement and up to
``MEDBROKER_ROOM_WEEKLY_HOURS`` hours a week (Monday 00:00 to Sunday 24:00 KST), so the room stays open to
every selected company.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils.translation import gettext as _

from medbroker.access.models import AccessGrant, ClosedRoomBooking, Room, Seat
from medbroker.access.selectors.grants import closed_room_grants_usable
from medbroker.accounts.models import Organisation, Role, User
from medbroker.agreements.models import Agreement
from medbroker.core import timeutils

if TYPE_CHECKING:
    from medbroker.calls.models import Call

_SLOT_PATTERN = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")
# Monday first, as ``date.weekday()`` counts.
_DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HOUR = Decimal(3600)
_CENT = Decimal("0.01")


@dataclass(frozen=True)
class SlotTime:
    """One slot of the daily grid, as KST wall-clock times."""

    start: dt.time
    end: dt.time

    @property
    def hours(self) -> Decimal:
        seconds = (self.end.hour * 60 + self.end.minute - self.start.hour * 60 - self.start.minute) * 60
        return hours_of_seconds(seconds)


def hours_of_seconds(seconds: float) -> Decimal:
    return (Decimal(int(seconds)) / _HOUR).quantize(_CENT)


def _clock(hour: str, minute: str, *, item: str) -> dt.time:
    if int(hour) > 23 or int(minute) > 59:
        raise ImproperlyConfigured(f"MEDBROKER_ROOM_SLOTS: {item!r} has a time outside 00:00-23:59")
    return dt.time(int(hour), int(minute))


@lru_cache(maxsize=8)
def slot_times_parse(text: str) -> tuple[SlotTime, ...]:
    """``"09:00-12:00,13:00-18:00"`` → the day's slots, in order. Anything else stops the platform with a
    message naming the bad part: a booking grid that is silently wrong would let seats be double-sold."""
    items = [item.strip() for item in text.split(",")]
    if not text.strip() or any(not item for item in items):
        raise ImproperlyConfigured(
            f"MEDBROKER_ROOM_SLOTS: {text!r} must be one or more 'HH:MM-HH:MM' slots separated by commas"
        )
    slots: list[SlotTime] = []
    for item in items:
        match = _SLOT_PATTERN.match(item)
        if match is None:
            raise ImproperlyConfigured(f"MEDBROKER_ROOM_SLOTS: {item!r} is not of the form 'HH:MM-HH:MM'")
        start = _clock(match[1], match[2], item=item)
        end = _clock(match[3], match[4], item=item)
        if end <= start:
            raise ImproperlyConfigured(f"MEDBROKER_ROOM_SLOTS: {item!r} ends before it starts")
        if slots and start < slots[-1].end:
            raise ImproperlyConfigured(
                f"MEDBROKER_ROOM_SLOTS: {item!r} starts before the previous slot ends; "
                "slots must be in order and must not overlap"
            )
        slots.append(SlotTime(start=start, end=end))
    return tuple(slots)


def room_slot_times() -> tuple[SlotTime, ...]:
    return slot_times_parse(settings.MEDBROKER_ROOM_SLOTS)


@lru_cache(maxsize=8)
def open_days_parse(text: str) -> frozenset[int]:
    """``"mon,tue,wed,thu,fri"`` → the open weekdays (Monday 0 … Sunday 6). Anything else stops the platform
    with a message naming the bad part, as the slot grid does: a misspelt day would silently close (or open)
    the room on it."""
    choices = ", ".join(_DAY_NAMES)
    items = [item.strip() for item in text.split(",")]
    if not text.strip() or any(not item for item in items):
        raise ImproperlyConfigured(
            f"MEDBROKER_ROOM_OPEN_DAYS: {text!r} must be one or more of {choices} separated by commas"
        )
    days: set[int] = set()
    for item in items:
        if item not in _DAY_NAMES:
            raise ImproperlyConfigured(
                f"MEDBROKER_ROOM_OPEN_DAYS: {item!r} is not a day; use lower-case three-letter names: {choices}"
            )
        weekday = _DAY_NAMES.index(item)
        if weekday in days:
            raise ImproperlyConfigured(f"MEDBROKER_ROOM_OPEN_DAYS: {item!r} is listed twice")
        days.add(weekday)
    return frozenset(days)


def room_open_weekdays() -> frozenset[int]:
    return open_days_parse(settings.MEDBROKER_ROOM_OPEN_DAYS)


def room_is_open(day: dt.date) -> bool:
    """Whether the centre opens the room on ``day`` (KST calendar day)."""
    return day.weekday() in room_open_weekdays()


def weekday_short(day: dt.date | int) -> str:
    """One-character Korean day name ("월" … "일") of a date or of a weekday number (Monday 0)."""
    weekday = day if isinstance(day, int) else day.weekday()
    return (_("월"), _("화"), _("수"), _("목"), _("금"), _("토"), _("일"))[weekday]


def room_open_days_label() -> str:
    """The open days, Monday first: "월·화·수·목·금" (the pages add "요일")."""
    return "·".join(weekday_short(weekday) for weekday in sorted(room_open_weekdays()))


def _at(day: dt.date, clock: dt.time) -> dt.datetime:
    return timeutils.kst(day.year, day.month, day.day, clock.hour, clock.minute)


def room_slots(day: dt.date) -> list[tuple[dt.datetime, dt.datetime]]:
    """The day's bookable slots as aware KST datetimes, ``[start, end)``; none on a day the room is closed."""
    if not room_is_open(day):
        return []
    return [(_at(day, slot.start), _at(day, slot.end)) for slot in room_slot_times()]


def room_slot_end(starts_at: dt.datetime) -> dt.datetime | None:
    """The end of the grid slot that starts exactly at ``starts_at``; None when no slot starts then."""
    day = timeutils.to_kst(starts_at).date()
    for start, end in room_slots(day):
        if start == starts_at:
            return end
    return None


def slot_hours(starts_at: dt.datetime, ends_at: dt.datetime) -> Decimal:
    return hours_of_seconds((ends_at - starts_at).total_seconds())


def week_start_of(day: dt.date) -> dt.date:
    """The Monday of ``day``'s week: the weekly limit counts Monday to Sunday, KST."""
    return day - dt.timedelta(days=day.weekday())


def _day_start(day: dt.date) -> dt.datetime:
    return timeutils.kst(day.year, day.month, day.day)


def week_bounds(week_start: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """``[Monday 00:00, next Monday 00:00)`` KST of the week that contains ``week_start``."""
    monday = week_start_of(week_start)
    return _day_start(monday), _day_start(monday + dt.timedelta(days=7))


def weekly_hours_limit() -> Decimal:
    return Decimal(settings.MEDBROKER_ROOM_WEEKLY_HOURS)


# ---------------------------------------------------------------------------------------------------------
# Who sees which bookings, and hours
# ---------------------------------------------------------------------------------------------------------


def _live_bookings() -> QuerySet[ClosedRoomBooking]:
    return ClosedRoomBooking.objects.exclude(status=ClosedRoomBooking.Status.CANCELLED)


def bookings_visible_to(user: User) -> QuerySet[ClosedRoomBooking]:
    """Operators and auditors: every booking; a company member: its company's; anyone else: none."""
    bookings = ClosedRoomBooking.objects.select_related("seat__room", "company", "booked_by", "agreement")
    if user.has_role(Role.OPERATOR, Role.AUDITOR):
        return bookings
    if user.has_role(Role.APPLICANT) and user.organisation_id is not None:
        return bookings.filter(company_id=user.organisation_id)
    return bookings.none()


def booking_for_user(user: User, pk: int) -> ClosedRoomBooking | None:
    """The booking if ``user`` may see it; None otherwise, so another company's booking reads as absent."""
    return bookings_visible_to(user).filter(pk=pk).first()


def booking_cancellable(booking: ClosedRoomBooking, user: User, *, at: dt.datetime) -> bool:
    """Whether ``user`` may cancel now: an operator while it is booked, a company member until it starts
    (the same rule as ``booking_cancel``, so no button is shown that would be refused)."""
    if booking.status != ClosedRoomBooking.Status.BOOKED:
        return False
    if user.has_role(Role.OPERATOR):
        return True
    is_member = user.has_role(Role.APPLICANT) and user.organisation_id == booking.company_id
    return is_member and booking.starts_at > at


def _hours_sum(bookings: QuerySet[ClosedRoomBooking]) -> Decimal:
    total = Decimal(0)
    for starts_at, ends_at in bookings.values_list("starts_at", "ends_at"):
        total += slot_hours(starts_at, ends_at)
    return total


def company_week_hours(company: Organisation, week_start: dt.date) -> Decimal:
    """Hours the company holds (booked, used or in use; not cancelled) in the week of ``week_start``."""
    since, until = week_bounds(week_start)
    return room_booked_hours(company=company, since=since, until=until)


def room_booked_hours(
    *,
    call: Call | None = None,
    company: Organisation | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> Decimal:
    """Hours of bookings not cancelled whose slot starts in ``[since, until)``, of one call or company."""
    bookings = _live_bookings()
    if call is not None:
        bookings = bookings.filter(agreement__call=call)
    if company is not None:
        bookings = bookings.filter(company=company)
    if since is not None:
        bookings = bookings.filter(starts_at__gte=since)
    if until is not None:
        bookings = bookings.filter(starts_at__lt=until)
    return _hours_sum(bookings)


def _bookable_seats() -> QuerySet[Seat]:
    return Seat.objects.filter(is_active=True, room__is_active=True).select_related("room")


def room_capacity_hours(*, since: dt.datetime, until: dt.datetime) -> Decimal:
    """Seat-hours the room offers in ``[since, until)``: active seats × the grid slots that lie inside, on
    open days only (a closed day offers nothing, so it does not lower the occupancy rate)."""
    seats = _bookable_seats().count()
    if not seats or until <= since:
        return Decimal(0)
    total = Decimal(0)
    day = timeutils.to_kst(since).date()
    last = timeutils.to_kst(until).date()
    while day <= last:
        for start, end in room_slots(day):
            if since <= start and end <= until:
                total += slot_hours(start, end)
        day += dt.timedelta(days=1)
    return total * seats


# ---------------------------------------------------------------------------------------------------------
# Grant windows
# ---------------------------------------------------------------------------------------------------------


def room_slot_granted(agreement: Agreement, *, starts_at: dt.datetime, ends_at: dt.datetime) -> bool:
    """Whether the company may sit in the room for this slot: the agreement is signed and not ended, and one
    of its active closed-room grants covers the whole slot (a slot ending exactly at the grant's end is in)."""
    if agreement.status != Agreement.Status.ACTIVE:
        return False
    return closed_room_grants_usable(agreement, starts_at=starts_at, ends_at=ends_at).exists()


def bookings_uncovered(*, at: dt.datetime) -> QuerySet[ClosedRoomBooking]:
    """Booked slots that have not started at ``at`` and that no closed-room grant of their agreement covers
    any more (grant revoked, expired or closed, window shortened, agreement ended or terminated).

    The rule of :func:`room_slot_granted` as one query over every booking, for the periodic reconciler; the
    reconciler asks ``room_slot_granted`` again for each booking under its row lock before cancelling it.
    """
    covering = AccessGrant.objects.filter(
        agreement=OuterRef("agreement"),
        status=AccessGrant.Status.ACTIVE,
        mode=AccessGrant.Mode.CLOSED_ROOM,
        starts_at__lte=OuterRef("starts_at"),
        ends_at__gte=OuterRef("ends_at"),
    )
    return ClosedRoomBooking.objects.filter(status=ClosedRoomBooking.Status.BOOKED, starts_at__gt=at).filter(
        ~Q(agreement__status=Agreement.Status.ACTIVE) | ~Exists(covering)
    )


def room_agreements_for_user(user: User) -> QuerySet[Agreement]:
    """The agreements in force of the user's company, newest first: what a member may book seats under."""
    if not user.has_role(Role.APPLICANT) or user.organisation_id is None:
        return Agreement.objects.none()
    return (
        Agreement.objects.filter(company_id=user.organisation_id, status=Agreement.Status.ACTIVE)
        .select_related("call", "company")
        .order_by("-starts_on", "-pk")
    )


# ---------------------------------------------------------------------------------------------------------
# Attendance
# ---------------------------------------------------------------------------------------------------------

# Check-in opens this long before the slot starts: members arrive a little early to settle at their seat,
# but a record hours away from the slot (the old "same calendar day" rule let an operator check a morning
# booking in at 20:00) would say someone used the data when nobody did.
CHECK_IN_GRACE = dt.timedelta(minutes=30)


def booking_check_in_opens_at(booking: ClosedRoomBooking) -> dt.datetime:
    return booking.starts_at - CHECK_IN_GRACE


def booking_check_in_open(booking: ClosedRoomBooking, *, at: dt.datetime) -> bool:
    """Whether the clock allows check-in at ``at``: booked and ``starts_at - CHECK_IN_GRACE <= at < ends_at``.
    (``booking_check_in`` also asks that a grant still covers the slot.)"""
    return (
        booking.status == ClosedRoomBooking.Status.BOOKED
        and booking_check_in_opens_at(booking) <= at < booking.ends_at
    )


def booking_check_out_closes_at(booking: ClosedRoomBooking) -> dt.datetime | None:
    """Midnight (KST) after the check-in: a forgotten check-out is recorded by the operator the same day,
    not days later from memory. None before check-in."""
    if booking.checked_in_at is None:
        return None
    return _day_start(timeutils.to_kst(booking.checked_in_at).date() + dt.timedelta(days=1))


def booking_check_out_open(booking: ClosedRoomBooking, *, at: dt.datetime) -> bool:
    closes_at = booking_check_out_closes_at(booking)
    return (
        booking.status == ClosedRoomBooking.Status.CHECKED_IN
        and closes_at is not None
        and booking.checked_in_at is not None
        and booking.checked_in_at <= at < closes_at
    )


# ---------------------------------------------------------------------------------------------------------
# A day of the room (operators, auditors)
# ---------------------------------------------------------------------------------------------------------


@dataclass
class RoomDayCell:
    starts_at: dt.datetime
    ends_at: dt.datetime
    booking: ClosedRoomBooking | None

    @property
    def status(self) -> str:
        return self.booking.status if self.booking is not None else "free"


@dataclass
class RoomDaySeat:
    seat: Seat
    cells: list[RoomDayCell]


@dataclass
class RoomDayRoom:
    room: Room
    seats: list[RoomDaySeat]


@dataclass
class RoomDay:
    day: dt.date
    is_open: bool
    slots: list[tuple[dt.datetime, dt.datetime]]
    rooms: list[RoomDayRoom]
    booked_hours: Decimal
    capacity_hours: Decimal
    cancelled: list[ClosedRoomBooking] = field(default_factory=list)
    # Live bookings that fit no cell of the grid: made before the day was closed or the slots changed. They
    # still hold a company's hours, so the operator must see them to keep or cancel them.
    off_grid: list[ClosedRoomBooking] = field(default_factory=list)
    # Bookings whose check-in or check-out the clock allows now: the page offers only those buttons.
    check_in_open: set[int] = field(default_factory=set)
    check_out_open: set[int] = field(default_factory=set)

    @property
    def occupancy(self) -> Decimal:
        """Share of the day's seat-hours that are booked (0 to 1)."""
        if not self.capacity_hours:
            return Decimal(0)
        return (self.booked_hours / self.capacity_hours).quantize(Decimal("0.0001"))

    @property
    def occupancy_percent(self) -> int:
        return min(100, round(self.occupancy * 100))

    @property
    def previous_day(self) -> dt.date:
        return self.day - dt.timedelta(days=1)

    @property
    def next_day(self) -> dt.date:
        return self.day + dt.timedelta(days=1)


def room_day(day: dt.date, *, at: dt.datetime | None = None) -> RoomDay:
    """Every seat of every room in operation × the day's slots, with the booking that holds each cell, and
    which of them may be checked in or out at ``at`` (now by default)."""
    at = at or timeutils.now()
    slots = room_slots(day)
    since, until = _day_start(day), _day_start(day + dt.timedelta(days=1))
    bookings = ClosedRoomBooking.objects.filter(starts_at__gte=since, starts_at__lt=until).select_related(
        "company", "booked_by", "agreement", "seat__room"
    )
    live = {(b.seat_id, b.starts_at): b for b in bookings if b.status != ClosedRoomBooking.Status.CANCELLED}
    rooms = []
    placed: set[int] = set()
    for room in Room.objects.filter(is_active=True).prefetch_related("seats"):
        seats = [
            RoomDaySeat(
                seat=seat,
                cells=[RoomDayCell(start, end, live.get((seat.pk, start))) for start, end in slots],
            )
            for seat in sorted(room.seats.all(), key=lambda s: s.label)
        ]
        rooms.append(RoomDayRoom(room=room, seats=seats))
        placed.update(cell.booking.pk for seat in seats for cell in seat.cells if cell.booking is not None)
    return RoomDay(
        day=day,
        is_open=room_is_open(day),
        slots=slots,
        rooms=rooms,
        booked_hours=_hours_sum(_live_bookings().filter(starts_at__gte=since, starts_at__lt=until)),
        capacity_hours=room_capacity_hours(since=since, until=until),
        cancelled=[b for b in bookings if b.status == ClosedRoomBooking.Status.CANCELLED],
        off_grid=sorted(
            (b for b in live.values() if b.pk not in placed),
            key=lambda b: (b.starts_at, b.seat.room.order, b.seat.label),
        ),
        check_in_open={b.pk for b in live.values() if booking_check_in_open(b, at=at)},
        check_out_open={b.pk for b in live.values() if booking_check_out_open(b, at=at)},
    )


# ---------------------------------------------------------------------------------------------------------
# A company's week (what it may book)
# ---------------------------------------------------------------------------------------------------------

REASON_PAST = "slot_past"
REASON_OUTSIDE_GRANT = "outside_grant_window"
REASON_ALREADY_BOOKED = "already_booked_slot"
REASON_WEEKLY_LIMIT = "weekly_limit"
REASON_FULL = "full"


def _reason_label(code: str) -> str:
    return {
        REASON_PAST: _("지난 시간"),
        REASON_OUTSIDE_GRANT: _("데이터 이용 기간 밖"),
        REASON_ALREADY_BOOKED: _("이미 예약함"),
        REASON_WEEKLY_LIMIT: _("주간 이용 한도 초과"),
        REASON_FULL: _("빈 좌석 없음"),
    }.get(code, "")


@dataclass
class WeekSlot:
    starts_at: dt.datetime
    ends_at: dt.datetime
    hours: Decimal
    free_seats: list[Seat]
    company_bookings: list[ClosedRoomBooking]
    own_booking: ClosedRoomBooking | None
    reason_code: str

    @property
    def bookable(self) -> bool:
        return not self.reason_code

    @property
    def reason(self) -> str:
        return _reason_label(self.reason_code)

    @property
    def free_count(self) -> int:
        return len(self.free_seats)


@dataclass
class WeekDay:
    day: dt.date
    is_open: bool
    slots: list[WeekSlot]


@dataclass
class WeekRow:
    """One slot of the daily grid across the week: a cell per day, None on a day the room is closed."""

    slot: SlotTime
    cells: list[WeekSlot | None]


@dataclass
class RoomWeek:
    agreement: Agreement
    week_start: dt.date
    days: list[WeekDay]
    hours_used: Decimal
    hours_limit: Decimal
    slot_times: tuple[SlotTime, ...]

    @property
    def hours_left(self) -> Decimal:
        return max(Decimal(0), self.hours_limit - self.hours_used)

    @property
    def percent_used(self) -> int:
        if not self.hours_limit:
            return 100
        return min(100, round(self.hours_used * 100 / self.hours_limit))

    @property
    def previous_week(self) -> dt.date:
        return self.week_start - dt.timedelta(days=7)

    @property
    def next_week(self) -> dt.date:
        return self.week_start + dt.timedelta(days=7)

    @property
    def week_end(self) -> dt.date:
        return self.week_start + dt.timedelta(days=6)

    @property
    def slots(self) -> list[WeekSlot]:
        return [slot for day in self.days for slot in day.slots]

    @property
    def rows(self) -> list[WeekRow]:
        """The grid by time of day: one row per slot of the day, one cell per day of the week."""
        return [
            WeekRow(slot=slot, cells=[day.slots[index] if day.is_open else None for day in self.days])
            for index, slot in enumerate(self.slot_times)
        ]


def _slot_reason(
    *,
    agreement: Agreement,
    starts_at: dt.datetime,
    ends_at: dt.datetime,
    hours: Decimal,
    at: dt.datetime,
    own_booking: ClosedRoomBooking | None,
    free_seats: list[Seat],
    hours_used: Decimal,
    hours_limit: Decimal,
) -> str:
    # The same order of checks as booking_create, so the page never offers what the service refuses.
    if starts_at <= at:
        return REASON_PAST
    if not room_slot_granted(agreement, starts_at=starts_at, ends_at=ends_at):
        return REASON_OUTSIDE_GRANT
    if own_booking is not None:
        return REASON_ALREADY_BOOKED
    if hours_used + hours > hours_limit:
        return REASON_WEEKLY_LIMIT
    if not free_seats:
        return REASON_FULL
    return ""


def room_week_for_company(
    agreement: Agreement,
    week_start: dt.date,
    *,
    user: User | None = None,
    at: dt.datetime | None = None,
) -> RoomWeek:
    """The week of ``week_start`` (any day of it) for the agreement's company: per slot the free seats, the
    company's own bookings, and whether it can book there and, when not, why."""
    monday = week_start_of(week_start)
    at = at or timeutils.now()
    since, until = week_bounds(monday)
    hours_used = company_week_hours(agreement.company, monday)
    hours_limit = weekly_hours_limit()
    seats = list(_bookable_seats())
    taken: dict[dt.datetime, set[int]] = {}
    company_bookings: dict[dt.datetime, list[ClosedRoomBooking]] = {}
    for booking in (
        _live_bookings()
        .filter(starts_at__gte=since, starts_at__lt=until)
        .select_related("seat__room", "booked_by", "company")
    ):
        taken.setdefault(booking.starts_at, set()).add(booking.seat_id)
        if booking.company_id == agreement.company_id:
            company_bookings.setdefault(booking.starts_at, []).append(booking)
    days = []
    for offset in range(7):
        day = monday + dt.timedelta(days=offset)
        week_slots = []
        for starts_at, ends_at in room_slots(day):
            hours = slot_hours(starts_at, ends_at)
            free = [seat for seat in seats if seat.pk not in taken.get(starts_at, set())]
            own_list = company_bookings.get(starts_at, [])
            own = next((b for b in own_list if user is not None and b.booked_by_id == user.pk), None)
            reason = _slot_reason(
                agreement=agreement,
                starts_at=starts_at,
                ends_at=ends_at,
                hours=hours,
                at=at,
                own_booking=own,
                free_seats=free,
                hours_used=hours_used,
                hours_limit=hours_limit,
            )
            week_slots.append(WeekSlot(starts_at, ends_at, hours, free, own_list, own, reason))
        days.append(WeekDay(day=day, is_open=room_is_open(day), slots=week_slots))
    return RoomWeek(
        agreement=agreement,
        week_start=monday,
        days=days,
        hours_used=hours_used,
        hours_limit=hours_limit,
        slot_times=room_slot_times(),
    )


def bookings_of_company(
    company: Organisation, *, at: dt.datetime | None = None
) -> tuple[list[ClosedRoomBooking], list[ClosedRoomBooking]]:
    """The company's bookings split into upcoming (slot not yet ended, not cancelled) and past ones."""
    at = at or timeutils.now()
    bookings = (
        ClosedRoomBooking.objects.filter(company=company)
        .select_related("seat__room", "booked_by", "agreement")
        .order_by("starts_at", "seat__room__order", "seat__label")
    )
    upcoming_filter = Q(ends_at__gt=at) & ~Q(status=ClosedRoomBooking.Status.CANCELLED)
    upcoming = list(bookings.filter(upcoming_filter))
    past = list(bookings.exclude(upcoming_filter).order_by("-starts_at", "seat__label")[:50])
    return upcoming, past


def seat_upcoming_bookings(seat: Seat, *, at: dt.datetime | None = None) -> QuerySet[ClosedRoomBooking]:
    return _live_bookings().filter(seat=seat, ends_at__gt=at or timeutils.now())
