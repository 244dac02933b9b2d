"""Drafting the agreement from a published selection: version 1 with the support scale, and its document."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator

import pytest
import time_machine
from django.template.loader import render_to_string

from medbroker.accounts.models import Notification, Organisation, User
from medbroker.agreements.models import Agreement, AgreementVersion
from medbroker.agreements.selectors import agreement_in_force, agreement_terms
from medbroker.agreements.services.agreements import agreement_create_from_decision
from medbroker.agreements.services.documents import DOCUMENT_TEMPLATE, agreement_document_context
from medbroker.agreements.tests.factories import selected_decision
from medbroker.agreements.tests.scene import DRAFTED_AT, drafted_agreement
from medbroker.audit.models import AuditEvent
from medbroker.catalog.models import Sensitivity
from medbroker.catalog.tests.factories import DatasetFactory
from medbroker.core.errors import DomainError, PermissionDeniedError
from medbroker.core.timeutils import kst
from medbroker.reviews.models import Decision

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _frozen_clock() -> Iterator[None]:
    with time_machine.travel(DRAFTED_AT, tick=False):
        yield


def _state() -> tuple[int, int, int, int]:
    return (
        Agreement.objects.count(),
        AgreementVersion.objects.count(),
        AuditEvent.objects.filter(action__startswith="agreements.").count(),
        Notification.objects.count(),
    )


def test_operator_drafts_version_one_with_the_decisions_support_scale(
    operator: User, applicant: User, company: Organisation
) -> None:
    decision = selected_decision(company=company, operator=operator)
    granted = list(decision.granted_datasets.order_by("pk"))

    agreement = agreement_create_from_decision(decision=decision, actor=operator)

    agreement.refresh_from_db()
    assert (agreement.number, agreement.status, agreement.company, agreement.call.slug) == (
        f"{decision.application.receipt_number}-AG",
        Agreement.Status.AWAITING_SIGNATURES,
        company,
        decision.application.call.slug,
    )
    assert (agreement.starts_on, agreement.ends_on, agreement.signed_at) == (
        None,
        dt.date(2025, 11, 28),
        None,
    )
    assert agreement.period_ends_at == kst(2025, 11, 29, 0, 0, 0)
    version = agreement.versions.get()
    assert (version.number, version.status, version.compute_option.code, version.allows_online) == (
        1,
        AgreementVersion.Status.PENDING,
        "a100-32",
        False,
    )
    assert list(version.datasets.order_by("pk").values_list("dataset_id", "amount", "needs_annotated")) == [
        (row.dataset_id, 1000, True) for row in granted
    ]
    content = version.document.read()
    assert content.startswith(b"%PDF-")
    assert version.document_sha256 == hashlib.sha256(content).hexdigest()
    assert version.document.name.endswith(f"{agreement.number}-v1.pdf")
    event = AuditEvent.objects.get(action="agreements.agreement_created")
    assert (event.actor, event.object_id, event.data["ends_on"], event.data["version"]) == (
        operator,
        str(agreement.pk),
        "2025-11-28",
        1,
    )
    notice = Notification.objects.get(user=applicant)
    assert (notice.kind, notice.link) == ("agreement_to_sign", f"/agreements/{agreement.pk}/")


def test_an_agreement_not_signed_grants_nothing(operator: User, fast_pdf: None) -> None:
    agreement = drafted_agreement(operator=operator)

    assert agreement_terms(agreement) is None
    assert agreement_in_force(agreement, at=kst(2025, 9, 15, 10, 0, 0)) is False


def test_a_second_agreement_for_the_same_decision_is_refused(operator: User, fast_pdf: None) -> None:
    decision = selected_decision(operator=operator)
    agreement_create_from_decision(decision=decision, actor=operator)
    before = _state()

    with pytest.raises(DomainError) as error:
        agreement_create_from_decision(decision=decision, actor=operator)

    assert (error.value.code, error.value.status_code) == ("agreement_exists", 409)
    assert _state() == before


@pytest.mark.parametrize(
    ("outcome", "published"),
    [
        (Decision.Outcome.NOT_SELECTED, True),
        (Decision.Outcome.RESERVE, True),
        (Decision.Outcome.SELECTED, False),
    ],
)
def test_only_a_published_selection_gets_an_agreement(
    operator: User, fast_pdf: None, outcome: str, published: bool
) -> None:
    decision = selected_decision(operator=operator)
    Decision.objects.filter(pk=decision.pk).update(
        outcome=outcome, published_at=decision.published_at if published else None
    )
    before = _state()

    with pytest.raises(DomainError) as error:
        agreement_create_from_decision(decision=decision, actor=operator)

    assert error.value.code == "decision_not_selected"
    assert _state() == before


def test_only_an_operator_drafts(applicant: User, auditor: User, operator: User, fast_pdf: None) -> None:
    decision = selected_decision(operator=operator)
    before = _state()

    for user in (applicant, auditor):
        with pytest.raises(PermissionDeniedError):
            agreement_create_from_decision(decision=decision, actor=user)

    assert _state() == before


def test_online_use_is_agreed_only_with_low_sensitivity_data(operator: User, fast_pdf: None) -> None:
    standard_only = selected_decision(
        operator=operator, datasets=[DatasetFactory(sensitivity=Sensitivity.STANDARD)]
    )
    before = _state()

    with pytest.raises(DomainError) as error:
        agreement_create_from_decision(decision=standard_only, actor=operator, allows_online=True)

    assert (error.value.code, error.value.field) == ("online_not_allowed", "allows_online")
    assert _state() == before
    with_low = selected_decision(operator=operator)  # one standard and one low-sensitivity dataset
    agreement = agreement_create_from_decision(decision=with_low, actor=operator, allows_online=True)
    assert agreement.versions.get().allows_online is True


def test_the_period_ends_with_the_decisions_support_end_else_the_calls(
    operator: User, fast_pdf: None
) -> None:
    own_end = selected_decision(operator=operator)
    Decision.objects.filter(pk=own_end.pk).update(support_ends_on=dt.date(2025, 10, 31))
    call_end = selected_decision(operator=operator)
    Decision.objects.filter(pk=call_end.pk).update(support_ends_on=None)

    first = agreement_create_from_decision(decision=own_end, actor=operator)
    second = agreement_create_from_decision(decision=call_end, actor=operator)

    assert (first.ends_on, second.ends_on) == (dt.date(2025, 10, 31), dt.date(2025, 11, 28))


def test_no_agreement_once_the_support_period_is_over(operator: User, fast_pdf: None) -> None:
    decision = selected_decision(operator=operator)

    with time_machine.travel(kst(2025, 11, 29, 0, 0, 0), tick=False), pytest.raises(DomainError) as error:
        agreement_create_from_decision(decision=decision, actor=operator)

    assert error.value.code == "support_period_over"
    assert Agreement.objects.count() == 0


def test_the_document_states_parties_data_gpu_period_and_obligations(
    operator: User, company: Organisation, fast_pdf: None
) -> None:
    agreement = drafted_agreement(operator=operator, company=company, allows_online=True)
    version = agreement.versions.get()

    html = render_to_string(DOCUMENT_TEMPLATE, agreement_document_context(version))

    assert "대구메디AI" in html
    assert "120-81-47521" in html
    assert "서명일 ~ 2025-11-28 23:59:59 (KST)" in html
    assert "흉부 X-ray 공개 가능 영상" in html
    assert "A100 32GB × 1" in html
    assert "SSL-VPN·VDI 계정과 OTP 인증" in html
    assert "다시 식별하려는" in html
    assert "반출하거나" in html
    assert "결과보고서를 제출한다" in html


def test_an_amendments_document_states_its_reason_and_closed_room_only(
    operator: User, fast_pdf: None
) -> None:
    agreement = drafted_agreement(operator=operator)
    version = agreement.versions.get()
    version.number, version.reason = 2, "GPU를 V100으로 변경"

    html = render_to_string(DOCUMENT_TEMPLATE, agreement_document_context(version))

    assert "변경 협약 2차" in html
    assert "7. 변경 사유" in html
    assert "GPU를 V100으로 변경" in html
    assert "8. 서명" in html
    assert "모든 데이터는 주관기관의 폐쇄형 학습실에서만 이용한다." in html
