"""Bonus evidence of an application: building the engine's input from its rows, and the operator's verdicts.

Only evidence an operator has verified counts in the final score; the applicant's preview
counts everything it entered. A verdict names a row by its primary key; editing a section of the
application replaces its rows (``application_update``), so a verdict never carries over to changed evidence.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db import transaction
from django.http import HttpRequest
from django.utils.translation import gettext as _

from medbroker.accounts.models import Role, User
from medbroker.audit.services import audit_record
from medbroker.calls.models import (
    Application,
    Call,
    CertificationHeld,
    GovernmentProject,
    IntellectualProperty,
    RevenueRecord,
)
from medbroker.core import timeutils
from medbroker.core.errors import DomainError, NotFoundError, PermissionDeniedError
from medbroker.reviews.models import EvidenceVerification
from medbroker.reviews.services.bonus import (
    CERTIFICATIONS,
    GOVERNMENT_PROJECTS,
    INTELLECTUAL_PROPERTY,
    REVENUE,
    BonusBreakdown,
    CertificationEvidence,
    Evidence,
    IntellectualPropertyEvidence,
    ListedCertification,
    NotCounted,
    ProjectEvidence,
    RevenueEvidence,
    bonus_compute,
)

Kind = EvidenceVerification.Kind
VerificationStatus = EvidenceVerification.Status

# Verification kind → (row model, item key of the breakdown).
EVIDENCE_MODELS: dict[str, tuple[type[Any], str]] = {
    Kind.REVENUE: (RevenueRecord, REVENUE),
    Kind.PROJECT: (GovernmentProject, GOVERNMENT_PROJECTS),
    Kind.CERTIFICATION: (CertificationHeld, CERTIFICATIONS),
    Kind.INTELLECTUAL_PROPERTY: (IntellectualProperty, INTELLECTUAL_PROPERTY),
}

# Evidence is judged once the company can no longer change it: a draft or an application returned for
# correction may still replace its rows, and the verdicts with them.
VERIFIABLE_STATUSES = (Application.Status.SUBMITTED, Application.Status.RESUBMITTED)


def bonus_rules_for_call(call: Call) -> dict[str, Any]:
    if not call.bonus_rules:
        raise DomainError("bonus_rules_missing", _("이 공모에는 우대사항 규칙이 설정되어 있지 않습니다."))
    return dict(call.bonus_rules)


def certification_list_for_call(call: Call) -> list[ListedCertification]:
    return [
        ListedCertification(name=name, aliases=tuple(aliases or ()))
        for name, aliases in call.certifications.order_by("category", "number").values_list("name", "aliases")
    ]


def verdicts_for_application(application: Application) -> dict[tuple[str, int], EvidenceVerification]:
    """(kind, evidence id) → the operator's verdict, for every judged row of ``application``."""
    return {
        (verdict.kind, verdict.evidence_id): verdict
        for verdict in EvidenceVerification.objects.filter(application=application).select_related(
            "verified_by"
        )
    }


def _set_aside_reason(verdict: EvidenceVerification | None) -> str:
    if verdict is None:
        return _("운영자 확인 전")
    return _("운영자 불인정: %(reason)s") % {"reason": verdict.reason}


def evidence_from_application(application: Application, *, verified_only: bool) -> Evidence:
    """The engine's input built from ``application``'s rows.

    With ``verified_only`` a row counts only when an operator verified it; the others are handed over as
    ``set_aside`` so the explanation still lists them ("운영자 확인 전", "운영자 불인정: …").
    """
    verdicts = verdicts_for_application(application) if verified_only else {}
    set_aside: dict[str, list[NotCounted]] = {
        key: [] for key in (REVENUE, GOVERNMENT_PROJECTS, CERTIFICATIONS, INTELLECTUAL_PROPERTY)
    }

    def counts(kind: str, pk: int, label: str, item_key: str) -> bool:
        if not verified_only:
            return True
        verdict = verdicts.get((kind, pk))
        if verdict is not None and verdict.status == VerificationStatus.VERIFIED:
            return True
        set_aside[item_key].append(NotCounted(label, _set_aside_reason(verdict), pk))
        return False

    amounts: dict[int, Decimal] = {}
    provisional: set[int] = set()
    refs: dict[int, int] = {}
    for record in application.revenues.order_by("year"):
        if counts(Kind.REVENUE, record.pk, f"{record.year}년 매출액", REVENUE):
            amounts[record.year] = Decimal(record.amount_krw)
            refs[record.year] = record.pk
            if record.provisional:
                provisional.add(record.year)

    projects = [
        ProjectEvidence(
            project_id=project.project_id,
            title=project.title,
            started_on=project.started_on,
            ended_on=project.ended_on,
            ref=project.pk,
        )
        for project in application.projects.order_by("started_on", "pk")
        if counts(Kind.PROJECT, project.pk, f"{project.project_id}({project.title})", GOVERNMENT_PROJECTS)
    ]
    certifications = [
        CertificationEvidence(
            name=held.certification.name,
            valid_from=held.valid_from,
            valid_until=held.valid_until,
            ref=held.pk,
        )
        for held in application.certifications.select_related("certification").order_by("pk")
        if counts(Kind.CERTIFICATION, held.pk, held.certification.name, CERTIFICATIONS)
    ]
    registrations = [
        IntellectualPropertyEvidence(
            number=registration.registration_number,
            kind=registration.kind,
            registered_on=registration.registered_on,
            title=registration.title,
            ref=registration.pk,
        )
        for registration in application.intellectual_property.order_by("registered_on", "pk")
        if counts(
            Kind.INTELLECTUAL_PROPERTY,
            registration.pk,
            f"{registration.registration_number}({registration.title})",
            INTELLECTUAL_PROPERTY,
        )
    ]
    return Evidence(
        revenue=RevenueEvidence(amounts=amounts, provisional_years=frozenset(provisional), refs=refs),
        government_projects=projects,
        certifications=certifications,
        intellectual_property=registrations,
        set_aside={key: tuple(rows) for key, rows in set_aside.items() if rows},
    )


def bonus_for_application(application: Application, *, verified_only: bool) -> BonusBreakdown:
    """The bonus breakdown of ``application`` under its call's rules.

    ``verified_only=True`` is the score that enters the ranking; ``False`` is the applicant's preview.
    """
    call = application.call
    return bonus_compute(
        evidence_from_application(application, verified_only=verified_only),
        bonus_rules_for_call(call),
        certification_list=certification_list_for_call(call),
    )


def evidence_verify(
    *,
    application: Application,
    kind: str,
    evidence_id: int,
    status: str,
    reason: str,
    actor: User,
    request: HttpRequest | None = None,
) -> EvidenceVerification:
    """Record an operator's verdict on one row of bonus evidence (a later verdict replaces the earlier one)."""
    if not actor.has_role(Role.OPERATOR):
        raise PermissionDeniedError("forbidden", _("증빙 확인은 운영자만 할 수 있습니다."))
    if kind not in EVIDENCE_MODELS:
        raise DomainError(
            "invalid_kind", _("알 수 없는 증빙 구분입니다: %(kind)s") % {"kind": kind}, field="kind"
        )
    if status not in VerificationStatus.values:
        raise DomainError(
            "invalid_status",
            _("판정은 확인 또는 불인정이어야 합니다: %(status)s") % {"status": status},
            field="status",
        )
    reason = (reason or "").strip()
    if status == VerificationStatus.REJECTED and not reason:
        raise DomainError("reason_required", _("불인정 사유를 입력해 주세요."), field="reason")
    model, _item_key = EVIDENCE_MODELS[kind]
    with transaction.atomic():
        locked = Application.objects.select_for_update().get(pk=application.pk)
        if locked.status not in VERIFIABLE_STATUSES:
            raise DomainError(
                "not_verifiable",
                _("제출된 신청서의 증빙만 확인할 수 있습니다 (현재 상태: %(status)s).")
                % {"status": locked.get_status_display()},
                status_code=409,
            )
        row = model.objects.filter(application=locked, pk=evidence_id).first()
        if row is None:
            raise NotFoundError("evidence_not_found", _("이 신청서의 증빙이 아닙니다."), field="evidence_id")
        previous = EvidenceVerification.objects.filter(
            application=locked, kind=kind, evidence_id=evidence_id
        ).first()
        verdict, _created = EvidenceVerification.objects.update_or_create(
            application=locked,
            kind=kind,
            evidence_id=evidence_id,
            defaults={
                "status": status,
                "reason": reason,
                "verified_by": actor,
                "verified_at": timeutils.now(),
            },
        )
        audit_record(
            action="reviews.evidence_verified"
            if status == VerificationStatus.VERIFIED
            else "reviews.evidence_rejected",
            actor=actor,
            target=verdict,
            summary=f"{locked.receipt_number} {kind} #{evidence_id} {status}",
            data={
                "receipt_number": locked.receipt_number,
                "kind": kind,
                "evidence_id": evidence_id,
                "status": status,
                "reason": reason,
                "previous_status": previous.status if previous else None,
            },
            request=request,
        )
    return verdict
