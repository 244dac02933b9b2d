"""API of the applications: the same rules as the pages.

An applicant lists and reads its own company's applications and submits them; operators and auditors read
every application; nobody else reaches them (403). Another company's application is 404. Submission is
refused exactly as on the pages (deadline, eligibility rule ⑤, documents); errors come back as
``{"code", "message", "field"}``.
"""

from __future__ import annotations

import datetime as dt

from django.http import Http404, HttpRequest
from django.utils.translation import gettext as _
from ninja import Router, Schema

from medbroker.accounts.api_auth import api_auth
from medbroker.accounts.models import Role, User
from medbroker.accounts.permissions import STAFF_READ_ROLES
from medbroker.calls.models import Application
from medbroker.calls.selectors.applications import (
    application_get_for_company,
    application_get_for_user,
    applications_visible_to,
)
from medbroker.calls.services.applications import (
    application_checklist,
    application_resubmit,
    application_submit,
)
from medbroker.calls.services.eligibility import documents_missing, eligibility_evaluate, eligibility_is_met
from medbroker.core.errors import NotFoundError, PermissionDeniedError
from medbroker.core.timeutils import to_kst

router = Router(tags=["applications"], auth=api_auth)

READ_ROLES = (Role.APPLICANT, *STAFF_READ_ROLES)


class ApplicationOut(Schema):
    id: int
    call: str
    call_title: str
    company: str
    business_registration_number: str
    status: str
    status_label: str
    receipt_number: str | None
    project_title: str
    submitted_at: dt.datetime | None
    last_submitted_at: dt.datetime | None
    updated_at: dt.datetime


class CriterionOut(Schema):
    number: int
    code: str
    title: str
    declared: bool
    satisfied: bool
    reason: str


class ChecklistOut(Schema):
    code: str
    label: str
    done: bool
    detail: str


class DocumentOut(Schema):
    id: int
    requirement: str
    title: str
    original_name: str
    detected_type: str
    size: int
    sha256: str
    uploaded_at: dt.datetime


class RequestedDatasetOut(Schema):
    dataset_id: int
    title: str
    amount: int
    needs_annotated: bool


class ApplicationDetailOut(ApplicationOut):
    eligible: bool
    eligibility: list[CriterionOut]
    missing_documents: list[str]
    checklist: list[ChecklistOut]
    documents: list[DocumentOut]
    datasets: list[RequestedDatasetOut]
    compute_option: str | None
    compute_intended_use: str
    realworld_institution: str


class SubmissionOut(Schema):
    id: int
    status: str
    receipt_number: str
    submitted_at: dt.datetime
    last_submitted_at: dt.datetime


def _kst(value: dt.datetime | None) -> dt.datetime | None:
    return to_kst(value) if value else None


def _summary(application: Application) -> dict[str, object]:
    return {
        "id": application.pk,
        "call": application.call.slug,
        "call_title": application.call.title,
        "company": application.company.name,
        "business_registration_number": application.company.business_registration_number,
        "status": application.status,
        "status_label": str(application.get_status_display()),
        "receipt_number": application.receipt_number,
        "project_title": application.project_title,
        "submitted_at": _kst(application.submitted_at),
        "last_submitted_at": _kst(application.last_submitted_at),
        "updated_at": _kst(application.updated_at),
    }


def _user(request: HttpRequest) -> User:
    user: User = request.auth  # type: ignore[attr-defined]
    return user


def _application(user: User, pk: int, *, own_company_only: bool) -> Application:
    # Another company's application is "not found", as on the pages: its existence is nobody else's business.
    get = application_get_for_company if own_company_only else application_get_for_user
    try:
        return get(user=user, pk=pk)
    except Http404:
        raise NotFoundError("application_not_found", _("신청서를 찾을 수 없습니다.")) from None


def _ensure_role(user: User, *roles: str) -> None:
    if not user.has_role(*roles):
        raise PermissionDeniedError("forbidden", _("이 기능을 사용할 권한이 없습니다."))


@router.get("", response=list[ApplicationOut])
def applications_list(request: HttpRequest, call: str | None = None, status: str | None = None) -> list[dict]:
    """Own company's applications for an applicant; every application for operators and auditors."""
    user = _user(request)
    _ensure_role(user, *READ_ROLES)
    applications = applications_visible_to(user).select_related("call", "company").order_by("call", "pk")
    if call:
        applications = applications.filter(call__slug=call)
    if status:
        applications = applications.filter(status=status)
    return [_summary(application) for application in applications]


@router.get("/{application_id}", response=ApplicationDetailOut)
def applications_detail(request: HttpRequest, application_id: int) -> dict[str, object]:
    user = _user(request)
    _ensure_role(user, *READ_ROLES)
    application = _application(user, application_id, own_company_only=False)
    results = eligibility_evaluate(application)
    return {
        **_summary(application),
        "eligible": eligibility_is_met(application, results),
        "eligibility": [
            {
                "number": r.criterion.number,
                "code": r.criterion.code,
                "title": r.criterion.title,
                "declared": r.declared,
                "satisfied": r.satisfied,
                "reason": r.reason,
            }
            for r in results
        ],
        "missing_documents": [r.code for r in documents_missing(application)],
        "checklist": [
            {"code": i.code, "label": i.label, "done": i.done, "detail": i.detail}
            for i in application_checklist(application)
        ],
        "documents": [
            {
                "id": d.pk,
                "requirement": d.requirement.code,
                "title": d.requirement.title,
                "original_name": d.original_name,
                "detected_type": d.detected_type,
                "size": d.size,
                "sha256": d.sha256,
                "uploaded_at": _kst(d.uploaded_at),
            }
            for d in sorted(application.documents.all(), key=lambda d: d.requirement.number)
        ],
        "datasets": [
            {
                "dataset_id": row.dataset_id,
                "title": row.dataset.title,
                "amount": row.amount,
                "needs_annotated": row.needs_annotated,
            }
            for row in application.requested_datasets.all()
        ],
        "compute_option": application.compute_option.code if application.compute_option else None,
        "compute_intended_use": application.compute_intended_use,
        "realworld_institution": application.realworld_institution,
    }


def _submission(application: Application) -> dict[str, object]:
    return {
        "id": application.pk,
        "status": application.status,
        "receipt_number": application.receipt_number,
        "submitted_at": _kst(application.submitted_at),
        "last_submitted_at": _kst(application.last_submitted_at),
    }


@router.post("/{application_id}/submit", response=SubmissionOut)
def applications_submit(request: HttpRequest, application_id: int) -> dict[str, object]:
    """Submit a draft: the same deadline and eligibility checks as the page; returns the receipt number."""
    user = _user(request)
    _ensure_role(user, Role.APPLICANT)
    application = _application(user, application_id, own_company_only=True)
    return _submission(application_submit(application=application, actor=user, request=request))


@router.post("/{application_id}/resubmit", response=SubmissionOut)
def applications_resubmit(request: HttpRequest, application_id: int) -> dict[str, object]:
    """Submit again after an operator returned the application for correction."""
    user = _user(request)
    _ensure_role(user, Role.APPLICANT)
    application = _application(user, application_id, own_company_only=True)
    return _submission(application_resubmit(application=application, actor=user, request=request))
