"""Korea time. The call's deadlines are KST wall-clock times ("16:00" means 16:00:00 Asia/Seoul)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from django.utils import timezone

KST = ZoneInfo("Asia/Seoul")


def now() -> dt.datetime:
    """The current instant (aware). Tests freeze it with time-machine."""
    return timezone.now()


def kst(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> dt.datetime:
    """An aware datetime for a KST wall-clock time."""
    return dt.datetime(year, month, day, hour, minute, second, tzinfo=KST)


def end_of_day_kst(day: dt.date) -> dt.datetime:
    """The last instant of a KST calendar day (support periods run "to 2025-11-28" inclusive)."""
    return dt.datetime.combine(day, dt.time(23, 59, 59, 999999), tzinfo=KST)


def today_kst() -> dt.date:
    return timezone.localtime(now(), KST).date()


def to_kst(value: dt.datetime) -> dt.datetime:
    return timezone.localtime(value, KST)
