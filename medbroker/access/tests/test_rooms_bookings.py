"""Booking a seat, cancelling, and the operator's check-in and check-out: the rules of the services."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
import time_machine

from medbroker.access.models import AccessGrant, ClosedRoomBooking, Room, Seat
from medbroker.access.services.rooms import (
    booking_cancel,
    booking_check_in,
    booking_check_out,
    booking_create,
    room_add,
    rooms_configure,
    seat_active_set,
)
from medbroker.access.tests.factories import grant
from medbroker.accounts.models import Notification, Role, User
from medbroker.accounts.tests.factories import UserFactory
from medbroker.agreements.models import Agreement
from medbroker.agreements.tests.factories import active_agreement
from medbroker.audit.models import AuditEvent
from medbroker.core.errors import DomainError
from medbroker.core.timeutils import kst

NOW = kst(2025, 9, 20, 10, 0, 0)  # a Saturday; the week booked below starts Monday 2025-09-22


@pytest.fixture(autouse=True)
def frozen() -> Iterator[time_machine.Coordinates]:
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def agreement(applicant: User) -> Agreement:
    rooms_configure(
        layout=[("폐쇄형 학습실 1", "KTL 대구 센터 301호", 4), ("폐쇄형 학습실 2", "KTL 대구 센터 302호", 4)]
    )
    agreement = active_agreement(company=applicant.organisation)
    grant(agreement)
    return agreement


@pytest.fixture
def colleague(applicant: User) -> User:
    return UserFactory(username="colleague", organisation=applicant.organisation, roles=[Role.APPLICANT])


def seat(label: str) -> Seat:
    return Seat.objects.get(label=label)


def book(agreement: Agreement, user: User, label: str, starts_at: dt.datetime) -> ClosedRoomBooking:
    return booking_create(agreement=agreement, seat=seat(label), starts_at=starts_at, actor=user)


def refusal(call: Any) -> DomainError:
    before = list(ClosedRoomBooking.objects.order_by("pk").values_list("pk", "status"))
    events = AuditEvent.objects.count()
    with pytest.raises(DomainError) as error:
        call()
    # A refusal leaves nothing behind.
    assert list(ClosedRoomBooking.objects.order_by("pk").values_list("pk", "status")) == before
    assert AuditEvent.objects.count() == events
    return error.value


# ---------------------------------------------------------------------------------------------------------
# Creating
# ---------------------------------------------------------------------------------------------------------


def test_a_member_books_a_seat_and_is_told(agreement: Agreement, applicant: User) -> None:
    booking = book(agreement, applicant, "1-02", kst(2025, 9, 22, 13))

    assert (booking.seat.label, booking.starts_at, booking.ends_at, booking.status) == (
        "1-02",
        kst(2025, 9, 22, 13),
        kst(2025, 9, 22, 18),
        "booked",
    )
    assert (booking.company, booking.agreement, booking.booked_by) == (
        agreement.company,
        agreement,
        applicant,
    )
    notice = Notification.objects.get(user=applicant)
    assert (notice.kind, notice.title, notice.body, notice.link) == (
        "booking_confirmed",
        "폐쇄형 학습실 예약 확정",
        "폐쇄형 학습실 1 1-02 좌석, 2025-09-22 13:00–18:00 KST 예약이 확정되었습니다. 위치: KTL 대구 센터 301호",
        f"/access/rooms/bookings/{booking.pk}/",
    )
    event = AuditEvent.objects.get(action="access.booking_created")
    assert (event.actor_id, event.object_id, event.summary) == (
        applicant.pk,
        str(booking.pk),
        "폐쇄형 학습실 1 1-02 2025-09-22 13:00–18:00 KST",
    )
    assert event.data["starts_at"] == "2025-09-22T13:00:00+09:00"
    assert event.data["week_hours_after"] == "5.00"


def test_only_a_slot_of_the_grid_can_be_booked(agreement: Agreement, applicant: User) -> None:
    error = refusal(lambda: book(agreement, applicant, "1-01", kst(2025, 9, 22, 9, 30)))

    assert (error.code, error.status_code, error.field) == ("not_a_slot", 400, "starts_at")


def test_a_closed_day_cannot_be_booked_and_the_refusal_says_why(
    agreement: Agreement, applicant: User
) -> None:
    error = refusal(lambda: book(agreement, applicant, "1-01", kst(2025, 9, 27, 9)))

    assert (error.code, error.status_code, error.field) == ("room_closed_day", 400, "starts_at")
    assert (
        str(error.message)
        == "2025-09-27(토)은(는) 학습실 휴관일입니다. 학습실은 월·화·수·목·금요일에 운영합니다."
    )
    # A time that is no slot on a closed day is still a closed day, not a bad slot.
    assert (
        refusal(lambda: book(agreement, applicant, "1-01", kst(2025, 9, 28, 9, 30))).code == "room_closed_day"
    )
    assert not Notification.objects.exists()


def test_a_day_the_setting_opens_can_be_booked(agreement: Agreement, applicant: User, settings: Any) -> None:
    settings.MEDBROKER_ROOM_OPEN_DAYS = "mon,tue,wed,thu,fri,sat"

    assert book(agreement, applicant, "1-01", kst(2025, 9, 27, 9)).ends_at == kst(2025, 9, 27, 12)


def test_a_slot_that_has_started_cannot_be_booked(agreement: Agreement, applicant: User) -> None:
    with time_machine.travel(kst(2025, 9, 22, 9, 0, 0), tick=False):
        error = refusal(lambda: book(agreement, applicant, "1-01", kst(2025, 9, 22, 9)))
        assert book(agreement, applicant, "1-01", kst(2025, 9, 22, 13)).status == "booked"

    assert error.code == "slot_past"


def test_a_stopped_seat_or_room_cannot_be_booked(
    agreement: Agreement, applicant: User, operator: User
) -> None:
    seat_active_set(seat=seat("1-01"), active=False, actor=operator)
    Room.objects.filter(name="폐쇄형 학습실 2").update(is_active=False)

    assert refusal(lambda: book(agreement, applicant, "1-01", kst(2025, 9, 22, 9))).code == "seat_inactive"
    assert refusal(lambda: book(agreement, applicant, "2-01", kst(2025, 9, 22, 9))).code == "seat_inactive"


def test_only_a_member_of_the_company_books(
    agreement: Agreement, other_applicant: User, operator: User
) -> None:
    for user in (other_applicant, operator):
        error = refusal(lambda user=user: book(agreement, user, "1-01", kst(2025, 9, 22, 9)))
        assert (error.code, error.status_code) == ("not_member", 403)


def test_a_slot_ending_exactly_at_the_grant_end_is_bookable_one_ending_after_is_not(
    agreement: Agreement, applicant: User
) -> None:
    AccessGrant.objects.filter(agreement=agreement).update(
        starts_at=kst(2025, 9, 22, 9), ends_at=kst(2025, 9, 23, 12)
    )

    assert book(agreement, applicant, "1-01", kst(2025, 9, 22, 9)).status == "booked"
    assert book(agreement, applicant, "1-01", kst(2025, 9, 23, 9)).ends_at == kst(2025, 9, 23, 12)
    error = refusal(lambda: book(agreement, applicant, "1-01", kst(2025, 9, 23, 13)))
    assert (error.code, error.status_code, error.field) == ("outside_grant_window", 403, "starts_at")


def test_the_last_day_of_the_support_period_is_bookable_and_the_day_after_is_not(
    agreement: Agreement, applicant: User, settings: Any
) -> None:
    # The day after is a Saturday: open it, so the grant's end is what refuses it.
    settings.MEDBROKER_ROOM_OPEN_DAYS = "mon,tue,wed,thu,fri,sat"
    # The 2025 grant runs to the end of 2025-11-28 KST (ends_at 2025-11-29 00:00:00 KST, exclusive).
    assert book(agreement, applicant, "1-01", kst(2025, 11, 28, 13)).ends_at == kst(2025, 11, 28, 18)
    assert (
        refusal(lambda: book(agreement, applicant, "1-01", kst(2025, 11, 29, 9))).code
        == "outside_grant_window"
    )


def test_a_slot_before_the_grant_starts_is_refused(agreement: Agreement, applicant: User) -> None:
    AccessGrant.objects.filter(agreement=agreement).update(starts_at=kst(2025, 9, 22, 13))

    assert (
        refusal(lambda: book(agreement, applicant, "1-01", kst(2025, 9, 22, 9))).code
        == "outside_grant_window"
    )
    assert book(agreement, applicant, "1-01", kst(2025, 9, 22, 13)).status == "booked"


@pytest.mark.parametrize(
    "change",
    [
        {"status": AccessGrant.Status.REVOKED},
        {"status": AccessGrant.Status.EXPIRED},
        {"mode": AccessGrant.Mode.ONLINE},
    ],
    ids=["revoked", "expired", "online_only"],
)
def test_without_an_active_closed_room_grant_nothing_is_bookable(
    agreement: Agreement, applicant: User, change: dict[str, str]
) -> None:
    AccessGrant.objects.filter(agreement=agreement).update(**change)

    assert (
        refusal(lambda: book(agreement, applicant, "1-01", kst(2025, 9, 22, 9))).code
        == "outside_grant_window"
    )


def test_an_agreement_that_is_not_in_force_grants_no_seat(agreement: Agreement, applicant: User) -> None:
    Agreement.objects.filter(pk=agreement.pk).update(status=Agreement.Status.TERMINATED)

    assert (
        refusal(lambda: book(agreement, applicant, "1-01", kst(2025, 9, 22, 9))).code
        == "outside_grant_window"
    )


def test_a_view_only_grant_also_opens_the_room(applicant: User) -> None:
    rooms_configure(layout=[("폐쇄형 학습실 1", "", 1)])
    agreement = active_agreement(company=applicant.organisation)
    grant(agreement, kind=AccessGrant.Kind.VIEWING, view_only=True)

    assert book(agreement, applicant, "1-01", kst(2025, 9, 22, 9)).status == "booked"


def test_a_taken_seat_is_refused_and_a_cancelled_one_is_free_again(
    agreement: Agreement, applicant: User, colleague: User
) -> None:
    first = book(agreement, applicant, "1-01", kst(2025, 9, 22, 9))

    error = refusal(lambda: book(agreement, colleague, "1-01", kst(2025, 9, 22, 9)))
    assert (error.code, error.status_code) == ("seat_taken", 409)

    booking_cancel(booking=first, actor=applicant)
    assert book(agreement, colleague, "1-01", kst(2025, 9, 22, 9)).booked_by == colleague


def test_one_person_sits_in_one_seat_per_slot(agreement: Agreement, applicant: User) -> None:
    book(agreement, applicant, "1-01", kst(2025, 9, 22, 9))

    for label in ("1-02", "1-01"):
        error = refusal(lambda label=label: book(agreement, applicant, label, kst(2025, 9, 22, 9)))
        assert (error.code, error.status_code) == ("already_booked_slot", 409)


# ---------------------------------------------------------------------------------------------------------
# The weekly limit (16 hours, Monday to Sunday KST)
# ---------------------------------------------------------------------------------------------------------


def test_sixteen_hours_are_allowed_and_the_next_slot_is_refused(
    agreement: Agreement, applicant: User, colleague: User
) -> None:
    # 3 + 5 + 3 + 5 = 16 hours, by two members of the company.
    book(agreement, applicant, "1-01", kst(2025, 9, 22, 9))
    book(agreement, colleague, "1-02", kst(2025, 9, 22, 13))
    book(agreement, applicant, "2-01", kst(2025, 9, 23, 9))
    book(agreement, colleague, "2-02", kst(2025, 9, 23, 13))

    error = refusal(lambda: book(agreement, applicant, "1-01", kst(2025, 9, 24, 9)))

    assert (error.code, error.status_code) == ("weekly_limit", 409)
    assert str(error.message) == (
        "주간 이용 한도를 넘습니다: 이번 주(2025-09-22 시작) 16시간 사용 중, 한도 16시간, 이 시간대는 3시간입니다."
    )
    assert error.details == {"hours_used": "16.00", "hours_limit": "16", "slot_hours": "3.00"}


def test_the_limit_counts_the_company_not_the_agreement_or_the_person(
    agreement: Agreement, applicant: User, colleague: User, settings: Any
) -> None:
    settings.MEDBROKER_ROOM_WEEKLY_HOURS = 8
    book(agreement, applicant, "1-01", kst(2025, 9, 22, 13))

    assert refusal(lambda: book(agreement, colleague, "1-02", kst(2025, 9, 23, 13))).code == "weekly_limit"
    assert book(agreement, colleague, "1-02", kst(2025, 9, 23, 9)).status == "booked"


def test_the_refusal_writes_the_hours_plainly(agreement: Agreement, applicant: User, settings: Any) -> None:
    settings.MEDBROKER_ROOM_WEEKLY_HOURS = 12
    book(agreement, applicant, "1-01", kst(2025, 9, 22, 13))
    book(agreement, applicant, "1-01", kst(2025, 9, 23, 13))

    error = refusal(lambda: book(agreement, applicant, "1-01", kst(2025, 9, 24, 9)))

    assert str(error.message) == (
        "주간 이용 한도를 넘습니다: 이번 주(2025-09-22 시작) 10시간 사용 중, 한도 12시간, 이 시간대는 3시간입니다."
    )


def test_cancelled_bookings_give_their_hours_back(
    agreement: Agreement, applicant: User, settings: Any
) -> None:
    settings.MEDBROKER_ROOM_WEEKLY_HOURS = 5
    first = book(agreement, applicant, "1-01", kst(2025, 9, 22, 13))
    booking_cancel(booking=first, actor=applicant)

    assert book(agreement, applicant, "1-01", kst(2025, 9, 23, 13)).status == "booked"


def test_sunday_counts_in_its_week_and_monday_starts_a_new_one(
    agreement: Agreement, applicant: User, colleague: User, settings: Any
) -> None:
    # A centre that opens on Sundays too: the week still ends on Sunday.
    settings.MEDBROKER_ROOM_OPEN_DAYS = "mon,tue,wed,thu,fri,sat,sun"
    book(agreement, applicant, "1-01", kst(2025, 9, 22, 9))
    book(agreement, applicant, "1-01", kst(2025, 9, 22, 13))
    book(agreement, applicant, "1-01", kst(2025, 9, 23, 9))
    book(agreement, colleague, "1-02", kst(2025, 9, 28, 13))  # Sunday: 16 hours in the week

    assert refusal(lambda: book(agreement, applicant, "1-01", kst(2025, 9, 28, 9))).code == "weekly_limit"
    assert book(agreement, applicant, "1-01", kst(2025, 9, 29, 9)).status == "booked"  # Monday


# ---------------------------------------------------------------------------------------------------------
# Cancelling
# ---------------------------------------------------------------------------------------------------------


def test_a_member_cancels_before_the_slot_starts(
    agreement: Agreement, applicant: User, colleague: User
) -> None:
    booking = book(agreement, applicant, "1-01", kst(2025, 9, 22, 9))

    cancelled = booking_cancel(booking=booking, actor=colleague)

    assert (cancelled.status, cancelled.cancelled_at, cancelled.cancelled_by, cancelled.cancel_reason) == (
        "cancelled",
        NOW,
        colleague,
        "",
    )
    notice = Notification.objects.get(user=applicant, kind="booking_cancelled")
    assert notice.body == "폐쇄형 학습실 1 1-01 좌석, 2025-09-22 09:00–12:00 KST 예약이 취소되었습니다."
    event = AuditEvent.objects.get(action="access.booking_cancelled")
    assert (event.actor_id, event.data["by_operator"], event.data["reason"]) == (colleague.pk, False, "")


def test_a_member_cannot_cancel_once_the_slot_has_started(
    agreement: Agreement, applicant: User, frozen: time_machine.Coordinates
) -> None:
    booking = book(agreement, applicant, "1-01", kst(2025, 9, 22, 9))
    frozen.move_to(kst(2025, 9, 22, 9, 0, 0))

    error = refusal(lambda: booking_cancel(booking=booking, actor=applicant))

    assert (error.code, error.status_code) == ("cancel_too_late", 409)


def test_another_company_cannot_cancel(
    agreement: Agreement, applicant: User, other_applicant: User, auditor: User
) -> None:
    booking = book(agreement, applicant, "1-01", kst(2025, 9, 22, 9))

    for user in (other_applicant, auditor):
        assert refusal(lambda user=user: booking_cancel(booking=booking, actor=user)).code == "not_member"


def test_an_operator_cancels_at_any_time_with_a_reason_the_booker_is_told(
    agreement: Agreement, applicant: User, operator: User, frozen: time_machine.Coordinates
) -> None:
    booking = book(agreement, applicant, "1-01", kst(2025, 9, 22, 9))
    frozen.move_to(kst(2025, 9, 22, 10, 0, 0))

    error = refusal(lambda: booking_cancel(booking=booking, actor=operator, reason="  "))
    assert (error.code, error.field) == ("reason_required", "reason")

    cancelled = booking_cancel(booking=booking, actor=operator, reason="좌석 PC 고장")

    assert (cancelled.status, cancelled.cancelled_by, cancelled.cancel_reason) == (
        "cancelled",
        operator,
        "좌석 PC 고장",
    )
    notice = Notification.objects.get(user=applicant, kind="booking_cancelled")
    assert notice.body.endswith("예약이 취소되었습니다. 운영자 취소 사유: 좌석 PC 고장")
    assert AuditEvent.objects.get(action="access.booking_cancelled").data["by_operator"] is True


def test_a_booking_cancelled_or_attended_cannot_be_cancelled(
    agreement: Agreement, applicant: User, operator: User, frozen: time_machine.Coordinates
) -> None:
    cancelled = booking_cancel(
        booking=book(agreement, applicant, "1-01", kst(2025, 9, 22, 9)), actor=applicant
    )
    attended = book(agreement, applicant, "1-02", kst(2025, 9, 22, 13))
    frozen.move_to(kst(2025, 9, 22, 12, 50, 0))
    booking_check_in(booking=attended, actor=operator)

    for booking in (cancelled, attended):
        error = refusal(
            lambda booking=booking: booking_cancel(booking=booking, actor=operator, reason="정리")
        )
        assert (error.code, error.status_code) == ("booking_not_cancellable", 409)


# ---------------------------------------------------------------------------------------------------------
# Check-in and check-out
# ---------------------------------------------------------------------------------------------------------


def test_the_operator_records_check_in_and_check_out_on_the_day(
    agreement: Agreement, applicant: User, operator: User, frozen: time_machine.Coordinates
) -> None:
    booking = book(agreement, applicant, "1-01", kst(2025, 9, 22, 9))
    frozen.move_to(kst(2025, 9, 22, 8, 55, 0))

    booking = booking_check_in(booking=booking, actor=operator)
    assert (booking.status, booking.checked_in_at, booking.attendance_recorded_by) == (
        "checked_in",
        kst(2025, 9, 22, 8, 55),
        operator,
    )
    frozen.move_to(kst(2025, 9, 22, 12, 5, 0))
    booking = booking_check_out(booking=booking, actor=operator)

    assert (booking.status, booking.checked_out_at) == ("checked_out", kst(2025, 9, 22, 12, 5))
    events = list(
        AuditEvent.objects.filter(action__startswith="access.booking_checked")
        .order_by("sequence")
        .values_list("action", "data")
    )
    assert [action for action, _ in events] == ["access.booking_checked_in", "access.booking_checked_out"]
    assert events[0][1]["checked_in_at"] == "2025-09-22T08:55:00+09:00"
    assert events[1][1]["checked_out_at"] == "2025-09-22T12:05:00+09:00"


def test_check_in_opens_thirty_minutes_before_the_slot_and_closes_when_it_ends(
    agreement: Agreement, applicant: User, operator: User, frozen: time_machine.Coordinates
) -> None:
    booking = book(agreement, applicant, "1-01", kst(2025, 9, 22, 9))

    # Given the 09:00–12:00 slot, when the operator tries at midnight or at 08:29:59, then it is too early.
    for early in (kst(2025, 9, 22, 0, 0, 0), kst(2025, 9, 22, 8, 29, 59)):
        frozen.move_to(early)
        error = refusal(lambda: booking_check_in(booking=booking, actor=operator))
        assert (error.code, error.status_code) == ("check_in_too_early", 409)
    assert str(error.message) == (
        "입실은 예약 시간대(2025-09-22 09:00–12:00 KST) 시작 30분 전인 2025-09-22 08:30부터 기록할 수 있습니다."
    )

    # When it is 08:30 sharp, then the check-in is recorded.
    frozen.move_to(kst(2025, 9, 22, 8, 30, 0))
    checked_in = booking_check_in(booking=booking, actor=operator)

    assert (checked_in.status, checked_in.checked_in_at) == ("checked_in", kst(2025, 9, 22, 8, 30))


def test_check_in_is_refused_once_the_slot_has_ended(
    agreement: Agreement, applicant: User, operator: User, frozen: time_machine.Coordinates
) -> None:
    booking = book(agreement, applicant, "1-01", kst(2025, 9, 22, 9))
    late = book(agreement, applicant, "1-02", kst(2025, 9, 22, 13))

    # Given the 09:00–12:00 slot, when the operator tries at 12:00 or at 20:00 the same day, then it is over.
    for after in (kst(2025, 9, 22, 12, 0, 0), kst(2025, 9, 22, 20, 0, 0)):
        frozen.move_to(after)
        error = refusal(lambda: booking_check_in(booking=booking, actor=operator))
        assert (error.code, error.status_code) == ("check_in_too_late", 409)
    assert str(error.message) == "예약 시간대(2025-09-22 09:00–12:00 KST)가 끝나 입실을 기록할 수 없습니다."

    # The last second of a slot still counts: a member who arrives late is recorded.
    frozen.move_to(kst(2025, 9, 22, 17, 59, 59))
    assert booking_check_in(booking=late, actor=operator).status == "checked_in"


@pytest.mark.parametrize(
    "lapse",
    [
        lambda agreement: AccessGrant.objects.filter(agreement=agreement).update(
            status=AccessGrant.Status.REVOKED, revoke_reason="보안 서약 위반"
        ),
        lambda agreement: Agreement.objects.filter(pk=agreement.pk).update(
            status=Agreement.Status.TERMINATED
        ),
        lambda agreement: AccessGrant.objects.filter(agreement=agreement).update(
            status=AccessGrant.Status.CLOSED
        ),
    ],
    ids=["grant_revoked", "agreement_terminated", "grant_closed"],
)
def test_check_in_is_refused_when_no_grant_covers_the_slot_any_more(
    agreement: Agreement,
    applicant: User,
    operator: User,
    frozen: time_machine.Coordinates,
    lapse: Any,
) -> None:
    booking = book(agreement, applicant, "1-01", kst(2025, 9, 22, 9))
    # Given the grant or the agreement lapsed after the booking (and after the reconciler's last run)
    lapse(agreement)
    frozen.move_to(kst(2025, 9, 22, 9, 10, 0))

    # When the operator records the check-in inside the slot
    error = refusal(lambda: booking_check_in(booking=booking, actor=operator))

    # Then it is refused with the reason, and the booking stays booked
    assert (error.code, error.status_code) == ("booking_not_covered", 409)
    assert str(error.message) == (
        "이 시간대를 덮는 폐쇄형 학습실 데이터 이용 권한이 없어 입실을 기록할 수 없습니다. "
        "이용 권한이 중지·만료·종료되었거나 협약이 효력을 잃었습니다."
    )
    assert ClosedRoomBooking.objects.get(pk=booking.pk).checked_in_at is None


def test_check_out_is_recorded_until_the_end_of_the_check_in_day(
    agreement: Agreement, applicant: User, operator: User, frozen: time_machine.Coordinates
) -> None:
    booking = book(agreement, applicant, "1-01", kst(2025, 9, 22, 9))
    forgotten = book(agreement, applicant, "1-02", kst(2025, 9, 22, 13))
    frozen.move_to(kst(2025, 9, 22, 8, 55, 0))
    booking = booking_check_in(booking=booking, actor=operator)
    frozen.move_to(kst(2025, 9, 22, 13, 0, 0))
    forgotten = booking_check_in(booking=forgotten, actor=operator)

    # Given a member who left without the operator noticing, when the operator records it at 23:59:59
    frozen.move_to(kst(2025, 9, 22, 23, 59, 59))
    booking = booking_check_out(booking=booking, actor=operator)

    # Then it is recorded; but at midnight the day is over and a check-out is refused.
    assert (booking.status, booking.checked_out_at) == ("checked_out", kst(2025, 9, 22, 23, 59, 59))
    frozen.move_to(kst(2025, 9, 23, 0, 0, 0))
    error = refusal(lambda: booking_check_out(booking=forgotten, actor=operator))
    assert (error.code, error.status_code) == ("check_out_too_late", 409)
    assert str(error.message) == (
        "퇴실은 입실한 날(2025-09-22) 안에만 기록할 수 있습니다. 지난 날의 퇴실 시각은 확인할 수 없어 기록하지 않습니다."
    )
    assert ClosedRoomBooking.objects.get(pk=forgotten.pk).status == "checked_in"


def test_check_in_and_out_follow_the_booking_state(
    agreement: Agreement, applicant: User, operator: User, frozen: time_machine.Coordinates
) -> None:
    booking = book(agreement, applicant, "1-01", kst(2025, 9, 22, 9))
    cancelled = booking_cancel(
        booking=book(agreement, applicant, "1-02", kst(2025, 9, 22, 13)), actor=applicant
    )
    frozen.move_to(kst(2025, 9, 22, 9, 10, 0))

    assert (
        refusal(lambda: booking_check_out(booking=booking, actor=operator)).code == "booking_not_checked_in"
    )
    assert refusal(lambda: booking_check_in(booking=cancelled, actor=operator)).code == "booking_not_booked"
    booking_check_in(booking=booking, actor=operator)
    assert refusal(lambda: booking_check_in(booking=booking, actor=operator)).code == "booking_not_booked"
    booking_check_out(booking=booking, actor=operator)
    assert (
        refusal(lambda: booking_check_out(booking=booking, actor=operator)).code == "booking_not_checked_in"
    )


def test_only_operators_record_attendance(
    agreement: Agreement, applicant: User, auditor: User, frozen: time_machine.Coordinates
) -> None:
    booking = book(agreement, applicant, "1-01", kst(2025, 9, 22, 9))
    frozen.move_to(kst(2025, 9, 22, 9, 0, 0))

    for user in (applicant, auditor):
        assert refusal(lambda user=user: booking_check_in(booking=booking, actor=user)).code == "forbidden"
        assert refusal(lambda user=user: booking_check_out(booking=booking, actor=user)).code == "forbidden"


# ---------------------------------------------------------------------------------------------------------
# Rooms and seats
# ---------------------------------------------------------------------------------------------------------


def test_an_operator_adds_a_room_with_its_seats(agreement: Agreement, operator: User) -> None:
    room = room_add(name=" 폐쇄형 학습실 3 ", location="KTL 대구 센터 303호", seat_count=2, actor=operator)

    assert (room.name, room.order, list(room.seats.values_list("label", flat=True))) == (
        "폐쇄형 학습실 3",
        3,
        ["3-01", "3-02"],
    )
    assert AuditEvent.objects.get(action="access.room_added").data["seats"] == ["3-01", "3-02"]
    assert refusal(
        lambda: room_add(name="폐쇄형 학습실 3", location="", seat_count=2, actor=operator)
    ).code == ("room_exists")
    assert refusal(lambda: room_add(name="학습실 4", location="", seat_count=0, actor=operator)).code == (
        "seat_count_invalid"
    )


def test_a_stopped_seat_keeps_its_bookings(agreement: Agreement, applicant: User, operator: User) -> None:
    booking = book(agreement, applicant, "1-01", kst(2025, 9, 22, 9))

    seat_active_set(seat=seat("1-01"), active=False, actor=operator)
    seat_active_set(seat=seat("1-01"), active=False, actor=operator)

    booking.refresh_from_db()
    assert (seat("1-01").is_active, booking.status) == (False, "booked")
    assert AuditEvent.objects.filter(action="access.seat_deactivated").count() == 1
    seat_active_set(seat=seat("1-01"), active=True, actor=operator)
    assert AuditEvent.objects.filter(action="access.seat_activated").count() == 1
    assert (
        refusal(lambda: seat_active_set(seat=seat("1-01"), active=False, actor=applicant)).code == "forbidden"
    )
