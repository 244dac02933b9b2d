"""Django admin for the outcomes app: reports are listed for lookup only. They change through the
platform's pages, which apply the rules (who may edit, when, the review) and write the audit log."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from medbroker.outcomes.models import ReportAttachment, ReportOutcome, ReportReview, ResultsReport


class ReadOnlyAdminMixin:
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReadOnlyInline(ReadOnlyAdminMixin, admin.TabularInline):
    extra = 0


class ReportOutcomeInline(ReadOnlyInline):
    model = ReportOutcome


class ReportAttachmentInline(ReadOnlyInline):
    model = ReportAttachment
    exclude = ("file",)


class ReportReviewInline(ReadOnlyInline):
    model = ReportReview


@admin.register(ResultsReport)
class ResultsReportAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("agreement", "status", "due_on", "submitted_at", "notified_due_at")
    list_filter = ("status", "agreement__call")
    search_fields = ("agreement__number", "agreement__company__name")
    inlines = [ReportOutcomeInline, ReportAttachmentInline, ReportReviewInline]
