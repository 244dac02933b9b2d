"""Django admin for the compute app: nodes and GPUs are reference data staff may correct here (audited).

Allocations, the waiting list and usage are records of the process: they change through the platform's
pages and services, which apply the one-GPU rules and write the audit log, so their admin is read-only.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from medbroker.audit.admin_mixins import AuditedAdminMixin
from medbroker.compute.models import (
    Gpu,
    GpuAllocation,
    GpuNode,
    GpuUsageRecord,
    GpuWaitlistEntry,
    UsageImport,
)


class GpuInline(admin.TabularInline):
    model = Gpu
    extra = 0


@admin.register(GpuNode)
class GpuNodeAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ("name", "gpu_model", "gpu_memory_gb", "cpu_cores", "memory_gb", "is_active", "order")
    list_filter = ("gpu_model", "gpu_memory_gb", "is_active")
    inlines = [GpuInline]


class ReadOnlyAdminMixin:
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(GpuAllocation)
class GpuAllocationAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("gpu", "agreement", "status", "allocated_at", "accepted_at", "released_at")
    list_filter = ("status",)
    search_fields = ("agreement__number", "agreement__company__name")


@admin.register(GpuWaitlistEntry)
class GpuWaitlistEntryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("agreement", "gpu_model", "gpu_memory_gb", "selection_rank", "status", "created_at")
    list_filter = ("status", "gpu_model", "gpu_memory_gb")


@admin.register(UsageImport)
class UsageImportAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("original_name", "rows", "imported_by", "imported_at", "sha256")


@admin.register(GpuUsageRecord)
class GpuUsageRecordAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("day", "agreement", "company", "gpu", "gpu_hours", "source")
    list_filter = ("day",)
    search_fields = ("agreement__number", "company__name")
