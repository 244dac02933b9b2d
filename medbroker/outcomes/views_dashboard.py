"""The programme dashboard (operators and auditors), per call, with its Excel and PDF exports.

The page, the files and the API read one ``programme_summary``, so they show the same figures.
"""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

from medbroker.access.models import AccessGrant
from medbroker.accounts.permissions import STAFF_READ_ROLES, role_required
from medbroker.agreements.models import Agreement, PerformanceTestRequest
from medbroker.calls.models import Call
from medbroker.compute.models import GpuAllocation
from medbroker.core.excel import XLSX_CONTENT_TYPE
from medbroker.outcomes.selectors.programme import (
    ProgrammeSummary,
    dashboard_call,
    dashboard_calls,
    programme_summary,
)
from medbroker.outcomes.services.exports import (
    dashboard_pdf,
    dashboard_workbook,
    report_count_labels,
)
from medbroker.outcomes.views_common import download, request_user, stamp


def _call(request: HttpRequest) -> Call | None:
    slug = request.GET.get("call", "").strip()
    call = dashboard_call(slug or None)
    if slug and call is None:
        raise Http404(_("공모를 찾을 수 없습니다."))
    return call


def _labelled(choices: Any, counts: dict[str, int]) -> list[dict[str, Any]]:
    names = dict(choices)
    return [{"key": key, "label": str(names.get(key, key)), "count": count} for key, count in counts.items()]


def _chart_data(summary: ProgrammeSummary) -> dict[str, Any]:
    reports = report_count_labels(summary)
    return {
        "gpu": {
            "labels": [name for name, _hours in summary.gpu_hours_by_company],
            "values": [float(hours) for _name, hours in summary.gpu_hours_by_company],
            "label": _("GPU 사용 시간"),
        },
        "room": {
            "labels": [_("수용 시간"), _("예약 시간"), _("이용 시간")],
            "values": [
                float(summary.room_capacity_hours),
                float(summary.room_booked_hours),
                float(summary.room_attended_hours),
            ],
            "label": _("시간"),
        },
        "reports": {
            "labels": [label for label, _count in reports],
            "values": [count for _label, count in reports],
            "label": _("결과보고서"),
        },
    }


@role_required(*STAFF_READ_ROLES)
def dashboard(request: HttpRequest) -> HttpResponse:
    call = _call(request)
    context: dict[str, Any] = {"call": call, "calls": dashboard_calls()}
    if call is not None:
        summary = programme_summary(call)
        context.update(
            {
                "summary": summary,
                "agreement_counts": _labelled(Agreement.Status.choices, summary.agreements_by_status),
                "grant_status_counts": _labelled(AccessGrant.Status.choices, summary.grants_by_status),
                "grant_mode_counts": _labelled(AccessGrant.Mode.choices, summary.grants_by_mode),
                "allocation_counts": _labelled(GpuAllocation.Status.choices, summary.allocations_by_status),
                "report_counts": report_count_labels(summary),
                "test_request_counts": _labelled(
                    PerformanceTestRequest.Status.choices, summary.test_requests_by_status
                ),
                "chart": _chart_data(summary),
            }
        )
    return render(request, "outcomes/dashboard/dashboard.html", context)


def _summary_or_404(request: HttpRequest) -> ProgrammeSummary:
    call = _call(request)
    if call is None:
        raise Http404(_("협약이 있는 공모가 없습니다."))
    return programme_summary(call)


@role_required(*STAFF_READ_ROLES)
def dashboard_xlsx(request: HttpRequest) -> HttpResponse:
    summary = _summary_or_404(request)
    content = dashboard_workbook(summary, actor=request_user(request), request=request)
    return download(
        content,
        content_type=XLSX_CONTENT_TYPE,
        filename=f"programme-{summary.call.slug}-{stamp()}.xlsx",
    )


@role_required(*STAFF_READ_ROLES)
def dashboard_pdf_view(request: HttpRequest) -> HttpResponse:
    summary = _summary_or_404(request)
    content = dashboard_pdf(summary, actor=request_user(request), request=request)
    return download(
        content,
        content_type="application/pdf",
        filename=f"programme-{summary.call.slug}-{stamp()}.pdf",
        inline=True,
    )
