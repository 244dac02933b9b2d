"""One GPU per company and one company per GPU hold under concurrent requests, and locks take no more than
they must.

Two real transactions at once need a server database: SQLite serialises whole-database writes, so the race
these tests provoke cannot happen there. Run them with ``DATABASE_URL=postgres://…``.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Iterator

import pytest
import time_machine
from django.db import DatabaseError, connection, transaction

from medbroker.accounts.models import Organisation, User
from medbroker.agreements.models import Agreement
from medbroker.agreements.tests.factories import DURING_SUPPORT
from medbroker.audit.models import AuditEvent
from medbroker.compute.models import GpuAllocation, GpuWaitlistEntry
from medbroker.compute.selectors import GpuType
from medbroker.compute.services import allocations
from medbroker.compute.services.allocations import allocations_reconcile, gpu_allocate, gpu_release
from medbroker.compute.tests.factories import agreement_for, pool
from medbroker.core.errors import DomainError
from medbroker.core.timeutils import kst
from medbroker.reviews.models import Decision

# The first instant after the 2025 call's support period (it ends 2025-11-28).
AFTER_THE_PERIOD = kst(2025, 11, 29, 0, 0, 0)

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrent transactions need PostgreSQL"),
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture(autouse=True)
def during_support() -> Iterator[None]:
    with time_machine.travel(DURING_SUPPORT, tick=False):
        yield


def _at_once(calls: list[Callable[[], object]]) -> tuple[list[object], list[BaseException]]:
    barrier = threading.Barrier(len(calls))
    results: list[object] = []
    errors: list[BaseException] = []

    def run(call: Callable[[], object]) -> None:
        try:
            barrier.wait()
            results.append(call())
        except BaseException as error:  # reported to the test; a thread cannot fail it itself
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results, errors


def _allocate(agreement: Agreement, operator: User) -> Callable[[], object]:
    return lambda: gpu_allocate(agreement=agreement, actor=operator)


def test_companies_racing_for_the_last_gpu_one_gets_it_the_others_wait(operator: User) -> None:
    pool(a100_32=1)
    agreements = [agreement_for("a100-32", rank=rank) for rank in range(1, 6)]

    results, errors = _at_once([_allocate(agreement, operator) for agreement in agreements])

    assert errors == []
    assert sum(isinstance(result, GpuAllocation) for result in results) == 1
    assert sum(isinstance(result, GpuWaitlistEntry) for result in results) == 4
    assert GpuAllocation.objects.filter(status="active").count() == 1
    assert GpuWaitlistEntry.objects.filter(status="waiting").count() == 4
    holders = set(GpuAllocation.objects.values_list("agreement_id", flat=True))
    waiting = set(GpuWaitlistEntry.objects.values_list("agreement_id", flat=True))
    assert holders | waiting == {agreement.pk for agreement in agreements}
    assert holders & waiting == set()


def test_companies_racing_for_several_gpus_each_get_a_different_one(operator: User) -> None:
    pool(v100_16=3)
    agreements = [agreement_for("v100-16", rank=rank) for rank in range(1, 6)]

    results, errors = _at_once([_allocate(agreement, operator) for agreement in agreements])

    assert errors == []
    assert sum(isinstance(result, GpuAllocation) for result in results) == 3
    gpus = list(GpuAllocation.objects.filter(status="active").values_list("gpu_id", flat=True))
    assert len(gpus) == len(set(gpus)) == 3
    assert GpuWaitlistEntry.objects.filter(status="waiting").count() == 2


def test_the_same_company_allocated_twice_at_once_gets_one_gpu(operator: User) -> None:
    pool(v100_16=4)
    agreement = agreement_for("v100-16")

    results, errors = _at_once([_allocate(agreement, operator) for _ in range(4)])

    assert len(results) == 1
    assert isinstance(results[0], GpuAllocation)
    assert [error.code for error in errors if isinstance(error, DomainError)] == ["gpu_already_allocated"] * 3
    assert len(errors) == 3
    assert GpuAllocation.objects.filter(agreement=agreement).count() == 1
    assert GpuWaitlistEntry.objects.count() == 0


def _wait_until_a_transaction_waits_for_a_lock() -> None:
    """Return once another connection is blocked on a row lock (or fail after 10 seconds)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0]:
                return
        time.sleep(0.02)
    raise AssertionError("no transaction waited for the lock")


def test_the_reconciler_does_not_withdraw_an_entry_offered_while_it_ran(operator: User) -> None:
    # A release offers the GPU to the waiting company (the entry is locked and made "offered") and has not
    # committed yet when the reconciler, run for the first instant after the period, reads the entry as
    # waiting for an agreement no longer in force. The reconciler waits for the lock and then leaves the
    # entry to the offer: the offer is released for the period's end, and the entry goes with it.
    pool(a100_32=1)
    holder = gpu_allocate(agreement=agreement_for("a100-32", rank=1), actor=operator)
    waiting = agreement_for("a100-32", rank=2)
    gpu_allocate(agreement=waiting, actor=operator)
    assert isinstance(holder, GpuAllocation)
    offered, commit = threading.Event(), threading.Event()
    counts: list[dict[str, int]] = []
    errors: list[BaseException] = []

    def release() -> None:
        try:
            with transaction.atomic():
                gpu_release(allocation=holder, actor=operator, reason="반납")
                offered.set()
                commit.wait(timeout=10)
        except BaseException as error:  # reported to the test; a thread cannot fail it itself
            errors.append(error)
        finally:
            offered.set()
            connection.close()

    def reconcile() -> None:
        try:
            counts.append(allocations_reconcile(now=AFTER_THE_PERIOD))
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    releaser = threading.Thread(target=release)
    releaser.start()
    assert offered.wait(timeout=10)
    reconciler = threading.Thread(target=reconcile)
    reconciler.start()
    try:
        _wait_until_a_transaction_waits_for_a_lock()
    finally:
        commit.set()
        releaser.join()
        reconciler.join()

    assert errors == []
    assert counts == [{"released": 1, "lapsed": 0, "withdrawn": 0, "offered": 0}]
    entry = GpuWaitlistEntry.objects.get(agreement=waiting)
    offer = GpuAllocation.objects.get(agreement=waiting)
    assert (entry.status, offer.status, offer.release_reason) == ("withdrawn", "released", "협약 기간 종료")
    trail = AuditEvent.objects.filter(
        action__in=["compute.gpu_offered", "compute.gpu_released", "compute.gpu_waitlist_withdrawn"]
    ).order_by("sequence")
    # The entry leaves the list only once its offer is released, never while the offer is open.
    assert [(event.action, event.data.get("reason")) for event in trail] == [
        ("compute.gpu_released", "반납"),
        ("compute.gpu_offered", None),
        ("compute.gpu_released", "협약 기간 종료"),
        ("compute.gpu_waitlist_withdrawn", "협약 기간 종료"),
    ]


def test_allocating_locks_the_agreement_but_not_its_company_or_decision(
    operator: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    pool(a100_32=1)
    agreement = agreement_for("a100-32")
    locked, go_on = threading.Event(), threading.Event()
    real = allocations._allocatable_type

    def paused(agreement: Agreement, *, at: dt.datetime) -> GpuType:
        locked.set()
        go_on.wait(timeout=10)
        return real(agreement, at=at)

    monkeypatch.setattr(allocations, "_allocatable_type", paused)
    results, errors = [], []

    def allocate() -> None:
        try:
            results.append(gpu_allocate(agreement=agreement, actor=operator))
        except BaseException as error:  # reported to the test; a thread cannot fail it itself
            errors.append(error)
        finally:
            locked.set()
            connection.close()

    allocator = threading.Thread(target=allocate)
    allocator.start()
    assert locked.wait(timeout=10)
    rows = {
        "agreement": Agreement.objects.filter(pk=agreement.pk),
        "company": Organisation.objects.filter(pk=agreement.company_id),
        "decision": Decision.objects.filter(pk=agreement.decision_id),
    }
    try:
        free = {}
        for name, rows_of in rows.items():
            try:
                with transaction.atomic():
                    list(rows_of.select_for_update(nowait=True))
                free[name] = True
            except DatabaseError:
                free[name] = False
    finally:
        go_on.set()
        allocator.join()

    assert errors == []
    assert free == {"agreement": False, "company": True, "decision": True}
    assert isinstance(results[0], GpuAllocation)
