"""Test sets, cases, evaluations, submissions, runs and reports are shown for lookup; they change only
through the evaluations services, which lock the plan, hash the data and write the audit log."""

from __future__ import annotations

from django.contrib import admin

from medbroker.audit.admin_mixins import ReadOnlyRecordAdmin
from medbroker.evaluations.models import Evaluation, EvaluationRun, Submission, TestCase, TestReport, TestSet


@admin.register(TestSet)
class TestSetAdmin(ReadOnlyRecordAdmin):
    list_display = ("name", "version", "task_type", "data_kind", "status", "created_by", "created_at")
    list_filter = ("status", "task_type", "data_kind")
    list_select_related = ("created_by",)
    search_fields = ("name", "version", "content_sha256")


@admin.register(TestCase)
class TestCaseAdmin(ReadOnlyRecordAdmin):
    list_display = ("case_id", "test_set", "input_file")
    list_select_related = ("test_set",)
    search_fields = ("case_id", "test_set__name")


@admin.register(Evaluation)
class EvaluationAdmin(ReadOnlyRecordAdmin):
    list_display = ("number", "company", "test_set", "status", "plan_locked_at", "created_at")
    list_filter = ("status",)
    list_select_related = ("company", "test_set")
    search_fields = ("number", "company__name", "plan_sha256")


@admin.register(Submission)
class SubmissionAdmin(ReadOnlyRecordAdmin):
    list_display = (
        "pk",
        "evaluation",
        "kind",
        "label",
        "file_name",
        "file_size",
        "submitted_by",
        "created_at",
    )
    list_filter = ("kind",)
    list_select_related = ("evaluation", "submitted_by")
    search_fields = ("evaluation__number", "label", "file_name", "file_sha256")


@admin.register(EvaluationRun)
class EvaluationRunAdmin(ReadOnlyRecordAdmin):
    list_display = (
        "pk",
        "submission",
        "status",
        "verdict",
        "cases_done",
        "cases_total",
        "started_at",
        "finished_at",
    )
    list_filter = ("status", "verdict")
    list_select_related = ("submission__evaluation",)
    search_fields = ("submission__evaluation__number", "model_sha256")


@admin.register(TestReport)
class TestReportAdmin(ReadOnlyRecordAdmin):
    list_display = ("number", "run", "language", "issued_by", "created_at")
    list_filter = ("language",)
    list_select_related = ("run__submission__evaluation", "issued_by")
    search_fields = ("number", "pdf_sha256")
