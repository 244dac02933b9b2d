"""One GPU per company and one company per GPU hold under concurrent requests.

Two real transactions at once need a server database: SQLite serialises whole-database writes, so the race
these tests provoke cannot happen there. Run them with ``DATABASE_URL=postgres://…``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest
import time_machine
from django.db import connection

from medbroker.accounts.models import User
from medbroker.agreements.models import Agreement
from medbroker.agreements.tests.factories import DURING_SUPPORT
from medbroker.compute.models import GpuAllocation, GpuWaitlistEntry
from medbroker.compute.services.allocations import gpu_allocate
from medbroker.compute.tests.factories import agreement_for, pool
from medbroker.core.errors import DomainError

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
