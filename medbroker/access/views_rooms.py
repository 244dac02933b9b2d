"""Pages of the closed learning room (announcement §4 ⑤: data is used offline, in the room at the centre).

Company members book seats in a week grid and see their bookings; operators and auditors read a day of the
room, and operators record check-in and check-out, cancel with a reason and manage rooms and seats.
Another company's booking is 404; roles without business here get 403.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from medbroker.access.forms_rooms import BookingCancelForm, BookingForm, RoomAddForm
from medbroker.access.models import ClosedRoomBooking, Room, Seat
from medbroker.access.selectors.rooms import (
    booking_cancellable,
    booking_for_user,
    bookings_of_company,
    room_agreements_for_user,
    room_day,
    room_open_days_label,
    room_slot_times,
    room_week_for_company,
    seat_upcoming_bookings,
    weekly_hours_limit,
)
from medbroker.access.services.rooms import (
    booking_cancel,
    booking_check_in,
    booking_check_out,
    booking_create,
    room_add,
    seat_active_set,
    slot_label,
)
from medbroker.accounts.models import Role, User
from medbroker.accounts.permissions import STAFF_READ_ROLES, role_required
from medbroker.agreements.models import Agreement
from medbroker.core import timeutils
from medbroker.core.errors import DomainError
from medbroker.core.redirects import safe_next

WEEK_TARGET = "room-week"


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _date_param(value: str | None) -> dt.date:
    """``YYYY-MM-DD`` from the query string; today (KST) when absent or not a date."""
    if value:
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    return timeutils.today_kst()


def _int_param(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


def _booking_list_url(*, week: dt.date | None = None, agreement: Agreement | None = None) -> str:
    query = {}
    if week is not None:
        query["week"] = week.isoformat()
    if agreement is not None:
        query["agreement"] = str(agreement.pk)
    url = reverse("access:booking_list")
    return f"{url}?{urlencode(query)}" if query else url


def _room_day_url(day: dt.date) -> str:
    return f"{reverse('access:room_day')}?{urlencode({'day': day.isoformat()})}"


def _chosen_agreement(user: User, pk: int | None) -> Agreement | None:
    agreements = room_agreements_for_user(user)
    if pk is None:
        return agreements.first()
    agreement = agreements.filter(pk=pk).first()
    if agreement is None:
        raise Http404(_("협약을 찾을 수 없습니다."))
    return agreement


# ---------------------------------------------------------------------------------------------------------
# Company: the week grid and its bookings
# ---------------------------------------------------------------------------------------------------------


@role_required(Role.APPLICANT)
@require_GET
def booking_list(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    agreement = _chosen_agreement(user, _int_param(request.GET.get("agreement")))
    week = (
        room_week_for_company(agreement, _date_param(request.GET.get("week")), user=user)
        if agreement
        else None
    )
    context: dict[str, Any] = {
        "agreement": agreement,
        "week": week,
        "weekly_limit": weekly_hours_limit(),
        "open_days": room_open_days_label(),
    }
    htmx = getattr(request, "htmx", None)
    # Week navigation swaps the grid only; a history restore needs the whole page again.
    if htmx and htmx.target == WEEK_TARGET and not htmx.history_restore_request:
        response = render(request, "access/rooms/_week.html", context)
    else:
        now = timeutils.now()
        upcoming, past = bookings_of_company(user.organisation, at=now) if user.organisation else ([], [])
        context.update(
            {
                "agreements": room_agreements_for_user(user),
                "upcoming": upcoming,
                "cancellable": {b.pk for b in upcoming if booking_cancellable(b, user, at=now)},
                "past": past,
            }
        )
        response = render(request, "access/rooms/booking_list.html", context)
    patch_vary_headers(response, ("HX-Request", "HX-Target"))
    return response


@role_required(Role.APPLICANT)
@require_POST
def booking_create_view(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    agreement = _chosen_agreement(user, _int_param(request.POST.get("agreement")))
    week = _date_param(request.POST.get("week"))
    if agreement is None:
        messages.error(request, _("이용 중인 협약이 없어 학습실을 예약할 수 없습니다."))
        return redirect(_booking_list_url(week=week))
    form = BookingForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("예약할 좌석과 시간대를 다시 골라 주세요."))
        return redirect(_booking_list_url(week=week, agreement=agreement))
    try:
        booking = booking_create(
            agreement=agreement,
            seat=form.cleaned_data["seat"],
            starts_at=form.cleaned_data["starts_at"],
            actor=user,
            request=request,
        )
    except DomainError as error:
        messages.error(request, str(error.message))
    else:
        messages.success(
            request,
            _("%(seat)s 좌석, %(slot)s 예약이 확정되었습니다.")
            % {"seat": booking.seat, "slot": slot_label(booking.starts_at, booking.ends_at)},
        )
    return redirect(_booking_list_url(week=week, agreement=agreement))


# ---------------------------------------------------------------------------------------------------------
# One booking
# ---------------------------------------------------------------------------------------------------------


def _visible_booking(request: HttpRequest, pk: int) -> ClosedRoomBooking:
    booking = booking_for_user(_user(request), pk)
    if booking is None:
        raise Http404(_("예약을 찾을 수 없습니다."))
    return booking


@role_required(Role.APPLICANT, *STAFF_READ_ROLES)
@require_GET
def booking_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    booking = _visible_booking(request, pk)
    is_operator = user.has_role(Role.OPERATOR)
    return render(
        request,
        "access/rooms/booking_detail.html",
        {
            "booking": booking,
            "slot": slot_label(booking.starts_at, booking.ends_at),
            "can_cancel": booking_cancellable(booking, user, at=timeutils.now()),
            "is_operator": is_operator,
            "is_staff": user.has_role(*STAFF_READ_ROLES),
            "cancel_form": BookingCancelForm(),
        },
    )


@role_required(Role.APPLICANT, Role.OPERATOR)
@require_POST
def booking_cancel_view(request: HttpRequest, pk: int) -> HttpResponse:
    booking = _visible_booking(request, pk)
    form = BookingCancelForm(request.POST)
    reason = form.cleaned_data["reason"] if form.is_valid() else ""
    try:
        booking = booking_cancel(booking=booking, actor=_user(request), reason=reason, request=request)
    except DomainError as error:
        messages.error(request, str(error.message))
    else:
        messages.success(
            request,
            _("%(seat)s 좌석, %(slot)s 예약을 취소했습니다.")
            % {"seat": booking.seat, "slot": slot_label(booking.starts_at, booking.ends_at)},
        )
    return redirect(safe_next(request, reverse("access:booking_detail", args=[booking.pk])))


@role_required(Role.OPERATOR)
@require_POST
def booking_check_in_view(request: HttpRequest, pk: int) -> HttpResponse:
    booking = get_object_or_404(ClosedRoomBooking, pk=pk)
    try:
        booking = booking_check_in(booking=booking, actor=_user(request), request=request)
    except DomainError as error:
        messages.error(request, str(error.message))
    else:
        messages.success(
            request,
            _("%(seat)s 입실을 기록했습니다: %(company)s")
            % {"seat": booking.seat, "company": booking.company},
        )
    return redirect(safe_next(request, _room_day_url(timeutils.to_kst(booking.starts_at).date())))


@role_required(Role.OPERATOR)
@require_POST
def booking_check_out_view(request: HttpRequest, pk: int) -> HttpResponse:
    booking = get_object_or_404(ClosedRoomBooking, pk=pk)
    try:
        booking = booking_check_out(booking=booking, actor=_user(request), request=request)
    except DomainError as error:
        messages.error(request, str(error.message))
    else:
        messages.success(
            request,
            _("%(seat)s 퇴실을 기록했습니다: %(company)s")
            % {"seat": booking.seat, "company": booking.company},
        )
    return redirect(safe_next(request, _room_day_url(timeutils.to_kst(booking.starts_at).date())))


# ---------------------------------------------------------------------------------------------------------
# Operators and auditors: a day of the room, rooms and seats
# ---------------------------------------------------------------------------------------------------------


@role_required(*STAFF_READ_ROLES)
@require_GET
def room_day_view(request: HttpRequest) -> HttpResponse:
    day = room_day(_date_param(request.GET.get("day")), at=timeutils.now())
    return render(
        request,
        "access/rooms/room_day.html",
        {
            "room_day": day,
            "open_days": room_open_days_label(),
            "is_operator": _user(request).has_role(Role.OPERATOR),
            "is_today": day.day == timeutils.today_kst(),
            "today": timeutils.today_kst(),
            "cancel_form": BookingCancelForm(),
            "next_url": request.get_full_path(),
        },
    )


def _room_list_render(request: HttpRequest, form: RoomAddForm, *, status: int = 200) -> HttpResponse:
    rooms = Room.objects.prefetch_related("seats")
    now = timeutils.now()
    upcoming = {
        seat.pk: seat_upcoming_bookings(seat, at=now).count()
        for room in rooms
        for seat in room.seats.all()
        if not seat.is_active
    }
    return render(
        request,
        "access/rooms/room_list.html",
        {
            "rooms": rooms,
            "form": form,
            "is_operator": _user(request).has_role(Role.OPERATOR),
            "upcoming_on_inactive": upcoming,
            "slot_times": room_slot_times(),
            "open_days": room_open_days_label(),
            "weekly_limit": weekly_hours_limit(),
        },
        status=status,
    )


@role_required(*STAFF_READ_ROLES)
@require_GET
def room_list(request: HttpRequest) -> HttpResponse:
    return _room_list_render(request, RoomAddForm())


@role_required(Role.OPERATOR)
@require_POST
def room_add_view(request: HttpRequest) -> HttpResponse:
    form = RoomAddForm(request.POST)
    if form.is_valid():
        try:
            room = room_add(actor=_user(request), request=request, **form.cleaned_data)
        except DomainError as error:
            form.add_error(error.field if error.field in form.fields else None, str(error.message))
        else:
            messages.success(
                request,
                _("%(room)s을(를) 좌석 %(n)s개로 추가했습니다.")
                % {"room": room.name, "n": room.seats.count()},
            )
            return redirect("access:room_list")
    return _room_list_render(request, form, status=400)


@role_required(Role.OPERATOR)
@require_POST
def seat_toggle_view(request: HttpRequest, pk: int) -> HttpResponse:
    seat = get_object_or_404(Seat.objects.select_related("room"), pk=pk)
    seat = seat_active_set(seat=seat, active=not seat.is_active, actor=_user(request), request=request)
    if seat.is_active:
        messages.success(request, _("%(seat)s 좌석을 다시 예약받습니다.") % {"seat": seat})
    else:
        upcoming = seat_upcoming_bookings(seat).count()
        text = _("%(seat)s 좌석의 새 예약을 받지 않습니다.") % {"seat": seat}
        if upcoming:
            text = f"{text} " + _(
                "이미 잡힌 예약 %(n)s건은 그대로 있으니, 좌석을 쓸 수 없다면 일별 현황에서 사유와 함께 취소해 주세요."
            ) % {"n": upcoming}
        messages.warning(request, text)
    return redirect("access:room_list")
