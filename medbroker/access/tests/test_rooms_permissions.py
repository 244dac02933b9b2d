"""Permission matrix (style guide): every role × every page and API endpoint of the closed learning room.

``applicant``'s company has an agreement in force with a closed-room grant and one booking, this morning
(seat 1-01, 09:00); it is 08:40 KST on that day, when check-in is open. Anonymous users go to the login page
(302) or get 401 from the API; roles without business here get 403; another company gets 404 for this
company's agreement or booking. Only the requests noted below change anything, and each changes exactly what it says.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import time_machine
from django.test import Client
from django.urls import reverse

from medbroker.access.models import ClosedRoomBooking, Room, Seat
from medbroker.access.services.rooms import booking_create, rooms_configure
from medbroker.access.tests.factories import grant
from medbroker.accounts.models import User
from medbroker.agreements.models import Agreement
from medbroker.agreements.tests.factories import active_agreement
from medbroker.core.timeutils import kst

ROLES = ["anonymous", "applicant", "other_applicant", "reviewer", "steward", "operator", "auditor"]
MORNING = kst(2025, 9, 22, 9)
AFTERNOON = kst(2025, 9, 22, 13)


@pytest.fixture(autouse=True)
def morning_of_the_booking() -> Iterator[None]:
    with time_machine.travel(kst(2025, 9, 22, 8, 40, 0), tick=False):
        yield


@pytest.fixture
def agreement(applicant: User) -> Agreement:
    rooms_configure(layout=[("폐쇄형 학습실 1", "KTL 대구 센터 301호", 4)])
    agreement = active_agreement(company=applicant.organisation)
    grant(agreement)
    return agreement


@pytest.fixture
def booking(agreement: Agreement, applicant: User) -> ClosedRoomBooking:
    return booking_create(
        agreement=agreement, seat=Seat.objects.get(label="1-01"), starts_at=MORNING, actor=applicant
    )


def _urls(agreement: Agreement, booking: ClosedRoomBooking) -> dict[str, tuple[str, str, dict[str, Any]]]:
    pk = booking.pk
    free_seat = Seat.objects.get(label="1-02")
    api_booking = {"seat_id": free_seat.pk, "starts_at": AFTERNOON.isoformat()}
    return {
        "booking_list": ("get", reverse("access:booking_list"), {}),
        "booking_list_week": ("get", reverse("access:booking_list") + "?week=2025-09-29", {}),
        "booking_create": (
            "post",
            reverse("access:booking_create"),
            {"agreement": agreement.pk, "seat": free_seat.pk, "starts_at": AFTERNOON.isoformat()},
        ),
        "booking_detail": ("get", reverse("access:booking_detail", args=[pk]), {}),
        "booking_cancel": ("post", reverse("access:booking_cancel", args=[pk]), {"reason": "좌석 정비"}),
        "booking_check_in": ("post", reverse("access:booking_check_in", args=[pk]), {}),
        # Not checked in yet: the operator is sent back with the reason, nothing changes.
        "booking_check_out": ("post", reverse("access:booking_check_out", args=[pk]), {}),
        "room_day": ("get", reverse("access:room_day") + "?day=2025-09-22", {}),
        "room_list": ("get", reverse("access:room_list"), {}),
        "room_add": (
            "post",
            reverse("access:room_add"),
            {"name": "폐쇄형 학습실 9", "location": "", "seat_count": 2},
        ),
        "seat_toggle": ("post", reverse("access:seat_toggle", args=[free_seat.pk]), {}),
        "api_slots": ("get", "/api/v1/rooms/slots?week=2025-09-22", {}),
        "api_bookings": ("get", "/api/v1/rooms/bookings", {}),
        "api_booking_create": ("post", "/api/v1/rooms/bookings", api_booking),
        "api_booking_cancel": ("post", f"/api/v1/rooms/bookings/{pk}/cancel", {"reason": "좌석 정비"}),
    }


# Expected status per page, in the order of ROLES:
#          anonymous applicant other_applicant reviewer steward operator auditor
EXPECTED: dict[str, list[int]] = {
    # Another company without an agreement sees the page with the notice that it cannot book.
    "booking_list": [302, 200, 200, 403, 403, 403, 403],
    "booking_list_week": [302, 200, 200, 403, 403, 403, 403],
    # The applicant books seat 1-02 this afternoon; another company names an agreement not its own.
    "booking_create": [302, 302, 404, 403, 403, 403, 403],
    "booking_detail": [302, 200, 404, 403, 403, 200, 200],
    # The member cancels before the start; the operator with a reason.
    "booking_cancel": [302, 302, 404, 403, 403, 302, 403],
    "booking_check_in": [302, 403, 403, 403, 403, 302, 403],
    "booking_check_out": [302, 403, 403, 403, 403, 302, 403],
    "room_day": [302, 403, 403, 403, 403, 200, 200],
    "room_list": [302, 403, 403, 403, 403, 200, 200],
    "room_add": [302, 403, 403, 403, 403, 302, 403],
    "seat_toggle": [302, 403, 403, 403, 403, 302, 403],
    # Another company has no agreement to book under.
    "api_slots": [401, 200, 404, 403, 403, 403, 403],
    "api_bookings": [401, 200, 200, 403, 403, 200, 200],
    "api_booking_create": [401, 201, 404, 403, 403, 403, 403],
    "api_booking_cancel": [401, 200, 404, 403, 403, 200, 403],
}


def _state() -> dict[str, Any]:
    return {
        "bookings": list(
            ClosedRoomBooking.objects.order_by("pk").values_list(
                "seat__label", "starts_at", "status", "booked_by__username", "cancel_reason"
            )
        ),
        "rooms": list(Room.objects.order_by("pk").values_list("name", flat=True)),
        "seats": list(Seat.objects.order_by("pk").values_list("label", "is_active")),
    }


def _expected_after(page: str, role: str, before: dict[str, Any]) -> dict[str, Any]:
    after = {key: list(value) for key, value in before.items()}
    bookings = after["bookings"]
    if role == "applicant" and page in ("booking_create", "api_booking_create"):
        bookings.append(("1-02", AFTERNOON, "booked", "applicant", ""))
    elif page in ("booking_cancel", "api_booking_cancel") and role in ("applicant", "operator"):
        bookings[0] = (*bookings[0][:2], "cancelled", "applicant", "좌석 정비")
    elif page == "booking_check_in" and role == "operator":
        bookings[0] = (*bookings[0][:2], "checked_in", "applicant", "")
    elif page == "room_add" and role == "operator":
        after["rooms"].append("폐쇄형 학습실 9")
        after["seats"] += [("2-01", True), ("2-02", True)]
    elif page == "seat_toggle" and role == "operator":
        after["seats"][1] = ("1-02", False)
    return after


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("page", list(EXPECTED))
def test_permission_matrix(
    agreement: Agreement,
    booking: ClosedRoomBooking,
    users_by_role: dict[str, User | None],
    login: Callable[[Client, User | None], Client],
    role: str,
    page: str,
) -> None:
    method, url, data = _urls(agreement, booking)[page]
    client = login(Client(), users_by_role[role])
    before = _state()

    if page.startswith("api_") and method == "post":
        response = client.post(url, data, content_type="application/json")
    else:
        response = getattr(client, method)(url, data)

    assert response.status_code == EXPECTED[page][ROLES.index(role)]
    assert _state() == _expected_after(page, role, before)


def test_unknown_booking_and_seat_are_404_for_operators(
    agreement: Agreement, operator: User, login: Callable[[Client, User | None], Client]
) -> None:
    client = login(Client(), operator)

    assert client.get(reverse("access:booking_detail", args=[999_999])).status_code == 404
    assert client.post(reverse("access:booking_check_in", args=[999_999])).status_code == 404
    assert client.post(reverse("access:seat_toggle", args=[999_999])).status_code == 404
    assert client.post(
        "/api/v1/rooms/bookings/999999/cancel", {}, content_type="application/json"
    ).json() == {
        "code": "booking_not_found",
        "message": "예약을 찾을 수 없습니다.",
        "field": None,
    }
