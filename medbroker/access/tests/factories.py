"""Grants, rooms and seats for the access tests, made directly from an agreement in force."""

from __future__ import annotations

from medbroker.access.models import AccessGrant, Room, Seat
from medbroker.agreements.models import Agreement
from medbroker.catalog.models import Dataset


def grant(
    agreement: Agreement,
    dataset: Dataset | None = None,
    *,
    mode: str = AccessGrant.Mode.CLOSED_ROOM,
    **fields: object,
) -> AccessGrant:
    """A grant over the agreement's whole period for ``dataset`` (its first agreed dataset by default)."""
    if dataset is None:
        version = agreement.versions.get(status="effective")
        dataset = version.datasets.order_by("pk").first().dataset  # type: ignore[union-attr]
    assert agreement.period_starts_at is not None
    values: dict[str, object] = {
        "starts_at": agreement.period_starts_at,
        "ends_at": agreement.period_ends_at,
        "issued_by": agreement.created_by,
        **fields,
    }
    return AccessGrant.objects.create(agreement=agreement, dataset=dataset, mode=mode, **values)


def rooms(count: int = 2, seats: int = 4) -> list[Room]:
    """The demo's layout by default: 2 rooms × 4 seats."""
    made = []
    for number in range(1, count + 1):
        room, _ = Room.objects.get_or_create(name=f"폐쇄형 학습실 {number}", defaults={"order": number})
        for seat in range(1, seats + 1):
            Seat.objects.get_or_create(room=room, label=f"{number}-{seat:02d}")
        made.append(room)
    return made
