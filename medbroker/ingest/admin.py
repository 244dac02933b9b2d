"""Scan settings, jobs and file rows are shown for lookup; they change only through the ingest services,
which check the folder roots and write the audit log."""

from __future__ import annotations

from django.contrib import admin

from medbroker.audit.admin_mixins import ReadOnlyRecordAdmin
from medbroker.ingest.models import ScanJob, ScannedFile, ScanProfile


@admin.register(ScanProfile)
class ScanProfileAdmin(ReadOnlyRecordAdmin):
    list_display = (
        "dataset",
        "source_path",
        "dicomweb_url",
        "retain_institution_identity",
        "retain_device_identity",
    )
    list_select_related = ("dataset",)
    search_fields = ("dataset__title", "source_path", "dicomweb_url")


@admin.register(ScanJob)
class ScanJobAdmin(ReadOnlyRecordAdmin):
    list_display = (
        "pk",
        "dataset",
        "source",
        "status",
        "requested_by",
        "created_at",
        "finished_at",
        "files_total",
        "files_new",
        "files_changed",
        "files_removed",
        "errors_count",
    )
    list_filter = ("status", "source")
    list_select_related = ("dataset", "requested_by")
    search_fields = ("dataset__title", "location")


@admin.register(ScannedFile)
class ScannedFileAdmin(ReadOnlyRecordAdmin):
    list_display = ("path", "dataset", "source", "kind", "size")
    list_filter = ("source", "kind")
    list_select_related = ("dataset",)
    search_fields = ("path", "dataset__title")
