"""The closed room's pages and API as a company and an operator use them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import time_machine
from django.test import Client
from django.urls import reverse

from medbroker.access.models import AccessGrant, ClosedRoomBooking, Seat
from medbroker.access.services.rooms import booking_create, rooms_configure
from medbroker.access.tests.factories import grant
from medbroker.accounts.models import User
from medbroker.agreements.models import Agreement
from medbroker.agreements.tests.factories import active_agreement
from medbroker.core.timeutils import kst

NOW = kst(2025, 9, 22, 8, 0, 0)  # Monday, before the first slot


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
    # The grant ends on Thursday noon, so the rest of the week is outside it.
    grant(agreement, ends_at=kst(2025, 9, 25, 12))
    return agreement


def _seat(label: str) -> Seat:
    return Seat.objects.get(label=label)


def test_company_week_grid_offers_free_seats_and_greys_the_rest(
    agreement: Agreement, applicant: User, login: Callable[..., Client]
) -> None:
    booking_create(agreement=agreement, seat=_seat("2-04"), starts_at=kst(2025, 9, 22, 13), actor=applicant)

    page = login(Client(), applicant).get(reverse("access:booking_list")).content.decode()

    assert "2025-09-22 – 09-28" in page
    assert "이번 주 예약 5시간 / 한도 16시간 (남은 시간 11시간)" in page
    assert 'aria-valuenow="31"' in page
    assert page.count('name="starts_at" value="2025-09-22T09:00:00+09:00"') == 8
    assert page.count('name="starts_at" value="2025-09-23T13:00:00+09:00"') == 8
    # Thursday morning ends at the grant's end (noon): bookable. Thursday afternoon is not.
    assert page.count('name="starts_at" value="2025-09-25T09:00:00+09:00"') == 8
    assert 'value="2025-09-25T13:00:00+09:00"' not in page
    # Thursday afternoon and Friday; the weekend is closed, one "휴관" column a day.
    assert page.count("데이터 이용 기간 밖") == 3
    assert page.count('<span class="rm-holiday">휴관</span>') == 2
    assert "내 예약: 2-04" in page
    assert page.count("빈 좌석 7") == 1
    # The upcoming booking, with its cancel button.
    assert "2025-09-22 (월요일) 13:00–18:00" in page
    assert reverse("access:booking_cancel", args=[ClosedRoomBooking.objects.get().pk]) in page


def test_week_navigation_with_htmx_swaps_only_the_grid(
    agreement: Agreement, applicant: User, login: Callable[..., Client]
) -> None:
    client = login(Client(), applicant)

    response = client.get(
        reverse("access:booking_list") + f"?week=2025-09-30&agreement={agreement.pk}",
        headers={"HX-Request": "true", "HX-Target": "room-week"},
    )

    html = response.content.decode()
    assert response.status_code == 200
    assert html.startswith('<div id="room-week">')
    assert "<html" not in html
    assert "2025-09-29 – 10-05" in html
    assert html.count("데이터 이용 기간 밖") == 10
    assert "HX-Target" in response["Vary"]


def test_booking_from_the_page_and_the_reason_of_a_refusal(
    agreement: Agreement, applicant: User, login: Callable[..., Client]
) -> None:
    client = login(Client(), applicant)
    data = {
        "agreement": agreement.pk,
        "week": "2025-09-22",
        "seat": _seat("1-03").pk,
        "starts_at": "2025-09-23T09:00:00+09:00",
    }

    response = client.post(reverse("access:booking_create"), data, follow=True)

    assert response.redirect_chain == [
        (f"/access/rooms/bookings/?week=2025-09-22&agreement={agreement.pk}", 302)
    ]
    assert (
        "폐쇄형 학습실 1 1-03 좌석, 2025-09-23 09:00–12:00 KST 예약이 확정되었습니다."
        in response.content.decode()
    )
    assert ClosedRoomBooking.objects.get().starts_at == kst(2025, 9, 23, 9)

    refused = client.post(reverse("access:booking_create"), {**data, "seat": _seat("1-04").pk}, follow=True)
    assert "이 시간에 이미 다른 좌석을 예약했습니다." in refused.content.decode()
    assert ClosedRoomBooking.objects.count() == 1


def test_a_company_without_an_agreement_is_told_it_cannot_book(
    other_applicant: User, login: Callable[..., Client]
) -> None:
    page = login(Client(), other_applicant).get(reverse("access:booking_list")).content.decode()

    assert "체결된 협약이 없어 학습실을 예약할 수 없습니다." in page
    assert 'id="room-week"' not in page


def test_operator_day_view_shows_companies_and_attendance_buttons(
    agreement: Agreement,
    applicant: User,
    operator: User,
    login: Callable[..., Client],
    frozen: time_machine.Coordinates,
) -> None:
    morning = booking_create(
        agreement=agreement, seat=_seat("1-01"), starts_at=kst(2025, 9, 22, 9), actor=applicant
    )
    client = login(Client(), operator)
    # At 08:00 check-in has not opened yet: no button that would be refused.
    early = client.get(reverse("access:room_day") + "?day=2025-09-22").content.decode()
    assert reverse("access:booking_check_in", args=[morning.pk]) not in early
    frozen.move_to(kst(2025, 9, 22, 8, 30, 0))

    page = client.get(reverse("access:room_day") + "?day=2025-09-22").content.decode()

    assert "대구메디AI" in page
    assert reverse("access:booking_check_in", args=[morning.pk]) in page
    assert "예약 3시간 / 운영 64좌석·시간 (5%)" in page
    assert "?day=2025-09-21" in page and "?day=2025-09-23" in page
    assert "window.print()" in page

    response = client.post(
        reverse("access:booking_check_in", args=[morning.pk]), {"next": "/access/rooms/day/?day=2025-09-22"}
    )
    assert response.status_code == 302
    assert response["Location"] == "/access/rooms/day/?day=2025-09-22"
    assert ClosedRoomBooking.objects.get().status == "checked_in"
    page = client.get(reverse("access:room_day") + "?day=2025-09-22").content.decode()
    assert reverse("access:booking_check_out", args=[morning.pk]) in page
    # The next day the check-out can no longer be recorded, so the button is gone.
    frozen.move_to(kst(2025, 9, 23, 0, 0, 0))
    page = client.get(reverse("access:room_day") + "?day=2025-09-22").content.decode()
    assert reverse("access:booking_check_out", args=[morning.pk]) not in page


def test_day_view_of_a_closed_day_says_so_and_lists_bookings_left_on_it(
    agreement: Agreement, applicant: User, operator: User, login: Callable[..., Client], settings: Any
) -> None:
    settings.MEDBROKER_ROOM_OPEN_DAYS = "mon,tue,wed,thu,fri,sat"
    AccessGrant.objects.filter(agreement=agreement).update(ends_at=kst(2025, 9, 29))
    left = booking_create(
        agreement=agreement, seat=_seat("2-03"), starts_at=kst(2025, 9, 27, 13), actor=applicant
    )
    settings.MEDBROKER_ROOM_OPEN_DAYS = "mon,tue,wed,thu,fri"

    page = login(Client(), operator).get(reverse("access:room_day") + "?day=2025-09-27").content.decode()

    assert '2025-09-27 (토요일) · <span class="rm-holiday">휴관</span>' in page
    assert "이날은 학습실 휴관일이라 예약을 받지 않습니다. 학습실은 월·화·수·목·금요일에 운영합니다." in page
    assert "rm-grid rm-day" not in page and "이용률" not in page
    assert "운영 시간 밖의 예약" in page
    assert reverse("access:booking_detail", args=[left.pk]) in page
    # An open day has every booking in its cell and no such list.
    monday = login(Client(), operator).get(reverse("access:room_day") + "?day=2025-09-22").content.decode()
    assert "휴관" not in monday and "운영 시간 밖의 예약" not in monday


def test_auditor_reads_the_day_without_buttons(
    agreement: Agreement, applicant: User, auditor: User, login: Callable[..., Client]
) -> None:
    booking = booking_create(
        agreement=agreement, seat=_seat("1-01"), starts_at=kst(2025, 9, 22, 9), actor=applicant
    )

    page = login(Client(), auditor).get(reverse("access:room_day") + "?day=2025-09-22").content.decode()

    assert "대구메디AI" in page
    assert reverse("access:booking_check_in", args=[booking.pk]) not in page
    assert reverse("access:booking_cancel", args=[booking.pk]) not in page


def test_a_cancel_redirects_only_to_this_site(
    agreement: Agreement, applicant: User, login: Callable[..., Client]
) -> None:
    booking = booking_create(
        agreement=agreement, seat=_seat("1-01"), starts_at=kst(2025, 9, 22, 9), actor=applicant
    )

    response = login(Client(), applicant).post(
        reverse("access:booking_cancel", args=[booking.pk]), {"next": "https://evil.example/"}
    )

    assert response["Location"] == reverse("access:booking_detail", args=[booking.pk])


def test_room_add_form_errors_are_shown(operator: User, login: Callable[..., Client], db: None) -> None:
    rooms_configure(layout=[("폐쇄형 학습실 1", "", 1)])

    response = login(Client(), operator).post(
        reverse("access:room_add"), {"name": "폐쇄형 학습실 1", "location": "", "seat_count": 2}
    )

    assert response.status_code == 400
    assert "같은 이름의 학습실이 있습니다: 폐쇄형 학습실 1" in response.content.decode()


# ---------------------------------------------------------------------------------------------------------
# API
# ---------------------------------------------------------------------------------------------------------


def test_api_slots_for_the_week(agreement: Agreement, applicant: User, login: Callable[..., Client]) -> None:
    booking_create(agreement=agreement, seat=_seat("1-01"), starts_at=kst(2025, 9, 22, 13), actor=applicant)

    body = login(Client(), applicant).get("/api/v1/rooms/slots?week=2025-09-24").json()

    assert (body["agreement_id"], body["week_start"], body["hours_used"], body["hours_limit"]) == (
        agreement.pk,
        "2025-09-22",
        "5.00",
        "16",
    )
    # Monday to Friday; the room is closed at the weekend, so those days have no slot.
    assert len(body["slots"]) == 10
    first, second = body["slots"][:2]
    assert first["starts_at"] == "2025-09-22T09:00:00+09:00"
    assert (first["free_count"], first["bookable"], first["reason_code"]) == (8, True, "")
    assert first["free_seats"][0] == {"id": _seat("1-01").pk, "room": "폐쇄형 학습실 1", "label": "1-01"}
    assert (second["free_count"], second["bookable"], second["reason_code"], second["reason"]) == (
        7,
        False,
        "already_booked_slot",
        "이미 예약함",
    )
    assert second["own_booking_id"] == ClosedRoomBooking.objects.get().pk
    assert body["slots"][7]["reason_code"] == "outside_grant_window"


def test_api_books_and_cancels(agreement: Agreement, applicant: User, login: Callable[..., Client]) -> None:
    client = login(Client(), applicant)

    created = client.post(
        "/api/v1/rooms/bookings",
        {"seat_id": _seat("2-01").pk, "starts_at": "2025-09-23T13:00:00"},
        content_type="application/json",
    )

    assert created.status_code == 201
    body = created.json()
    assert {key: body[key] for key in ("room", "seat", "starts_at", "ends_at", "status", "company")} == {
        "room": "폐쇄형 학습실 2",
        "seat": "2-01",
        "starts_at": "2025-09-23T13:00:00+09:00",
        "ends_at": "2025-09-23T18:00:00+09:00",
        "status": "booked",
        "company": "대구메디AI",
    }
    assert [
        b["id"] for b in client.get("/api/v1/rooms/bookings?since=2025-09-23&until=2025-09-23").json()
    ] == [body["id"]]
    assert client.get("/api/v1/rooms/bookings?since=2025-09-24").json() == []

    cancelled = client.post(f"/api/v1/rooms/bookings/{body['id']}/cancel", content_type="application/json")
    assert (cancelled.status_code, cancelled.json()["status"]) == (200, "cancelled")


def test_api_refusals_come_back_as_codes(
    agreement: Agreement, applicant: User, login: Callable[..., Client]
) -> None:
    client = login(Client(), applicant)

    def post(seat: str, starts_at: str) -> tuple[int, str]:
        response = client.post(
            "/api/v1/rooms/bookings",
            {"seat_id": _seat(seat).pk, "starts_at": starts_at},
            content_type="application/json",
        )
        return response.status_code, response.json().get("code", "")

    assert post("1-01", "2025-09-22T09:30:00+09:00") == (400, "not_a_slot")
    assert post("1-01", "2025-09-27T09:00:00+09:00") == (400, "room_closed_day")
    assert post("1-01", "2025-09-26T09:00:00+09:00") == (403, "outside_grant_window")
    assert post("1-01", "2025-09-22T09:00:00+09:00")[0] == 201
    assert post("1-02", "2025-09-22T09:00:00+09:00") == (409, "already_booked_slot")
    AccessGrant.objects.filter(agreement=agreement).update(status=AccessGrant.Status.REVOKED)
    assert post("1-02", "2025-09-22T13:00:00+09:00") == (403, "outside_grant_window")
    assert ClosedRoomBooking.objects.count() == 1
