"""Evidence from an application's rows, and the operator's verdicts: only verified evidence counts."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
import time_machine

from medbroker.accounts.models import Role, User
from medbroker.accounts.tests.factories import OrganisationFactory, UserFactory
from medbroker.audit.models import AuditEvent
from medbroker.calls.models import (
    Application,
    GovernmentProject,
)
from medbroker.calls.tests.factories import call_2025
from medbroker.calls.tests.factories_applications import application_draft
from medbroker.core.errors import DomainError, NotFoundError, PermissionDeniedError
from medbroker.core.timeutils import kst
from medbroker.reviews.models import EvidenceVerification
from medbroker.reviews.services.bonus import NotCounted, RevenueEvidence
from medbroker.reviews.services.evidence import (
    bonus_for_application,
    evidence_from_application,
    evidence_verify,
)
from medbroker.reviews.tests.factories import DURING_INTAKE, submitted_application
from medbroker.reviews.tests.factories_bonus import add_evidence

pytestmark = pytest.mark.django_db

VERIFIED, REJECTED = EvidenceVerification.Status.VERIFIED, EvidenceVerification.Status.REJECTED
Kind = EvidenceVerification.Kind
NOW = kst(2025, 7, 28, 14, 30, 0)


@pytest.fixture
def application() -> Application:
    application, _ = submitted_application(call_2025(), company_name="증빙테스트")
    return application


@pytest.fixture
def rows(application: Application) -> dict[str, list[Any]]:
    return add_evidence(application)


def verify(
    application: Application, kind: str, row: Any, actor: User, status: str = VERIFIED, reason: str = ""
) -> EvidenceVerification:
    with time_machine.travel(NOW, tick=False):
        return evidence_verify(
            application=application, kind=kind, evidence_id=row.pk, status=status, reason=reason, actor=actor
        )


def nothing_recorded() -> None:
    assert EvidenceVerification.objects.count() == 0
    assert not AuditEvent.objects.filter(action__startswith="reviews.evidence_").exists()


# ---------------------------------------------------------------------------------------------------------
# Building the engine's input
# ---------------------------------------------------------------------------------------------------------


def test_all_evidence_counts_in_the_preview(application: Application, rows: dict[str, list[Any]]) -> None:
    evidence = evidence_from_application(application, verified_only=False)

    revenue = rows[Kind.REVENUE]
    assert evidence.revenue == RevenueEvidence(
        amounts={
            2021: Decimal(800_000_000),
            2022: Decimal(900_000_000),
            2023: Decimal(1_000_000_000),
            2024: Decimal(1_200_000_000),
        },
        provisional_years=frozenset({2024}),
        refs={2021: revenue[0].pk, 2022: revenue[1].pk, 2023: revenue[2].pk, 2024: revenue[3].pk},
    )
    assert [p.project_id for p in evidence.government_projects] == [f"RS-2023-{n:05d}" for n in range(1, 6)]
    assert [c.name for c in evidence.certifications] == ["GS", "ISO 9001", "ISMS-P", "CC", "InnoBiz"]
    assert [r.ref for r in evidence.intellectual_property] == [r.pk for r in rows[Kind.INTELLECTUAL_PROPERTY]]
    assert evidence.set_aside == {}

    breakdown = bonus_for_application(application, verified_only=False)
    assert [item.points for item in breakdown.items] == [Decimal(3), Decimal(2), Decimal(3), Decimal(2)]
    assert (breakdown.objective, breakdown.technology, breakdown.total) == (
        Decimal(5),
        Decimal(5),
        Decimal(10),
    )


def test_nothing_counts_in_the_final_score_before_an_operator_verifies(
    application: Application, rows: dict[str, list[Any]]
) -> None:
    breakdown = bonus_for_application(application, verified_only=True)

    assert breakdown.total == Decimal(0)
    assert breakdown.revenue.reason.startswith(
        "2024년 매출액 자료가 없어 증감을 판단할 수 없음: 0점 (제외 4건 — 2021년 매출액: 운영자 확인 전;"
    )
    assert breakdown.government_projects.not_counted[0] == NotCounted(
        "RS-2023-00001(과제 1)", "운영자 확인 전", rows[Kind.PROJECT][0].pk
    )


def test_only_verified_evidence_counts_and_rejected_evidence_says_why(
    application: Application, rows: dict[str, list[Any]], operator: User
) -> None:
    # Revenue 2022–2024 verified (2021 not): average of 2022–2023 = 950,000,000 < 1,200,000,000.
    for record in rows[Kind.REVENUE][1:]:
        verify(application, Kind.REVENUE, record, operator)
    for project in rows[Kind.PROJECT][:4]:
        verify(application, Kind.PROJECT, project, operator)
    verify(application, Kind.PROJECT, rows[Kind.PROJECT][4], operator, REJECTED, "협약서 미제출")
    for held in rows[Kind.CERTIFICATION][:3]:
        verify(application, Kind.CERTIFICATION, held, operator)
    for registration in rows[Kind.INTELLECTUAL_PROPERTY]:
        verify(application, Kind.INTELLECTUAL_PROPERTY, registration, operator)

    breakdown = bonus_for_application(application, verified_only=True)

    assert [item.points for item in breakdown.items] == [Decimal(3), Decimal(1), Decimal(2), Decimal(2)]
    assert (breakdown.objective, breakdown.technology, breakdown.total) == (
        Decimal(4),
        Decimal(4),
        Decimal(8),
    )
    assert breakdown.revenue.details["baseline_years"] == [2022, 2023]
    assert breakdown.government_projects.not_counted == (
        NotCounted("RS-2023-00005(과제 5)", "운영자 불인정: 협약서 미제출", rows[Kind.PROJECT][4].pk),
    )
    assert breakdown.certifications.not_counted == (
        NotCounted("CC", "운영자 확인 전", rows[Kind.CERTIFICATION][3].pk),
        NotCounted("InnoBiz", "운영자 확인 전", rows[Kind.CERTIFICATION][4].pk),
    )
    # The preview still counts everything.
    assert bonus_for_application(application, verified_only=False).total == Decimal(10)


# ---------------------------------------------------------------------------------------------------------
# The verdict
# ---------------------------------------------------------------------------------------------------------


def test_an_operator_verifies_a_row_and_the_audit_log_records_it(
    application: Application, rows: dict[str, list[Any]], operator: User
) -> None:
    project = rows[Kind.PROJECT][0]

    verdict = verify(application, Kind.PROJECT, project, operator)

    assert (verdict.application_id, verdict.kind, verdict.evidence_id, verdict.status, verdict.reason) == (
        application.pk,
        "project",
        project.pk,
        "verified",
        "",
    )
    assert (verdict.verified_by, verdict.verified_at) == (operator, NOW)
    event = AuditEvent.objects.get(action="reviews.evidence_verified")
    assert (event.actor, event.object_type, event.object_id) == (
        operator,
        "reviews.evidenceverification",
        str(verdict.pk),
    )
    assert event.summary == f"{application.receipt_number} project #{project.pk} verified"
    assert event.data == {
        "receipt_number": application.receipt_number,
        "kind": "project",
        "evidence_id": project.pk,
        "status": "verified",
        "reason": "",
        "previous_status": None,
    }


def test_a_later_verdict_replaces_the_earlier_one(
    application: Application, rows: dict[str, list[Any]], operator: User
) -> None:
    held = rows[Kind.CERTIFICATION][0]
    verify(application, Kind.CERTIFICATION, held, operator)

    verdict = verify(application, Kind.CERTIFICATION, held, operator, REJECTED, "  유효기간 만료된 사본  ")

    assert EvidenceVerification.objects.count() == 1
    assert (verdict.status, verdict.reason) == ("rejected", "유효기간 만료된 사본")
    event = AuditEvent.objects.get(action="reviews.evidence_rejected")
    assert (event.data["previous_status"], event.data["reason"]) == ("verified", "유효기간 만료된 사본")


@pytest.mark.parametrize("reason", ["", "   "])
def test_a_rejection_needs_a_reason(
    application: Application, rows: dict[str, list[Any]], operator: User, reason: str
) -> None:
    with pytest.raises(DomainError) as raised:
        verify(application, Kind.PROJECT, rows[Kind.PROJECT][0], operator, REJECTED, reason)

    assert (raised.value.code, raised.value.field) == ("reason_required", "reason")
    nothing_recorded()


@pytest.mark.parametrize("role", ["auditor", "reviewer", "steward", "applicant"])
def test_only_an_operator_may_verify(
    application: Application, rows: dict[str, list[Any]], users_by_role: dict[str, User | None], role: str
) -> None:
    user = users_by_role[role]
    assert user is not None

    with pytest.raises(PermissionDeniedError) as raised:
        verify(application, Kind.PROJECT, rows[Kind.PROJECT][0], user)

    assert raised.value.code == "forbidden"
    nothing_recorded()


def test_evidence_of_another_application_is_not_found(
    application: Application, rows: dict[str, list[Any]], operator: User
) -> None:
    other, _ = submitted_application(application.call, company_name="다른기업")
    foreign = GovernmentProject.objects.create(
        application=other,
        project_id="X-1",
        title="남의 과제",
        started_on=dt.date(2023, 1, 1),
        ended_on=dt.date(2023, 12, 31),
    )

    with pytest.raises(NotFoundError) as raised:
        verify(application, Kind.PROJECT, foreign, operator)

    assert raised.value.code == "evidence_not_found"
    nothing_recorded()


def test_a_row_of_another_kind_with_the_same_id_is_not_found(
    application: Application, rows: dict[str, list[Any]], operator: User
) -> None:
    revenue = rows[Kind.REVENUE][0]
    GovernmentProject.objects.filter(pk=revenue.pk).delete()

    with pytest.raises(NotFoundError):
        verify(application, Kind.PROJECT, revenue, operator)

    nothing_recorded()


@pytest.mark.parametrize(
    ("kind", "status", "code"),
    [("patent", VERIFIED, "invalid_kind"), (Kind.PROJECT, "maybe", "invalid_status")],
)
def test_unknown_kind_or_status_is_refused(
    application: Application, rows: dict[str, list[Any]], operator: User, kind: str, status: str, code: str
) -> None:
    with pytest.raises(DomainError) as raised:
        verify(application, kind, rows[Kind.PROJECT][0], operator, status)

    assert raised.value.code == code
    nothing_recorded()


def test_a_draft_cannot_be_verified(operator: User) -> None:
    # The company may still replace a draft's rows, and the verdicts with them.
    drafter = UserFactory(
        organisation=OrganisationFactory(name="작성중기업", address="대구광역시 북구 1"),
        roles=[Role.APPLICANT],
    )
    with time_machine.travel(DURING_INTAKE, tick=False):
        draft = application_draft(call=call_2025(), applicant=drafter)
    row = GovernmentProject.objects.create(
        application=draft,
        project_id="D-1",
        title="초안 과제",
        started_on=dt.date(2023, 1, 1),
        ended_on=dt.date(2023, 12, 31),
    )

    with pytest.raises(DomainError) as raised:
        verify(draft, Kind.PROJECT, row, operator)

    assert (raised.value.code, raised.value.status_code) == ("not_verifiable", 409)
    nothing_recorded()


def test_a_call_without_bonus_rules_says_so(application: Application) -> None:
    application.call.bonus_rules = {}
    application.call.save(update_fields=["bonus_rules"])

    with pytest.raises(DomainError) as raised:
        bonus_for_application(application, verified_only=False)

    assert raised.value.code == "bonus_rules_missing"
