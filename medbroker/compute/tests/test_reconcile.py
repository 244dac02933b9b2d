"""The reconciler: a GPU never outlives its agreement, offers lapse, and the waiting list is handed the GPU.

The 2025 call's support ends 2025-11-28: its agreements are in force up to 23:59:59 KST that day and not at
00:00:00 KST on 2025-11-29. Time is frozen, never waited on.
"""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine

from medbroker.accounts.models import User
from medbroker.agreements.models import Agreement, AgreementVersion
from medbroker.agreements.tests.factories import DURING_SUPPORT
from medbroker.audit.models import AuditEvent
from medbroker.compute.models import GpuAllocation, GpuWaitlistEntry
from medbroker.compute.selectors import allocation_for_agreement
from medbroker.compute.services.allocations import allocations_reconcile, gpu_allocate, gpu_release
from medbroker.compute.tasks import allocations_reconcile as allocations_reconcile_task
from medbroker.compute.tests.factories import agreement_for, pool
from medbroker.core.timeutils import kst

pytestmark = pytest.mark.django_db

LAST_SECOND = kst(2025, 11, 28, 23, 59, 59)
FIRST_SECOND_AFTER = kst(2025, 11, 29, 0, 0, 0)
NOTHING = {"released": 0, "lapsed": 0, "withdrawn": 0, "offered": 0}


def _allocated(operator: User, code: str = "a100-32", rank: int = 1) -> tuple[Agreement, GpuAllocation]:
    agreement = agreement_for(code, rank=rank)
    with time_machine.travel(DURING_SUPPORT, tick=False):
        allocation = gpu_allocate(agreement=agreement, actor=operator)
    assert isinstance(allocation, GpuAllocation)
    return agreement, allocation


def test_the_last_second_of_the_period_keeps_the_gpu(operator: User) -> None:
    pool(a100_32=1)
    _agreement, allocation = _allocated(operator)

    with time_machine.travel(LAST_SECOND, tick=False):
        counts = allocations_reconcile(now=LAST_SECOND)

    assert counts == NOTHING
    assert GpuAllocation.objects.get(pk=allocation.pk).status == "active"


def test_the_first_second_after_the_period_releases_the_gpu(operator: User) -> None:
    pool(a100_32=1)
    _agreement, allocation = _allocated(operator)

    with time_machine.travel(FIRST_SECOND_AFTER, tick=False):
        counts = allocations_reconcile(now=FIRST_SECOND_AFTER)
        again = allocations_reconcile(now=FIRST_SECOND_AFTER)

    assert counts == {**NOTHING, "released": 1}
    assert again == NOTHING
    released = GpuAllocation.objects.get(pk=allocation.pk)
    assert (released.status, released.released_at, released.release_reason) == (
        "released",
        FIRST_SECOND_AFTER,
        "협약 기간 종료",
    )
    event = AuditEvent.objects.get(action="compute.gpu_released")
    assert (event.actor, event.data["reason"]) == (None, "협약 기간 종료")


def test_the_celery_task_runs_the_reconciler_at_the_current_instant(operator: User) -> None:
    pool(a100_32=1)
    _agreement, allocation = _allocated(operator)

    with time_machine.travel(FIRST_SECOND_AFTER, tick=False):
        counts = allocations_reconcile_task.delay().get()

    assert counts == {**NOTHING, "released": 1}
    assert GpuAllocation.objects.get(pk=allocation.pk).status == "released"


def test_termination_releases_and_hands_the_gpu_to_the_next_waiting(operator: User) -> None:
    pool(a100_32=1)
    terminated, allocation = _allocated(operator, rank=1)
    waiting = agreement_for("a100-32", rank=2)
    with time_machine.travel(DURING_SUPPORT, tick=False):
        gpu_allocate(agreement=waiting, actor=operator)
    terminated.status = Agreement.Status.TERMINATED
    terminated.terminated_at = DURING_SUPPORT
    terminated.save(update_fields=["status", "terminated_at"])
    at = DURING_SUPPORT + dt.timedelta(hours=1)

    with time_machine.travel(at, tick=False):
        counts = allocations_reconcile(now=at)

    assert counts == {**NOTHING, "released": 1, "offered": 1}
    assert GpuAllocation.objects.get(pk=allocation.pk).release_reason == "협약 해지"
    offer = allocation_for_agreement(waiting)
    assert offer is not None
    assert (str(offer.gpu), offer.status, offer.allocated_at) == ("a100-32-a/gpu0", "offered", at)


def test_terms_that_no_longer_grant_that_gpu_release_it(operator: User) -> None:
    pool(a100_32=1)
    agreement, allocation = _allocated(operator)
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

    with time_machine.travel(DURING_SUPPORT, tick=False):
        counts = allocations_reconcile(now=DURING_SUPPORT)

    assert counts == {**NOTHING, "released": 1}
    assert GpuAllocation.objects.get(pk=allocation.pk).release_reason == (
        "협약 변경: 지원 GPU 유형이 V100 16GB(으)로 바뀜"
    )


def test_an_offer_not_accepted_in_time_lapses_to_the_next(operator: User) -> None:
    pool(a100_32=1)
    _first, allocation = _allocated(operator, rank=1)
    second = agreement_for("a100-32", rank=2)
    third = agreement_for("a100-32", rank=3)
    with time_machine.travel(DURING_SUPPORT, tick=False):
        for agreement in (second, third):
            gpu_allocate(agreement=agreement, actor=operator)
        gpu_release(allocation=allocation, actor=operator, reason="반납")
    offer = allocation_for_agreement(second)
    assert offer is not None
    just_before = DURING_SUPPORT + dt.timedelta(days=3) - dt.timedelta(seconds=1)
    deadline = DURING_SUPPORT + dt.timedelta(days=3)

    with time_machine.travel(just_before, tick=False):
        early = allocations_reconcile(now=just_before)
    with time_machine.travel(deadline, tick=False):
        counts = allocations_reconcile(now=deadline)

    assert early == NOTHING
    assert counts == {**NOTHING, "lapsed": 1, "offered": 1}
    lapsed = GpuAllocation.objects.get(pk=offer.pk)
    assert (lapsed.status, lapsed.release_reason) == ("released", "수락 기한(3일) 경과")
    assert GpuWaitlistEntry.objects.get(agreement=second).status == "withdrawn"
    next_offer = allocation_for_agreement(third)
    assert next_offer is not None
    assert (next_offer.status, next_offer.allocated_at) == ("offered", deadline)
    assert AuditEvent.objects.filter(action="compute.gpu_offer_lapsed").count() == 1


def test_waiting_entries_of_agreements_no_longer_in_force_are_withdrawn(operator: User) -> None:
    pool(a100_32=1)
    _allocated(operator, rank=1)
    waiting = agreement_for("a100-32", rank=2)
    with time_machine.travel(DURING_SUPPORT, tick=False):
        gpu_allocate(agreement=waiting, actor=operator)
    waiting.status = Agreement.Status.TERMINATED
    waiting.save(update_fields=["status"])

    with time_machine.travel(DURING_SUPPORT, tick=False):
        counts = allocations_reconcile(now=DURING_SUPPORT)
        again = allocations_reconcile(now=DURING_SUPPORT)

    assert counts == {**NOTHING, "withdrawn": 1}
    assert again == NOTHING
    assert GpuWaitlistEntry.objects.get(agreement=waiting).status == "withdrawn"


def test_at_the_end_of_the_call_every_gpu_and_offer_goes_and_nobody_is_offered_one(operator: User) -> None:
    # All agreements of the call end together: a GPU released at the end is not offered to a company
    # whose own agreement ended at the same instant.
    pool(a100_32=1)
    _first, allocation = _allocated(operator, rank=1)
    waiting = agreement_for("a100-32", rank=2)
    with time_machine.travel(DURING_SUPPORT, tick=False):
        gpu_allocate(agreement=waiting, actor=operator)

    with time_machine.travel(FIRST_SECOND_AFTER, tick=False):
        counts = allocations_reconcile(now=FIRST_SECOND_AFTER)

    assert counts == {**NOTHING, "released": 1, "withdrawn": 1}
    assert GpuAllocation.objects.get(pk=allocation.pk).status == "released"
    assert GpuAllocation.objects.filter(agreement=waiting).count() == 0
    assert GpuWaitlistEntry.objects.get(agreement=waiting).status == "withdrawn"
