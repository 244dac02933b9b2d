"""GPU hours imported from the cluster CSV: all rows or none, the row and column of every problem named."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from medbroker.accounts.models import User
from medbroker.agreements.models import Agreement
from medbroker.audit.models import AuditEvent
from medbroker.compute.models import GpuUsageRecord, UsageImport
from medbroker.compute.selectors import gpu_hours_by_agreement, gpu_hours_by_day
from medbroker.compute.services.usage import usage_import
from medbroker.compute.tests.factories import agreement_for, pool
from medbroker.core.errors import DomainError, PermissionDeniedError

pytestmark = pytest.mark.django_db

HEADER = "date,node,gpu,agreement,gpu_hours"


@pytest.fixture
def agreements(db: None) -> tuple[Agreement, Agreement]:
    pool(v100_16=2)
    return agreement_for("v100-16", rank=1), agreement_for("v100-16", rank=2)


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
