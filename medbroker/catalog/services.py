"""Writes of the catalogue: create, update, publish and withdraw datasets; keep the search text current.

Every write is allowed to operators and to the data stewards of the dataset's own institution, writes its
audit event in the same transaction, and rebuilds the dataset's search document before it returns. Two
writes come from elsewhere: the result of a scan (``dataset_scan_apply``, called by the ingest step for a
scan a permitted user started) and an operator's decision to publish despite de-identification findings.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import models, transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from medbroker.accounts.permissions import operator_ensure
from medbroker.audit.services import audit_record
from medbroker.catalog.models import BodyPart, Dataset, Institution, Modality, Sensitivity
from medbroker.catalog.selectors import search_text_normalise, user_can_manage_institution
from medbroker.core import timeutils
from medbroker.core.errors import DomainError, PermissionDeniedError

# What a data steward may change on a dataset. The institution is fixed at creation (moving a dataset to
# another holder is not an edit), the data type follows the modality, and the publication state changes
# only through dataset_publish / dataset_withdraw.
DATASET_EDITABLE_FIELDS: tuple[str, ...] = (
    "title",
    "title_en",
    "description",
    "body_part",
    "modality",
    "annotated_count",
    "non_annotated_count",
    "formats",
    "annotation_description",
    "sensitivity",
    "contact_name",
    "contact_email",
    "contact_phone",
    "is_illustrative",
    "source_note",
    "key_information",
)
_REQUIRED_ON_CREATE = ("title", "body_part", "modality")
_TEXT_FIELDS = (
    "title",
    "title_en",
    "description",
    "annotation_description",
    "contact_name",
    "contact_email",
    "contact_phone",
    "source_note",
)


# ---------------------------------------------------------------------------------------------------------
# Search document
# ---------------------------------------------------------------------------------------------------------


def dataset_search_document_build(dataset: Dataset) -> str:
    """The lower-cased text a search looks through: both languages of every name a user might type."""
    body_part, modality = dataset.body_part, dataset.modality
    organisation = dataset.institution.organisation
    parts: list[str] = [
        dataset.title,
        dataset.title_en,
        dataset.description,
        body_part.name,
        body_part.name_en,
        modality.name,
        modality.name_en,
        modality.dicom_code,
        organisation.name,
        organisation.name_en,
        *(str(f) for f in (dataset.formats or [])),
        dataset.annotation_description,
    ]
    lines = (search_text_normalise(p.strip()) for p in parts if p and p.strip())
    return "\n".join(dict.fromkeys(lines))


def dataset_search_document_refresh(dataset: Dataset) -> str:
    """Rebuild and store ``dataset.search_document``; every write service calls this before returning."""
    document = dataset_search_document_build(dataset)
    Dataset.objects.filter(pk=dataset.pk).update(search_document=document)
    dataset.search_document = document
    return document


def datasets_search_document_refresh(*, datasets: QuerySet[Dataset] | None = None) -> int:
    """Rebuild the documents of many datasets, after a body part, modality or institution was renamed."""
    datasets = Dataset.objects.all() if datasets is None else datasets
    refreshed = 0
    for dataset in datasets.select_related("institution__organisation", "body_part", "modality").iterator():
        dataset_search_document_refresh(dataset)
        refreshed += 1
    return refreshed


# ---------------------------------------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------------------------------------


def _manager_require(actor: Any, institution: Institution) -> None:
    if not user_can_manage_institution(user=actor, institution=institution):
        raise PermissionDeniedError(
            "catalog_not_allowed",
            _(
                "이 기관의 데이터셋을 관리할 권한이 없습니다. 운영자 또는 해당 기관의 데이터 관리자만 할 수 있습니다."
            ),
        )


def _count_clean(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise DomainError("dataset_count_invalid", _("건수는 0 이상의 정수여야 합니다."), field=name)
    return value


def _formats_clean(value: Any) -> list[str]:
    if not isinstance(value, list | tuple) or not all(isinstance(item, str) for item in value):
        raise DomainError(
            "dataset_formats_invalid", _("파일 형식은 문자열 목록이어야 합니다."), field="formats"
        )
    return list(dict.fromkeys(item.strip() for item in value if item.strip()))


def _values_clean(data: Mapping[str, Any], *, creating: bool) -> dict[str, Any]:
    unknown = sorted(set(data) - set(DATASET_EDITABLE_FIELDS))
    if unknown:
        raise DomainError(
            "dataset_field_not_editable",
            _("수정할 수 없는 항목입니다: %(fields)s") % {"fields": ", ".join(unknown)},
            field=unknown[0],
        )
    if creating:
        for name in _REQUIRED_ON_CREATE:
            if data.get(name) in (None, ""):
                raise DomainError("dataset_field_required", _("필수 항목이 비어 있습니다."), field=name)
    values: dict[str, Any] = {}
    for name, value in data.items():
        if name in _TEXT_FIELDS:
            value = (value or "").strip()
            if name == "title" and not value:
                raise DomainError("dataset_field_required", _("데이터셋 이름을 입력해 주세요."), field=name)
        elif name in ("annotated_count", "non_annotated_count"):
            value = _count_clean(name, value)
        elif name == "formats":
            value = _formats_clean(value)
        elif name == "key_information":
            value = value or {}
            if not isinstance(value, dict):
                raise DomainError(
                    "dataset_key_information_invalid",
                    _("주요 정보는 항목 이름과 값의 JSON 객체여야 합니다."),
                    field=name,
                )
        elif name == "sensitivity":
            if value not in Sensitivity.values:
                raise DomainError(
                    "dataset_sensitivity_invalid", _("민감도 값이 올바르지 않습니다."), field=name
                )
        elif name == "body_part":
            if not isinstance(value, BodyPart):
                raise DomainError("dataset_body_part_invalid", _("부위를 선택해 주세요."), field=name)
        elif name == "modality":
            if not isinstance(value, Modality):
                raise DomainError("dataset_modality_invalid", _("모달리티를 선택해 주세요."), field=name)
        elif name == "is_illustrative":
            value = bool(value)
        values[name] = value
    return values


def _audit_value(value: Any) -> Any:
    if isinstance(value, models.Model):
        return getattr(value, "code", None) or str(value.pk)
    return value


def _locked(dataset: Dataset) -> Dataset:
    return (
        Dataset.objects.select_for_update(of=("self",))
        .select_related("institution__organisation", "body_part", "modality")
        .get(pk=dataset.pk)
    )


# ---------------------------------------------------------------------------------------------------------
# Writes
# ---------------------------------------------------------------------------------------------------------


@transaction.atomic
def dataset_create(
    *, actor: Any, institution: Institution, data: Mapping[str, Any], request: HttpRequest | None = None
) -> Dataset:
    """Register a dataset of ``institution`` as a draft: nobody outside sees it until it is published."""
    _manager_require(actor, institution)
    values = _values_clean(data, creating=True)
    dataset = Dataset(institution=institution, publication=Dataset.Publication.DRAFT, **values)
    # The data type is the modality's: an "EEG" dataset of type imaging would mislead the facet.
    dataset.data_type = dataset.modality.data_type
    dataset.save()
    dataset_search_document_refresh(dataset)
    audit_record(
        action="catalog.dataset_created",
        actor=actor,
        target=dataset,
        summary=f"데이터셋 등록: {dataset.title}",
        data={
            "institution": institution.name,
            "title": dataset.title,
            "body_part": dataset.body_part.code,
            "modality": dataset.modality.code,
            "annotated_count": dataset.annotated_count,
            "non_annotated_count": dataset.non_annotated_count,
        },
        request=request,
    )
    return dataset


@transaction.atomic
def dataset_update(
    *, actor: Any, dataset: Dataset, data: Mapping[str, Any], request: HttpRequest | None = None
) -> Dataset:
    """Change the editable fields named in ``data``; the audit event lists each change as [before, after]."""
    current = _locked(dataset)
    _manager_require(actor, current.institution)
    values = _values_clean(data, creating=False)
    changes: dict[str, list[Any]] = {}
    for name, value in values.items():
        before = getattr(current, name)
        if before != value:
            changes[name] = [_audit_value(before), _audit_value(value)]
            setattr(current, name, value)
    if not changes:
        return current
    if "modality" in changes:
        current.data_type = current.modality.data_type
    current.save()
    current.refresh_from_db(fields=["total_count"])
    dataset_search_document_refresh(current)
    audit_record(
        action="catalog.dataset_updated",
        actor=actor,
        target=current,
        summary=f"데이터셋 수정: {current.title}",
        data={"changes": changes},
        request=request,
    )
    return current


@transaction.atomic
def dataset_publish(*, actor: Any, dataset: Dataset, request: HttpRequest | None = None) -> Dataset:
    """Show a draft or withdrawn dataset in the public catalogue and the API."""
    current = _locked(dataset)
    _manager_require(actor, current.institution)
    if current.publication == Dataset.Publication.PUBLISHED:
        raise DomainError("dataset_already_published", _("이미 공개된 데이터셋입니다."), status_code=409)
    if current.deidentification == Dataset.Deidentification.FINDINGS:
        # The last scan found identifying data: it must be fixed (a clean re-scan) or an operator must
        # accept it with a reason before anyone outside the institution sees the entry.
        raise DomainError(
            "dataset_deidentification_findings",
            _(
                "비식별 점검에서 발견 사항이 있는 파일이 %(count)d개 있어 공개할 수 없습니다. "
                "데이터를 고친 뒤 다시 스캔하거나 운영자의 공개 허용을 받아 주세요."
            )
            % {"count": current.deidentification_findings},
            status_code=409,
        )
    if current.total_count == 0:
        # A catalogue entry with no cases would invite consultations about data that does not exist.
        raise DomainError(
            "dataset_empty", _("데이터 건수가 0건인 데이터셋은 공개할 수 없습니다."), field="annotated_count"
        )
    previous = current.publication
    current.publication = Dataset.Publication.PUBLISHED
    current.published_at = timeutils.now()
    current.save(update_fields=["publication", "published_at", "updated_at"])
    dataset_search_document_refresh(current)
    audit_record(
        action="catalog.dataset_published",
        actor=actor,
        target=current,
        summary=f"데이터셋 공개: {current.title}",
        data={
            "institution": current.institution.name,
            "title": current.title,
            "from": previous,
            "to": current.publication,
        },
        request=request,
    )
    return current


@transaction.atomic
def dataset_withdraw(
    *, actor: Any, dataset: Dataset, reason: str = "", request: HttpRequest | None = None
) -> Dataset:
    """Take a published dataset out of the public catalogue. It can be published again later."""
    current = _locked(dataset)
    _manager_require(actor, current.institution)
    if current.publication != Dataset.Publication.PUBLISHED:
        raise DomainError(
            "dataset_not_published", _("공개 중인 데이터셋만 공개 중단할 수 있습니다."), status_code=409
        )
    previous = current.publication
    current.publication = Dataset.Publication.WITHDRAWN
    current.save(update_fields=["publication", "updated_at"])
    dataset_search_document_refresh(current)
    audit_record(
        action="catalog.dataset_withdrawn",
        actor=actor,
        target=current,
        summary=f"데이터셋 공개 중단: {current.title}",
        data={
            "institution": current.institution.name,
            "title": current.title,
            "from": previous,
            "to": current.publication,
            "reason": reason.strip(),
        },
        request=request,
    )
    return current


# ---------------------------------------------------------------------------------------------------------
# Scan results and the de-identification decision
# ---------------------------------------------------------------------------------------------------------

DEIDENTIFICATION_OVERRIDE_REASON_MAX = 1000


@transaction.atomic
def dataset_scan_apply(
    *,
    dataset: Dataset,
    key_information: dict[str, Any],
    annotated: int,
    non_annotated: int,
    formats: list[str],
    files_with_findings: int,
    actor: Any = None,
    request: HttpRequest | None = None,
) -> Dataset:
    """Store what a scan of the dataset's data found: its key information, the case counts, the file
    formats and the de-identification state.

    No permission check here: the ingest step calls this for a scan that a steward of the institution or an
    operator started (or the server's administrator ran from the command line); ``actor`` is that person.
    Formats are replaced only when the scan found any, so a scan of label files alone keeps what the steward
    typed. Findings clear an earlier override: the operator accepted the files of the earlier scan, not
    these.
    """
    if not isinstance(key_information, dict):
        raise DomainError(
            "dataset_key_information_invalid",
            _("주요 정보는 항목 이름과 값의 JSON 객체여야 합니다."),
            field="key_information",
        )
    annotated = _count_clean("annotated_count", annotated)
    non_annotated = _count_clean("non_annotated_count", non_annotated)
    files_with_findings = _count_clean("deidentification_findings", files_with_findings)
    cleaned_formats = _formats_clean(formats)

    current = _locked(dataset)
    before = {
        "annotated_count": current.annotated_count,
        "non_annotated_count": current.non_annotated_count,
        "formats": list(current.formats or []),
        "deidentification": current.deidentification,
        "deidentification_findings": current.deidentification_findings,
    }
    current.scan_summary = key_information
    current.scanned_at = timeutils.now()
    current.annotated_count = annotated
    current.non_annotated_count = non_annotated
    if cleaned_formats:
        current.formats = cleaned_formats
    current.deidentification = (
        Dataset.Deidentification.FINDINGS if files_with_findings else Dataset.Deidentification.CLEAN
    )
    current.deidentification_findings = files_with_findings
    # A decision is about the files of one scan; whatever this scan found needs its own.
    current.deidentification_override_reason = ""
    current.deidentification_override_by = None
    current.deidentification_override_at = None
    current.save(
        update_fields=[
            "scan_summary",
            "scanned_at",
            "annotated_count",
            "non_annotated_count",
            "formats",
            "deidentification",
            "deidentification_findings",
            "deidentification_override_reason",
            "deidentification_override_by",
            "deidentification_override_at",
            "updated_at",
        ]
    )
    current.refresh_from_db(fields=["total_count"])
    dataset_search_document_refresh(current)
    after = {
        "annotated_count": current.annotated_count,
        "non_annotated_count": current.non_annotated_count,
        "formats": list(current.formats or []),
        "deidentification": current.deidentification,
        "deidentification_findings": current.deidentification_findings,
    }
    audit_record(
        action="catalog.dataset_scan_applied",
        actor=actor,
        target=current,
        summary=f"데이터셋 스캔 결과 반영: {current.title}",
        data={
            "changes": {name: [before[name], after[name]] for name in after if before[name] != after[name]},
            "annotated_count": current.annotated_count,
            "non_annotated_count": current.non_annotated_count,
            "deidentification": current.deidentification,
            "deidentification_findings": current.deidentification_findings,
        },
        request=request,
    )
    return current


@transaction.atomic
def dataset_deidentification_override(
    *, actor: Any, dataset: Dataset, reason: str, request: HttpRequest | None = None
) -> Dataset:
    """An operator allows publication despite the last scan's findings, with the reason on record (for
    instance: the flagged private tags hold device calibration, not patient data)."""
    operator_ensure(actor, _("비식별 점검 결과에 대한 공개 허용"))
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(
            "deidentification_override_reason_required", _("공개 허용 사유를 입력해 주세요."), field="reason"
        )
    if len(reason) > DEIDENTIFICATION_OVERRIDE_REASON_MAX:
        raise DomainError(
            "deidentification_override_reason_too_long",
            _("공개 허용 사유는 %(max)d자 이내로 입력해 주세요.")
            % {"max": DEIDENTIFICATION_OVERRIDE_REASON_MAX},
            field="reason",
        )
    current = _locked(dataset)
    if current.deidentification != Dataset.Deidentification.FINDINGS:
        raise DomainError(
            "deidentification_no_findings",
            _("비식별 점검에서 발견 사항이 있는 데이터셋만 공개를 허용할 수 있습니다."),
            status_code=409,
        )
    current.deidentification = Dataset.Deidentification.OVERRIDDEN
    current.deidentification_override_reason = reason
    current.deidentification_override_by = actor
    current.deidentification_override_at = timeutils.now()
    current.save(
        update_fields=[
            "deidentification",
            "deidentification_override_reason",
            "deidentification_override_by",
            "deidentification_override_at",
            "updated_at",
        ]
    )
    audit_record(
        action="catalog.dataset_deidentification_overridden",
        actor=actor,
        target=current,
        summary=f"비식별 점검 발견 사항에도 공개 허용: {current.title}",
        data={
            "institution": current.institution.name,
            "title": current.title,
            "files_with_findings": current.deidentification_findings,
            "reason": reason,
        },
        request=request,
    )
    return current
