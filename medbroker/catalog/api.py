"""Public, read-only API of the catalogue: ``/api/v1/datasets``. Published datasets only, no sign-in.

The API does not show drafts even to operators: it is the public face of the catalogue, and a client that
cached a draft would keep publishing it after the steward decided otherwise.
"""

import datetime as dt
import json
from typing import Any, Literal

from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext_lazy as _
from ninja import Field, Query, Router, Schema
from ninja.pagination import PageNumberPagination, paginate

from medbroker.catalog.metadata import dataset_croissant, dataset_dcat
from medbroker.catalog.models import Dataset
from medbroker.catalog.selectors import (
    ANNOTATED_NO,
    ANNOTATED_YES,
    DatasetFilters,
    DatasetTotals,
    TotalRow,
    dataset_counts_view,
    dataset_online_use_allowed,
    dataset_published_get,
    dataset_totals,
    datasets_search,
)
from medbroker.core.errors import NotFoundError

router = Router(tags=["catalog"])


class DatasetOut(Schema):
    # The names are the Korean ones the call uses (위, 내시경…); the codes are the filter values of this
    # API and the English names follow each.
    id: int
    title: str
    title_en: str
    institution: str
    institution_id: int
    institution_en: str
    body_part: str
    body_part_code: str
    body_part_en: str
    modality: str
    modality_code: str
    modality_en: str
    dicom_modality: str
    data_type: str
    # After a scan the counts are its exact case counts: one under MEDBROKER_SMALL_CELL_K is null, as is
    # the count that would give it away, and counts_suppressed says so.
    annotated: int | None = Field(..., description="Annotation 건수. 개인 식별 위험으로 가린 경우 null")
    non_annotated: int | None = Field(
        ..., description="Non-Annotation 건수. 개인 식별 위험으로 가린 경우 null"
    )
    total: int | None = Field(..., description="합계. 개인 식별 위험으로 가린 경우 null")
    counts_suppressed: bool = Field(
        ..., description="건수 가운데 하나라도 작은 수 보호(소수 셀 억제)로 가렸으면 true"
    )
    sensitivity: str
    formats: list[str]
    illustrative: bool
    published_at: dt.datetime | None


class ContactOut(Schema):
    name: str
    email: str
    phone: str


class DatasetDetailOut(DatasetOut):
    description: str
    annotation_description: str
    online_use_allowed: bool
    source_note: str
    key_information: dict[str, Any]
    contact: ContactOut


class DatasetQuery(Schema):
    q: str = Field("", description="검색어. 공백으로 나눈 낱말이 모두 들어 있는 데이터셋 (한국어·영어)")
    institution: list[int] = Field([], description="보유기관 id (여러 번 지정하면 그중 하나)")
    body_part: list[str] = Field([], description="부위 코드 (예: stomach)")
    modality: list[str] = Field([], description="모달리티 코드 (예: endoscopy, ct)")
    data_type: list[str] = Field([], description="imaging 또는 time_series")
    sensitivity: list[str] = Field([], description="low, standard, high")
    annotated: bool | None = Field(
        None, description="true: Annotation 건이 있는 데이터셋, false: 없는 데이터셋"
    )


class TotalRowOut(Schema):
    code: str
    name: str
    name_en: str
    datasets: int
    annotated: int
    non_annotated: int
    total: int


class TotalsOut(Schema):
    by_modality: list[TotalRowOut]
    by_body_part: list[TotalRowOut]
    overall: TotalRowOut


def _dataset_out(dataset: Dataset) -> dict[str, Any]:
    organisation = dataset.institution.organisation
    # The public face of the catalogue: every client gets what an anonymous visitor sees.
    counts = dataset_counts_view(dataset=dataset, user=None)
    return {
        "id": dataset.pk,
        "title": dataset.title,
        "title_en": dataset.title_en,
        "institution": organisation.name,
        "institution_id": dataset.institution_id,
        "institution_en": organisation.name_en,
        "body_part": dataset.body_part.name,
        "body_part_code": dataset.body_part.code,
        "body_part_en": dataset.body_part.name_en,
        "modality": dataset.modality.name,
        "modality_code": dataset.modality.code,
        "modality_en": dataset.modality.name_en,
        "dicom_modality": dataset.modality.dicom_code,
        "data_type": dataset.data_type,
        "annotated": counts.annotated.count,
        "non_annotated": counts.non_annotated.count,
        "total": counts.total.count,
        "counts_suppressed": counts.suppressed,
        "sensitivity": dataset.sensitivity,
        "formats": list(dataset.formats or []),
        "illustrative": dataset.is_illustrative,
        "published_at": dataset.published_at,
    }


def _total_row_out(row: TotalRow) -> dict[str, Any]:
    return {
        "code": row.code,
        "name": row.name,
        "name_en": row.name_en,
        "datasets": row.datasets,
        "annotated": row.annotated,
        "non_annotated": row.non_annotated,
        "total": row.total,
    }


class _DatasetPagination(PageNumberPagination):
    """Page-number pagination that turns each dataset into its public shape after the page is cut."""

    def paginate_queryset(
        self, queryset: QuerySet[Any], pagination: Any, request: HttpRequest, **params: Any
    ) -> Any:
        page = super().paginate_queryset(queryset, pagination, request, **params)
        page[self.items_attribute] = [_dataset_out(dataset) for dataset in page[self.items_attribute]]
        return page


@router.get("", response=list[DatasetOut], summary="공개 데이터셋 목록")
@paginate(_DatasetPagination)
def dataset_list(request: HttpRequest, filters: Query[DatasetQuery]) -> QuerySet[Dataset]:
    annotated: tuple[str, ...] = ()
    if filters.annotated is not None:
        annotated = (ANNOTATED_YES,) if filters.annotated else (ANNOTATED_NO,)
    params = {
        "institution": [str(v) for v in filters.institution],
        "body_part": filters.body_part,
        "modality": filters.modality,
        "data_type": filters.data_type,
        "sensitivity": filters.sensitivity,
        "annotated": list(annotated),
    }
    search = datasets_search(
        user=None, query=filters.q, filters=DatasetFilters.from_params(params), with_facets=False
    )
    return search.datasets.order_by(
        "is_illustrative", "institution__organisation__name", "body_part__order", "modality__order", "pk"
    )


@router.get("/totals", response=TotalsOut, summary="모달리티별·부위별 건수 합계")
def totals(request: HttpRequest) -> dict[str, Any]:
    result: DatasetTotals = dataset_totals()
    return {
        "by_modality": [_total_row_out(row) for row in result.by_modality],
        "by_body_part": [_total_row_out(row) for row in result.by_body_part],
        "overall": _total_row_out(result.overall),
    }


def _published_or_404(dataset_id: int) -> Dataset:
    dataset = dataset_published_get(pk=dataset_id)
    if dataset is None:
        raise NotFoundError("dataset_not_found", _("공개된 데이터셋 중에 해당 번호가 없습니다."))
    return dataset


@router.get("/{int:dataset_id}", response=DatasetDetailOut, summary="공개 데이터셋 한 건과 주요 정보")
def dataset_detail(request: HttpRequest, dataset_id: int) -> dict[str, Any]:
    dataset = _published_or_404(dataset_id)
    return {
        **_dataset_out(dataset),
        "description": dataset.description,
        "annotation_description": dataset.annotation_description,
        "online_use_allowed": dataset_online_use_allowed(dataset),
        "source_note": dataset.source_note,
        "key_information": dataset.key_information or {},
        "contact": {
            "name": dataset.contact_name,
            "email": dataset.contact_email,
            "phone": dataset.contact_phone,
        },
    }


# The metadata files are documents in their own formats (RDF, JSON-LD), not this API's JSON: they are
# returned as they are, with their own media types.
TURTLE = "text/turtle; charset=utf-8"
JSON_LD = "application/ld+json"


@router.get(
    "/{int:dataset_id}/dcat",
    summary="공개 데이터셋의 HealthDCAT-AP 메타데이터",
    description="DCAT-AP의 보건 확장(HealthDCAT-AP) 형식. 기본은 Turtle, `format=jsonld`이면 JSON-LD.",
    openapi_extra={
        "responses": {
            200: {
                "description": "HealthDCAT-AP 메타데이터",
                "content": {"text/turtle": {}, "application/ld+json": {}},
            }
        }
    },
)
def dataset_dcat_export(
    request: HttpRequest,
    dataset_id: int,
    format: Literal["turtle", "jsonld"] = "turtle",
) -> HttpResponse:
    dataset = _published_or_404(dataset_id)
    base_url = request.build_absolute_uri("/")
    if format == "jsonld":
        return HttpResponse(dataset_dcat(dataset, base_url=base_url, format="json-ld"), content_type=JSON_LD)
    return HttpResponse(dataset_dcat(dataset, base_url=base_url, format="turtle"), content_type=TURTLE)


@router.get(
    "/{int:dataset_id}/croissant",
    summary="공개 데이터셋의 Croissant 메타데이터",
    description="MLCommons Croissant 1.0 JSON-LD (책임 있는 AI 항목 포함).",
    openapi_extra={
        "responses": {200: {"description": "Croissant JSON-LD", "content": {"application/ld+json": {}}}}
    },
)
def dataset_croissant_export(request: HttpRequest, dataset_id: int) -> HttpResponse:
    dataset = _published_or_404(dataset_id)
    document = dataset_croissant(dataset, base_url=request.build_absolute_uri("/"))
    return HttpResponse(json.dumps(document, ensure_ascii=False, indent=2), content_type=JSON_LD)
