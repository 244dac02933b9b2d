"""Forms of the closed learning room: booking a seat, cancelling, and the operator's rooms and seats."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from medbroker.access.models import Seat
from medbroker.core.forms import KrdsFormMixin


class BookingForm(KrdsFormMixin, forms.Form):
    """The hidden fields behind each "예약" button of the week grid (the agreement is chosen by the view)."""

    seat = forms.ModelChoiceField(queryset=Seat.objects.select_related("room"), label=_("좌석"))
    # ISO 8601 with the +09:00 offset, exactly as the grid writes it.
    starts_at = forms.DateTimeField(label=_("시작"))


class BookingCancelForm(KrdsFormMixin, forms.Form):
    reason = forms.CharField(
        label=_("취소 사유"),
        max_length=300,
        required=False,
        help_text=_("운영자가 취소할 때는 사유가 필요하며, 예약한 사람에게 전달됩니다."),
    )


class RoomAddForm(KrdsFormMixin, forms.Form):
    name = forms.CharField(label=_("학습실 이름"), max_length=100)
    location = forms.CharField(label=_("위치"), max_length=200, required=False)
    seat_count = forms.IntegerField(label=_("좌석 수"), min_value=1, max_value=50, initial=4)
