from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from medbroker.accounts.models import ApiToken, Organisation, RoleAssignment, User
from medbroker.audit.admin_mixins import AuditedAdminMixin


class RoleAssignmentInline(admin.TabularInline):
    model = RoleAssignment
    extra = 0


@admin.register(User)
class UserAdmin(AuditedAdminMixin, BaseUserAdmin):
    inlines = [RoleAssignmentInline]
    list_display = ("username", "display_name", "organisation", "email", "is_active")
    fieldsets = (
        *(BaseUserAdmin.fieldsets or ()),
        ("medbroker", {"fields": ("organisation", "display_name", "phone", "privacy_consented_at")}),
    )
    readonly_fields = ("privacy_consented_at",)


@admin.register(Organisation)
class OrganisationAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ("name", "kind", "business_registration_number", "address")
    list_filter = ("kind",)
    search_fields = ("name", "business_registration_number")


@admin.register(ApiToken)
class ApiTokenAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ("name", "user", "prefix", "created_at", "last_used_at", "revoked_at")
    readonly_fields = ("key_hash", "prefix")
