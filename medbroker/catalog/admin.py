"""Reference data (body parts, modalities, institutions) is kept here; datasets are read here and changed
through the catalogue's own pages, so every change goes through the services and into the audit log."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from medbroker.audit.admin_mixins import AuditedAdminMixin
from medbroker.catalog.models import BodyPart, Dataset, Institution, Modality
from medbroker.catalog.services import dataset_publish, dataset_withdraw, datasets_search_document_refresh
from medbroker.core.errors import DomainError


class _RefreshesSearchDocuments(AuditedAdminMixin, admin.ModelAdmin):
    """Names of body parts, modalities and institutions are part of each dataset's search document."""

    dataset_relation = ""

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if change:
            datasets_search_document_refresh(datasets=Dataset.objects.filter(**{self.dataset_relation: obj}))


@admin.register(BodyPart)
class BodyPartAdmin(_RefreshesSearchDocuments):
    dataset_relation = "body_part"
    list_display = ("name", "name_en", "code", "order")
    list_editable = ("order",)
    search_fields = ("name", "name_en", "code")
    ordering = ("order", "name")


@admin.register(Modality)
class ModalityAdmin(_RefreshesSearchDocuments):
    dataset_relation = "modality"
    list_display = ("name", "name_en", "code", "data_type", "dicom_code", "order")
    list_editable = ("order",)
    list_filter = ("data_type",)
    search_fields = ("name", "name_en", "code", "dicom_code")
    ordering = ("order", "name")


class InstitutionAdminForm(forms.ModelForm):
    class Meta:
        model = Institution
        fields = ("organisation", "region", "description", "scan_folder")

    def clean_scan_folder(self) -> str:
        """An absolute folder inside one of the allowed roots, stored with links and ``..`` resolved.

        The folder need not exist yet (it can be assigned before the hospital's files arrive); the scan
        checks it again, with the roots of that moment, each time a steward uses it.
        """
        value = (self.cleaned_data.get("scan_folder") or "").strip()
        if not value:
            return ""
        if not Path(value).is_absolute():
            raise forms.ValidationError(_("데이터 보관 폴더는 /로 시작하는 절대 경로로 입력해 주세요."))
        try:
            resolved = Path(value).resolve()
        except (OSError, RuntimeError):
            raise forms.ValidationError(_("데이터 보관 폴더 경로를 확인할 수 없습니다.")) from None
        roots = [Path(root).resolve() for root in settings.MEDBROKER_SCAN_ROOTS]
        if not any(resolved == root or resolved.is_relative_to(root) for root in roots):
            raise forms.ValidationError(
                _("허용된 데이터 보관 위치 밖의 폴더입니다. 허용된 위치: %(roots)s")
                % {"roots": ", ".join(settings.MEDBROKER_SCAN_ROOTS)}
            )
        return str(resolved)


@admin.register(Institution)
class InstitutionAdmin(_RefreshesSearchDocuments):
    form = InstitutionAdminForm
    dataset_relation = "institution"
    list_display = ("__str__", "region", "scan_folder", "dataset_count")
    search_fields = ("organisation__name", "organisation__name_en", "region")
    autocomplete_fields = ()
    raw_id_fields = ("organisation",)

    @admin.display(description=_("데이터셋 수"))
    def dataset_count(self, obj: Institution) -> int:
        return obj.datasets.count()


@admin.register(Dataset)
class DatasetAdmin(admin.ModelAdmin):
    list_display = (
        "title",
        "institution",
        "body_part",
        "modality",
        "annotated_count",
        "non_annotated_count",
        "total_count",
        "sensitivity",
        "publication",
        "is_illustrative",
    )
    list_filter = ("publication", "sensitivity", "data_type", "is_illustrative", "institution", "modality")
    search_fields = ("title", "title_en", "search_document")
    list_select_related = ("institution__organisation", "body_part", "modality")
    actions = ("publish_selected", "withdraw_selected")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Edits go through the catalogue pages (services + audit); the admin shows datasets read-only.
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Consultations and applications point at datasets; a dataset leaves the catalogue by withdrawal.
        return False

    def _apply(self, request: HttpRequest, queryset: QuerySet[Dataset], action: Any, done: str) -> None:
        succeeded = 0
        for dataset in queryset:
            try:
                action(actor=request.user, dataset=dataset, request=request)
            except DomainError as error:
                self.message_user(request, f"{dataset.title}: {error.message}", messages.WARNING)
            else:
                succeeded += 1
        if succeeded:
            self.message_user(request, done % {"count": succeeded}, messages.SUCCESS)

    @admin.action(description=_("선택한 데이터셋 공개"))
    def publish_selected(self, request: HttpRequest, queryset: QuerySet[Dataset]) -> None:
        self._apply(request, queryset, dataset_publish, str(_("데이터셋 %(count)d건을 공개했습니다.")))

    @admin.action(description=_("선택한 데이터셋 공개 중단"))
    def withdraw_selected(self, request: HttpRequest, queryset: QuerySet[Dataset]) -> None:
        self._apply(
            request, queryset, dataset_withdraw, str(_("데이터셋 %(count)d건의 공개를 중단했습니다."))
        )
