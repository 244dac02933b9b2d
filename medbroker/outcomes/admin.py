"""Django admin for the outcomes app: reports are listed for lookup only. They change through the
platform's pages, which apply the rules (who may edit, when, the review) and write the audit log."""

from __future__ import annotations

from django.contrib import admin

from medbroker.audit.admin_mixins import ReadOnlyAdminMixin, ReadOnlyInline
from medbroker.outcomes.models import ReportAttachment, ReportOutcome, ReportReview, ResultsReport


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
