"""API of the reviews app (``/api/v1/reviews/…``): the same rules as the pages.

A reviewer lists their own assignments and reads the application of one; an assignment the reviewer is
conflicted on, or another reviewer's, is absent from the list and 404 on its own. Other roles: 403.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.http import Http404, HttpRequest
from django.utils.translation import gettext as _
from ninja import Router, Schema

from medbroker.accounts.api_auth import api_auth
from medbroker.accounts.models import Role, User
from medbroker.calls.services.applications import PLAN_FIELDS
from medbroker.core.errors import NotFoundError, PermissionDeniedError
from medbroker.core.timeutils import to_kst
from medbroker.reviews.models import Assignment
from medbroker.reviews.selectors.committee import reviewer_assignments, sheet_total
from medbroker.reviews.selectors.reviewer import assignment_sheet, reviewer_assignment_get, sheet_state

router = Router(tags=["reviews"])


class AssignmentOut(Schema):
    id: int
    committee_id: int
    committee: str
    committee_status: str
    call: str
    application_id: int
    receipt_number: str | None
    company: str
    project_title: str
    sheet_status: str  # "none" | "draft" | "submitted"
    sheet_total: Decimal | None
    submitted_at: dt.datetime | None


class DocumentOut(Schema):
    id: int
    requirement: str
    title: str
    original_name: str
    size: int


class PlanSectionOut(Schema):
    field: str
    text: str


class AssignmentDetailOut(AssignmentOut):
    summary: str
    plan: list[PlanSectionOut]
    documents: list[DocumentOut]


def _reviewer(request: HttpRequest) -> User:
    user: User = request.auth  # type: ignore[attr-defined]
    if not user.has_role(Role.REVIEWER):
        raise PermissionDeniedError("forbidden", _("평가위원만 사용할 수 있습니다."))
    return user


def _summary(assignment: Assignment) -> dict[str, object]:
    application = assignment.application
    committee = assignment.member.committee
    sheet = assignment_sheet(assignment)
    return {
        "id": assignment.pk,
        "committee_id": committee.pk,
        "committee": committee.name,
        "committee_status": committee.status,
        "call": committee.call.slug,
        "application_id": application.pk,
        "receipt_number": application.receipt_number,
        "company": application.company.name,
        "project_title": application.project_title,
        "sheet_status": sheet_state(assignment),
        "sheet_total": sheet_total(sheet) if sheet is not None else None,
        "submitted_at": to_kst(sheet.submitted_at) if sheet is not None and sheet.submitted_at else None,
    }


@router.get("/assignments", response=list[AssignmentOut], auth=api_auth)
def assignments_list(request: HttpRequest) -> list[dict[str, object]]:
    """The reviewer's own assignments, leaving out every application they are conflicted on."""
    user = _reviewer(request)
    return [_summary(a) for a in reviewer_assignments(user=user).prefetch_related("sheet__entries")]


@router.get("/assignments/{assignment_id}", response=AssignmentDetailOut, auth=api_auth)
def assignments_detail(request: HttpRequest, assignment_id: int) -> dict[str, object]:
    user = _reviewer(request)
    try:
        assignment = reviewer_assignment_get(user=user, pk=assignment_id)
    except Http404:
        raise NotFoundError("assignment_not_found", _("평가 배정을 찾을 수 없습니다.")) from None
    application = assignment.application
    return {
        **_summary(assignment),
        "summary": application.summary,
        "plan": [{"field": name, "text": getattr(application, name)} for name in PLAN_FIELDS],
        "documents": [
            {
                "id": d.pk,
                "requirement": d.requirement.code,
                "title": d.requirement.title,
                "original_name": d.original_name,
                "size": d.size,
            }
            for d in application.documents.all()
        ],
    }
