"""The closed room's slot grid (``MEDBROKER_ROOM_SLOTS``) and opening days (``MEDBROKER_ROOM_OPEN_DAYS``), its
layout, and the reads built on it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import time_machine
from django.core.exceptions import ImproperlyConfigured

from medbroker.access.models import AccessGrant, ClosedRoomBooking, Room, Seat
from medbroker.access.selectors.rooms import (
    REASON_ALREADY_BOOKED,
    REASON_FULL,
    REASON_OUTSIDE_GRANT,
    REASON_PAST,
    REASON_WEEKLY_LIMIT,
    SlotTime,
    booking_cancellable,
    bookings_visible_to,
    company_week_hours,
    open_days_parse,
    room_booked_hours,
    room_capacity_hours,
    room_day,
    room_is_open,
    room_open_days_label,
    room_slot_end,
    room_slots,
    room_week_for_company,
    slot_times_parse,
    week_bounds,
)
from medbroker.access.services.rooms import rooms_configure
from medbroker.access.tests.factories import grant
from medbroker.accounts.models import Organisation, Role, User
from medbroker.accounts.tests.factories import UserFactory
from medbroker.agreements.models import Agreement
from medbroker.agreements.tests.factories import active_agreement
from medbroker.audit.models import AuditEvent
from medbroker.core.timeutils import kst

DEMO_LAYOUT = [
    ("폐쇄형 학습실 1", "KTL 대구 센터 3층 301호", 4),
    ("폐쇄형 학습실 2", "KTL 대구 센터 3층 302호", 4),
]
# Monday of a week inside the 2025 support period.
MONDAY = dt.date(2025, 9, 22)
SATURDAY, SUNDAY = dt.date(2025, 9, 27), dt.date(2025, 9, 28)


@pytest.fixture(autouse=True)
def before_the_week() -> Iterator[None]:
    with time_machine.travel(kst(2025, 9, 20, 10, 0, 0), tick=False):
        yield


# ---------------------------------------------------------------------------------------------------------
# Parsing the grid
# ---------------------------------------------------------------------------------------------------------


def test_the_default_grid_is_a_morning_and_an_afternoon_slot_in_kst() -> None:
    assert room_slots(dt.date(2025, 9, 22)) == [
        (kst(2025, 9, 22, 9, 0), kst(2025, 9, 22, 12, 0)),
        (kst(2025, 9, 22, 13, 0), kst(2025, 9, 22, 18, 0)),
    ]


def test_slot_hours_and_spaces_around_items() -> None:
    slots = slot_times_parse(" 08:30-10:00 , 10:00-12:45")

    assert [(s.start, s.end, s.hours) for s in slots] == [
        (dt.time(8, 30), dt.time(10, 0), Decimal("1.50")),
        (dt.time(10, 0), dt.time(12, 45), Decimal("2.75")),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "must be one or more 'HH:MM-HH:MM' slots"),
        ("09:00-12:00,", "must be one or more 'HH:MM-HH:MM' slots"),
        ("9:00-12:00", "'9:00-12:00' is not of the form 'HH:MM-HH:MM'"),
        ("09:00~12:00", "'09:00~12:00' is not of the form 'HH:MM-HH:MM'"),
        ("09:00-24:00", "'09:00-24:00' has a time outside 00:00-23:59"),
        ("09:00-09:60", "'09:00-09:60' has a time outside 00:00-23:59"),
        ("12:00-09:00", "'12:00-09:00' ends before it starts"),
        ("09:00-09:00", "'09:00-09:00' ends before it starts"),
        ("09:00-13:00,12:00-18:00", "'12:00-18:00' starts before the previous slot ends"),
        ("13:00-18:00,09:00-12:00", "'09:00-12:00' starts before the previous slot ends"),
    ],
)
def test_a_malformed_grid_stops_with_the_bad_part_named(text: str, message: str) -> None:
    with pytest.raises(ImproperlyConfigured) as error:
        slot_times_parse(text)

    assert message in str(error.value)
    assert str(error.value).startswith("MEDBROKER_ROOM_SLOTS: ")


def test_the_grid_follows_the_setting(settings: Any) -> None:
    settings.MEDBROKER_ROOM_SLOTS = "10:00-11:00"

    assert room_slots(dt.date(2025, 9, 22)) == [(kst(2025, 9, 22, 10, 0), kst(2025, 9, 22, 11, 0))]
    assert room_slot_end(kst(2025, 9, 22, 10, 0)) == kst(2025, 9, 22, 11, 0)
    assert room_slot_end(kst(2025, 9, 22, 9, 0)) is None


def test_slot_end_only_for_an_exact_slot_start() -> None:
    assert room_slot_end(kst(2025, 9, 22, 13, 0)) == kst(2025, 9, 22, 18, 0)
    assert room_slot_end(kst(2025, 9, 22, 13, 0, 1)) is None
    # The same instant written in UTC is the same slot.
    assert room_slot_end(dt.datetime(2025, 9, 22, 4, 0, tzinfo=dt.UTC)) == kst(2025, 9, 22, 18, 0)


def test_a_week_runs_from_monday_to_sunday_kst() -> None:
    assert week_bounds(dt.date(2025, 9, 28)) == (kst(2025, 9, 22), kst(2025, 9, 29))
    assert week_bounds(dt.date(2025, 9, 29)) == (kst(2025, 9, 29), kst(2025, 10, 6))


# ---------------------------------------------------------------------------------------------------------
# Opening days
# ---------------------------------------------------------------------------------------------------------


def test_by_default_the_room_opens_on_weekdays_only() -> None:
    assert [room_is_open(MONDAY + dt.timedelta(days=n)) for n in range(7)] == [
        True,
        True,
        True,
        True,
        True,
        False,
        False,
    ]
    assert room_slots(SATURDAY) == []
    assert room_slots(SUNDAY) == []
    assert room_slot_end(kst(2025, 9, 27, 9)) is None
    assert room_open_days_label() == "월·화·수·목·금"


def test_the_opening_days_follow_the_setting(settings: Any) -> None:
    settings.MEDBROKER_ROOM_OPEN_DAYS = "sat, mon"

    assert room_slots(SATURDAY) == [
        (kst(2025, 9, 27, 9, 0), kst(2025, 9, 27, 12, 0)),
        (kst(2025, 9, 27, 13, 0), kst(2025, 9, 27, 18, 0)),
    ]
    assert room_slots(dt.date(2025, 9, 23)) == []
    assert room_open_days_label() == "월·토"


def test_opening_days_parse_to_weekday_numbers() -> None:
    assert open_days_parse("mon,tue,wed,thu,fri") == frozenset({0, 1, 2, 3, 4})
    assert open_days_parse(" sun , sat ") == frozenset({5, 6})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "'' must be one or more of mon, tue, wed, thu, fri, sat, sun separated by commas"),
        ("mon,,tue", "'mon,,tue' must be one or more of mon, tue, wed, thu, fri, sat, sun"),
        ("mon,", "'mon,' must be one or more of mon, tue, wed, thu, fri, sat, sun"),
        ("Mon", "'Mon' is not a day; use lower-case three-letter names"),
        ("monday", "'monday' is not a day"),
        ("mon-fri", "'mon-fri' is not a day"),
        ("월,화", "'월' is not a day"),
        ("mon;tue", "'mon;tue' is not a day"),
        ("mon,tue,mon", "'mon' is listed twice"),
    ],
)
def test_malformed_opening_days_stop_with_the_bad_part_named(text: str, message: str) -> None:
    with pytest.raises(ImproperlyConfigured) as error:
        open_days_parse(text)

    assert message in str(error.value)
    assert str(error.value).startswith("MEDBROKER_ROOM_OPEN_DAYS: ")


# ---------------------------------------------------------------------------------------------------------
# Layout
# ---------------------------------------------------------------------------------------------------------


def test_rooms_configure_makes_the_demo_layout_once(db: None, operator: User) -> None:
    first = rooms_configure(layout=DEMO_LAYOUT, actor=operator)
    again = rooms_configure(layout=DEMO_LAYOUT, actor=operator)

    assert [r.pk for r in first] == [r.pk for r in again]
    assert list(Room.objects.values_list("name", "location", "order")) == [
        ("폐쇄형 학습실 1", "KTL 대구 센터 3층 301호", 1),
        ("폐쇄형 학습실 2", "KTL 대구 센터 3층 302호", 2),
    ]
    assert list(Seat.objects.values_list("label", flat=True)) == [
        "1-01",
        "1-02",
        "1-03",
        "1-04",
        "2-01",
        "2-02",
        "2-03",
        "2-04",
    ]
    # Only the first run changed anything, so only it is in the audit log.
    assert AuditEvent.objects.filter(action="access.rooms_configured").count() == 1


def test_rooms_configure_adds_missing_seats_and_never_removes_any(db: None, applicant: User) -> None:
    rooms_configure(layout=DEMO_LAYOUT)
    agreement = active_agreement(company=applicant.organisation)
    seat = Seat.objects.get(label="1-04")
    ClosedRoomBooking.objects.create(
        seat=seat,
        agreement=agreement,
        company=agreement.company,
        booked_by=applicant,
        starts_at=kst(2025, 9, 22, 9),
        ends_at=kst(2025, 9, 22, 12),
    )

    rooms_configure(layout=[("폐쇄형 학습실 1", "KTL 대구 센터 4층", 2), ("폐쇄형 학습실 2", "", 6)])

    assert Seat.objects.filter(room__name="폐쇄형 학습실 1").count() == 4
    assert list(Seat.objects.filter(room__name="폐쇄형 학습실 2").values_list("label", flat=True)) == [
        "2-01",
        "2-02",
        "2-03",
        "2-04",
        "2-05",
        "2-06",
    ]
    assert Room.objects.get(name="폐쇄형 학습실 1").location == "KTL 대구 센터 4층"


# ---------------------------------------------------------------------------------------------------------
# Hours, capacity, day and week
# ---------------------------------------------------------------------------------------------------------


@pytest.fixture
def agreement(applicant: User) -> Agreement:
    agreement = active_agreement(company=applicant.organisation)
    grant(agreement)
    return agreement


def _book(
    agreement: Agreement, user: User, label: str, starts_at: dt.datetime, **fields: Any
) -> ClosedRoomBooking:
    ends_at = room_slot_end(starts_at)
    assert ends_at is not None
    return ClosedRoomBooking.objects.create(
        seat=Seat.objects.get(label=label),
        agreement=agreement,
        company=agreement.company,
        booked_by=user,
        starts_at=starts_at,
        ends_at=ends_at,
        **fields,
    )


def test_booked_and_capacity_hours(agreement: Agreement, applicant: User, company: Organisation) -> None:
    rooms_configure(layout=DEMO_LAYOUT)
    _book(agreement, applicant, "1-01", kst(2025, 9, 22, 9))
    _book(agreement, applicant, "1-02", kst(2025, 9, 22, 13))
    _book(agreement, applicant, "1-03", kst(2025, 9, 23, 13), status=ClosedRoomBooking.Status.CANCELLED)
    _book(agreement, applicant, "1-01", kst(2025, 9, 29, 9))
    Seat.objects.filter(label="2-04").update(is_active=False)

    assert room_booked_hours(since=kst(2025, 9, 22), until=kst(2025, 9, 29)) == Decimal("8.00")
    assert room_booked_hours(call=agreement.call) == Decimal("11.00")
    assert room_booked_hours(company=company, since=kst(2025, 9, 29)) == Decimal("3.00")
    assert company_week_hours(company, dt.date(2025, 9, 25)) == Decimal("8.00")
    # 7 seats in operation × 8 hours a day × 5 open days; half a day counts only the slots wholly inside.
    assert room_capacity_hours(since=kst(2025, 9, 22), until=kst(2025, 9, 29)) == Decimal("280.00")
    assert room_capacity_hours(since=kst(2025, 9, 22), until=kst(2025, 9, 22, 12)) == Decimal("21.00")
    assert room_capacity_hours(since=kst(2025, 9, 22), until=kst(2025, 9, 22)) == Decimal(0)
    # A weekend offers nothing.
    assert room_capacity_hours(since=kst(2025, 9, 27), until=kst(2025, 9, 29)) == Decimal(0)


def test_capacity_counts_the_days_the_setting_opens(db: None, settings: Any) -> None:
    rooms_configure(layout=DEMO_LAYOUT)
    settings.MEDBROKER_ROOM_OPEN_DAYS = "mon,tue,wed,thu,fri,sat"

    # 8 seats × 8 hours × 6 days.
    assert room_capacity_hours(since=kst(2025, 9, 22), until=kst(2025, 9, 29)) == Decimal("384.00")


def test_room_day_places_each_booking_in_its_cell(agreement: Agreement, applicant: User) -> None:
    rooms_configure(layout=DEMO_LAYOUT)
    booked = _book(agreement, applicant, "1-02", kst(2025, 9, 22, 13))
    cancelled = _book(
        agreement, applicant, "2-01", kst(2025, 9, 22, 9), status=ClosedRoomBooking.Status.CANCELLED
    )
    _book(agreement, applicant, "1-01", kst(2025, 9, 23, 9))

    day = room_day(dt.date(2025, 9, 22))

    assert [r.room.name for r in day.rooms] == ["폐쇄형 학습실 1", "폐쇄형 학습실 2"]
    grid = {
        (seat.seat.label, cell.starts_at.hour): cell.status
        for room in day.rooms
        for seat in room.seats
        for cell in seat.cells
    }
    assert len(grid) == 16
    assert {key: value for key, value in grid.items() if value != "free"} == {("1-02", 13): "booked"}
    assert day.rooms[0].seats[1].cells[1].booking == booked
    assert day.cancelled == [cancelled]
    assert (day.booked_hours, day.capacity_hours) == (Decimal("5.00"), Decimal("64.00"))
    assert (day.occupancy, day.occupancy_percent) == (Decimal("0.0781"), 8)
    assert (day.previous_day, day.next_day) == (dt.date(2025, 9, 21), dt.date(2025, 9, 23))


def test_week_says_why_a_slot_is_not_bookable(
    agreement: Agreement, applicant: User, other_applicant: User, settings: Any
) -> None:
    rooms_configure(layout=[("폐쇄형 학습실 1", "", 2)])
    settings.MEDBROKER_ROOM_WEEKLY_HOURS = 8
    AccessGrant.objects.filter(agreement=agreement).update(ends_at=kst(2025, 9, 26))
    other = active_agreement(company=other_applicant.organisation)
    _book(agreement, applicant, "1-01", kst(2025, 9, 22, 13))
    _book(other, other_applicant, "1-01", kst(2025, 9, 23, 9))
    colleague = UserFactory(organisation=other_applicant.organisation, roles=[Role.APPLICANT])
    _book(other, colleague, "1-02", kst(2025, 9, 23, 9))

    with time_machine.travel(kst(2025, 9, 22, 10, 0), tick=False):
        week = room_week_for_company(agreement, dt.date(2025, 9, 24), user=applicant)

    assert week.week_start == MONDAY
    assert (week.hours_used, week.hours_limit, week.hours_left, week.percent_used) == (
        Decimal("5.00"),
        Decimal(8),
        Decimal("3.00"),
        62,
    )
    reasons = {(s.starts_at.day, s.starts_at.hour): s.reason_code for s in week.slots}
    assert reasons == {
        (22, 9): REASON_PAST,
        (22, 13): REASON_ALREADY_BOOKED,
        (23, 9): REASON_FULL,
        (23, 13): REASON_WEEKLY_LIMIT,
        (24, 9): "",
        (24, 13): REASON_WEEKLY_LIMIT,
        (25, 9): "",
        (25, 13): REASON_WEEKLY_LIMIT,
        (26, 9): REASON_OUTSIDE_GRANT,
        (26, 13): REASON_OUTSIDE_GRANT,
    }
    first_free = week.days[2].slots[0]
    assert (first_free.bookable, first_free.free_count, first_free.reason) == (True, 2, "")
    assert week.days[1].slots[0].reason == "빈 좌석 없음"
    # Saturday and Sunday are closed: in the grid by time of day they have no cell.
    assert [(day.day.day, day.is_open, len(day.slots)) for day in week.days][4:] == [
        (26, True, 2),
        (27, False, 0),
        (28, False, 0),
    ]
    assert [row.slot for row in week.rows] == [
        SlotTime(dt.time(9), dt.time(12)),
        SlotTime(dt.time(13), dt.time(18)),
    ]
    assert [[cell is not None for cell in row.cells] for row in week.rows] == [[True] * 5 + [False] * 2] * 2
    assert week.rows[1].cells[0] == week.days[0].slots[1]


def test_a_closed_day_has_no_grid_and_shows_bookings_made_while_it_was_open(
    agreement: Agreement, applicant: User, settings: Any
) -> None:
    rooms_configure(layout=DEMO_LAYOUT)
    settings.MEDBROKER_ROOM_OPEN_DAYS = "mon,tue,wed,thu,fri,sat"
    kept = _book(agreement, applicant, "1-02", kst(2025, 9, 27, 13))
    _book(agreement, applicant, "1-01", kst(2025, 9, 27, 9), status=ClosedRoomBooking.Status.CANCELLED)
    settings.MEDBROKER_ROOM_OPEN_DAYS = "mon,tue,wed,thu,fri"

    day = room_day(SATURDAY)

    assert (day.is_open, day.slots, day.capacity_hours, day.booked_hours) == (False, [], 0, Decimal("5.00"))
    assert day.occupancy == 0
    assert all(seat.cells == [] for room in day.rooms for seat in room.seats)
    assert day.off_grid == [kept]
    assert [b.status for b in day.cancelled] == ["cancelled"]
    # On an open day every live booking has its cell, so none is off the grid.
    assert room_day(MONDAY).off_grid == []


def test_bookings_visible_to_by_role(
    agreement: Agreement,
    applicant: User,
    other_applicant: User,
    operator: User,
    auditor: User,
    reviewer: User,
    steward: User,
) -> None:
    rooms_configure(layout=DEMO_LAYOUT)
    booking = _book(agreement, applicant, "1-01", kst(2025, 9, 22, 9))

    assert list(bookings_visible_to(applicant)) == [booking]
    assert list(bookings_visible_to(operator)) == [booking]
    assert list(bookings_visible_to(auditor)) == [booking]
    assert list(bookings_visible_to(other_applicant)) == []
    assert list(bookings_visible_to(reviewer)) == []
    assert list(bookings_visible_to(steward)) == []


def test_who_may_cancel_a_booking_and_until_when(
    agreement: Agreement, applicant: User, other_applicant: User, operator: User, auditor: User
) -> None:
    rooms_configure(layout=DEMO_LAYOUT)
    colleague = UserFactory(organisation=applicant.organisation, roles=[Role.APPLICANT])
    booking = _book(agreement, applicant, "1-01", kst(2025, 9, 22, 9))
    before, at_start = kst(2025, 9, 22, 8, 59, 59), kst(2025, 9, 22, 9)

    assert [
        booking_cancellable(booking, u, at=before)
        for u in (applicant, colleague, other_applicant, operator, auditor)
    ] == [
        True,
        True,
        False,
        True,
        False,
    ]
    assert [booking_cancellable(booking, u, at=at_start) for u in (applicant, operator)] == [False, True]
    booking.status = ClosedRoomBooking.Status.CHECKED_IN
    assert booking_cancellable(booking, operator, at=at_start) is False
