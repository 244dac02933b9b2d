"""The bell in the header: how many of the signed-in user's notices are unread."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from django.http import HttpRequest

from medbroker.accounts.models import Notification

# The badge shows at most this number followed by "+"; the page lists them all.
BADGE_MAX = 99


class UnreadNotifications:
    """Counted on first use, once per render, so a partial that never shows the header costs no query."""

    def __init__(self, user_id: int) -> None:
        self._user_id = user_id

    @cached_property
    def count(self) -> int:
        return Notification.objects.filter(user_id=self._user_id, read_at__isnull=True).count()

    @property
    def badge(self) -> str:
        return f"{BADGE_MAX}+" if self.count > BADGE_MAX else str(self.count)


def notifications(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"unread_notifications": UnreadNotifications(user.pk)}
