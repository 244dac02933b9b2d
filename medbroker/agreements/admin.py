"""Agreements in the admin: read only. Every change goes through the agreement pages (services + audit),
so the admin shows the records without offering to edit them."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from medbroker.agreements.models import (
    Agreement,
    AgreementDataset,
    AgreementSignature,
    AgreementVersion,
    PerformanceTestRequest,
)
from medbroker.audit.admin_mixins import AuditedAdminMixin


class _ReadOnlyAdmin(AuditedAdminMixin, admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Grants, GPUs and reports point at agreements; an agreement leaves by termination, never deletion.
        return False


class _ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class AgreementVersionInline(_ReadOnlyInline):
    model = AgreementVersion
    fields = ("number", "status", "compute_option", "allows_online", "reason", "created_at", "effective_at")
    readonly_fields = fields


@admin.register(Agreement)
class AgreementAdmin(_ReadOnlyAdmin):
    list_display = ("number", "company", "call", "status", "starts_on", "ends_on", "signed_at")
    list_filter = ("status", "call")
    search_fields = ("number", "company__name")
    list_select_related = ("company", "call")
    inlines = (AgreementVersionInline,)


class AgreementDatasetInline(_ReadOnlyInline):
    model = AgreementDataset
    fields = ("dataset", "amount", "needs_annotated")
    readonly_fields = fields


class AgreementSignatureInline(_ReadOnlyInline):
    model = AgreementSignature
    fields = ("side", "method", "signer", "signed_at", "original_name", "file_sha256", "otp_device")
    readonly_fields = fields


@admin.register(AgreementVersion)
class AgreementVersionAdmin(_ReadOnlyAdmin):
    list_display = ("__str__", "status", "compute_option", "allows_online", "created_at", "effective_at")
    list_filter = ("status",)
    search_fields = ("agreement__number", "agreement__company__name")
    list_select_related = ("agreement__company", "compute_option")
    inlines = (AgreementDatasetInline, AgreementSignatureInline)


@admin.register(PerformanceTestRequest)
class PerformanceTestRequestAdmin(_ReadOnlyAdmin):
    list_display = ("__str__", "status", "requested_by", "created_at", "decided_at", "evaluation_reference")
    list_filter = ("status",)
    search_fields = ("agreement__number", "algorithm_name", "agreement__company__name")
    list_select_related = ("agreement__company", "requested_by")
