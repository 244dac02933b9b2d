"""Exports of step ⑥: the programme dashboard to Excel and PDF, and one results report as a PDF.

All of them read ``programme_summary`` (or the report itself), so a file shows exactly what the page shows.
Each export takes company figures outside the platform and is audit-logged with who took what.
"""

from __future__ import annotations

import io
from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext as _
from openpyxl import Workbook
from openpyxl.worksheet.worksheet import Worksheet

from medbroker.access.models import AccessGrant
from medbroker.accounts.models import User
from medbroker.agreements.models import Agreement, PerformanceTestRequest
from medbroker.audit.services import audit_record
from medbroker.compute.models import GpuAllocation
from medbroker.core import timeutils
from medbroker.core.excel import (
    DATE_FORMAT,
    DATETIME_FORMAT,
    kst_naive,
    sheet_write,
)
from medbroker.core.pdf import pdf_render
from medbroker.outcomes.charts import svg_bars
from medbroker.outcomes.models import ReportReview, ResultsReport
from medbroker.outcomes.selectors.programme import ProgrammeSummary
from medbroker.outcomes.selectors.reports import (
    report_history,
    report_is_late,
    report_is_overdue,
    section_label,
)

DASHBOARD_PDF_TEMPLATE = "outcomes/dashboard/dashboard_pdf.html"
REPORT_PDF_TEMPLATE = "outcomes/reports/report_pdf.html"


def _labels(choices: Any, counts: dict[str, int]) -> list[tuple[str, int]]:
    names = dict(choices)
    return [(str(names.get(key, key)), value) for key, value in counts.items()]


def report_count_labels(summary: ProgrammeSummary) -> list[tuple[str, int]]:
    names = {
        **dict(ResultsReport.Status.choices),
        "overdue": _("기한 경과(미제출)"),
        "late": _("기한 후 제출"),
        "not_opened": _("미작성"),
    }
    return [(str(names[key]), value) for key, value in summary.reports_by_status.items()]


def summary_rows(summary: ProgrammeSummary) -> list[tuple[str, Any]]:
    """The dashboard's headline figures as (label, value) lines, shared by the workbook and the PDF."""
    rows: list[tuple[str, Any]] = [
        (_("공모"), summary.call.title),
        (_("기준일(KST)"), summary.as_of.isoformat()),
        (_("지원 기업 수"), summary.companies_supported),
    ]
    rows += [
        (_("협약 %(status)s") % {"status": label}, value)
        for label, value in _labels(Agreement.Status.choices, summary.agreements_by_status)
    ]
    rows += [
        (_("활용 데이터셋 수"), summary.datasets_used),
        (_("활용 데이터 건수"), summary.cases_used),
    ]
    rows += [
        (_("데이터 이용 권한 %(status)s") % {"status": label}, value)
        for label, value in _labels(AccessGrant.Status.choices, summary.grants_by_status)
    ]
    rows += [
        (_("데이터 이용 방식 %(mode)s") % {"mode": label}, value)
        for label, value in _labels(AccessGrant.Mode.choices, summary.grants_by_mode)
    ]
    rows += [
        (_("지금 이용 가능한 권한"), summary.grants_usable_now),
        (_("온라인 이용 세션"), summary.online_sessions),
        (_("GPU 사용 시간 합계"), summary.gpu_hours_total),
    ]
    rows += [
        (_("GPU 배정 %(status)s") % {"status": label}, value)
        for label, value in _labels(GpuAllocation.Status.choices, summary.allocations_by_status)
    ]
    rows += [
        (_("GPU 대기"), summary.gpu_waiting),
        (
            _("학습실 집계 기간"),
            f"{summary.room_since.isoformat()} ~ {summary.room_until.isoformat()}"
            if summary.room_since and summary.room_until
            else "-",
        ),
        (_("학습실 수용 시간"), summary.room_capacity_hours),
        (_("학습실 예약 시간"), summary.room_booked_hours),
        (_("학습실 이용 시간"), summary.room_attended_hours),
        (_("학습실 예약률(%)"), summary.room_booked_percent),
        (_("학습실 이용률(%)"), summary.room_attended_percent),
    ]
    rows += [
        (_("결과보고서 %(status)s") % {"status": label}, value)
        for label, value in report_count_labels(summary)
    ]
    rows += [
        (_("성능시험 요청 %(status)s") % {"status": label}, value)
        for label, value in _labels(PerformanceTestRequest.Status.choices, summary.test_requests_by_status)
    ]
    return rows


def company_headers() -> list[str]:
    return [
        _("협약번호"),
        _("기업명"),
        _("협약 상태"),
        _("협약 시작일"),
        _("협약 종료일"),
        _("데이터셋"),
        _("데이터 건수"),
        _("GPU"),
        _("GPU 사용 시간"),
        _("학습실 예약 시간"),
        _("학습실 이용 시간"),
        _("온라인 세션"),
        _("결과보고서"),
        _("제출 기한"),
        _("기한 후 제출"),
    ]


def company_rows(summary: ProgrammeSummary) -> list[list[Any]]:
    return [
        [
            row.agreement.number,
            row.agreement.company.name,
            str(row.agreement.get_status_display()),
            row.agreement.starts_on,
            row.agreement.ends_on,
            "\n".join(row.datasets),
            row.cases,
            row.gpu,
            row.gpu_hours,
            row.room_booked_hours,
            row.room_attended_hours,
            row.online_sessions,
            row.report_status_label,
            row.report.due_on if row.report else None,
            _("예") if row.report_late else "",
        ]
        for row in summary.companies
    ]


def report_headers() -> list[str]:
    return [
        _("협약번호"),
        _("기업명"),
        _("상태"),
        _("제출 기한"),
        _("제출 시각(KST)"),
        _("기한 후 제출"),
        _("기한 경과(미제출)"),
        _("성과 항목 수"),
        _("첨부 수"),
        _("최근 검토 결과"),
        _("검토 의견"),
    ]


def report_rows(summary: ProgrammeSummary) -> list[list[Any]]:
    reports = [row.report for row in summary.companies if row.report is not None]
    reviews: dict[int, ReportReview] = {}
    for review in ReportReview.objects.filter(report__in=reports).order_by("reviewed_at", "pk"):
        reviews[review.report_id] = review
    rows = []
    for report in reports:
        last = reviews.get(report.pk)
        rows.append(
            [
                report.agreement.number,
                report.agreement.company.name,
                str(report.get_status_display()),
                report.due_on,
                kst_naive(report.submitted_at),
                _("예") if report_is_late(report) else "",
                _("예") if report_is_overdue(report, at=summary.at) else "",
                report.outcomes.count(),
                report.attachments.count(),
                str(last.get_verdict_display()) if last else "",
                last.comment if last else "",
            ]
        )
    return rows


def _formats(sheet: Worksheet, columns: dict[int, str]) -> None:
    for column, number_format in columns.items():
        for (cell,) in sheet.iter_rows(min_row=2, min_col=column, max_col=column):
            cell.number_format = number_format


def dashboard_workbook(
    summary: ProgrammeSummary, *, actor: User, request: HttpRequest | None = None
) -> bytes:
    """Three sheets: the summary, one row per agreement, and the reports."""
    workbook = Workbook()
    overview = workbook.active
    overview.title = _("요약")
    sheet_write(overview, [_("항목"), _("값")], summary_rows(summary))
    companies = workbook.create_sheet(_("기업별"))
    sheet_write(companies, company_headers(), company_rows(summary))
    _formats(companies, {4: DATE_FORMAT, 5: DATE_FORMAT, 14: DATE_FORMAT})
    reports = workbook.create_sheet(_("결과보고서"))
    sheet_write(reports, report_headers(), report_rows(summary))
    _formats(reports, {4: DATE_FORMAT, 5: DATETIME_FORMAT})
    buffer = io.BytesIO()
    workbook.save(buffer)
    audit_record(
        action="outcomes.dashboard_exported",
        actor=actor,
        target=summary.call,
        summary=f"exported the programme dashboard of {summary.call.slug} (xlsx)",
        data={"call": summary.call.slug, "format": "xlsx", "agreements": len(summary.companies)},
        request=request,
    )
    return buffer.getvalue()


def dashboard_charts(summary: ProgrammeSummary) -> dict[str, Any]:
    """The dashboard's charts as inline SVG for the PDF."""
    return {
        "gpu": svg_bars(
            [(name, hours) for name, hours in summary.gpu_hours_by_company],
            title=_("기업별 GPU 사용 시간"),
            unit=_("시간"),
        ),
        "room": svg_bars(
            [
                (_("수용 시간"), summary.room_capacity_hours),
                (_("예약 시간"), summary.room_booked_hours),
                (_("이용 시간"), summary.room_attended_hours),
            ],
            title=_("폐쇄형 학습실 이용"),
            unit=_("시간"),
        ),
        "reports": svg_bars(report_count_labels(summary), title=_("결과보고서 현황"), unit=_("건")),
    }


def dashboard_context(summary: ProgrammeSummary) -> dict[str, Any]:
    return {
        "summary": summary,
        "call": summary.call,
        "summary_rows": summary_rows(summary),
        "company_headers": company_headers(),
        "company_rows": company_rows(summary),
        "charts": dashboard_charts(summary),
        "printed_at": timeutils.to_kst(timeutils.now()),
    }


def dashboard_pdf(summary: ProgrammeSummary, *, actor: User, request: HttpRequest | None = None) -> bytes:
    content = pdf_render(DASHBOARD_PDF_TEMPLATE, dashboard_context(summary))
    audit_record(
        action="outcomes.dashboard_exported",
        actor=actor,
        target=summary.call,
        summary=f"exported the programme dashboard of {summary.call.slug} (pdf)",
        data={"call": summary.call.slug, "format": "pdf", "agreements": len(summary.companies)},
        request=request,
    )
    return content


def report_context(report: ResultsReport) -> dict[str, Any]:
    return {
        "report": report,
        "agreement": report.agreement,
        "sections": [
            (section_label(name), getattr(report, name))
            for name in ("data_usage", "compute_usage", "model_performance", "summary")
        ],
        "outcomes": list(report.outcomes.all()),
        "attachments": list(report.attachments.all()),
        "reviews": list(report.reviews.select_related("reviewed_by")),
        "history": report_history(report),
        "is_late": report_is_late(report),
        "printed_at": timeutils.to_kst(timeutils.now()),
    }


def report_pdf(report: ResultsReport, *, actor: User, request: HttpRequest | None = None) -> bytes:
    content = pdf_render(REPORT_PDF_TEMPLATE, report_context(report))
    if actor.organisation_id != report.agreement.company_id:
        audit_record(
            action="outcomes.report_exported",
            actor=actor,
            target=report,
            summary=f"exported the results report of {report.agreement.number} (pdf)",
            data={"agreement": report.agreement.number, "status": report.status},
            request=request,
        )
    return content
