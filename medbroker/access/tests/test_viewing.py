"""Extra viewing (announcement §4 ⑤): the company asks, the operator approves a view-only closed-room grant."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import time_machine

from medbroker.access.models import AccessGrant, ViewingRequest
from medbroker.access.selectors.grants import viewing_datasets_available
from medbroker.access.services.grants import grant_mode_set
from medbroker.access.services.viewing import viewing_request_create, viewing_request_decide
from medbroker.access.tests.factories import grant
from medbroker.accounts.models import Notification, Organisation, User
from medbroker.agreements.models import Agreement
from medbroker.agreements.tests.factories import DURING_SUPPORT, active_agreement
from medbroker.audit.models import AuditEvent
from medbroker.catalog.models import Dataset, Sensitivity
from medbroker.catalog.tests.factories import DatasetFactory
from medbroker.core.errors import DomainError, PermissionDeniedError
from medbroker.core.timeutils import kst

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def during_support() -> Iterator[None]:
    with time_machine.travel(DURING_SUPPORT, tick=False):
        yield


@pytest.fixture
def agreement(operator: User, applicant: User, company: Organisation) -> Agreement:
    return active_agreement(company=company, allows_online=True)


@pytest.fixture
def extra() -> Dataset:
    """A published lab dataset the company did not apply for; low sensitivity, so only the rule keeps it offline."""
    return DatasetFactory(title="대장 CT 영상", sensitivity=Sensitivity.LOW)


@pytest.fixture
def pending(agreement: Agreement, extra: Dataset, applicant: User) -> ViewingRequest:
    return viewing_request_create(
        agreement=agreement, dataset=extra, actor=applicant, reason="병변 분포 비교"
    )


def _agreed(agreement: Agreement) -> Dataset:
    return agreement.versions.get().datasets.order_by("pk").first().dataset  # type: ignore[union-attr]


def test_a_member_asks_to_view_a_published_dataset_outside_the_terms(
    agreement: Agreement, extra: Dataset, applicant: User
) -> None:
    viewing_request = viewing_request_create(
        agreement=agreement, dataset=extra, actor=applicant, reason="  병변 분포 비교  "
    )

    assert (viewing_request.status, viewing_request.requested_by, viewing_request.reason) == (
        "pending",
        applicant,
        "병변 분포 비교",
    )
    event = AuditEvent.objects.get(action="access.viewing_request_created")
    assert (event.actor_id, event.data) == (
        applicant.pk,
        {"agreement": agreement.number, "dataset": extra.pk, "reason": "병변 분포 비교"},
    )


def test_requests_are_refused_for_data_in_the_terms_unpublished_or_already_pending(
    pending: ViewingRequest, agreement: Agreement, extra: Dataset, applicant: User
) -> None:
    unpublished = DatasetFactory(publication=Dataset.Publication.DRAFT)
    codes = []
    for dataset in (_agreed(agreement), unpublished, extra):
        with pytest.raises(DomainError) as refused:
            viewing_request_create(agreement=agreement, dataset=dataset, actor=applicant, reason="비교")
        codes.append(refused.value.code)

    assert codes == ["dataset_in_terms", "dataset_not_published", "viewing_request_pending"]
    assert ViewingRequest.objects.count() == 1


def test_requests_need_a_member_a_reason_and_an_agreement_in_force(
    agreement: Agreement, extra: Dataset, applicant: User, other_applicant: User, operator: User
) -> None:
    with pytest.raises(PermissionDeniedError) as stranger:
        viewing_request_create(agreement=agreement, dataset=extra, actor=other_applicant, reason="비교")
    with pytest.raises(PermissionDeniedError):
        viewing_request_create(agreement=agreement, dataset=extra, actor=operator, reason="비교")
    with pytest.raises(DomainError) as no_reason:
        viewing_request_create(agreement=agreement, dataset=extra, actor=applicant, reason=" ")
    with time_machine.travel(kst(2025, 11, 29), tick=False), pytest.raises(DomainError) as ended:
        viewing_request_create(agreement=agreement, dataset=extra, actor=applicant, reason="비교")

    assert (stranger.value.code, no_reason.value.code, ended.value.code) == (
        "not_member",
        "reason_required",
        "agreement_not_in_force",
    )
    assert ViewingRequest.objects.count() == 0


def test_approval_is_a_view_only_closed_room_grant_until_the_period_ends(
    pending: ViewingRequest, agreement: Agreement, extra: Dataset, operator: User, applicant: User
) -> None:
    decided = viewing_request_decide(viewing_request=pending, actor=operator, approve=True, note="")

    assert (decided.status, decided.decided_by, decided.decided_at) == ("approved", operator, DURING_SUPPORT)
    viewing = AccessGrant.objects.get(viewing_request=pending)
    assert (
        viewing.agreement,
        viewing.dataset,
        viewing.kind,
        viewing.view_only,
        viewing.mode,
        viewing.status,
        viewing.starts_at,
        viewing.ends_at,
        viewing.issued_by,
    ) == (
        agreement,
        extra,
        "viewing",
        True,
        "closed_room",
        "active",
        DURING_SUPPORT,
        kst(2025, 11, 29),
        operator,
    )
    notice = Notification.objects.get(user=applicant)
    assert (notice.kind, notice.title) == ("grant_started", "추가 열람이 승인되었습니다: 대장 CT 영상")
    assert list(
        AuditEvent.objects.filter(action__startswith="access.")
        .order_by("sequence")
        .values_list("action", flat=True)
    ) == ["access.viewing_request_created", "access.grant_issued", "access.viewing_request_approved"]
    assert list(viewing_datasets_available(agreement).filter(pk=extra.pk)) == []


def test_a_viewing_grant_stays_in_the_closed_room(
    pending: ViewingRequest, agreement: Agreement, operator: User
) -> None:
    viewing_request_decide(viewing_request=pending, actor=operator, approve=True, note="")
    viewing = AccessGrant.objects.get(viewing_request=pending)

    with pytest.raises(DomainError) as refused:
        grant_mode_set(grant=viewing, mode="online", actor=operator)

    assert refused.value.code == "online_not_agreed"
    viewing.refresh_from_db()
    assert viewing.mode == "closed_room"


def test_rejection_needs_a_note_and_tells_the_company(
    pending: ViewingRequest, operator: User, applicant: User
) -> None:
    with pytest.raises(DomainError) as no_note:
        viewing_request_decide(viewing_request=pending, actor=operator, approve=False, note=" ")
    pending.refresh_from_db()
    status_after_refusal = pending.status

    decided = viewing_request_decide(
        viewing_request=pending, actor=operator, approve=False, note="IRB 범위 밖"
    )

    assert (no_note.value.code, status_after_refusal) == ("reason_required", "pending")
    assert (decided.status, decided.decision_note) == ("rejected", "IRB 범위 밖")
    assert AccessGrant.objects.count() == 0
    notice = Notification.objects.get(user=applicant)
    assert (notice.kind, notice.body, notice.link) == (
        "viewing_request_rejected",
        "사유: IRB 범위 밖",
        f"/access/viewing/{pending.pk}/",
    )
    assert AuditEvent.objects.filter(action="access.viewing_request_rejected").count() == 1


def test_a_request_is_decided_once_and_only_by_an_operator(
    pending: ViewingRequest, operator: User, auditor: User, applicant: User
) -> None:
    with pytest.raises(PermissionDeniedError):
        viewing_request_decide(viewing_request=pending, actor=auditor, approve=True, note="")
    with pytest.raises(PermissionDeniedError):
        viewing_request_decide(viewing_request=pending, actor=applicant, approve=True, note="")
    viewing_request_decide(viewing_request=pending, actor=operator, approve=True, note="")

    with pytest.raises(DomainError) as twice:
        viewing_request_decide(viewing_request=pending, actor=operator, approve=False, note="번복")

    assert (twice.value.code, twice.value.status_code) == ("viewing_request_decided", 409)
    assert AccessGrant.objects.count() == 1


def test_approval_of_a_dataset_granted_meanwhile_is_refused(
    pending: ViewingRequest, agreement: Agreement, extra: Dataset, operator: User
) -> None:
    grant(agreement, extra, kind=AccessGrant.Kind.VIEWING, view_only=True)

    with pytest.raises(DomainError) as refused:
        viewing_request_decide(viewing_request=pending, actor=operator, approve=True, note="")

    assert refused.value.code == "dataset_already_granted"
    pending.refresh_from_db()
    assert pending.status == "pending"


def test_the_dataset_choices_leave_out_the_terms_and_granted_data(
    agreement: Agreement, extra: Dataset
) -> None:
    DatasetFactory(title="심전도 파형", publication=Dataset.Publication.DRAFT)
    ecg = DatasetFactory(title="심전도 12유도")

    everything = list(viewing_datasets_available(agreement).values_list("title", flat=True))
    searched = list(viewing_datasets_available(agreement, search="심전도").values_list("title", flat=True))

    assert everything == ["대장 CT 영상", "심전도 12유도"]
    assert searched == [ecg.title]
