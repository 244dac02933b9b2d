from __future__ import annotations

import datetime as dt
from typing import Any

from medbroker.calls.definitions import CALL_2025, CALL_2025_SLUG
from medbroker.calls.models import Call
from medbroker.calls.services.calls import call_configure


def call_2025() -> Call:
    """The 2025 call exactly as announced (intake 2025-07-07 → 2025-07-21 16:00 KST)."""
    return call_configure(definition=CALL_2025, slug=CALL_2025_SLUG)


def call_with_window(
    *, opens_at: dt.datetime, closes_at: dt.datetime, slug: str = "practice", **kwargs: Any
) -> Call:
    """A call with the 2025 rules and another intake window."""
    return call_configure(
        definition=CALL_2025,
        slug=slug,
        intake_opens_at=opens_at,
        intake_closes_at=closes_at,
        title="연습용 공모",
        is_practice=True,
        receipt_prefix=kwargs.pop("receipt_prefix", ""),
        **kwargs,
    )
