"""Bookings that race: the same seat and slot from six companies at once, and six members of one company
pushing against its weekly limit at once. Each request is a real HTTP request through the API, in its own
thread with its own database connection.

Two real transactions at once need a server database: SQLite serialises whole-database writes, so these
races cannot happen there (CI runs the suite on PostgreSQL first).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
import time_machine
from django.db import connection
from django.test import Client

from medbroker.access.models import ClosedRoomBooking, Seat
from medbroker.access.selectors.rooms import company_week_hours
from medbroker.access.services.rooms import booking_create, rooms_configure
from medbroker.access.tests.factories import grant
from medbroker.accounts.models import Role, User
from medbroker.accounts.tests.factories import OrganisationFactory, UserFactory
from medbroker.agreements.models import Agreement
from medbroker.agreements.tests.factories import active_agreement
from medbroker.audit.models import AuditEvent
from medbroker.core.timeutils import kst

URL = "/api/v1/rooms/bookings"
RACERS = 6


@pytest.fixture(autouse=True)
def before_the_week() -> Iterator[None]:
    with time_machine.travel(kst(2025, 9, 20, 10, 0, 0), tick=False):
        yield


def _company_with_agreement(name: str) -> tuple[Agreement, User]:
    member = UserFactory(organisation=OrganisationFactory(name=name), roles=[Role.APPLICANT])
    agreement = active_agreement(company=member.organisation)
    grant(agreement)
    return agreement, member


def _race(
    login: Callable[[Client, User | None], Client], requests: list[tuple[User, dict[str, Any]]]
) -> list[tuple[int, str]]:
    """POST every request at the same moment, each from its own signed-in client; (status, code) each."""
    clients = [(login(Client(), user), data) for user, data in requests]
    barrier = threading.Barrier(len(clients), timeout=30)
    results: list[tuple[int, str]] = []
    errors: list[BaseException] = []

    def post(client: Client, data: dict[str, Any]) -> None:
        try:
            barrier.wait()
            response = client.post(URL, data, content_type="application/json")
            results.append((response.status_code, response.json().get("code", "")))
        except BaseException as error:  # reported below; a thread cannot fail the test itself
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=post, args=pair) for pair in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    return sorted(results)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrent transactions need PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_six_companies_race_for_one_seat_and_exactly_one_gets_it(
    login: Callable[[Client, User | None], Client],
) -> None:
    rooms_configure(layout=[("폐쇄형 학습실 1", "", 4), ("폐쇄형 학습실 2", "", 4)])
    members = [_company_with_agreement(f"동시예약기업{n}")[1] for n in range(RACERS)]
    seat = Seat.objects.get(label="1-01")
    data = {"seat_id": seat.pk, "starts_at": "2025-09-22T09:00:00+09:00"}

    results = _race(login, [(member, data) for member in members])

    assert results == [(201, "")] + [(409, "seat_taken")] * (RACERS - 1)
    booking = ClosedRoomBooking.objects.get()
    assert booking.booked_by in members
    assert (booking.seat, booking.starts_at) == (seat, kst(2025, 9, 22, 9))
    assert AuditEvent.objects.filter(action="access.booking_created").count() == 1


@pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrent transactions need PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_six_members_of_one_company_never_book_past_the_weekly_limit(
    login: Callable[[Client, User | None], Client],
) -> None:
    rooms_configure(layout=[("폐쇄형 학습실 1", "", 4), ("폐쇄형 학습실 2", "", 4)])
    agreement, first = _company_with_agreement("한도경쟁기업")
    members = [first] + [
        UserFactory(organisation=agreement.company, roles=[Role.APPLICANT]) for _ in range(RACERS - 1)
    ]
    # 6 of the 16 hours already booked: two more 5-hour slots fit exactly, a third would not.
    booking_create(
        agreement=agreement, seat=Seat.objects.get(label="1-01"), starts_at=kst(2025, 9, 22, 9), actor=first
    )
    booking_create(
        agreement=agreement, seat=Seat.objects.get(label="1-01"), starts_at=kst(2025, 9, 23, 9), actor=first
    )
    seats = list(Seat.objects.order_by("label"))[:RACERS]

    results = _race(
        login,
        [
            (member, {"seat_id": seat.pk, "starts_at": "2025-09-24T13:00:00+09:00"})
            for member, seat in zip(members, seats, strict=True)
        ],
    )

    assert results == [(201, ""), (201, "")] + [(409, "weekly_limit")] * (RACERS - 2)
    assert company_week_hours(agreement.company, kst(2025, 9, 22).date()) == Decimal("16.00")
    assert ClosedRoomBooking.objects.filter(starts_at=kst(2025, 9, 24, 13)).count() == 2
