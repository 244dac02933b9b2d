"""Django admin for the calls app: a call's configuration is reference data that staff may correct here.

Consultations and applications are listed for lookup; they change through the platform's pages, which
apply the rules and write the audit log, so their admin is read-only.
"""

from __future__ import annotations

from django.contrib import admin

from medbroker.audit.admin_mixins import AuditedAdminMixin, ReadOnlyAdminMixin, ReadOnlyInline
from medbroker.calls.models import (
    Application,
    ApplicationDataset,
    ApplicationDocument,
    ApplicationStatusChange,
    Call,
    Certification,
    CertificationHeld,
    ComputeOption,
    Consultation,
    ConsultationItem,
    ConsultationMessage,
    EligibilityCriterion,
    EligibilityDeclaration,
    GovernmentProject,
    IntellectualProperty,
    RequiredDocument,
    RevenueRecord,
    RubricItem,
)

# ---------------------------------------------------------------------------------------------------------
# Reference data: the call and its configuration
# ---------------------------------------------------------------------------------------------------------


class EligibilityCriterionInline(admin.TabularInline):
    model = EligibilityCriterion
    extra = 0


class RequiredDocumentInline(admin.TabularInline):
    model = RequiredDocument
    extra = 0


class RubricItemInline(admin.TabularInline):
    model = RubricItem
    extra = 0


class ComputeOptionInline(admin.TabularInline):
    model = ComputeOption
    extra = 0


@admin.register(Call)
class CallAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = (
        "title",
        "slug",
        "intake_opens_at",
        "intake_closes_at",
        "support_ends_on",
        "is_practice",
        "is_published",
    )
    list_filter = ("is_practice", "is_published")
    search_fields = ("title", "slug")
    inlines = [EligibilityCriterionInline, RequiredDocumentInline, RubricItemInline, ComputeOptionInline]


@admin.register(EligibilityCriterion)
class EligibilityCriterionAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ("call", "number", "title", "requirement", "required_document_code")
    list_filter = ("call",)


@admin.register(RequiredDocument)
class RequiredDocumentAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ("call", "number", "title", "condition", "criterion_code", "has_template", "template")
    list_filter = ("call", "condition")


@admin.register(RubricItem)
class RubricItemAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ("call", "order", "area", "item", "indicator", "max_points")
    list_filter = ("call", "area")


@admin.register(Certification)
class CertificationAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ("call", "category", "number", "name", "description")
    list_filter = ("call", "category")
    search_fields = ("name", "description")


@admin.register(ComputeOption)
class ComputeOptionAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ("call", "order", "gpu", "gpu_memory_gb", "cpu_cores", "memory_gb", "storage")
    list_filter = ("call",)


# ---------------------------------------------------------------------------------------------------------
# Records of the process: read-only here
# ---------------------------------------------------------------------------------------------------------


class ConsultationItemInline(ReadOnlyInline):
    model = ConsultationItem


class ConsultationMessageInline(ReadOnlyInline):
    model = ConsultationMessage


@admin.register(Consultation)
class ConsultationAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("pk", "company", "call", "status", "created_at", "answered_at")
    list_filter = ("status", "call")
    search_fields = ("company__name", "purpose")
    inlines = [ConsultationItemInline, ConsultationMessageInline]


class EligibilityDeclarationInline(ReadOnlyInline):
    model = EligibilityDeclaration


class ApplicationDatasetInline(ReadOnlyInline):
    model = ApplicationDataset


class ApplicationDocumentInline(ReadOnlyInline):
    model = ApplicationDocument
    exclude = ("file",)  # files are streamed only by permission-checked views


class RevenueRecordInline(ReadOnlyInline):
    model = RevenueRecord


class GovernmentProjectInline(ReadOnlyInline):
    model = GovernmentProject


class CertificationHeldInline(ReadOnlyInline):
    model = CertificationHeld


class IntellectualPropertyInline(ReadOnlyInline):
    model = IntellectualProperty


class ApplicationStatusChangeInline(ReadOnlyInline):
    model = ApplicationStatusChange


@admin.register(Application)
class ApplicationAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("receipt_number", "company", "call", "status", "submitted_at", "last_submitted_at")
    list_filter = ("status", "call")
    search_fields = ("receipt_number", "company__name", "project_title")
    inlines = [
        EligibilityDeclarationInline,
        ApplicationDatasetInline,
        ApplicationDocumentInline,
        RevenueRecordInline,
        GovernmentProjectInline,
        CertificationHeldInline,
        IntellectualPropertyInline,
        ApplicationStatusChangeInline,
    ]


class ReadOnlyRecordAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The children of consultations and applications, each also listed on its own for lookup."""


for _model in (
    ConsultationItem,
    ConsultationMessage,
    EligibilityDeclaration,
    ApplicationDataset,
    RevenueRecord,
    GovernmentProject,
    CertificationHeld,
    IntellectualProperty,
    ApplicationStatusChange,
):
    admin.site.register(_model, ReadOnlyRecordAdmin)


@admin.register(ApplicationDocument)
class ApplicationDocumentAdmin(ReadOnlyRecordAdmin):
    list_display = ("original_name", "application", "requirement", "detected_type", "size", "uploaded_at")
    exclude = ("file",)
