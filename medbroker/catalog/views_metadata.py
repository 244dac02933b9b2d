"""Metadata of one dataset for other systems: HealthDCAT-AP (Turtle, JSON-LD) and Croissant (JSON-LD).

Each file is seen by whoever may see the dataset page: published datasets by everyone, drafts and
withdrawn ones only by operators and the data stewards of the dataset's institution (404 for others).
"""

from __future__ import annotations

import json

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from medbroker.catalog.metadata import dataset_croissant, dataset_dcat
from medbroker.catalog.selectors import dataset_visible_get

TURTLE = "text/turtle; charset=utf-8"
JSON_LD = "application/ld+json"


def _attachment(body: str, *, content_type: str, filename: str) -> HttpResponse:
    response = HttpResponse(body.encode("utf-8"), content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    # A draft's description differs by who asks: no shared cache may keep it.
    response["Cache-Control"] = "private"
    return response


def _base_url(request: HttpRequest) -> str:
    return request.build_absolute_uri("/")


@require_GET
def dataset_dcat_turtle(request: HttpRequest, pk: int) -> HttpResponse:
    dataset = dataset_visible_get(user=request.user, pk=pk)
    return _attachment(
        dataset_dcat(dataset, base_url=_base_url(request), format="turtle"),
        content_type=TURTLE,
        filename=f"dataset-{dataset.pk}-dcat.ttl",
    )


@require_GET
def dataset_dcat_jsonld(request: HttpRequest, pk: int) -> HttpResponse:
    dataset = dataset_visible_get(user=request.user, pk=pk)
    return _attachment(
        dataset_dcat(dataset, base_url=_base_url(request), format="json-ld"),
        content_type=JSON_LD,
        filename=f"dataset-{dataset.pk}-dcat.jsonld",
    )


@require_GET
def dataset_croissant_json(request: HttpRequest, pk: int) -> HttpResponse:
    dataset = dataset_visible_get(user=request.user, pk=pk)
    document = dataset_croissant(dataset, base_url=_base_url(request))
    return _attachment(
        json.dumps(document, ensure_ascii=False, indent=2),
        content_type=JSON_LD,
        filename=f"dataset-{dataset.pk}-croissant.json",
    )
