"""Template helpers of the calls pages."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import template
from django.utils.translation import gettext_lazy as _

from medbroker.core import timeutils

register = template.Library()


@register.filter
def circled(value: Any) -> str:
    """1 → "①" … 20 → "⑳", as the announcement numbers its criteria and steps; other values as they are."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        return str(value)
    return chr(0x2460 + number - 1) if 1 <= number <= 20 else str(number)


_WEEKDAYS = [_("월"), _("화"), _("수"), _("목"), _("금"), _("토"), _("일")]


@register.filter
def weekday_short(value: dt.date | dt.datetime | None) -> str:
    """The one-letter Korean weekday the announcement writes after a date: 2025-07-21 → "월"."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        value = timeutils.to_kst(value)
    return str(_WEEKDAYS[value.weekday()])
