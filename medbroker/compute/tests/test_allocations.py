"""One GPU per company of the granted type, the waiting list in selection order, and the hand-over."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
import time_machine

from medbroker.accounts.models import Notification, User
from medbroker.agreements.models import Agreement, AgreementVersion
from medbroker.agreements.tests.factories import DURING_SUPPORT, active_agreement, selected_decision
from medbroker.audit.models import AuditEvent
from medbroker.calls.tests.factories import call_2025, call_with_window
from medbroker.compute.models import Gpu, GpuAllocation, GpuWaitlistEntry
from medbroker.compute.selectors import (
    allocation_for_agreement,
    free_gpus,
    inventory_overview,
    waitlist_position,
)
from medbroker.compute.services import allocations
from medbroker.compute.services.allocations import (
    gpu_allocate,
    gpu_offer_accept,
    gpu_offer_decline,
    gpu_release,
)
from medbroker.compute.tests.factories import agreement_for, pool
from medbroker.core.errors import DomainError, PermissionDeniedError
from medbroker.core.timeutils import kst

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def during_support() -> Iterator[None]:
    with time_machine.travel(DURING_SUPPORT, tick=False):
        yield


def _company_user(agreement: Agreement) -> User:
    return User.objects.get(organisation=agreement.company)


def _holdings() -> list[tuple[str, str, str]]:
    return sorted(
        (a.agreement.number, str(a.gpu), a.status)
        for a in GpuAllocation.objects.exclude(status="released").select_related("gpu__node", "agreement")
    )


# ---------------------------------------------------------------------------------------------------------
# Allocation
# ---------------------------------------------------------------------------------------------------------


def test_a_free_gpu_of_exactly_the_granted_type_is_allocated(operator: User) -> None:
    pool(v100_32=2, a100_32=1)
    agreement = agreement_for("a100-32")

    allocation = gpu_allocate(agreement=agreement, actor=operator)

    assert isinstance(allocation, GpuAllocation)
    assert str(allocation.gpu) == "a100-32-a/gpu0"
    assert allocation.status == "active"
    assert allocation.allocated_by == operator
    assert allocation.allocated_at == DURING_SUPPORT
    assert allocation.accepted_at == DURING_SUPPORT
    assert allocation_for_agreement(agreement) == allocation
    event = AuditEvent.objects.get(action="compute.gpu_allocated")
    assert (event.actor, event.object_id) == (operator, str(allocation.pk))
    assert event.data == {"agreement": agreement.number, "gpu": "a100-32-a/gpu0", "type": "A100 32GB"}
    notice = Notification.objects.get(kind="gpu_allocated")
    assert notice.user == _company_user(agreement)
    assert notice.title == "GPU가 배정되었습니다"
    assert notice.link == f"/compute/agreements/{agreement.pk}/"


def test_a_gpu_of_another_type_is_never_given_the_company_waits_instead(operator: User) -> None:
    # The same memory on another model (A100 32GB) and another memory on the same model (V100 16GB) are free.
    pool(v100_16=2, a100_32=2)
    agreement = agreement_for("v100-32", rank=4)

    entry = gpu_allocate(agreement=agreement, actor=operator)

    assert isinstance(entry, GpuWaitlistEntry)
    assert (entry.gpu_model, entry.gpu_memory_gb, entry.selection_rank, entry.status) == (
        "V100",
        32,
        4,
        "waiting",
    )
    assert GpuAllocation.objects.count() == 0
    assert waitlist_position(agreement) == 1
    assert AuditEvent.objects.filter(action="compute.gpu_waitlisted").count() == 1


def test_one_gpu_per_company(operator: User) -> None:
    pool(a100_32=2)
    agreement = agreement_for("a100-32")
    gpu_allocate(agreement=agreement, actor=operator)

    with pytest.raises(DomainError) as refused:
        gpu_allocate(agreement=agreement, actor=operator)

    assert refused.value.code == "gpu_already_allocated"
    assert refused.value.status_code == 409
    assert _holdings() == [(agreement.number, "a100-32-a/gpu0", "active")]
    assert free_gpus(allocations.GpuType("A100", 32)).count() == 1


def test_a_company_already_waiting_is_not_put_on_the_list_twice(operator: User) -> None:
    pool(a100_32=1)
    gpu_allocate(agreement=agreement_for("a100-32", rank=1), actor=operator)
    waiting = agreement_for("a100-32", rank=2)
    gpu_allocate(agreement=waiting, actor=operator)

    with pytest.raises(DomainError) as refused:
        gpu_allocate(agreement=waiting, actor=operator)

    assert refused.value.code == "gpu_already_waitlisted"
    assert GpuWaitlistEntry.objects.filter(agreement=waiting).count() == 1


def test_an_agreement_not_signed_gets_nothing(operator: User) -> None:
    pool(a100_32=1)
    agreement = agreement_for("a100-32")
    agreement.status = Agreement.Status.AWAITING_SIGNATURES
    agreement.save(update_fields=["status"])

    with pytest.raises(DomainError) as refused:
        gpu_allocate(agreement=agreement, actor=operator)

    assert refused.value.code == "agreement_not_in_force"
    assert GpuAllocation.objects.count() == GpuWaitlistEntry.objects.count() == 0


def test_terms_without_a_gpu_get_nothing(operator: User) -> None:
    pool(a100_32=1)
    agreement = agreement_for(None)

    with pytest.raises(DomainError) as refused:
        gpu_allocate(agreement=agreement, actor=operator)

    assert refused.value.code == "no_compute_granted"
    assert GpuAllocation.objects.count() == GpuWaitlistEntry.objects.count() == 0


@pytest.mark.parametrize("role", ["applicant", "auditor"])
def test_only_operators_allocate(role: str, applicant: User, auditor: User) -> None:
    pool(a100_32=1)
    agreement = agreement_for("a100-32", company=applicant.organisation)
    actor = {"applicant": applicant, "auditor": auditor}[role]

    with pytest.raises(PermissionDeniedError):
        gpu_allocate(agreement=agreement, actor=actor)

    assert GpuAllocation.objects.count() == 0


def test_a_gpu_taken_between_the_read_and_the_insert_is_retried_with_the_next(
    operator: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Another transaction took gpu0 after this one read it as free: the holder constraint refuses the
    # insert inside a savepoint and the next free GPU is used.
    pool(a100_32=2)
    first = agreement_for("a100-32", rank=1)
    gpu_allocate(agreement=first, actor=operator)
    taken = Gpu.objects.get(node__name="a100-32-a", index=0)
    real = allocations.free_gpus
    answers = iter([Gpu.objects.filter(pk=taken.pk)])
    monkeypatch.setattr(allocations, "free_gpus", lambda gpu_type: next(answers, None) or real(gpu_type))

    allocation = gpu_allocate(agreement=agreement_for("a100-32", rank=2), actor=operator)

    assert isinstance(allocation, GpuAllocation)
    assert str(allocation.gpu) == "a100-32-a/gpu1"


def test_the_least_shared_node_is_filled_first(operator: User) -> None:
    from medbroker.compute.services.inventory import inventory_load
    from medbroker.compute.tests.factories import node_definition

    inventory_load(
        definition=[
            node_definition("v100-16", 2, name="v100-16-a"),
            node_definition("v100-16", 2, name="v100-16-b"),
        ]
    )

    gpus = [str(gpu_allocate(agreement=agreement_for("v100-16"), actor=operator).gpu) for _ in range(3)]

    assert gpus == ["v100-16-a/gpu0", "v100-16-b/gpu0", "v100-16-a/gpu1"]


# ---------------------------------------------------------------------------------------------------------
# Waiting list and hand-over
# ---------------------------------------------------------------------------------------------------------


def test_waiting_list_is_served_in_selection_order_and_the_next_gets_an_offer(operator: User) -> None:
    pool(a100_32=1)
    holder = agreement_for("a100-32", rank=3)
    allocation = gpu_allocate(agreement=holder, actor=operator)
    # Ranks 5, no rank, then 2: served 2, 5, no rank (arrival only breaks ties of rank).
    rank_5 = agreement_for("a100-32", rank=5)
    gpu_allocate(agreement=rank_5, actor=operator)
    unranked = agreement_for("a100-32", rank=6)
    gpu_allocate(agreement=unranked, actor=operator)
    GpuWaitlistEntry.objects.filter(agreement=unranked).update(selection_rank=None)
    rank_2 = agreement_for("a100-32", rank=2)
    gpu_allocate(agreement=rank_2, actor=operator)
    assert [waitlist_position(a) for a in (rank_2, rank_5, unranked)] == [1, 2, 3]

    assert isinstance(allocation, GpuAllocation)
    gpu_release(allocation=allocation, actor=operator, reason="과제 조기 종료")

    offer = allocation_for_agreement(rank_2)
    assert offer is not None
    assert (str(offer.gpu), offer.status, offer.allocated_at, offer.accepted_at) == (
        "a100-32-a/gpu0",
        "offered",
        DURING_SUPPORT,
        None,
    )
    assert GpuWaitlistEntry.objects.get(agreement=rank_2).status == "offered"
    assert [waitlist_position(a) for a in (rank_2, rank_5, unranked)] == [None, 1, 2]
    released = GpuAllocation.objects.get(pk=allocation.pk)
    assert (released.status, released.released_at, released.release_reason) == (
        "released",
        DURING_SUPPORT,
        "과제 조기 종료",
    )
    notice = Notification.objects.get(kind="gpu_offered")
    assert notice.user == _company_user(rank_2)
    assert notice.body == (
        f"협약 {rank_2.number}: a100-32-a/gpu0 (A100 32GB). 2025-09-18 10:00 KST까지 수락하지 않으면 "
        "다음 대기 기업에 넘어갑니다."
    )
    assert list(
        AuditEvent.objects.filter(action__startswith="compute.")
        .order_by("sequence")
        .values_list("action", flat=True)
    )[-2:] == ["compute.gpu_released", "compute.gpu_offered"]


def test_accepting_an_offer_makes_it_active(operator: User) -> None:
    pool(a100_32=1)
    allocation = gpu_allocate(agreement=agreement_for("a100-32", rank=1), actor=operator)
    waiting = agreement_for("a100-32", rank=2)
    gpu_allocate(agreement=waiting, actor=operator)
    assert isinstance(allocation, GpuAllocation)
    gpu_release(allocation=allocation, actor=operator, reason="반납")
    offer = allocation_for_agreement(waiting)
    assert offer is not None

    with time_machine.travel(kst(2025, 9, 16, 9, 0, 0), tick=False):
        accepted = gpu_offer_accept(allocation=offer, actor=_company_user(waiting))

    assert (accepted.status, accepted.accepted_at) == ("active", kst(2025, 9, 16, 9, 0, 0))
    assert (
        AuditEvent.objects.filter(action="compute.gpu_offer_accepted", object_id=str(offer.pk)).count() == 1
    )


def test_declining_an_offer_passes_the_gpu_to_the_next(operator: User) -> None:
    pool(a100_32=1)
    allocation = gpu_allocate(agreement=agreement_for("a100-32", rank=1), actor=operator)
    second = agreement_for("a100-32", rank=2)
    third = agreement_for("a100-32", rank=3)
    for agreement in (second, third):
        gpu_allocate(agreement=agreement, actor=operator)
    assert isinstance(allocation, GpuAllocation)
    gpu_release(allocation=allocation, actor=operator, reason="반납")
    offer = allocation_for_agreement(second)
    assert offer is not None

    gpu_offer_decline(allocation=offer, actor=_company_user(second))

    declined = GpuAllocation.objects.get(pk=offer.pk)
    assert (declined.status, declined.release_reason) == ("released", "기업이 배정 제안을 사양함")
    assert GpuWaitlistEntry.objects.get(agreement=second).status == "withdrawn"
    assert allocation_for_agreement(second) is None
    next_offer = allocation_for_agreement(third)
    assert next_offer is not None
    assert (str(next_offer.gpu), next_offer.status) == ("a100-32-a/gpu0", "offered")


def test_declining_the_last_offer_leaves_the_gpu_free(operator: User) -> None:
    pool(a100_32=1)
    allocation = gpu_allocate(agreement=agreement_for("a100-32", rank=1), actor=operator)
    second = agreement_for("a100-32", rank=2)
    gpu_allocate(agreement=second, actor=operator)
    assert isinstance(allocation, GpuAllocation)
    gpu_release(allocation=allocation, actor=operator, reason="반납")
    offer = allocation_for_agreement(second)
    assert offer is not None

    gpu_offer_decline(allocation=offer, actor=_company_user(second))

    assert _holdings() == []
    assert free_gpus(allocations.GpuType("A100", 32)).count() == 1


def test_only_a_member_of_the_company_answers_an_offer(operator: User, other_applicant: User) -> None:
    pool(a100_32=1)
    allocation = gpu_allocate(agreement=agreement_for("a100-32", rank=1), actor=operator)
    second = agreement_for("a100-32", rank=2)
    gpu_allocate(agreement=second, actor=operator)
    assert isinstance(allocation, GpuAllocation)
    gpu_release(allocation=allocation, actor=operator, reason="반납")
    offer = allocation_for_agreement(second)
    assert offer is not None

    for actor in (other_applicant, operator):
        with pytest.raises(PermissionDeniedError) as refused:
            gpu_offer_accept(allocation=offer, actor=actor)
        assert refused.value.code == "not_member"
        with pytest.raises(PermissionDeniedError):
            gpu_offer_decline(allocation=offer, actor=actor)

    assert GpuAllocation.objects.get(pk=offer.pk).status == "offered"


def test_an_active_allocation_is_not_an_offer_to_answer(operator: User) -> None:
    pool(a100_32=1)
    agreement = agreement_for("a100-32")
    allocation = gpu_allocate(agreement=agreement, actor=operator)
    assert isinstance(allocation, GpuAllocation)

    with pytest.raises(DomainError) as refused:
        gpu_offer_decline(allocation=allocation, actor=_company_user(agreement))

    assert refused.value.code == "gpu_offer_not_open"
    assert GpuAllocation.objects.get(pk=allocation.pk).status == "active"


def test_release_needs_a_reason_and_a_held_gpu(operator: User) -> None:
    pool(a100_32=1)
    allocation = gpu_allocate(agreement=agreement_for("a100-32"), actor=operator)
    assert isinstance(allocation, GpuAllocation)

    with pytest.raises(DomainError) as no_reason:
        gpu_release(allocation=allocation, actor=operator, reason="  ")
    gpu_release(allocation=allocation, actor=operator, reason="반납")
    with pytest.raises(DomainError) as twice:
        gpu_release(allocation=allocation, actor=operator, reason="반납")

    assert (no_reason.value.code, no_reason.value.field) == ("release_reason_required", "reason")
    assert twice.value.code == "gpu_not_held"
    assert AuditEvent.objects.filter(action="compute.gpu_released").count() == 1


def test_an_offer_past_its_deadline_cannot_be_accepted(operator: User) -> None:
    pool(a100_32=1)
    allocation = gpu_allocate(agreement=agreement_for("a100-32", rank=1), actor=operator)
    second = agreement_for("a100-32", rank=2)
    gpu_allocate(agreement=second, actor=operator)
    assert isinstance(allocation, GpuAllocation)
    gpu_release(allocation=allocation, actor=operator, reason="반납")
    offer = allocation_for_agreement(second)
    assert offer is not None

    with (
        time_machine.travel(DURING_SUPPORT + dt.timedelta(days=3), tick=False),
        pytest.raises(DomainError) as refused,
    ):
        gpu_offer_accept(allocation=offer, actor=_company_user(second))

    assert refused.value.code == "gpu_offer_lapsed"
    assert GpuAllocation.objects.get(pk=offer.pk).status == "offered"


def test_inventory_growth_serves_the_waiting_list(operator: User) -> None:
    pool(a100_32=1)
    gpu_allocate(agreement=agreement_for("a100-32", rank=1), actor=operator)
    waiting = agreement_for("a100-32", rank=2)
    gpu_allocate(agreement=waiting, actor=operator)

    pool(a100_32=2)

    offer = allocation_for_agreement(waiting)
    assert offer is not None
    assert (str(offer.gpu), offer.status) == ("a100-32-a/gpu1", "offered")


def test_amended_terms_are_what_counts(operator: User) -> None:
    # An amendment that changes the GPU: the version in force decides the type.
    pool(v100_16=1, a100_32=1)
    agreement = agreement_for("a100-32")
    version = agreement.versions.get()
    version.status = AgreementVersion.Status.SUPERSEDED
    version.save(update_fields=["status"])
    AgreementVersion.objects.create(
        agreement=agreement,
        number=2,
        status=AgreementVersion.Status.EFFECTIVE,
        compute_option=agreement.call.compute_options.get(code="v100-16"),
        created_by=operator,
        effective_at=DURING_SUPPORT,
    )

    allocation = gpu_allocate(agreement=agreement, actor=operator)

    assert isinstance(allocation, GpuAllocation)
    assert str(allocation.gpu) == "v100-16-a/gpu0"


def test_an_offer_that_ends_withdraws_its_waiting_entry_on_the_record(operator: User) -> None:
    pool(a100_32=1)
    allocation = gpu_allocate(agreement=agreement_for("a100-32", rank=1), actor=operator)
    second = agreement_for("a100-32", rank=2)
    gpu_allocate(agreement=second, actor=operator)
    assert isinstance(allocation, GpuAllocation)
    gpu_release(allocation=allocation, actor=operator, reason="반납")
    offer = allocation_for_agreement(second)
    assert offer is not None
    entry = GpuWaitlistEntry.objects.get(agreement=second)

    gpu_offer_decline(allocation=offer, actor=_company_user(second))

    assert GpuWaitlistEntry.objects.get(pk=entry.pk).status == "withdrawn"
    event = AuditEvent.objects.get(action="compute.gpu_waitlist_withdrawn")
    assert (event.actor, event.object_id) == (_company_user(second), str(entry.pk))
    assert event.data == {"agreement": second.number, "reason": "기업이 배정 제안을 사양함"}


# ---------------------------------------------------------------------------------------------------------
# Accepting an offer the agreement can no longer take
# ---------------------------------------------------------------------------------------------------------


def _amend_compute(agreement: Agreement, code: str | None, operator: User) -> None:
    version = agreement.versions.get()
    version.status = AgreementVersion.Status.SUPERSEDED
    version.save(update_fields=["status"])
    AgreementVersion.objects.create(
        agreement=agreement,
        number=2,
        status=AgreementVersion.Status.EFFECTIVE,
        compute_option=agreement.call.compute_options.get(code=code) if code else None,
        created_by=operator,
        effective_at=DURING_SUPPORT,
    )


def _offer_to_second_with_a_third_waiting(operator: User) -> tuple[Agreement, Agreement, GpuAllocation]:
    pool(a100_32=1)
    allocation = gpu_allocate(agreement=agreement_for("a100-32", rank=1), actor=operator)
    second = agreement_for("a100-32", rank=2)
    third = agreement_for("a100-32", rank=3)
    for agreement in (second, third):
        gpu_allocate(agreement=agreement, actor=operator)
    assert isinstance(allocation, GpuAllocation)
    gpu_release(allocation=allocation, actor=operator, reason="반납")
    offer = allocation_for_agreement(second)
    assert offer is not None
    return second, third, offer


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("v100-16", "협약 변경: 지원 GPU 유형이 V100 16GB(으)로 바뀜"),
        (None, "협약 변경: GPU 지원 없음"),
    ],
)
def test_an_offer_of_a_type_the_terms_no_longer_grant_is_refused_and_goes_to_the_next(
    operator: User, code: str | None, reason: str
) -> None:
    second, third, offer = _offer_to_second_with_a_third_waiting(operator)
    _amend_compute(second, code, operator)

    with pytest.raises(DomainError) as refused:
        gpu_offer_accept(allocation=offer, actor=_company_user(second))

    assert (refused.value.code, refused.value.status_code) == ("gpu_offer_not_granted", 409)
    assert str(refused.value) == (
        f"협약 {second.number}의 조건이 이 GPU(A100 32GB)를 지원하지 않아 받을 수 없습니다({reason}). "
        "제안은 다음 대기 기업에 넘어갑니다."
    )
    released = GpuAllocation.objects.get(pk=offer.pk)
    assert (released.status, released.accepted_at, released.release_reason) == ("released", None, reason)
    assert GpuWaitlistEntry.objects.get(agreement=second).status == "withdrawn"
    next_offer = allocation_for_agreement(third)
    assert next_offer is not None
    assert (str(next_offer.gpu), next_offer.status) == ("a100-32-a/gpu0", "offered")
    assert not AuditEvent.objects.filter(action="compute.gpu_offer_accepted").exists()
    assert not Notification.objects.filter(kind="gpu_allocated", user=_company_user(second)).exists()


def test_an_offer_to_an_agreement_no_longer_in_force_is_refused_and_goes_to_the_next(operator: User) -> None:
    second, third, offer = _offer_to_second_with_a_third_waiting(operator)
    second.status = Agreement.Status.TERMINATED
    second.terminated_at = DURING_SUPPORT
    second.save(update_fields=["status", "terminated_at"])

    with pytest.raises(DomainError) as refused:
        gpu_offer_accept(allocation=offer, actor=_company_user(second))

    assert (refused.value.code, str(refused.value)) == (
        "agreement_not_in_force",
        "협약이 효력 기간이 아니어서 GPU를 받을 수 없습니다. 제안은 다음 대기 기업에 넘어갑니다.",
    )
    released = GpuAllocation.objects.get(pk=offer.pk)
    assert (released.status, released.release_reason) == ("released", "협약 해지")
    next_offer = allocation_for_agreement(third)
    assert next_offer is not None
    assert next_offer.status == "offered"


# ---------------------------------------------------------------------------------------------------------
# Companies of several calls on one waiting list
# ---------------------------------------------------------------------------------------------------------


def test_the_waiting_list_groups_calls_by_support_end_before_rank(operator: User) -> None:
    # A rank orders the companies of one call only: rank 1 of another call does not overtake this call's
    # rank 3. The call whose support ends first is served first; calls ending together, the older call first.
    call_2025()
    same_end = call_with_window(
        opens_at=kst(2025, 6, 1),
        closes_at=kst(2025, 6, 15),
        slug="practice-a",
        support_ends_on=dt.date(2025, 11, 28),
    )
    later_end = call_with_window(
        opens_at=kst(2025, 6, 1),
        closes_at=kst(2025, 6, 15),
        slug="practice-b",
        support_ends_on=dt.date(2025, 12, 31),
    )
    pool(a100_32=1)
    holder = gpu_allocate(agreement=agreement_for("a100-32", rank=1), actor=operator)
    later_rank_1 = active_agreement(
        decision=selected_decision(call=later_end, compute_code="a100-32", rank=1)
    )
    same_end_rank_1 = active_agreement(
        decision=selected_decision(call=same_end, compute_code="a100-32", rank=1)
    )
    rank_3 = agreement_for("a100-32", rank=3)
    unranked = agreement_for("a100-32", rank=4)
    for agreement in (later_rank_1, same_end_rank_1, rank_3, unranked):
        gpu_allocate(agreement=agreement, actor=operator)
    GpuWaitlistEntry.objects.filter(agreement=unranked).update(selection_rank=None)
    waiting = (rank_3, unranked, same_end_rank_1, later_rank_1)

    positions = [waitlist_position(agreement) for agreement in waiting]
    shown = [
        entry.agreement.number
        for row in inventory_overview().types
        if row.gpu_type == allocations.GpuType("A100", 32)
        for entry in row.waiting
    ]
    assert isinstance(holder, GpuAllocation)
    gpu_release(allocation=holder, actor=operator, reason="반납")

    assert positions == [1, 2, 3, 4]
    assert shown == [agreement.number for agreement in waiting]
    offer = allocation_for_agreement(rank_3)
    assert offer is not None
    assert offer.status == "offered"
    assert [waitlist_position(agreement) for agreement in waiting] == [None, 1, 2, 3]
