"""GPU hours imported from the cluster CSV: all rows or none, the row and column of every problem named."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile

from medbroker.accounts.models import User
from medbroker.agreements.models import Agreement
from medbroker.audit.models import AuditEvent
from medbroker.compute.models import GpuAllocation, GpuUsageRecord, UsageImport
from medbroker.compute.selectors import allocation_for_agreement, gpu_hours_by_agreement, gpu_hours_by_day
from medbroker.compute.services.allocations import (
    gpu_allocate,
    gpu_offer_accept,
    gpu_offer_decline,
    gpu_release,
)
from medbroker.compute.services.usage import usage_import
from medbroker.compute.tests.factories import agreement_for, pool
from medbroker.core.errors import DomainError, PermissionDeniedError
from medbroker.core.timeutils import kst

pytestmark = pytest.mark.django_db

HEADER = "date,node,gpu,agreement,gpu_hours"
# The agreements of the fixture hold their GPUs from this instant; the files are imported at IMPORTED_AT.
ALLOCATED_AT = kst(2025, 9, 2, 9, 0, 0)
IMPORTED_AT = kst(2025, 10, 1, 9, 0, 0)


@pytest.fixture(autouse=True)
def imported_at() -> Iterator[None]:
    with time_machine.travel(IMPORTED_AT, tick=False):
        yield


@pytest.fixture
def agreements(operator: User) -> tuple[Agreement, Agreement]:
    """Two agreements holding v100-16-a/gpu0 and v100-16-a/gpu1 since ALLOCATED_AT."""
    pool(v100_16=2)
    first, second = agreement_for("v100-16", rank=1), agreement_for("v100-16", rank=2)
    with time_machine.travel(ALLOCATED_AT, tick=False):
        for agreement in (first, second):
            gpu_allocate(agreement=agreement, actor=operator)
    return first, second


def _company_user(agreement: Agreement) -> User:
    return User.objects.get(organisation=agreement.company)


def _csv(*lines: str, name: str = "usage-2025-09.csv", bom: bool = False) -> SimpleUploadedFile:
    text = "\n".join([HEADER, *lines]) + "\n"
    content = ("\ufeff" if bom else "") + text
    return SimpleUploadedFile(name, content.encode("utf-8"), content_type="text/csv")


def _records() -> list[tuple[str, str, dt.date, Decimal]]:
    return list(
        GpuUsageRecord.objects.order_by("day", "gpu__index").values_list(
            "agreement__number", "gpu__node__name", "day", "gpu_hours"
        )
    )


def test_a_good_file_is_imported_with_exact_sums(
    operator: User, agreements: tuple[Agreement, Agreement]
) -> None:
    first, second = agreements
    upload = _csv(
        f"2025-09-15,v100-16-a,0,{first.number},7.5",
        f"2025-09-16,v100-16-a,0,{first.number},24",
        "",
        f"2025-09-16,v100-16-a,1,{second.number},3.25",
        bom=True,
    )

    source = usage_import(upload=upload, actor=operator)

    assert (source.original_name, source.rows, source.imported_by) == ("usage-2025-09.csv", 3, operator)
    assert gpu_hours_by_agreement([first.pk, second.pk, 999_999]) == {
        first.pk: Decimal("31.50"),
        second.pk: Decimal("3.25"),
        999_999: Decimal("0.00"),
    }
    assert gpu_hours_by_day(first) == [
        (dt.date(2025, 9, 15), Decimal("7.50")),
        (dt.date(2025, 9, 16), Decimal("24.00")),
    ]
    assert set(GpuUsageRecord.objects.values_list("company_id", flat=True)) == {
        first.company_id,
        second.company_id,
    }
    event = AuditEvent.objects.get(action="compute.usage_imported")
    assert event.data["rows"] == 3
    assert event.data["gpu_hours"] == "34.75"
    assert event.data["replaced"] == 0


def test_a_later_file_replaces_the_figure_of_the_same_day(
    operator: User, agreements: tuple[Agreement, Agreement]
) -> None:
    first, _second = agreements
    usage_import(upload=_csv(f"2025-09-15,v100-16-a,0,{first.number},7.5"), actor=operator)

    later = usage_import(
        upload=_csv(
            f"2025-09-15,v100-16-a,0,{first.number},8.25",
            f"2025-09-17,v100-16-a,0,{first.number},1",
            name="usage-corrected.csv",
        ),
        actor=operator,
    )

    assert _records() == [
        (first.number, "v100-16-a", dt.date(2025, 9, 15), Decimal("8.25")),
        (first.number, "v100-16-a", dt.date(2025, 9, 17), Decimal("1.00")),
    ]
    assert set(GpuUsageRecord.objects.values_list("source_id", flat=True)) == {later.pk}
    assert gpu_hours_by_agreement([first.pk]) == {first.pk: Decimal("9.25")}
    events = AuditEvent.objects.filter(action="compute.usage_imported").order_by("sequence")
    assert [event.data["replaced"] for event in events] == [0, 1]


def test_the_same_file_twice_is_refused(operator: User, agreements: tuple[Agreement, Agreement]) -> None:
    first, _second = agreements
    line = f"2025-09-15,v100-16-a,0,{first.number},7.5"
    usage_import(upload=_csv(line), actor=operator)

    with pytest.raises(DomainError) as refused:
        usage_import(upload=_csv(line, name="renamed.csv"), actor=operator)

    assert refused.value.code == "usage_already_imported"
    assert str(refused.value) == "'renamed.csv' 파일은 이미 가져온 파일입니다(같은 내용)."
    assert UsageImport.objects.count() == 1


# Each bad row is written as line 3 of the file (line 2 is good); {n} is the first agreement's number.
BAD_ROWS = [
    ("2025/09/15,v100-16-a,0,{n},1", "3행 date: 날짜 형식(YYYY-MM-DD)이 아닙니다 (got '2025/09/15')"),
    ("2025-02-30,v100-16-a,0,{n},1", "3행 date: 없는 날짜입니다 (got '2025-02-30')"),
    (
        "2025-08-31,v100-16-a,0,{n},1",
        "3행 date: 협약 기간(2025-09-01~2025-11-28) 밖의 날짜입니다 (got '2025-08-31')",
    ),
    ("2025-09-15,a100-99,0,{n},1", "3행 node: 등록된 GPU 노드가 아닙니다 (got 'a100-99')"),
    ("2025-09-15,v100-16-a,x,{n},1", "3행 gpu: GPU 번호(0 이상의 정수)가 아닙니다 (got 'x')"),
    ("2025-09-15,v100-16-a,7,{n},1", "3행 gpu: 이 노드에 없는 GPU 번호입니다 (got '7')"),
    ("2025-09-15,v100-16-a,0,KHD-0000-AG,1", "3행 agreement: 등록된 협약번호가 아닙니다 (got 'KHD-0000-AG')"),
    ("2025-09-15,v100-16-a,0,{n},x", "3행 gpu_hours: 0~24 사이의 숫자가 아닙니다 (got 'x')"),
    ("2025-09-15,v100-16-a,0,{n},24.01", "3행 gpu_hours: 0~24 사이의 숫자가 아닙니다 (got '24.01')"),
    ("2025-09-15,v100-16-a,0,{n},-1", "3행 gpu_hours: 0~24 사이의 숫자가 아닙니다 (got '-1')"),
    ("2025-09-15,v100-16-a,0,{n},1.255", "3행 gpu_hours: 0~24 사이의 숫자가 아닙니다 (got '1.255')"),
    ("2025-09-15,v100-16-a,0,{n}", "3행: 열이 5개여야 합니다 (got 4)"),
    ("2025-09-14,v100-16-a,0,{n},2", "3행: 2행과 날짜·GPU·협약이 같습니다"),
]


@pytest.mark.parametrize(("line", "message"), BAD_ROWS)
def test_a_bad_row_refuses_the_whole_file_and_stores_nothing(
    operator: User, agreements: tuple[Agreement, Agreement], line: str, message: str
) -> None:
    first, _second = agreements
    upload = _csv(f"2025-09-14,v100-16-a,0,{first.number},5", line.format(n=first.number))

    with pytest.raises(DomainError) as refused:
        usage_import(upload=upload, actor=operator)

    assert refused.value.code == "usage_invalid_row"
    assert str(refused.value) == f"'usage-2025-09.csv' {message}"
    assert UsageImport.objects.count() == GpuUsageRecord.objects.count() == 0
    assert not AuditEvent.objects.filter(action="compute.usage_imported").exists()


def test_every_bad_row_is_listed(operator: User, agreements: tuple[Agreement, Agreement]) -> None:
    first, _second = agreements
    upload = _csv(f"2025-09-14,v100-16-a,0,{first.number},x", f"2025-09-15,v100-16-a,9,{first.number},1")

    with pytest.raises(DomainError) as refused:
        usage_import(upload=upload, actor=operator)

    assert refused.value.details["problems"] == [
        "'usage-2025-09.csv' 2행 gpu_hours: 0~24 사이의 숫자가 아닙니다 (got 'x')",
        "'usage-2025-09.csv' 3행 gpu: 이 노드에 없는 GPU 번호입니다 (got '9')",
    ]


@pytest.mark.parametrize(
    ("content", "code", "message"),
    [
        (b"", "usage_empty", "'u.csv' 파일이 비어 있습니다."),
        (HEADER.encode() + b"\n", "usage_empty", "'u.csv' 파일에 사용량 행이 없습니다."),
        (
            b"day,node,gpu,agreement,hours\n",
            "usage_header",
            "'u.csv' 1행: 머리글은 date,node,gpu,agreement,gpu_hours 이어야 합니다 (got 'day,node,gpu,agreement,hours')",
        ),
        (
            "date,node,gpu,agreement,gpu_hours\n2025-09-15,노드,0,A,1\n".encode("cp949"),
            "usage_encoding",
            "'u.csv' 파일은 UTF-8 CSV가 아닙니다. 클러스터에서 UTF-8 CSV로 다시 내보내 주세요.",
        ),
        (
            b"PK\x03\x04\x00\x00binary",
            "usage_encoding",
            "'u.csv' 파일은 UTF-8 CSV가 아닙니다. 클러스터에서 UTF-8 CSV로 다시 내보내 주세요.",
        ),
    ],
)
def test_a_file_that_is_not_a_usage_csv_is_refused(
    operator: User, agreements: tuple[Agreement, Agreement], content: bytes, code: str, message: str
) -> None:
    with pytest.raises(DomainError) as refused:
        usage_import(upload=SimpleUploadedFile("u.csv", content), actor=operator)

    assert (refused.value.code, str(refused.value)) == (code, message)
    assert UsageImport.objects.count() == 0


def test_only_operators_import(auditor: User, agreements: tuple[Agreement, Agreement]) -> None:
    first, _second = agreements

    with pytest.raises(PermissionDeniedError):
        usage_import(upload=_csv(f"2025-09-15,v100-16-a,0,{first.number},1"), actor=auditor)

    assert UsageImport.objects.count() == 0


# ---------------------------------------------------------------------------------------------------------
# Only a GPU the agreement held that day
# ---------------------------------------------------------------------------------------------------------


def _release_first_at(first: Agreement, operator: User, at: dt.datetime) -> None:
    allocation = allocation_for_agreement(first)
    assert allocation is not None
    with time_machine.travel(at, tick=False):
        gpu_release(allocation=allocation, actor=operator, reason="과제 종료")


def test_hours_on_the_first_and_the_last_day_of_a_holding_are_imported(
    operator: User, agreements: tuple[Agreement, Agreement]
) -> None:
    # Allocated 2025-09-02 09:00 KST, released 2025-09-20 18:00 KST: both days are partly held.
    first, _second = agreements
    _release_first_at(first, operator, kst(2025, 9, 20, 18, 0, 0))

    usage_import(
        upload=_csv(f"2025-09-02,v100-16-a,0,{first.number},3", f"2025-09-20,v100-16-a,0,{first.number},9"),
        actor=operator,
    )

    assert _records() == [
        (first.number, "v100-16-a", dt.date(2025, 9, 2), Decimal("3.00")),
        (first.number, "v100-16-a", dt.date(2025, 9, 20), Decimal("9.00")),
    ]


@pytest.mark.parametrize(
    ("line", "gpu", "index"),
    [
        # The day before the allocation, inside the agreement's period.
        ("2025-09-01,v100-16-a,0,{n},1", "v100-16-a/gpu0", "0"),
        # The day after the release.
        ("2025-09-21,v100-16-a,0,{n},1", "v100-16-a/gpu0", "0"),
        # Another company's GPU.
        ("2025-09-15,v100-16-a,1,{n},1", "v100-16-a/gpu1", "1"),
    ],
)
def test_a_row_for_a_gpu_the_agreement_did_not_hold_that_day_refuses_the_file(
    operator: User, agreements: tuple[Agreement, Agreement], line: str, gpu: str, index: str
) -> None:
    first, _second = agreements
    _release_first_at(first, operator, kst(2025, 9, 20, 18, 0, 0))
    upload = _csv(f"2025-09-14,v100-16-a,0,{first.number},5", line.format(n=first.number))

    with pytest.raises(DomainError) as refused:
        usage_import(upload=upload, actor=operator)

    assert refused.value.code == "usage_invalid_row"
    assert str(refused.value) == (
        f"'usage-2025-09.csv' 3행 gpu: 협약 {first.number}이(가) 이 날짜에 {gpu}을(를) 배정받지 않았습니다 "
        f"(got '{index}')"
    )
    assert UsageImport.objects.count() == GpuUsageRecord.objects.count() == 0
    assert not AuditEvent.objects.filter(action="compute.usage_imported").exists()


def _offered_gpu1(operator: User, second: Agreement) -> tuple[Agreement, GpuAllocation]:
    """A third agreement waits from ALLOCATED_AT; the second releases gpu1 on 2025-09-10 10:00 KST, which is
    offered to the third at that instant."""
    third = agreement_for("v100-16", rank=3)
    with time_machine.travel(ALLOCATED_AT, tick=False):
        gpu_allocate(agreement=third, actor=operator)
    held = allocation_for_agreement(second)
    assert held is not None
    with time_machine.travel(kst(2025, 9, 10, 10, 0, 0), tick=False):
        gpu_release(allocation=held, actor=operator, reason="과제 종료")
    offer = allocation_for_agreement(third)
    assert offer is not None
    assert (str(offer.gpu), offer.status) == ("v100-16-a/gpu1", "offered")
    return third, offer


def test_an_offer_declined_never_gave_the_gpu(
    operator: User, agreements: tuple[Agreement, Agreement]
) -> None:
    _first, second = agreements
    third, offer = _offered_gpu1(operator, second)
    with time_machine.travel(kst(2025, 9, 11, 10, 0, 0), tick=False):
        gpu_offer_decline(allocation=offer, actor=_company_user(third))

    with pytest.raises(DomainError) as refused:
        usage_import(upload=_csv(f"2025-09-10,v100-16-a,1,{third.number},2"), actor=operator)

    assert str(refused.value) == (
        f"'usage-2025-09.csv' 2행 gpu: 협약 {third.number}이(가) 이 날짜에 v100-16-a/gpu1을(를) "
        "배정받지 않았습니다 (got '1')"
    )
    assert UsageImport.objects.count() == GpuUsageRecord.objects.count() == 0


def test_an_offer_accepted_counts_from_the_offer(
    operator: User, agreements: tuple[Agreement, Agreement]
) -> None:
    _first, second = agreements
    third, offer = _offered_gpu1(operator, second)
    with time_machine.travel(kst(2025, 9, 12, 10, 0, 0), tick=False):
        gpu_offer_accept(allocation=offer, actor=_company_user(third))

    usage_import(
        upload=_csv(
            f"2025-09-10,v100-16-a,1,{second.number},4",
            f"2025-09-10,v100-16-a,1,{third.number},1",
            f"2025-09-12,v100-16-a,1,{third.number},6",
        ),
        actor=operator,
    )
    with pytest.raises(DomainError) as refused:
        usage_import(
            upload=_csv(f"2025-09-09,v100-16-a,1,{third.number},2", name="early.csv"), actor=operator
        )

    assert gpu_hours_by_agreement([second.pk, third.pk]) == {
        second.pk: Decimal("4.00"),
        third.pk: Decimal("7.00"),
    }
    assert str(refused.value) == (
        f"'early.csv' 2행 gpu: 협약 {third.number}이(가) 이 날짜에 v100-16-a/gpu1을(를) 배정받지 않았습니다 "
        "(got '1')"
    )
    assert UsageImport.objects.count() == 1
