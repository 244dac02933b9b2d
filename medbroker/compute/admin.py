"""Django admin for the compute app: a node's descriptive data (name, CPU, memory, storage, order) is
reference data staff may correct here (audited).

What decides who can get a GPU (a GPU or node in service, a node's GPU type) changes only through
``inventory_load``, which refuses to retire a held GPU and offers a GPU coming into service to the waiting
list. Allocations, the waiting list and usage are records of the process: they change through the platform's
pages and services, which apply the one-GPU rules and write the audit log, so their admin is read-only.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from medbroker.audit.admin_mixins import AuditedAdminMixin, ReadOnlyAdminMixin
from medbroker.compute.models import (
    Gpu,
    GpuAllocation,
    GpuNode,
    GpuUsageRecord,
    GpuWaitlistEntry,
    UsageImport,
)
from medbroker.compute.selectors import WAITING_ORDER


class GpuInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = Gpu
    extra = 0
    fields = ("index", "is_active")


@admin.register(GpuNode)
class GpuNodeAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ("name", "gpu_model", "gpu_memory_gb", "cpu_cores", "memory_gb", "is_active", "order")
    list_filter = ("gpu_model", "gpu_memory_gb", "is_active")
    # A node in service and its GPU type decide what can be allocated; they come from the inventory only.
    readonly_fields = ("gpu_model", "gpu_memory_gb", "is_active")
    inlines = [GpuInline]

    def has_add_permission(self, request: HttpRequest) -> bool:
        # A node added here would have no GPUs and no waiting list served: nodes come from inventory_load.
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
    # Per type, the order the list is served in (a rank only orders the companies of one call).
    ordering = ("gpu_model", "gpu_memory_gb", *WAITING_ORDER)


@admin.register(UsageImport)
class UsageImportAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("original_name", "rows", "imported_by", "imported_at", "sha256")


@admin.register(GpuUsageRecord)
class GpuUsageRecordAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("day", "agreement", "company", "gpu", "gpu_hours", "source")
    list_filter = ("day",)
    search_fields = ("agreement__number", "company__name")
