"""Excel exports (openpyxl): what every sheet of the platform shares.

Times go in as KST wall-clock values (Excel has no time zones; the headers say KST), columns are sized
for Hangul, and the header row is bold and frozen.
"""

from __future__ import annotations

import io
import unicodedata
from collections.abc import Sequence
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from medbroker.core import timeutils

XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DATETIME_FORMAT = "yyyy-mm-dd hh:mm:ss"
DATE_FORMAT = "yyyy-mm-dd"


def kst_naive(value: Any) -> Any:
    """An aware datetime as the naive KST wall-clock time a cell can hold; None stays None."""
    return timeutils.to_kst(value).replace(tzinfo=None) if value else None


def cell_width(value: Any) -> int:
    """Columns the longest line of ``value`` takes: Hangul and other wide characters count two."""
    text = value.strftime("%Y-%m-%d %H:%M:%S") if hasattr(value, "strftime") else str(value or "")
    longest = max(text.split("\n"), key=len) if text else ""
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in longest)


def sheet_write(sheet: Worksheet, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Headers (bold, frozen), then the rows; each column as wide as its content, at most 60."""
    sheet.append(list(headers))
    for row in rows:
        sheet.append(list(row))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="EEF2F7")
    for index, header in enumerate(headers, start=1):
        width = max([cell_width(header), *(cell_width(row[index - 1]) for row in rows)])
        sheet.column_dimensions[get_column_letter(index)].width = min(width + 2, 60)
    sheet.freeze_panes = "A2"


def workbook_bytes(workbook: Workbook) -> bytes:
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
