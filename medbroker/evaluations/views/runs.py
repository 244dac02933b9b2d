"""A run's results, its progress while it runs, the Excel export, test reports and their verification.

The staff see every case that failed and why; a company sees the same page with aggregates only (failures
counted by reason). Only operators issue reports; the company downloads them; any signed-in user may check
whether a PDF is one the lab issued.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from medbroker.accounts.models import Role
from medbroker.accounts.permissions import role_required
from medbroker.core import timeutils
from medbroker.core.errors import DomainError
from medbroker.core.excel import XLSX_CONTENT_TYPE
from medbroker.evaluations.exports import run_results_workbook
from medbroker.evaluations.forms import ReportIssueForm, ReportVerifyForm
from medbroker.evaluations.models import EvaluationRun
from medbroker.evaluations.selectors import (
    report_for_user,
    run_active,
    run_for_user,
    run_result_view,
    user_is_staff,
)
from medbroker.evaluations.services.reports import (
    REPORT_VERIFY_MAX_BYTES,
    report_file_read,
    report_issue,
    report_verify,
)
from medbroker.evaluations.views.common import READ_ROLES, error_message, found_or_404, user_of


def _progress_context(run: EvaluationRun) -> dict[str, Any]:
    return {"run": run, "run_active": run_active(run)}


def _chart_data(view: Any) -> dict[str, Any] | None:
    if not view.curve_kind:
        return None
    if view.curve_kind == "roc":
        return {
            "kind": "roc",
            "points": view.curve_points,
            "label": _("ROC 곡선"),
            "x_label": _("1 - 특이도 (위양성률)"),
            "y_label": _("민감도"),
            "chance_label": _("무작위 판정"),
        }
    return {
        "kind": "froc",
        "points": view.curve_points,
        "label": _("FROC 곡선"),
        "x_label": _("영상당 위양성 수"),
        "y_label": _("민감도"),
        "chance_label": "",
    }


@role_required(*READ_ROLES)
@require_GET
def run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    run = found_or_404(run_for_user, request, pk)
    user = user_of(request)
    staff = user_is_staff(user)
    is_operator = user.has_role(Role.OPERATOR)
    submission = run.submission
    evaluation = submission.evaluation
    view = run_result_view(run, staff=staff)
    succeeded = run.status == EvaluationRun.Status.SUCCEEDED
    return render(
        request,
        "evaluations/run_detail.html",
        {
            **_progress_context(run),
            "submission": submission,
            "evaluation": evaluation,
            "test_set": evaluation.test_set,
            "results": view,
            "succeeded": succeeded,
            "chart_data": _chart_data(view) if succeeded else None,
            "is_staff": staff,
            "is_operator": is_operator,
            "reports": list(run.reports.select_related("issued_by").order_by("-created_at", "-pk")),
            "report_form": ReportIssueForm() if is_operator and succeeded else None,
            "plan_matches": not run.plan_sha256 or run.plan_sha256 == evaluation.plan_sha256,
        },
    )


@role_required(*READ_ROLES)
@require_GET
def run_progress(request: HttpRequest, pk: int) -> HttpResponse:
    """The progress block of one run, polled every second while it is queued or running.

    A finished run answers without the polling attributes and, to a page that was polling, asks for one
    reload so the results show.
    """
    run = found_or_404(run_for_user, request, pk)
    context = _progress_context(run)
    response = render(request, "evaluations/_run_progress.html", context)
    htmx = getattr(request, "htmx", None)
    if htmx and not context["run_active"]:
        response["HX-Refresh"] = "true"
    response["Cache-Control"] = "no-store"
    return response


@role_required(*READ_ROLES)
@require_GET
def run_export_xlsx(request: HttpRequest, pk: int) -> HttpResponse:
    run = found_or_404(run_for_user, request, pk)
    content = run_results_workbook(run=run, actor=user_of(request), request=request)
    stamp = timeutils.to_kst(timeutils.now()).strftime("%Y%m%d-%H%M")
    response = HttpResponse(content, content_type=XLSX_CONTENT_TYPE)
    filename = f"{run.submission.evaluation.number}-run{run.pk}-{stamp}.xlsx"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "private, no-store"
    return response


@role_required(Role.OPERATOR)
@require_POST
def report_issue_view(request: HttpRequest, pk: int) -> HttpResponse:
    run = found_or_404(run_for_user, request, pk)
    form = ReportIssueForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("성적서 언어를 고르십시오."))
        return redirect("evaluations:run_detail", pk=run.pk)
    try:
        report = report_issue(
            actor=user_of(request), run=run, language=form.cleaned_data["language"], request=request
        )
    except DomainError as error:
        error_message(request, error)
    else:
        messages.success(request, _("성적서 %(number)s을(를) 발급했습니다.") % {"number": report.number})
    return redirect("evaluations:run_detail", pk=run.pk)


@role_required(*READ_ROLES)
@require_GET
def report_download(request: HttpRequest, pk: int) -> HttpResponse:
    report = found_or_404(report_for_user, request, pk)
    try:
        content = report_file_read(report=report)
    except DomainError as error:
        error_message(request, error)
        return redirect("evaluations:run_detail", pk=report.run_id)
    response = HttpResponse(content, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{report.number}.pdf"'
    response["Cache-Control"] = "private, no-store"
    return response


@login_required
@require_http_methods(["GET", "POST"])
def report_verify_view(request: HttpRequest) -> HttpResponse:
    """Anyone signed in may check a PDF: the answer names the report it matches, nothing more."""
    form = ReportVerifyForm(request.POST or None, request.FILES or None)
    outcome: dict[str, Any] | None = None
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["pdf"]
        if upload.size > REPORT_VERIFY_MAX_BYTES:
            form.add_error("pdf", _("파일이 너무 큽니다. 발급받은 성적서 PDF를 그대로 올려 주세요."))
        else:
            report = report_verify(pdf=upload.read())
            outcome = {"valid": report is not None, "number": report.number if report else None}
    return render(request, "evaluations/report_verify.html", {"form": form, "outcome": outcome})
