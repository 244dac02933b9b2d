"""The booking reconciler: bookings no grant covers any more are cancelled before they start, once."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from decimal import Decimal

import pytest
import time_machine
from django.test import Client
from django.urls import reverse

from medbroker.access import tasks_rooms
from medbroker.access.models import AccessGrant, ClosedRoomBooking, Seat
from medbroker.access.selectors.rooms import company_week_hours, room_week_for_company
from medbroker.access.services.grants import grant_revoke
from medbroker.access.services.rooms import (
    booking_check_in,
    booking_create,
    bookings_reconcile,
    rooms_configure,
)
from medbroker.access.tests.factories import grant
from medbroker.accounts.models import Notification, Role, User
from medbroker.accounts.tests.factories import UserFactory
from medbroker.agreements.models import Agreement
from medbroker.agreements.services.agreements import agreement_terminate
from medbroker.agreements.tests.factories import active_agreement
from medbroker.audit.models import AuditEvent
from medbroker.core.timeutils import kst

NOW = kst(2025, 9, 22, 10, 0, 0)  # Monday, in the middle of the morning slot
MONDAY = dt.date(2025, 9, 22)
NOTHING = {"cancelled": 0}


@pytest.fixture(autouse=True)
def frozen() -> Iterator[time_machine.Coordinates]:
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def agreement(applicant: User) -> Agreement:
    rooms_configure(layout=[("폐쇄형 학습실 1", "KTL 대구 센터 301호", 4)])
    agreement = active_agreement(company=applicant.organisation)
    grant(agreement)
    return agreement


def book(agreement: Agreement, user: User, label: str, starts_at: dt.datetime) -> ClosedRoomBooking:
    return booking_create(
        agreement=agreement, seat=Seat.objects.get(label=label), starts_at=starts_at, actor=user
    )


def statuses() -> list[tuple[str, dt.datetime, str]]:
    return list(ClosedRoomBooking.objects.order_by("pk").values_list("seat__label", "starts_at", "status"))


@pytest.fixture
def bookings(
    agreement: Agreement, applicant: User, frozen: time_machine.Coordinates
) -> list[ClosedRoomBooking]:
    """Two seats this morning (started: it is 10:00), this afternoon and Tuesday morning (not started)."""
    colleague = UserFactory(username="colleague", organisation=applicant.organisation, roles=[Role.APPLICANT])
    frozen.move_to(kst(2025, 9, 22, 8, 0, 0))
    made = [
        book(agreement, applicant, "1-01", kst(2025, 9, 22, 9)),
        book(agreement, colleague, "1-02", kst(2025, 9, 22, 9)),
        book(agreement, applicant, "1-01", kst(2025, 9, 22, 13)),
        book(agreement, applicant, "1-03", kst(2025, 9, 23, 9)),
    ]
    frozen.move_to(NOW)
    return made


def test_a_run_while_every_booking_is_covered_changes_nothing(
    agreement: Agreement, bookings: list[ClosedRoomBooking]
) -> None:
    before = statuses()

    assert bookings_reconcile(now=NOW) == NOTHING
    assert statuses() == before


def test_a_revoked_grant_cancels_the_bookings_not_yet_started_and_frees_seats_and_hours(
    agreement: Agreement,
    applicant: User,
    operator: User,
    other_applicant: User,
    bookings: list[ClosedRoomBooking],
) -> None:
    morning, _colleague_morning, afternoon, tuesday = bookings
    # Given the morning booking checked in, then the grant revoked at 10:00
    with time_machine.travel(kst(2025, 9, 22, 9, 5, 0), tick=False):
        booking_check_in(booking=morning, actor=operator)
    grant_revoke(grant=AccessGrant.objects.get(), actor=operator, reason="보안 서약 위반")
    Notification.objects.all().delete()

    # When the reconciler runs
    result = bookings_reconcile(now=NOW)

    # Then the two bookings that have not started are cancelled with the reason; the started ones are kept
    assert result == {"cancelled": 2}
    assert statuses() == [
        ("1-01", kst(2025, 9, 22, 9), "checked_in"),
        ("1-02", kst(2025, 9, 22, 9), "booked"),
        ("1-01", kst(2025, 9, 22, 13), "cancelled"),
        ("1-03", kst(2025, 9, 23, 9), "cancelled"),
    ]
    reason = "데이터 이용이 중지되어 예약이 자동으로 취소되었습니다. 중지 사유: 보안 서약 위반"
    for booking in (afternoon, tuesday):
        booking.refresh_from_db()
        assert (booking.cancelled_at, booking.cancelled_by, booking.cancel_reason) == (NOW, None, reason)
    # The seats are free for other companies and the hours no longer count against the week.
    assert company_week_hours(agreement.company, MONDAY) == Decimal("6.00")
    other = active_agreement(company=other_applicant.organisation)
    grant(other)
    assert book(other, other_applicant, "1-01", kst(2025, 9, 22, 13)).status == "booked"
    # The booker is told, once per booking, with the reason.
    notices = list(
        Notification.objects.filter(user=applicant)
        .order_by("pk")
        .values_list("kind", "title", "body", "link")
    )
    assert notices == [
        (
            "booking_cancelled",
            "폐쇄형 학습실 예약 취소",
            f"폐쇄형 학습실 1 1-01 좌석, 2025-09-22 13:00–18:00 KST 예약이 취소되었습니다. 사유: {reason}",
            f"/access/rooms/bookings/{afternoon.pk}/",
        ),
        (
            "booking_cancelled",
            "폐쇄형 학습실 예약 취소",
            f"폐쇄형 학습실 1 1-03 좌석, 2025-09-23 09:00–12:00 KST 예약이 취소되었습니다. 사유: {reason}",
            f"/access/rooms/bookings/{tuesday.pk}/",
        ),
    ]
    events = AuditEvent.objects.filter(action="access.booking_cancelled").order_by("sequence")
    assert [(e.actor_id, e.object_id, e.summary) for e in events] == [
        (None, str(afternoon.pk), "폐쇄형 학습실 1 1-01 2025-09-22 13:00–18:00 KST"),
        (None, str(tuesday.pk), "폐쇄형 학습실 1 1-03 2025-09-23 09:00–12:00 KST"),
    ]
    assert {key: events[0].data[key] for key in ("reason", "cause", "cancel_reason", "by_operator")} == {
        "reason": "grant_lapsed",
        "cause": "grant_revoked",
        "cancel_reason": reason,
        "by_operator": False,
    }


def test_a_second_run_cancels_nothing_and_tells_nobody_again(
    agreement: Agreement, operator: User, bookings: list[ClosedRoomBooking]
) -> None:
    grant_revoke(grant=AccessGrant.objects.get(), actor=operator, reason="보안 서약 위반")
    first = bookings_reconcile(now=NOW)
    after_first = (statuses(), Notification.objects.count(), AuditEvent.objects.count())

    again = bookings_reconcile(now=NOW)
    later = bookings_reconcile(now=kst(2025, 9, 22, 10, 1))

    assert (first, again, later) == ({"cancelled": 2}, NOTHING, NOTHING)
    assert (statuses(), Notification.objects.count(), AuditEvent.objects.count()) == after_first


@pytest.mark.parametrize(
    ("lapse", "cause", "reason"),
    [
        (
            lambda agreement, operator: agreement_terminate(
                agreement=agreement, actor=operator, reason="협약 위반"
            ),
            "agreement_terminated",
            "협약이 해지되어 예약이 자동으로 취소되었습니다.",
        ),
        (
            lambda agreement, operator: Agreement.objects.filter(pk=agreement.pk).update(
                status=Agreement.Status.ENDED
            ),
            "agreement_ended",
            "협약 기간이 끝나 예약이 자동으로 취소되었습니다.",
        ),
        (
            lambda agreement, operator: AccessGrant.objects.update(status=AccessGrant.Status.CLOSED),
            "grant_closed",
            "협약 범위에서 빠져 데이터 이용이 종료되어 예약이 자동으로 취소되었습니다.",
        ),
        (
            lambda agreement, operator: AccessGrant.objects.update(status=AccessGrant.Status.EXPIRED),
            "grant_expired",
            "데이터 이용 기간이 끝나 예약이 자동으로 취소되었습니다.",
        ),
        (
            # The window now ends on Monday evening: Tuesday's slot is outside it, Monday's is still in.
            lambda agreement, operator: AccessGrant.objects.update(ends_at=kst(2025, 9, 22, 18)),
            "outside_grant_window",
            "예약한 시간대가 폐쇄형 학습실 데이터 이용 기간 밖이 되어 예약이 자동으로 취소되었습니다.",
        ),
    ],
    ids=["agreement_terminated", "agreement_ended", "grant_closed", "grant_expired", "window_shortened"],
)
def test_each_lapse_cancels_with_its_own_reason(
    agreement: Agreement,
    operator: User,
    bookings: list[ClosedRoomBooking],
    lapse: Callable[[Agreement, User], object],
    cause: str,
    reason: str,
) -> None:
    tuesday = bookings[3]
    lapse(agreement, operator)

    bookings_reconcile(now=NOW)

    tuesday.refresh_from_db()
    assert (tuesday.status, tuesday.cancel_reason) == ("cancelled", reason)
    event = AuditEvent.objects.get(action="access.booking_cancelled", object_id=str(tuesday.pk))
    assert (event.data["reason"], event.data["cause"]) == ("grant_lapsed", cause)


def test_another_grant_still_covering_the_slot_keeps_the_booking(
    agreement: Agreement, operator: User, bookings: list[ClosedRoomBooking]
) -> None:
    # Given a second closed-room grant of the agreement (another dataset) over the whole period
    first = AccessGrant.objects.get(agreement=agreement)
    version = agreement.versions.get(status="effective")
    grant(agreement, version.datasets.order_by("pk")[1].dataset)
    before = statuses()

    # When the first grant is revoked
    grant_revoke(grant=first, actor=operator, reason="정비")

    # Then the second still opens the room: nothing is cancelled
    assert bookings_reconcile(now=NOW) == NOTHING
    assert statuses() == before


def test_other_companies_bookings_are_left_alone(
    agreement: Agreement, operator: User, other_applicant: User, bookings: list[ClosedRoomBooking]
) -> None:
    other = active_agreement(company=other_applicant.organisation)
    grant(other)
    theirs = book(other, other_applicant, "1-04", kst(2025, 9, 23, 9))

    grant_revoke(grant=AccessGrant.objects.get(agreement=agreement), actor=operator, reason="정비")

    assert bookings_reconcile(now=NOW) == {"cancelled": 2}
    theirs.refresh_from_db()
    assert theirs.status == "booked"


def test_the_celery_task_runs_the_reconciler_at_the_current_time(
    agreement: Agreement, operator: User, bookings: list[ClosedRoomBooking]
) -> None:
    grant_revoke(grant=AccessGrant.objects.get(), actor=operator, reason="보안 서약 위반")

    assert tasks_rooms.bookings_reconcile.name == "medbroker.access.tasks_rooms.bookings_reconcile"
    assert tasks_rooms.bookings_reconcile.delay().get() == {"cancelled": 2}
    assert tasks_rooms.bookings_reconcile.delay().get() == NOTHING


def test_the_week_grid_offers_the_freed_slot_again(
    agreement: Agreement,
    applicant: User,
    operator: User,
    other_applicant: User,
    bookings: list[ClosedRoomBooking],
) -> None:
    other = active_agreement(company=other_applicant.organisation)
    grant(other)
    before = room_week_for_company(other, MONDAY, user=other_applicant, at=NOW)
    grant_revoke(grant=AccessGrant.objects.get(agreement=agreement), actor=operator, reason="정비")

    bookings_reconcile(now=NOW)

    after = room_week_for_company(other, MONDAY, user=other_applicant, at=NOW)
    tuesday_morning = 2
    assert (before.slots[tuesday_morning].free_count, after.slots[tuesday_morning].free_count) == (3, 4)


# ---------------------------------------------------------------------------------------------------------
# The pages show the cancellation and its reason
# ---------------------------------------------------------------------------------------------------------

REASON = "데이터 이용이 중지되어 예약이 자동으로 취소되었습니다. 중지 사유: 보안 서약 위반"


@pytest.fixture
def lapsed(agreement: Agreement, operator: User, bookings: list[ClosedRoomBooking]) -> ClosedRoomBooking:
    grant_revoke(grant=AccessGrant.objects.get(), actor=operator, reason="보안 서약 위반")
    bookings_reconcile(now=NOW)
    tuesday = bookings[3]
    tuesday.refresh_from_db()
    return tuesday


def test_the_company_booking_page_lists_the_cancelled_booking_with_its_reason(
    lapsed: ClosedRoomBooking, applicant: User, login: Callable[..., Client]
) -> None:
    page = login(Client(), applicant).get(reverse("access:booking_list")).content.decode()

    past = page[page.index('id="past-title"') :]
    assert f'href="/access/rooms/bookings/{lapsed.pk}/">2025-09-23 (화요일) 09:00–12:00</a>' in past
    assert f"<td>{REASON}</td>" in past


def test_the_day_view_lists_the_cancelled_booking_with_its_reason(
    lapsed: ClosedRoomBooking, operator: User, login: Callable[..., Client]
) -> None:
    page = login(Client(), operator).get(reverse("access:room_day") + "?day=2025-09-23").content.decode()

    cancelled = page[page.index('id="cancelled-title"') :]
    assert "1-03" in cancelled
    assert f"<td>자동 취소</td><td>{REASON}</td>" in cancelled


def test_the_booking_detail_says_it_was_cancelled_automatically(
    lapsed: ClosedRoomBooking, applicant: User, login: Callable[..., Client]
) -> None:
    page = login(Client(), applicant).get(reverse("access:booking_detail", args=[lapsed.pk])).content.decode()

    assert "2025-09-22 10:00:00 KST · 자동 취소" in page
    assert f"<dt>취소 사유</dt><dd>{REASON}</dd>" in page
    assert "None" not in page
