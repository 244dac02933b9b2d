"""Django admin changes are state changes too: this mixin writes each one to the audit log.

The admin is for reference data (calls, criteria, GPU types, body parts…) and accounts; whatever staff
change there is recorded like a change made through a service, in the same transaction.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db import models, transaction
from django.db.models import QuerySet
from django.forms import BaseFormSet, ModelForm
from django.http import HttpRequest

from medbroker.audit.services import audit_record

# Never copy these into the log, whatever form they are on.
_SECRET_FIELDS = {"password", "key_hash", "secret", "key"}


def _changes(form: ModelForm[Any]) -> dict[str, Any]:
    changed = [name for name in form.changed_data if name not in _SECRET_FIELDS]
    return {name: form.cleaned_data.get(name) for name in changed}


class AuditedAdminMixin:
    """Mix into a ModelAdmin before ``admin.ModelAdmin``."""

    def save_model(self, request: HttpRequest, obj: models.Model, form: ModelForm[Any], change: bool) -> None:
        with transaction.atomic():
            super().save_model(request, obj, form, change)  # type: ignore[misc]
            audit_record(
                action=f"admin.{obj._meta.model_name}_{'changed' if change else 'added'}",
                actor=request.user,
                target=obj,
                summary=f"admin {'changed' if change else 'added'} {obj._meta.label_lower}#{obj.pk}: {obj}",
                data={"changed": _changes(form), "password_changed": "password" in form.changed_data},
                request=request,
            )

    def delete_model(self, request: HttpRequest, obj: models.Model) -> None:
        label, pk, text = obj._meta.label_lower, obj.pk, str(obj)
        with transaction.atomic():
            super().delete_model(request, obj)  # type: ignore[misc]
            audit_record(
                action=f"admin.{obj._meta.model_name}_deleted",
                actor=request.user,
                object_type=label,
                object_id=str(pk),
                summary=f"admin deleted {label}#{pk}: {text}",
                request=request,
            )

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        with transaction.atomic():
            for obj in list(queryset):
                self.delete_model(request, obj)

    def save_formset(
        self, request: HttpRequest, form: ModelForm[Any], formset: BaseFormSet[Any], change: bool
    ) -> None:
        with transaction.atomic():
            super().save_formset(request, form, formset, change)  # type: ignore[misc]
            for inline_form in getattr(formset, "forms", []):
                if inline_form.has_changed() and inline_form.instance.pk is not None:
                    instance = inline_form.instance
                    audit_record(
                        action=f"admin.{instance._meta.model_name}_saved",
                        actor=request.user,
                        target=instance,
                        summary=f"admin saved {instance._meta.label_lower}#{instance.pk}: {instance}",
                        data={"changed": _changes(inline_form)},
                        request=request,
                    )
            for deleted in getattr(formset, "deleted_objects", []):
                audit_record(
                    action=f"admin.{deleted._meta.model_name}_deleted",
                    actor=request.user,
                    object_type=deleted._meta.label_lower,
                    summary=f"admin deleted {deleted._meta.label_lower}: {deleted}",
                    request=request,
                )


__all__ = ["AuditedAdminMixin", "admin"]


class ReadOnlyAdminMixin:
    """Records of the process are changed only through the platform's pages, whose services apply the
    rules and write the audit log; the admin shows them for lookup."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReadOnlyInline(ReadOnlyAdminMixin, admin.TabularInline):  # type: ignore[type-arg]
    extra = 0


class ReadOnlyRecordAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    pass
