"""Exports of the audit log for auditors: exactly the events the filters select, as Excel or CSV.

Both exports pin the log at the moment they start (``up_to_sequence``) and then record themselves as an
event, so a file holds the same rows however long it takes to write and never contains its own record.
Taking the log outside the platform is itself a read worth recording: who, which filters, how many rows.

Size: CSV streams every selected event, in chunks, with no limit. An Excel workbook is built whole before
it is sent, so it holds at most ``XLSX_MAX_ROWS`` events (the oldest first); when more match, its second
sheet says so and how many were left out, and the page points to CSV or narrower filters.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext as _
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from medbroker.accounts.models import User
from medbroker.audit.models import AuditEvent
from medbroker.audit.selectors import AuditEventFilter, audit_events_filtered
from medbroker.audit.services import audit_head, audit_record
from medbroker.core import timeutils
from medbroker.core.excel import DATETIME_FORMAT

CSV_CONTENT_TYPE = "text/csv; charset=utf-8"
XLSX_MAX_ROWS = 50_000
# Excel stops reading a cell's text here.
XLSX_CELL_MAX_CHARS = 32_767
CSV_CHUNK_ROWS = 2_000
# Excel, LibreOffice and Numbers take a file with this mark as UTF-8; without it they guess CP949 and
# every Korean summary turns into mojibake.
UTF8_BOM = "\ufeff"
# A spreadsheet runs a CSV cell that begins with one of these as a formula (OWASP "CSV injection");
# summaries and labels carry text companies typed, so such a cell gets a leading apostrophe.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_COLUMN_WIDTHS = (8, 20, 28, 32, 24, 10, 60, 60, 66)


def export_headers() -> list[str]:
    return [
        _("순번"),
        _("시각(KST)"),
        _("행위자"),
        _("행위"),
        _("대상 종류"),
        _("대상 ID"),
        _("요약"),
        _("세부 내용(JSON)"),
        _("해시"),
    ]


def _data_json(event: AuditEvent) -> str:
    return json.dumps(event.data, ensure_ascii=False, sort_keys=True)


def _kst_text(event: AuditEvent) -> str:
    return timeutils.to_kst(event.occurred_at).strftime("%Y-%m-%d %H:%M:%S")


def _snapshot(filters: AuditEventFilter) -> tuple[QuerySet[AuditEvent], int]:
    head = audit_head()
    up_to = head.sequence if head else 0
    return audit_events_filtered(filters, up_to_sequence=up_to).order_by("sequence"), up_to


def _export_record(
    *,
    export_format: str,
    filters: AuditEventFilter,
    up_to_sequence: int,
    count: int,
    total: int,
    actor: User,
    request: HttpRequest | None,
) -> None:
    audit_record(
        action="audit.events_exported",
        actor=actor,
        object_type=AuditEvent._meta.label_lower,
        summary=f"exported {count} of {total} audit events as {export_format}",
        data={
            "format": export_format,
            "filters": filters.as_data(),
            "up_to_sequence": up_to_sequence,
            "count": count,
            "total": total,
        },
        request=request,
    )


# ---------------------------------------------------------------------------------------------------------
# Excel
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditWorkbook:
    content: bytes
    count: int
    total: int

    @property
    def capped(self) -> bool:
        return self.count < self.total


def _xlsx_text(sheet: WriteOnlyWorksheet, value: str) -> WriteOnlyCell:
    text = ILLEGAL_CHARACTERS_RE.sub("", value)
    if len(text) > XLSX_CELL_MAX_CHARS:
        text = text[: XLSX_CELL_MAX_CHARS - 1] + "…"
    cell = WriteOnlyCell(sheet, value=text)
    # Text that begins with "=" stays text: openpyxl would otherwise store it as a formula.
    cell.data_type = "s"
    return cell


def _xlsx_row(sheet: WriteOnlyWorksheet, event: AuditEvent) -> list[Any]:
    occurred = WriteOnlyCell(sheet, value=timeutils.to_kst(event.occurred_at).replace(tzinfo=None))
    occurred.number_format = DATETIME_FORMAT
    texts = (
        event.actor_label,
        event.action,
        event.object_type,
        event.object_id,
        event.summary,
        _data_json(event),
        event.entry_hash,
    )
    return [event.sequence, occurred, *(_xlsx_text(sheet, text) for text in texts)]


def audit_events_export_xlsx(
    *, filters: AuditEventFilter, actor: User, request: HttpRequest | None = None
) -> AuditWorkbook:
    """The selected events, oldest first, as one worksheet; a second sheet says what was exported."""
    events, up_to = _snapshot(filters)
    total = events.count()
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(_("감사 기록"))
    for index, width in enumerate(_COLUMN_WIDTHS, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    sheet.freeze_panes = "A2"
    header = []
    for title in export_headers():
        cell = WriteOnlyCell(sheet, value=title)
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="EEF2F7")
        header.append(cell)
    sheet.append(header)
    count = 0
    for event in events[:XLSX_MAX_ROWS].iterator(chunk_size=CSV_CHUNK_ROWS):
        sheet.append(_xlsx_row(sheet, event))
        count += 1

    about = workbook.create_sheet(_("내보내기 정보"))
    about.append([_("내보낸 시각(KST)"), timeutils.to_kst(timeutils.now()).strftime("%Y-%m-%d %H:%M:%S")])
    about.append([_("내보낸 사람"), actor.username])
    about.append([_("기준 순번"), up_to])
    for key, value in filters.as_data().items():
        about.append([_("조건: %(name)s") % {"name": key}, _xlsx_text(about, value)])
    about.append([_("조건에 맞는 기록"), total])
    about.append([_("이 파일의 기록"), count])
    if count < total:
        about.append(
            [
                _("안내"),
                _(
                    "Excel 파일에는 최대 %(limit)s건까지 담습니다. 순번이 앞선 %(count)s건만 들어 있고 "
                    "%(left)s건은 빠졌습니다. 전체는 CSV로 내려받거나 조건을 좁혀 주세요."
                )
                % {"limit": f"{XLSX_MAX_ROWS:,}", "count": f"{count:,}", "left": f"{total - count:,}"},
            ]
        )
    buffer = io.BytesIO()
    workbook.save(buffer)
    _export_record(
        export_format="xlsx",
        filters=filters,
        up_to_sequence=up_to,
        count=count,
        total=total,
        actor=actor,
        request=request,
    )
    return AuditWorkbook(content=buffer.getvalue(), count=count, total=total)


# ---------------------------------------------------------------------------------------------------------
# CSV
# ---------------------------------------------------------------------------------------------------------


class _Line:
    """A file-like object for csv.writer that hands back each written line instead of storing it."""

    def write(self, value: str) -> str:
        return value


def _csv_text(value: str) -> str:
    return f"'{value}" if value.startswith(_FORMULA_STARTS) else value


def _csv_row(event: AuditEvent) -> list[Any]:
    return [
        event.sequence,
        _kst_text(event),
        _csv_text(event.actor_label),
        _csv_text(event.action),
        _csv_text(event.object_type),
        _csv_text(event.object_id),
        _csv_text(event.summary),
        # JSON of an object always starts with "{", and a hash is hex: both are left exactly as stored.
        _data_json(event),
        event.entry_hash,
    ]


def _csv_lines(events: QuerySet[AuditEvent]) -> Iterator[bytes]:
    writer = csv.writer(_Line())
    yield (UTF8_BOM + writer.writerow(export_headers())).encode()
    for event in events.iterator(chunk_size=CSV_CHUNK_ROWS):
        yield writer.writerow(_csv_row(event)).encode()


def audit_events_export_csv(
    *, filters: AuditEventFilter, actor: User, request: HttpRequest | None = None
) -> Iterator[bytes]:
    """Every selected event, oldest first, as UTF-8 CSV lines (with a BOM) to stream to the browser.

    The export is recorded before the first line goes out: a download the browser breaks off still
    shows in the log as taken.
    """
    events, up_to = _snapshot(filters)
    total = events.count()
    _export_record(
        export_format="csv",
        filters=filters,
        up_to_sequence=up_to,
        count=total,
        total=total,
        actor=actor,
        request=request,
    )
    return _csv_lines(events)
