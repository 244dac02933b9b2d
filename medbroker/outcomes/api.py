"""API of the outcomes app (``/api/v1/outcomes/…``): the same rules as the pages.

Operators and auditors read the dashboard and every report; an applicant lists and reads its company's
reports (another company's is 404) and submits them. Other roles: 403; without credentials: 401.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Router, Schema

from medbroker.accounts.api_auth import api_auth
from medbroker.accounts.models import Role, User
from medbroker.accounts.permissions import STAFF_READ_ROLES
from medbroker.core import timeutils
from medbroker.core.errors import NotFoundError, PermissionDeniedError
from medbroker.outcomes.models import ResultsReport
from medbroker.outcomes.selectors.programme import ProgrammeSummary, dashboard_call, programme_summary
from medbroker.outcomes.selectors.reports import (
    report_for_user,
    report_is_late,
    report_is_overdue,
    report_missing_sections,
    reports_visible_to,
)
from medbroker.outcomes.services.reports import report_submit

router = Router(tags=["outcomes"])


class RoomOut(Schema):
    since: dt.date | None
    until: dt.date | None
    capacity_hours: Decimal
    booked_hours: Decimal
    attended_hours: Decimal
    booked_percent: Decimal
    attended_percent: Decimal


class CompanyOut(Schema):
    agreement_id: int
    agreement_number: str
    company: str
    status: str
    datasets: list[str]
    cases: int
    gpu: str
    gpu_hours: Decimal
    room_booked_hours: Decimal
    room_attended_hours: Decimal
    online_sessions: int
    report_status: str
    report_due_on: dt.date | None
    report_late: bool
    report_overdue: bool


class DashboardOut(Schema):
    call: str
    as_of: dt.date
    companies_supported: int
    agreements_by_status: dict[str, int]
    datasets_used: int
    cases_used: int
    grants_by_status: dict[str, int]
    grants_by_mode: dict[str, int]
    grants_usable_now: int
    online_sessions: int
    gpu_hours_total: Decimal
    allocations_by_status: dict[str, int]
    gpu_waiting: int
    room: RoomOut
    reports_by_status: dict[str, int]
    test_requests_by_status: dict[str, int]
    companies: list[CompanyOut]


class ReportOut(Schema):
    id: int
    agreement_id: int
    agreement_number: str
    company: str
    call: str
    status: str
    due_on: dt.date
    submitted_at: dt.datetime | None
    late: bool
    overdue: bool


class OutcomeOut(Schema):
    kind: str
    title: str
    reference: str
    achieved_on: dt.date | None
    note: str


class AttachmentOut(Schema):
    id: int
    original_name: str
    detected_type: str
    size: int
    sha256: str


class ReviewOut(Schema):
    verdict: str
    comment: str
    reviewed_at: dt.datetime


class ReportDetailOut(ReportOut):
    data_usage: str
    compute_usage: str
    model_performance: str
    summary: str
    revenue_krw: int | None
    jobs_created: int | None
    missing_sections: list[str]
    outcomes: list[OutcomeOut]
    attachments: list[AttachmentOut]
    reviews: list[ReviewOut]


def _user(request: HttpRequest, *roles: str) -> User:
    user: User = request.auth  # type: ignore[attr-defined]
    if not user.has_role(*roles):
        raise PermissionDeniedError("forbidden", _("이 기능을 사용할 권한이 없습니다."))
    return user


def dashboard_data(summary: ProgrammeSummary) -> dict[str, Any]:
    return {
        "call": summary.call.slug,
        "as_of": summary.as_of,
        "companies_supported": summary.companies_supported,
        "agreements_by_status": summary.agreements_by_status,
        "datasets_used": summary.datasets_used,
        "cases_used": summary.cases_used,
        "grants_by_status": summary.grants_by_status,
        "grants_by_mode": summary.grants_by_mode,
        "grants_usable_now": summary.grants_usable_now,
        "online_sessions": summary.online_sessions,
        "gpu_hours_total": summary.gpu_hours_total,
        "allocations_by_status": summary.allocations_by_status,
        "gpu_waiting": summary.gpu_waiting,
        "room": {
            "since": summary.room_since,
            "until": summary.room_until,
            "capacity_hours": summary.room_capacity_hours,
            "booked_hours": summary.room_booked_hours,
            "attended_hours": summary.room_attended_hours,
            "booked_percent": summary.room_booked_percent,
            "attended_percent": summary.room_attended_percent,
        },
        "reports_by_status": summary.reports_by_status,
        "test_requests_by_status": summary.test_requests_by_status,
        "companies": [
            {
                "agreement_id": row.agreement.pk,
                "agreement_number": row.agreement.number,
                "company": row.agreement.company.name,
                "status": row.agreement.status,
                "datasets": row.datasets,
                "cases": row.cases,
                "gpu": row.gpu,
                "gpu_hours": row.gpu_hours,
                "room_booked_hours": row.room_booked_hours,
                "room_attended_hours": row.room_attended_hours,
                "online_sessions": row.online_sessions,
                "report_status": row.report_status,
                "report_due_on": row.report.due_on if row.report else None,
                "report_late": row.report_late,
                "report_overdue": row.report_overdue,
            }
            for row in summary.companies
        ],
    }


def _report_summary(report: ResultsReport) -> dict[str, Any]:
    agreement = report.agreement
    return {
        "id": report.pk,
        "agreement_id": agreement.pk,
        "agreement_number": agreement.number,
        "company": agreement.company.name,
        "call": agreement.call.slug,
        "status": report.status,
        "due_on": report.due_on,
        "submitted_at": timeutils.to_kst(report.submitted_at) if report.submitted_at else None,
        "late": report_is_late(report),
        "overdue": report_is_overdue(report, at=timeutils.now()),
    }


def _report_detail(report: ResultsReport) -> dict[str, Any]:
    return {
        **_report_summary(report),
        "data_usage": report.data_usage,
        "compute_usage": report.compute_usage,
        "model_performance": report.model_performance,
        "summary": report.summary,
        "revenue_krw": report.revenue_krw,
        "jobs_created": report.jobs_created,
        "missing_sections": report_missing_sections(report),
        "outcomes": list(report.outcomes.values(*OutcomeOut.model_fields)),
        "attachments": list(report.attachments.values(*AttachmentOut.model_fields)),
        "reviews": [
            {"verdict": r.verdict, "comment": r.comment, "reviewed_at": timeutils.to_kst(r.reviewed_at)}
            for r in report.reviews.all()
        ],
    }


@router.get("/dashboard", response=DashboardOut, auth=api_auth)
def dashboard(request: HttpRequest, call: str = "") -> dict[str, Any]:
    """The programme summary of a call (the latest call with agreements when ``call`` is not given)."""
    _user(request, *STAFF_READ_ROLES)
    found = dashboard_call(call or None)
    if found is None:
        raise NotFoundError("call_not_found", _("공모를 찾을 수 없습니다."))
    return dashboard_data(programme_summary(found))


@router.get("/reports", response=list[ReportOut], auth=api_auth)
def reports_list(request: HttpRequest) -> list[dict[str, Any]]:
    user = _user(request, *STAFF_READ_ROLES, Role.APPLICANT)
    return [_report_summary(report) for report in reports_visible_to(user).order_by("due_on", "pk")]


@router.get("/reports/{report_id}", response=ReportDetailOut, auth=api_auth)
def reports_detail(request: HttpRequest, report_id: int) -> dict[str, Any]:
    user = _user(request, *STAFF_READ_ROLES, Role.APPLICANT)
    return _report_detail(report_for_user(user, report_id))


@router.post("/reports/{report_id}/submit", response=ReportDetailOut, auth=api_auth)
def reports_submit(request: HttpRequest, report_id: int) -> dict[str, Any]:
    """Submit the report (its company's members only); a missing section is 400 with the list."""
    user = _user(request, Role.APPLICANT)
    report = report_submit(report=report_for_user(user, report_id), actor=user, request=request)
    return _report_detail(report)
