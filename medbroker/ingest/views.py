"""The ingest page of a dataset: scan settings, scans and their progress, and the de-identification report.

Data stewards of the dataset's institution and operators change things here; auditors read the same page
without its forms. Everyone else gets what the catalogue gives them for a dataset they may not manage: a
login page, 403 for a role that has no business here, 404 for another institution's dataset.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from medbroker.accounts.models import Role, User
from medbroker.accounts.permissions import role_required
from medbroker.catalog.models import Dataset
from medbroker.catalog.services import dataset_deidentification_override
from medbroker.core import timeutils
from medbroker.core.errors import DomainError, NotFoundError
from medbroker.core.excel import XLSX_CONTENT_TYPE
from medbroker.ingest.exports import deidentification_workbook
from medbroker.ingest.forms import DeidentificationOverrideForm, ScanProfileForm, ScanStartForm
from medbroker.ingest.models import ScanJob, ScanSource
from medbroker.ingest.selectors import (
    dataset_scan_get,
    dataset_scan_manageable,
    deidentification_report,
    scan_job_get,
    scan_jobs_of,
    scan_profile_of,
)
from medbroker.ingest.services.profiles import scan_profile_save
from medbroker.ingest.services.scans import scan_start

MANAGER_ROLES = (Role.DATA_STEWARD, Role.OPERATOR)
READ_ROLES = (*MANAGER_ROLES, Role.AUDITOR)
# Jobs listed in the history table; older ones stay in the database and the audit log.
HISTORY_SIZE = 20
# File errors of a job listed on the page; the rest are counted.
ERRORS_SHOWN = 20


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _dataset(request: HttpRequest, pk: int) -> Dataset:
    try:
        return dataset_scan_get(user=request.user, pk=pk)
    except NotFoundError as error:
        raise Http404(str(error.message)) from None


def _forbidden_reraise(error: DomainError) -> None:
    # The roles are checked before the service runs; should the service still refuse, the answer is 403.
    if error.status_code == 403:
        raise PermissionDenied(str(error.message)) from None


def _job_context(job: ScanJob | None) -> dict[str, Any]:
    summary = job.summary if job is not None and isinstance(job.summary, dict) else {}
    errors = summary.get("errors") or []
    return {
        "job": job,
        "job_active": job is not None and job.status in (ScanJob.Status.QUEUED, ScanJob.Status.RUNNING),
        "job_errors": errors[:ERRORS_SHOWN],
        "job_errors_total": summary.get("errors_total", len(errors)) if job is not None else 0,
    }


def _page(
    request: HttpRequest,
    dataset: Dataset,
    *,
    profile_form: ScanProfileForm | None = None,
    override_form: DeidentificationOverrideForm | None = None,
) -> HttpResponse:
    user = _user(request)
    can_manage = dataset_scan_manageable(user=user, dataset=dataset)
    profile = scan_profile_of(dataset=dataset)
    jobs = list(scan_jobs_of(dataset=dataset)[:HISTORY_SIZE])
    is_operator = user.has_role(Role.OPERATOR)
    can_override = is_operator and dataset.deidentification == Dataset.Deidentification.FINDINGS
    return render(
        request,
        "ingest/dataset_scan.html",
        {
            "dataset": dataset,
            "profile": profile,
            "can_manage": can_manage,
            "profile_form": profile_form or ScanProfileForm.for_profile(profile),
            "jobs": jobs,
            **_job_context(jobs[0] if jobs else None),
            "report": deidentification_report(dataset=dataset),
            "can_override": can_override,
            "override_form": (override_form or DeidentificationOverrideForm()) if can_override else None,
            "source_folder": ScanSource.FOLDER,
            "source_dicomweb": ScanSource.DICOMWEB,
        },
    )


@role_required(*READ_ROLES)
@require_GET
def dataset_scan(request: HttpRequest, pk: int) -> HttpResponse:
    return _page(request, _dataset(request, pk))


@role_required(*MANAGER_ROLES)
@require_POST
def scan_profile_update(request: HttpRequest, pk: int) -> HttpResponse:
    dataset = _dataset(request, pk)
    form = ScanProfileForm(request.POST)
    if form.is_valid():
        try:
            scan_profile_save(actor=request.user, dataset=dataset, data=form.service_data(), request=request)
        except DomainError as error:
            _forbidden_reraise(error)
            form.add_error(error.field if error.field in form.fields else None, str(error.message))
        else:
            messages.success(request, _("스캔 설정을 저장했습니다."))
            return redirect("ingest:dataset_scan", pk=dataset.pk)
    return _page(request, dataset, profile_form=form)


@role_required(*MANAGER_ROLES)
@require_POST
def scan_start_view(request: HttpRequest, pk: int) -> HttpResponse:
    dataset = _dataset(request, pk)
    form = ScanStartForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("스캔 대상을 고를 수 없습니다. 화면을 새로 고친 뒤 다시 시도해 주세요."))
        return redirect("ingest:dataset_scan", pk=dataset.pk)
    try:
        job = scan_start(
            actor=request.user, dataset=dataset, source=form.cleaned_data["source"], request=request
        )
    except DomainError as error:
        _forbidden_reraise(error)
        messages.error(request, str(error.message))
    else:
        messages.success(
            request,
            _("%(source)s 스캔을 시작했습니다. 진행 상황은 아래 '최근 스캔'에 표시됩니다.")
            % {"source": job.get_source_display()},
        )
    return redirect("ingest:dataset_scan", pk=dataset.pk)


@role_required(*READ_ROLES)
@require_GET
def scan_job_progress(request: HttpRequest, pk: int) -> HttpResponse:
    """The progress block of one job, polled every second while the job runs.

    A finished job answers without the polling attributes, so the page stops asking; when that answer goes
    to a page that was polling, the page reloads once to show the new key information and report.
    """
    try:
        job = scan_job_get(user=request.user, pk=pk)
    except NotFoundError as error:
        raise Http404(str(error.message)) from None
    context = _job_context(job)
    response = render(request, "ingest/_job_progress.html", context)
    htmx = getattr(request, "htmx", None)
    if htmx and not context["job_active"]:
        response["HX-Refresh"] = "true"
    response["Cache-Control"] = "no-store"
    return response


@role_required(Role.OPERATOR)
@require_POST
def deidentification_override_view(request: HttpRequest, pk: int) -> HttpResponse:
    dataset = _dataset(request, pk)
    form = DeidentificationOverrideForm(request.POST)
    if form.is_valid():
        try:
            dataset_deidentification_override(
                actor=request.user, dataset=dataset, reason=form.cleaned_data["reason"], request=request
            )
        except DomainError as error:
            _forbidden_reraise(error)
            if error.field in form.fields:
                form.add_error(error.field, str(error.message))
            else:
                messages.error(request, str(error.message))
                return redirect("ingest:dataset_scan", pk=dataset.pk)
        else:
            messages.success(
                request,
                _("'%(title)s' 데이터셋의 비식별 점검 발견 사항에도 공개를 허용했습니다.")
                % {"title": dataset.title},
            )
            return redirect("ingest:dataset_scan", pk=dataset.pk)
    return _page(request, dataset, override_form=form)


@role_required(*READ_ROLES)
@require_GET
def deidentification_xlsx(request: HttpRequest, pk: int) -> HttpResponse:
    dataset = _dataset(request, pk)
    content = deidentification_workbook(
        dataset=dataset,
        report=deidentification_report(dataset=dataset),
        actor=_user(request),
        request=request,
    )
    stamp = timeutils.to_kst(timeutils.now()).strftime("%Y%m%d-%H%M")
    response = HttpResponse(content, content_type=XLSX_CONTENT_TYPE)
    response["Content-Disposition"] = f'attachment; filename="deidentification-{dataset.pk}-{stamp}.xlsx"'
    response["Cache-Control"] = "private, no-store"
    return response
