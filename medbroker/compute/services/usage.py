"""GPU hours from the cluster, imported as CSV; they feed the results report and the programme dashboard.

The file is ``date,node,gpu,agreement,gpu_hours`` (UTF-8, a BOM allowed): one row per company, GPU and day.
Every row is checked before anything is stored, down to the agreement having held that GPU on that KST day,
and a file with any bad row is refused whole, with the file, the row and the column named, so the operator
fixes the export and imports it again. The same file twice is refused by its SHA-256; a later file with the
same (agreement, GPU, day) replaces that day's figure, because the cluster re-exports corrected days.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import re
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.http import HttpRequest
from django.utils.translation import gettext as _

from medbroker.accounts.models import Role, User
from medbroker.agreements.models import Agreement
from medbroker.audit.services import audit_record
from medbroker.calls.services.documents import document_display_name, size_display
from medbroker.compute.models import Gpu, GpuAllocation, GpuUsageRecord, UsageImport
from medbroker.core import timeutils
from medbroker.core.errors import DomainError, PermissionDeniedError

USAGE_COLUMNS = ("date", "node", "gpu", "agreement", "gpu_hours")
MAX_GPU_HOURS = Decimal("24")
# How many row problems a refusal lists; the first is the error's message.
MAX_REPORTED_PROBLEMS = 20

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_INDEX = re.compile(r"^\d{1,3}$")
_HOURS = re.compile(r"^\d{1,2}(\.\d{1,2})?$")


@dataclass(frozen=True)
class UsageRow:
    line: int
    day: dt.date
    gpu: Gpu
    agreement: Agreement
    gpu_hours: Decimal


class _RowProblem(Exception):
    def __init__(self, column: str, problem: str, value: str) -> None:
        super().__init__(problem)
        self.column = column
        self.problem = problem
        self.value = value


def _refuse(code: str, message: str, problems: list[str] | None = None) -> DomainError:
    return DomainError(code, message, field="file", details={"problems": problems or [message]})


def _problem_text(name: str, line: int, column: str, problem: str, value: str) -> str:
    return _("'%(name)s' %(line)s행 %(column)s: %(problem)s (got '%(value)s')") % {
        "name": name,
        "line": line,
        "column": column,
        "problem": problem,
        "value": value,
    }


class _Lookup:
    """The nodes, GPUs, agreements and allocations a file names, read once for the whole file."""

    def __init__(self) -> None:
        self.gpus: dict[tuple[str, int], Gpu] = {
            (gpu.node.name, gpu.index): gpu for gpu in Gpu.objects.select_related("node")
        }
        self.nodes = {node for node, _index in self.gpus}
        self.agreements: dict[str, Agreement] = {}
        self.now = timeutils.now()
        self.holdings: dict[int, list[tuple[int, dt.datetime, dt.datetime]]] = {}

    def held(self, agreement: Agreement, gpu: Gpu, day: dt.date) -> bool:
        """Whether the agreement held ``gpu`` at some moment of the KST ``day``.

        Only a GPU the company had (allocated, or offered and accepted) counts, from its allocation to its
        release; an offer declined or lapsed never gave it the GPU.
        """
        if agreement.pk not in self.holdings:
            allocations = GpuAllocation.objects.filter(
                Q(status=GpuAllocation.Status.ACTIVE) | Q(accepted_at__isnull=False), agreement=agreement
            ).values_list("gpu_id", "allocated_at", "released_at")
            self.holdings[agreement.pk] = [
                (gpu_id, allocated_at, released_at or self.now)
                for gpu_id, allocated_at, released_at in allocations
            ]
        day_starts = timeutils.kst(day.year, day.month, day.day)
        day_ends = day_starts + dt.timedelta(days=1)
        return any(
            gpu_id == gpu.pk and allocated_at < day_ends and day_starts < released_at
            for gpu_id, allocated_at, released_at in self.holdings[agreement.pk]
        )

    def agreement(self, number: str) -> Agreement | None:
        if number not in self.agreements:
            found = Agreement.objects.select_related("company").filter(number=number).first()
            if found is None:
                return None
            self.agreements[number] = found
        return self.agreements[number]


def _row_parse(cells: list[str], *, line: int, lookup: _Lookup) -> UsageRow:
    date_text, node_name, index_text, number, hours_text = (cell.strip() for cell in cells)
    if not _DATE.match(date_text):
        raise _RowProblem("date", _("날짜 형식(YYYY-MM-DD)이 아닙니다"), date_text)
    try:
        day = dt.date.fromisoformat(date_text)
    except ValueError:
        raise _RowProblem("date", _("없는 날짜입니다"), date_text) from None
    if node_name not in lookup.nodes:
        raise _RowProblem("node", _("등록된 GPU 노드가 아닙니다"), node_name)
    if not _INDEX.match(index_text):
        raise _RowProblem("gpu", _("GPU 번호(0 이상의 정수)가 아닙니다"), index_text)
    gpu = lookup.gpus.get((node_name, int(index_text)))
    if gpu is None:
        raise _RowProblem("gpu", _("이 노드에 없는 GPU 번호입니다"), index_text)
    agreement = lookup.agreement(number)
    if agreement is None:
        raise _RowProblem("agreement", _("등록된 협약번호가 아닙니다"), number)
    if agreement.starts_on is None or not agreement.starts_on <= day <= agreement.ends_on:
        period = (
            f"{agreement.starts_on:%Y-%m-%d}~{agreement.ends_on:%Y-%m-%d}"
            if agreement.starts_on
            else _("미체결")
        )
        raise _RowProblem("date", _("협약 기간(%(period)s) 밖의 날짜입니다") % {"period": period}, date_text)
    if not _HOURS.match(hours_text) or Decimal(hours_text) > MAX_GPU_HOURS:
        raise _RowProblem("gpu_hours", _("0~24 사이의 숫자가 아닙니다"), hours_text)
    # Hours on a GPU the company did not hold would inflate its results report and the programme's figures:
    # the export names the wrong agreement or GPU.
    if not lookup.held(agreement, gpu, day):
        raise _RowProblem(
            "gpu",
            _("협약 %(number)s이(가) 이 날짜에 %(gpu)s을(를) 배정받지 않았습니다")
            % {"number": agreement.number, "gpu": gpu},
            index_text,
        )
    return UsageRow(line=line, day=day, gpu=gpu, agreement=agreement, gpu_hours=Decimal(hours_text))


def _text(upload: UploadedFile, name: str) -> tuple[str, str]:
    """The file's text and SHA-256; refuses an empty, oversize, binary or non-UTF-8 file."""
    size = upload.size or 0
    if size == 0:
        raise _refuse("usage_empty", _("'%(name)s' 파일이 비어 있습니다.") % {"name": name})
    limit = settings.MEDBROKER_UPLOAD_MAX_BYTES
    if size > limit:
        raise _refuse(
            "usage_too_large",
            _("'%(name)s' 파일이 너무 큽니다(%(size)s). 파일 하나는 %(limit)s까지 올릴 수 있습니다.")
            % {"name": name, "size": size_display(size), "limit": size_display(limit)},
        )
    upload.seek(0)
    content = upload.read()
    upload.seek(0)
    digest = hashlib.sha256(content).hexdigest()
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = ""
    if not text or "\x00" in text:
        raise _refuse(
            "usage_encoding",
            _("'%(name)s' 파일은 UTF-8 CSV가 아닙니다. 클러스터에서 UTF-8 CSV로 다시 내보내 주세요.")
            % {"name": name},
        )
    return text, digest


def usage_rows_parse(text: str, *, name: str) -> list[UsageRow]:
    """Check every row of the CSV text; refuse the file with every problem found, stopping at none."""
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None or tuple(cell.strip().lower() for cell in header) != USAGE_COLUMNS:
        got = ",".join(header or [])
        raise _refuse(
            "usage_header",
            _("'%(name)s' 1행: 머리글은 %(expected)s 이어야 합니다 (got '%(got)s')")
            % {"name": name, "expected": ",".join(USAGE_COLUMNS), "got": got},
        )
    lookup = _Lookup()
    rows: list[UsageRow] = []
    problems: list[str] = []
    seen: dict[tuple[int, int, dt.date], int] = {}
    for cells in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) != len(USAGE_COLUMNS):
            problems.append(
                _("'%(name)s' %(line)s행: 열이 %(expected)s개여야 합니다 (got %(got)s)")
                % {"name": name, "line": line, "expected": len(USAGE_COLUMNS), "got": len(cells)}
            )
            continue
        try:
            row = _row_parse(cells, line=line, lookup=lookup)
        except _RowProblem as problem:
            problems.append(_problem_text(name, line, problem.column, problem.problem, problem.value))
            continue
        key = (row.agreement.pk, row.gpu.pk, row.day)
        if key in seen:
            problems.append(
                _("'%(name)s' %(line)s행: %(first)s행과 날짜·GPU·협약이 같습니다")
                % {"name": name, "line": line, "first": seen[key]}
            )
            continue
        seen[key] = line
        rows.append(row)
    if problems:
        raise _refuse("usage_invalid_row", problems[0], problems[:MAX_REPORTED_PROBLEMS])
    if not rows:
        raise _refuse("usage_empty", _("'%(name)s' 파일에 사용량 행이 없습니다.") % {"name": name})
    return rows


@transaction.atomic
def usage_import(*, upload: UploadedFile, actor: User, request: HttpRequest | None = None) -> UsageImport:
    """Import one cluster CSV of GPU hours: all rows or none."""
    if not actor.has_role(Role.OPERATOR):
        raise PermissionDeniedError("forbidden", _("사용량 가져오기는 운영자만 할 수 있습니다."))
    name = document_display_name(upload.name or "")
    text, digest = _text(upload, name)
    already = _refuse(
        "usage_already_imported",
        _("'%(name)s' 파일은 이미 가져온 파일입니다(같은 내용).") % {"name": name},
    )
    if UsageImport.objects.filter(sha256=digest).exists():
        raise already
    rows = usage_rows_parse(text, name=name)
    try:
        with transaction.atomic():
            source = UsageImport.objects.create(
                original_name=name, sha256=digest, rows=len(rows), imported_by=actor
            )
    except IntegrityError:
        raise already from None
    replaced = 0
    for row in rows:
        _record, created = GpuUsageRecord.objects.update_or_create(
            agreement=row.agreement,
            gpu=row.gpu,
            day=row.day,
            defaults={"gpu_hours": row.gpu_hours, "company": row.agreement.company, "source": source},
        )
        replaced += int(not created)
    total = sum((row.gpu_hours for row in rows), Decimal("0"))
    audit_record(
        action="compute.usage_imported",
        actor=actor,
        target=source,
        summary=f"{name}: {len(rows)} rows, {total} GPU hours ({replaced} replaced)",
        data={
            "file": name,
            "sha256": digest,
            "rows": len(rows),
            "replaced": replaced,
            "gpu_hours": str(total),
            "agreements": sorted({row.agreement.number for row in rows}),
        },
        request=request,
    )
    return source
