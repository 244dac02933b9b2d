"""Pages of the catalogue: the public list and detail, and the data steward's own datasets."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from medbroker.accounts.models import Role
from medbroker.accounts.permissions import role_required
from medbroker.catalog.forms import DatasetForm, DatasetWithdrawForm
from medbroker.catalog.selectors import (
    DATASET_DEFAULT_SORT,
    DATASET_MANAGED_SORTABLE,
    DATASET_SORTABLE,
    DatasetFilters,
    DatasetTotals,
    dataset_counts_view,
    dataset_key_information_view,
    dataset_managed_get,
    dataset_online_use_allowed,
    dataset_totals,
    dataset_visible_get,
    datasets_managed_by,
    datasets_matching_query,
    datasets_search,
    institutions_managed_by,
    user_can_manage_institution,
)
from medbroker.catalog.services import dataset_create, dataset_publish, dataset_update, dataset_withdraw
from medbroker.core.errors import DomainError
from medbroker.core.tables import table_build

# The calls app's consultation form reads ``?dataset=<pk>`` to preselect the dataset (step ① of §4). A path
# rather than reverse("calls:…"): the catalogue comes before the calls step and does not depend on it.
CONSULTATION_NEW_PATH = "/calls/consultations/new/"
# The ingest step's page of a dataset (scan settings, progress, de-identification report). A path for the
# same reason: the ingest step builds on the catalogue, never the other way round.
DATASET_SCAN_PATH = "/ingest/datasets/{pk}/"
RESULTS_TARGET = "dataset-results"
MANAGER_ROLES = (Role.DATA_STEWARD, Role.OPERATOR)


def _totals_chart(totals: DatasetTotals) -> dict[str, Any]:
    rows = totals.by_modality
    return {
        "labels": [row.label for row in rows],
        "annotated": [row.annotated for row in rows],
        "non_annotated": [row.non_annotated for row in rows],
        "annotated_label": _("Annotation"),
        "non_annotated_label": _("Non-Annotation"),
    }


@require_GET
def dataset_list(request: HttpRequest) -> HttpResponse:
    search = datasets_search(
        user=request.user,
        query=request.GET.get("q", ""),
        filters=DatasetFilters.from_params(request.GET),
    )
    table = table_build(
        request, search.datasets, sortable=DATASET_SORTABLE, default_sort=DATASET_DEFAULT_SORT, per_page=20
    )
    context: dict[str, Any] = {"search": search, "table": table, "query": request.GET.get("q", "")}
    htmx = getattr(request, "htmx", None)
    # A facet change or a sort/page link inside the results region swaps that region only; a history
    # restore (back button with an empty htmx cache) needs the whole page again.
    if htmx and htmx.target == RESULTS_TARGET and not htmx.history_restore_request:
        response = render(request, "catalog/_dataset_results.html", {**context, "oob": True})
    else:
        totals = dataset_totals()
        context.update({"totals": totals, "totals_chart": _totals_chart(totals)})
        response = render(request, "catalog/dataset_list.html", context)
    # The same URL answers with a fragment or a page depending on these headers: caches must keep both.
    patch_vary_headers(response, ("HX-Request", "HX-Target"))
    return response


def _key_information_items(value: Any) -> list[tuple[str, str]]:
    if not isinstance(value, dict):
        return []
    items = []
    for key, item in value.items():
        if isinstance(item, list | tuple):
            text = ", ".join(str(part) for part in item)
        elif isinstance(item, dict):
            text = ", ".join(f"{k}: {v}" for k, v in item.items())
        else:
            text = str(item)
        items.append((str(key), text))
    return items


@require_GET
def dataset_detail(request: HttpRequest, pk: int) -> HttpResponse:
    dataset = dataset_visible_get(user=request.user, pk=pk)
    user: Any = request.user
    is_applicant = user.is_authenticated and user.has_role(Role.APPLICANT)
    can_consult = is_applicant and dataset.publication == dataset.Publication.PUBLISHED
    return render(
        request,
        "catalog/dataset_detail.html",
        {
            "dataset": dataset,
            "online_use_allowed": dataset_online_use_allowed(dataset),
            "key_information_items": _key_information_items(dataset.key_information),
            "can_manage": user_can_manage_institution(user=user, institution=dataset.institution),
            "consultation_url": f"{CONSULTATION_NEW_PATH}?dataset={dataset.pk}" if can_consult else "",
            "counts": dataset_counts_view(dataset=dataset, user=user),
            "key_information_view": dataset_key_information_view(dataset=dataset, user=user),
            "scan_url": DATASET_SCAN_PATH.format(pk=dataset.pk),
        },
    )


@role_required(*MANAGER_ROLES)
@require_GET
def steward_dataset_list(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "")
    datasets = datasets_matching_query(datasets_managed_by(user=request.user), query)
    table = table_build(
        request,
        datasets,
        sortable={**DATASET_MANAGED_SORTABLE, "publication": "publication", "updated_at": "updated_at"},
        default_sort=DATASET_DEFAULT_SORT,
        per_page=50,
    )
    institutions = institutions_managed_by(user=request.user)
    return render(
        request,
        "catalog/steward_dataset_list.html",
        {
            "table": table,
            "query": query,
            "institutions": institutions,
            "is_operator": request.user.has_role(Role.OPERATOR),  # type: ignore[union-attr]
        },
    )


@role_required(*MANAGER_ROLES)
@require_http_methods(["GET", "POST"])
def dataset_new(request: HttpRequest) -> HttpResponse:
    institutions = institutions_managed_by(user=request.user)
    form = DatasetForm(request.POST or None, institutions=institutions)
    if request.method == "POST" and form.is_valid():
        try:
            dataset = dataset_create(
                actor=request.user,
                institution=form.cleaned_data["institution"],
                data=form.service_data(),
                request=request,
            )
        except DomainError as error:
            form.add_error(error.field if error.field in form.fields else None, str(error.message))
        else:
            messages.success(
                request,
                _("데이터셋을 등록했습니다. 공개하기 전까지는 기관 담당자와 운영자만 볼 수 있습니다."),
            )
            return redirect("catalog:dataset_edit", pk=dataset.pk)
    return render(
        request,
        "catalog/dataset_form.html",
        {"form": form, "dataset": None, "has_institution": institutions.exists()},
    )


@role_required(*MANAGER_ROLES)
@require_http_methods(["GET", "POST"])
def dataset_edit(request: HttpRequest, pk: int) -> HttpResponse:
    dataset = dataset_managed_get(user=request.user, pk=pk)
    form = DatasetForm(request.POST or None, dataset=dataset)
    if request.method == "POST" and form.is_valid():
        try:
            dataset_update(actor=request.user, dataset=dataset, data=form.service_data(), request=request)
        except DomainError as error:
            form.add_error(error.field if error.field in form.fields else None, str(error.message))
        else:
            messages.success(request, _("데이터셋을 저장했습니다."))
            return redirect("catalog:steward_dataset_list")
    return render(
        request, "catalog/dataset_form.html", {"form": form, "dataset": dataset, "has_institution": True}
    )


def _back_to_list(request: HttpRequest) -> HttpResponse:
    return redirect(reverse("catalog:steward_dataset_list"))


@role_required(*MANAGER_ROLES)
@require_POST
def dataset_publish_view(request: HttpRequest, pk: int) -> HttpResponse:
    dataset = dataset_managed_get(user=request.user, pk=pk)
    try:
        dataset_publish(actor=request.user, dataset=dataset, request=request)
    except DomainError as error:
        messages.error(request, str(error.message))
    else:
        messages.success(request, _("'%(title)s' 데이터셋을 공개했습니다.") % {"title": dataset.title})
    return _back_to_list(request)


@role_required(*MANAGER_ROLES)
@require_POST
def dataset_withdraw_view(request: HttpRequest, pk: int) -> HttpResponse:
    dataset = dataset_managed_get(user=request.user, pk=pk)
    form = DatasetWithdrawForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("공개 중단 사유는 500자 이내로 입력해 주세요."))
        return _back_to_list(request)
    try:
        dataset_withdraw(
            actor=request.user, dataset=dataset, reason=form.cleaned_data["reason"], request=request
        )
    except DomainError as error:
        messages.error(request, str(error.message))
    else:
        messages.success(request, _("'%(title)s' 데이터셋의 공개를 중단했습니다.") % {"title": dataset.title})
    return _back_to_list(request)
