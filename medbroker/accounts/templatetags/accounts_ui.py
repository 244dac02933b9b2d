"""Template helpers of the accounts pages."""

from __future__ import annotations

import datetime as dt
import math

from django import template
from django.utils.translation import gettext as _

register = template.Library()


@register.filter
def duration_ko(value: dt.timedelta | None) -> str:
    """timedelta(minutes=90) → "1시간 30분" (the lockout page says how long to wait)."""
    if not isinstance(value, dt.timedelta):
        return ""
    # Rounded up: "wait 0 minutes" after a 20-second lock would invite a retry that restarts it.
    minutes = max(0, math.ceil(value.total_seconds() / 60))
    hours, minutes = divmod(minutes, 60)
    parts = []
    if hours:
        parts.append(_("%(hours)d시간") % {"hours": hours})
    if minutes or not hours:
        parts.append(_("%(minutes)d분") % {"minutes": minutes})
    return " ".join(parts)
