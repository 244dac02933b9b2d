"""Changes a signed-in person makes to their own account and to their company's profile."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.http import HttpRequest

from medbroker.accounts.models import Organisation, User
from medbroker.audit.services import audit_record

# What a company member may change about their company. Name, kind and business registration number
# identify the company in applications and agreements, so only an operator changes them (admin).
ORGANISATION_EDITABLE_FIELDS = ("representative", "address", "contact_name", "contact_email", "contact_phone")
USER_EDITABLE_FIELDS = ("display_name", "phone")


def _changes(instance: Any, values: dict[str, Any], allowed: tuple[str, ...]) -> dict[str, list[Any]]:
    unknown = set(values) - set(allowed)
    if unknown:
        raise ValueError(f"not editable here: {sorted(unknown)}")
    return {
        name: [getattr(instance, name), value]
        for name, value in values.items()
        if getattr(instance, name) != value
    }


@transaction.atomic
def organisation_profile_update(
    *, organisation: Organisation, actor: User, request: HttpRequest | None = None, **values: str
) -> Organisation:
    """Update the editable profile fields of ``organisation``; record what changed (old, new)."""
    # Read the stored row again: the caller's instance may already hold unsaved form values.
    current = Organisation.objects.select_for_update().get(pk=organisation.pk)
    changes = _changes(current, values, ORGANISATION_EDITABLE_FIELDS)
    if not changes:
        return current
    for name, (_old, new) in changes.items():
        setattr(current, name, new)
    current.save(update_fields=[*changes, "updated_at"])
    audit_record(
        action="accounts.organisation_updated",
        actor=actor,
        target=current,
        summary=f"기업 정보 수정: {current.name} ({', '.join(changes)})",
        data={"changes": changes},
        request=request,
    )
    return current


@transaction.atomic
def user_profile_update(*, user: User, request: HttpRequest | None = None, **values: str) -> User:
    """Update the signed-in user's own name and phone."""
    current = User.objects.select_for_update().get(pk=user.pk)
    changes = _changes(current, values, USER_EDITABLE_FIELDS)
    if not changes:
        return current
    User.objects.filter(pk=user.pk).update(**{name: new for name, (_old, new) in changes.items()})
    for name, (_old, new) in changes.items():
        setattr(user, name, new)
    audit_record(
        action="accounts.profile_updated",
        actor=user,
        target=user,
        summary=f"내 정보 수정: {user.username} ({', '.join(changes)})",
        data={"changes": changes},
        request=request,
    )
    return user
