"""API of the agreements app (``/api/v1/agreements``): the same rules as the pages.

Operators and auditors list every agreement, applicants their own company's; another company's agreement
is 404; other roles get 403. A company's member asks for a performance test while the agreement is in force.
"""

from __future__ import annotations

import datetime as dt

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Router, Schema, Status

from medbroker.accounts.api_auth import api_auth
from medbroker.accounts.models import Role, User
from medbroker.accounts.permissions import STAFF_READ_ROLES
from medbroker.agreements.models import Agreement, PerformanceTestRequest
from medbroker.agreements.selectors import agreement_for_user, agreement_terms, agreements_visible_to
from medbroker.agreements.services.test_requests import test_request_create
from medbroker.core.errors import PermissionDeniedError
from medbroker.core.timeutils import to_kst

router = Router(tags=["agreements"])


class DatasetTermOut(Schema):
    dataset_id: int
    title: str
    sensitivity: str
    amount: int
    needs_annotated: bool


class ComputeOut(Schema):
    code: str
    gpu: str
    gpu_memory_gb: int


class TermsOut(Schema):
    version: int
    effective_at: dt.datetime | None
    datasets: list[DatasetTermOut]
    compute: ComputeOut | None
    allows_online: bool


class AgreementOut(Schema):
    id: int
    number: str
    company: str
    call: str
    status: str
    starts_on: dt.date | None
    ends_on: dt.date
    terms: TermsOut | None


class AgreementDetailOut(AgreementOut):
    signed_at: dt.datetime | None
    # The first instant after the period (00:00:00 KST of the day after ends_on), exclusive.
    period_ends_at: dt.datetime
    terminated_at: dt.datetime | None


class TestRequestIn(Schema):
    algorithm_name: str
    algorithm_version: str = ""
    task_description: str
    intended_use: str = ""
    preferred_period: str = ""


class TestRequestOut(Schema):
    id: int
    agreement_id: int
    algorithm_name: str
    algorithm_version: str
    status: str
    created_at: dt.datetime


# Schema classes named Test* are not test cases.
TestRequestIn.__test__ = False  # type: ignore[attr-defined]
TestRequestOut.__test__ = False  # type: ignore[attr-defined]


def _reader(request: HttpRequest) -> User:
    user: User = request.auth  # type: ignore[attr-defined]
    if not user.has_role(*STAFF_READ_ROLES, Role.APPLICANT):
        raise PermissionDeniedError("forbidden", _("협약을 볼 권한이 없습니다."))
    return user


def _terms(agreement: Agreement) -> dict[str, object] | None:
    version = agreement_terms(agreement)
    if version is None:
        return None
    option = version.compute_option
    return {
        "version": version.number,
        "effective_at": to_kst(version.effective_at) if version.effective_at else None,
        "datasets": [
            {
                "dataset_id": row.dataset_id,
                "title": row.dataset.title,
                "sensitivity": row.dataset.sensitivity,
                "amount": row.amount,
                "needs_annotated": row.needs_annotated,
            }
            for row in version.datasets.select_related("dataset").order_by("pk")
        ],
        "compute": (
            {"code": option.code, "gpu": option.gpu, "gpu_memory_gb": option.gpu_memory_gb}
            if option
            else None
        ),
        "allows_online": version.allows_online,
    }


def _summary(agreement: Agreement) -> dict[str, object]:
    return {
        "id": agreement.pk,
        "number": agreement.number,
        "company": agreement.company.name,
        "call": agreement.call.slug,
        "status": agreement.status,
        "starts_on": agreement.starts_on,
        "ends_on": agreement.ends_on,
        "terms": _terms(agreement),
    }


def _test_request_out(test_request: PerformanceTestRequest) -> dict[str, object]:
    return {
        "id": test_request.pk,
        "agreement_id": test_request.agreement_id,
        "algorithm_name": test_request.algorithm_name,
        "algorithm_version": test_request.algorithm_version,
        "status": test_request.status,
        "created_at": to_kst(test_request.created_at),
    }


@router.get("", response=list[AgreementOut], auth=api_auth)
def agreements_list(request: HttpRequest) -> list[dict[str, object]]:
    """The agreements the caller may see, with the terms in force (none before both signatures)."""
    user = _reader(request)
    return [_summary(a) for a in agreements_visible_to(user).order_by("call_id", "number")]


@router.get("/{agreement_id}", response=AgreementDetailOut, auth=api_auth)
def agreements_detail(request: HttpRequest, agreement_id: int) -> dict[str, object]:
    agreement = agreement_for_user(_reader(request), agreement_id)
    return {
        **_summary(agreement),
        "signed_at": to_kst(agreement.signed_at) if agreement.signed_at else None,
        "period_ends_at": agreement.period_ends_at,
        "terminated_at": to_kst(agreement.terminated_at) if agreement.terminated_at else None,
    }


@router.post("/{agreement_id}/test-requests", response={201: TestRequestOut}, auth=api_auth)
def agreements_test_request_create(request: HttpRequest, agreement_id: int, payload: TestRequestIn) -> Status:
    """A company member asks for a performance test of its algorithm (agreement in force)."""
    user = _reader(request)
    agreement = agreement_for_user(user, agreement_id)
    test_request = test_request_create(agreement=agreement, actor=user, request=request, **payload.dict())
    return Status(201, _test_request_out(test_request))
