"""Amendments keep the history; termination and the end of the period stop the agreement."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
import time_machine

from medbroker.accounts.models import Notification, Organisation, User
from medbroker.agreements.models import Agreement, AgreementSignature, AgreementVersion
from medbroker.agreements.selectors import agreement_in_force, agreement_terms
from medbroker.agreements.services.agreements import (
    agreement_amend,
    agreement_amendment_cancel,
    agreement_terminate,
    agreements_close_ended,
)
from medbroker.agreements.services.signatures import agreement_sign
from medbroker.agreements.tasks import agreements_close_ended as agreements_close_ended_task
from medbroker.agreements.tests.factories import DURING_SUPPORT, active_agreement, selected_decision
from medbroker.agreements.tests.scene import signed_copy
from medbroker.audit.models import AuditEvent
from medbroker.calls.models import ComputeOption
from medbroker.catalog.models import Sensitivity
from medbroker.catalog.tests.factories import DatasetFactory
from medbroker.core.errors import DomainError, PermissionDeniedError
from medbroker.core.timeutils import kst

pytestmark = pytest.mark.django_db
Side = AgreementSignature.Side
Method = AgreementSignature.Method


@pytest.fixture
def clock() -> Iterator[Any]:
    with time_machine.travel(DURING_SUPPORT, tick=False) as traveller:
        yield traveller


@pytest.fixture
def agreement(operator: User, applicant: User, company: Organisation, clock: Any) -> Agreement:
    return active_agreement(decision=selected_decision(company=company, operator=operator))


def _terms(version: AgreementVersion) -> list[tuple[int, int, bool]]:
    return list(version.datasets.order_by("pk").values_list("dataset_id", "amount", "needs_annotated"))


def _state() -> tuple[Any, ...]:
    return (
        list(AgreementVersion.objects.order_by("pk").values_list("agreement_id", "number", "status")),
        list(Agreement.objects.order_by("pk").values_list("status", "terminated_at", "termination_reason")),
        AuditEvent.objects.filter(action__startswith="agreements.").count(),
    )


def _amend(agreement: Agreement, operator: User, **overrides: Any) -> AgreementVersion:
    v1 = agreement.versions.get(number=1)
    values: dict[str, Any] = {
        "datasets": [(row.dataset, row.amount, row.needs_annotated) for row in v1.datasets.order_by("pk")],
        "compute_option": v1.compute_option,
        "allows_online": False,
        "reason": "추가 데이터 지원",
        **overrides,
    }
    return agreement_amend(agreement=agreement, actor=operator, **values)


def test_an_amendment_keeps_the_old_terms_in_force_until_both_sign_and_keeps_the_history(
    agreement: Agreement, operator: User, applicant: User, fast_pdf: None
) -> None:
    v1 = agreement.versions.get(number=1)
    old_terms = _terms(v1)
    extra = DatasetFactory(sensitivity=Sensitivity.LOW, title="심전도 공개 데이터")
    v100 = ComputeOption.objects.get(call=agreement.call, code="v100-32")

    v2 = _amend(
        agreement,
        operator,
        datasets=[
            *[(r.dataset, r.amount, r.needs_annotated) for r in v1.datasets.order_by("pk")],
            (extra, 500, False),
        ],
        compute_option=v100,
        allows_online=True,
    )

    assert (v2.number, v2.status, v2.reason, v2.compute_option, v2.allows_online) == (
        2,
        AgreementVersion.Status.PENDING,
        "추가 데이터 지원",
        v100,
        True,
    )
    assert _terms(v2) == [*old_terms, (extra.pk, 500, False)]
    assert agreement_terms(agreement) == v1
    assert v2.document.name.endswith(f"{agreement.number}-v2.pdf")
    assert Notification.objects.get(user=applicant, kind="agreement_to_sign").title == (
        f"변경 협약서 서명 요청: {agreement.number} (2차)"
    )

    agreement_sign(version=v2, side=Side.LAB, actor=operator, method=Method.UPLOAD, upload=signed_copy())
    assert agreement_terms(agreement) == v1
    agreement_sign(version=v2, side=Side.COMPANY, actor=applicant, method=Method.UPLOAD, upload=signed_copy())

    v1.refresh_from_db()
    v2.refresh_from_db()
    agreement.refresh_from_db()
    assert (v1.status, v2.status, v2.effective_at) == (
        AgreementVersion.Status.SUPERSEDED,
        AgreementVersion.Status.EFFECTIVE,
        DURING_SUPPORT,
    )
    assert agreement_terms(agreement) == v2
    # The original terms and their signatures stay as they were; the period does not move.
    assert _terms(v1) == old_terms
    assert v1.signatures.count() == 2
    assert (agreement.status, agreement.starts_on) == (Agreement.Status.ACTIVE, dt.date(2025, 9, 1))
    applied = AuditEvent.objects.get(action="agreements.amendment_applied")
    assert (applied.data["version"], applied.data["superseded_versions"]) == (2, [1])


def test_one_amendment_at_a_time(agreement: Agreement, operator: User, fast_pdf: None) -> None:
    _amend(agreement, operator)
    before = _state()

    with pytest.raises(DomainError) as error:
        _amend(agreement, operator, reason="또 변경")

    assert (error.value.code, error.value.status_code) == ("amendment_pending", 409)
    assert _state() == before


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"reason": "  "}, "reason_required"),
        ({"datasets": []}, "datasets_required"),
        ({"allows_online": True, "datasets": "standard_only"}, "online_not_allowed"),
        ({"datasets": "duplicate"}, "dataset_duplicate"),
        ({"datasets": "zero"}, "amount_invalid"),
    ],
)
def test_an_amendment_with_bad_terms_is_refused(
    agreement: Agreement, operator: User, fast_pdf: None, overrides: dict[str, Any], code: str
) -> None:
    standard = DatasetFactory(sensitivity=Sensitivity.STANDARD)
    shapes = {
        "standard_only": [(standard, 10, False)],
        "duplicate": [(standard, 10, False), (standard, 20, False)],
        "zero": [(standard, 0, False)],
    }
    if isinstance(overrides.get("datasets"), str):
        overrides = {**overrides, "datasets": shapes[overrides["datasets"]]}
    before = _state()

    with pytest.raises(DomainError) as error:
        _amend(agreement, operator, **overrides)

    assert error.value.code == code
    assert _state() == before


def test_an_amendment_needs_a_concluded_agreement_and_an_operator(
    agreement: Agreement, operator: User, applicant: User, fast_pdf: None
) -> None:
    before = _state()
    with pytest.raises(PermissionDeniedError):
        _amend(agreement, applicant)
    Agreement.objects.filter(pk=agreement.pk).update(status=Agreement.Status.AWAITING_SIGNATURES)
    with pytest.raises(DomainError) as error:
        _amend(agreement, operator)

    assert error.value.code == "agreement_not_active"
    assert _state()[0] == before[0]


def test_cancelling_an_amendment_keeps_it_in_the_history(
    agreement: Agreement, operator: User, fast_pdf: None
) -> None:
    v2 = _amend(agreement, operator)

    agreement_amendment_cancel(version=v2, actor=operator, reason="기업 요청으로 철회")

    v2.refresh_from_db()
    assert v2.status == AgreementVersion.Status.CANCELLED
    assert agreement_terms(agreement) == agreement.versions.get(number=1)
    assert _amend(agreement, operator, reason="다시 변경").number == 3
    with pytest.raises(DomainError) as error:
        agreement_amendment_cancel(version=agreement.versions.get(number=1), actor=operator, reason="x")
    assert error.value.code == "not_an_amendment"


def test_termination_stops_the_agreement_at_once(
    agreement: Agreement, operator: User, applicant: User, fast_pdf: None
) -> None:
    v2 = _amend(agreement, operator)
    assert agreement_in_force(agreement, at=DURING_SUPPORT) is True

    agreement_terminate(agreement=agreement, actor=operator, reason="보안 서약 위반")

    agreement.refresh_from_db()
    v2.refresh_from_db()
    assert (agreement.status, agreement.terminated_at, agreement.termination_reason) == (
        Agreement.Status.TERMINATED,
        DURING_SUPPORT,
        "보안 서약 위반",
    )
    assert v2.status == AgreementVersion.Status.CANCELLED
    assert agreement_in_force(agreement, at=DURING_SUPPORT) is False
    event = AuditEvent.objects.get(action="agreements.agreement_terminated")
    assert event.data == {"previous_status": "active", "reason": "보안 서약 위반", "cancelled_versions": [2]}
    assert Notification.objects.get(user=applicant, kind="agreement_terminated").body == (
        "협약이 해지되었습니다(사유: 보안 서약 위반). 데이터 이용과 GPU 자원도 함께 중지됩니다."
    )


def test_termination_needs_a_reason_an_operator_and_an_open_agreement(
    agreement: Agreement, operator: User, auditor: User
) -> None:
    before = _state()
    with pytest.raises(DomainError) as missing:
        agreement_terminate(agreement=agreement, actor=operator, reason="")
    with pytest.raises(PermissionDeniedError):
        agreement_terminate(agreement=agreement, actor=auditor, reason="감사")
    assert _state() == before
    agreement_terminate(agreement=agreement, actor=operator, reason="해지")
    with pytest.raises(DomainError) as twice:
        agreement_terminate(agreement=agreement, actor=operator, reason="또 해지")

    assert (missing.value.code, twice.value.code) == ("reason_required", "agreement_closed")


def test_agreements_end_when_the_last_day_is_over_and_closing_is_idempotent(
    agreement: Agreement, operator: User, clock: Any
) -> None:
    later = active_agreement(decision=selected_decision(operator=operator))
    Agreement.objects.filter(pk=later.pk).update(ends_on=dt.date(2025, 12, 31))

    assert agreements_close_ended(now=kst(2025, 11, 28, 23, 59, 59)) == 0
    assert agreements_close_ended(now=kst(2025, 11, 29, 0, 0, 0)) == 1
    assert agreements_close_ended(now=kst(2025, 11, 29, 0, 5, 0)) == 0

    assert list(Agreement.objects.order_by("pk").values_list("pk", "status")) == [
        (agreement.pk, Agreement.Status.ENDED),
        (later.pk, Agreement.Status.ACTIVE),
    ]
    event = AuditEvent.objects.get(action="agreements.agreement_ended")
    assert (event.actor, event.object_id, event.data) == (
        None,
        str(agreement.pk),
        {"ends_on": "2025-11-28", "cancelled_versions": []},
    )


def test_the_periodic_task_closes_ended_agreements(agreement: Agreement, clock: Any) -> None:
    clock.move_to(kst(2025, 11, 29, 0, 0, 0))

    result = agreements_close_ended_task.delay()

    assert result.get() == 1
    agreement.refresh_from_db()
    assert agreement.status == Agreement.Status.ENDED
    assert agreements_close_ended_task.delay().get() == 0
    assert agreements_close_ended_task.name == "medbroker.agreements.tasks.agreements_close_ended"
