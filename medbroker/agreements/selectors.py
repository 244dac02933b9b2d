"""Reads of the agreements app: which terms are in force, who sees which agreement, and what awaits one.

An agreement grants something only while it is in force: signed by both sides (status ACTIVE) and the
instant lies inside its period, from 00:00:00 KST of the signing date to the end of the last day
(``period_ends_at`` is 00:00:00 KST of the day after, exclusive). Every downstream check (grants, GPU,
bookings) asks :func:`agreement_in_force` with the instant it cares about, so nothing depends on a task
having marked the agreement ended.
"""

from __future__ import annotations

import datetime as dt

from django.db.models import Prefetch, QuerySet
from django.utils.translation import gettext as _

from medbroker.accounts.models import Role, User
from medbroker.accounts.permissions import STAFF_READ_ROLES
from medbroker.agreements.models import (
    Agreement,
    AgreementDataset,
    AgreementSignature,
    AgreementVersion,
    PerformanceTestRequest,
)
from medbroker.calls.models import Call
from medbroker.core.errors import NotFoundError, PermissionDeniedError
from medbroker.reviews.models import Decision


def agreement_terms(agreement: Agreement) -> AgreementVersion | None:
    """The version in force (status "effective"); None while version 1 awaits its signatures."""
    cached = getattr(agreement, "_prefetched_objects_cache", {}).get("versions")
    if cached is not None:
        return next((v for v in cached if v.status == AgreementVersion.Status.EFFECTIVE), None)
    return (
        AgreementVersion.objects.filter(agreement=agreement, status=AgreementVersion.Status.EFFECTIVE)
        .select_related("compute_option")
        .first()
    )


def agreement_pending_version(agreement: Agreement) -> AgreementVersion | None:
    """The version being signed (version 1 before conclusion, or an open amendment)."""
    cached = getattr(agreement, "_prefetched_objects_cache", {}).get("versions")
    if cached is not None:
        return next((v for v in cached if v.status == AgreementVersion.Status.PENDING), None)
    return AgreementVersion.objects.filter(
        agreement=agreement, status=AgreementVersion.Status.PENDING
    ).first()


def agreement_in_force(agreement: Agreement, *, at: dt.datetime) -> bool:
    """Signed by both sides and ``at`` inside the period: ``period_starts_at <= at < period_ends_at``."""
    if agreement.status != Agreement.Status.ACTIVE:
        return False
    starts_at = agreement.period_starts_at
    if starts_at is None:
        return False
    return starts_at <= at < agreement.period_ends_at


def agreements_visible_to(user: User) -> QuerySet[Agreement]:
    """Operators and auditors: every agreement; applicants: their own company's; anyone else: none."""
    agreements = Agreement.objects.select_related("call", "company", "decision__application")
    if not user.is_authenticated:
        return agreements.none()
    if user.has_role(*STAFF_READ_ROLES):
        return agreements
    if user.has_role(Role.APPLICANT) and user.organisation_id is not None:
        return agreements.filter(company_id=user.organisation_id)
    return agreements.none()


def agreement_for_user(user: User, pk: int) -> Agreement:
    """One agreement the user may see; another company's is not found, as if it did not exist."""
    agreement = agreements_visible_to(user).filter(pk=pk).first()
    if agreement is None:
        raise NotFoundError("agreement_not_found", _("협약을 찾을 수 없습니다."))
    return agreement


def agreement_with_history(agreement: Agreement) -> Agreement:
    """The agreement with its versions, their datasets and signatures loaded for the detail page."""
    return (
        Agreement.objects.select_related("call", "company", "decision__application", "created_by")
        .prefetch_related(
            Prefetch(
                "versions",
                queryset=AgreementVersion.objects.select_related("compute_option", "created_by")
                .prefetch_related(
                    Prefetch(
                        "datasets",
                        queryset=AgreementDataset.objects.select_related(
                            "dataset__institution__organisation"
                        ),
                    ),
                    Prefetch("signatures", queryset=AgreementSignature.objects.select_related("signer")),
                )
                .order_by("-number"),
            )
        )
        .get(pk=agreement.pk)
    )


def user_is_company_member(agreement: Agreement, user: User) -> bool:
    return bool(
        user.is_authenticated
        and user.is_active
        and user.has_role(Role.APPLICANT)
        and user.organisation_id is not None
        and user.organisation_id == agreement.company_id
    )


def agreement_member_ensure(agreement: Agreement, user: User) -> None:
    """Refuse anyone but an active applicant-role member of the agreement's company."""
    if not user_is_company_member(agreement, user):
        raise PermissionDeniedError(
            "not_member", _("이 협약을 맺은 기업의 담당자만 할 수 있습니다."), status_code=403
        )


def signing_side_for_user(agreement: Agreement, user: User) -> str | None:
    """The side the user signs for: operators for the lab, company members for the company."""
    if user.is_authenticated and user.has_role(Role.OPERATOR):
        return AgreementSignature.Side.LAB
    if user_is_company_member(agreement, user):
        return AgreementSignature.Side.COMPANY
    return None


def version_for_user(user: User, pk: int) -> AgreementVersion:
    version = (
        AgreementVersion.objects.select_related("agreement")
        .filter(agreement__in=agreements_visible_to(user), pk=pk)
        .first()
    )
    if version is None:
        raise NotFoundError("version_not_found", _("협약서를 찾을 수 없습니다."))
    return version


def signature_for_user(user: User, pk: int) -> AgreementSignature:
    signature = (
        AgreementSignature.objects.select_related("version__agreement")
        .filter(version__agreement__in=agreements_visible_to(user), pk=pk)
        .first()
    )
    if signature is None:
        raise NotFoundError("signature_not_found", _("서명본을 찾을 수 없습니다."))
    return signature


def decisions_awaiting_agreement(call: Call | None = None) -> QuerySet[Decision]:
    """Published selections that have no agreement yet, in selection order per call."""
    decisions = Decision.objects.filter(
        outcome=Decision.Outcome.SELECTED, published_at__isnull=False, agreement__isnull=True
    )
    if call is not None:
        decisions = decisions.filter(application__call=call)
    return (
        decisions.select_related("application__company", "application__call", "granted_compute")
        .prefetch_related("granted_datasets__dataset")
        .order_by("application__call__intake_opens_at", "application__call_id", "rank", "pk")
    )


def test_requests_visible_to(user: User) -> QuerySet[PerformanceTestRequest]:
    """The performance-test requests of the agreements the user sees."""
    return PerformanceTestRequest.objects.filter(agreement__in=agreements_visible_to(user)).select_related(
        "agreement__company", "agreement__call", "requested_by", "decided_by"
    )


def test_request_for_user(user: User, pk: int) -> PerformanceTestRequest:
    test_request = test_requests_visible_to(user).filter(pk=pk).first()
    if test_request is None:
        raise NotFoundError("test_request_not_found", _("성능시험 요청을 찾을 수 없습니다."))
    return test_request


# pytest collects any module-level function named test_* that a test module imports; these are selectors.
for _selector in (test_requests_visible_to, test_request_for_user):
    _selector.__test__ = False  # type: ignore[union-attr]
