"""Reading the CSV files of ``medbroker metrics`` and of prediction uploads, with errors that say where.

Every problem raises :class:`InputFileError` naming the file, the line (as an editor numbers it) with the
data row (the first row under the header is data row 1), and what is wrong, for example::

    pred.csv 4번째 줄(데이터 3행): score 값이 숫자가 아닙니다: 'abc'

Files are UTF-8, with or without a byte-order mark (as Excel writes it). Columns are found by header name
(surrounding spaces ignored); columns nobody asked for are ignored; blank lines are skipped.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO


class InputFileError(ValueError):
    """A file given to a metric command (or uploaded) cannot be used; the message says which and why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class CsvRow:
    """One data row: its 1-based data row number, its line in the file, and its values by column name."""

    row: int
    line: int
    values: dict[str, str]

    def get(self, column: str) -> str:
        return self.values.get(column, "")


@dataclass(frozen=True)
class CsvTable:
    name: str
    columns: tuple[str, ...]
    rows: list[CsvRow]

    def error(self, row: CsvRow, problem: str) -> InputFileError:
        return InputFileError(f"{self.name} {row.line}번째 줄(데이터 {row.row}행): {problem}")


def csv_table_read(
    source: Path | str | bytes,
    *,
    required: Sequence[str],
    name: str | None = None,
    allow_empty: bool = False,
    max_rows: int | None = None,
) -> CsvTable:
    """The header and data rows of a CSV file (a path, or the bytes of an upload with its ``name``).

    ``allow_empty`` accepts a header without rows: a detector that found nothing anywhere writes just that.
    Errors: the file is missing or unreadable, is not UTF-8 text, is empty or has no data row, lacks a
    ``required`` column or names a column twice, a row has more values than the header has columns, or
    the file has more than ``max_rows`` data rows.
    """
    with csv_rows_open(source, required=required, name=name, allow_empty=allow_empty, max_rows=max_rows) as (
        table,
        rows,
    ):
        return CsvTable(name=table.name, columns=table.columns, rows=list(rows))


@contextmanager
def csv_rows_open(
    source: Path | str | bytes,
    *,
    required: Sequence[str],
    name: str | None = None,
    allow_empty: bool = False,
    max_rows: int | None = None,
) -> Iterator[tuple[CsvTable, Iterator[CsvRow]]]:
    """The CSV's header (as a table without rows) and an iterator over its data rows, read as they are
    asked for: a caller that checks each row stops reading at the first bad one, and a file far larger
    than it may be (more than ``max_rows`` data rows) is refused at the row past the limit, before the
    rest is read. The errors are those of :func:`csv_table_read`."""
    if isinstance(source, bytes):
        label = name or "CSV"
        handle: BinaryIO = io.BytesIO(source)
    else:
        path = Path(source)
        label = name or path.name
        try:
            handle = path.open("rb")
        except FileNotFoundError:
            raise InputFileError(f"{label}: 파일이 없습니다: {path}") from None
        except IsADirectoryError:
            raise InputFileError(f"{label}: 파일이 아니라 폴더입니다: {path}") from None
        except OSError as error:
            raise InputFileError(f"{label}: 파일을 읽을 수 없습니다: {error.strerror or error}") from None
    with handle:
        text = io.TextIOWrapper(handle, encoding="utf-8-sig", newline="")
        try:
            source_file = _Source(label, handle, csv.reader(text, strict=True))
            table = CsvTable(name=label, columns=tuple(source_file.header(required)), rows=[])
            yield table, source_file.rows(table, allow_empty=allow_empty, max_rows=max_rows)
        finally:
            # The ``with`` closes the file; the wrapper must not close it first.
            text.detach()


class _Source:
    """A CSV reader over a binary file, whose errors name the file and the line."""

    def __init__(self, label: str, handle: BinaryIO, reader: Any) -> None:
        self.label = label
        self.handle = handle
        self.reader = reader

    def _records(self) -> Iterator[list[str]]:
        try:
            yield from self.reader
        except csv.Error as error:
            raise InputFileError(
                f"{self.label} {self.reader.line_num}번째 줄: CSV 형식이 잘못되었습니다: {error}"
            ) from None
        except UnicodeDecodeError:
            raise InputFileError(
                f"{self.label} {self._first_undecodable_line()}번째 줄: UTF-8 텍스트가 아닙니다"
                "(엑셀에서는 'CSV UTF-8'로 저장하세요)"
            ) from None
        except OSError as error:
            raise InputFileError(
                f"{self.label}: 파일을 읽을 수 없습니다: {error.strerror or error}"
            ) from None

    def _first_undecodable_line(self) -> int:
        """The first line that is not UTF-8 (a newline byte never occurs inside a character): the text
        layer decodes ahead in blocks, so its position does not say which line was bad."""
        self.handle.seek(0)
        for number, raw in enumerate(self.handle, start=1):
            try:
                (raw.removeprefix(b"\xef\xbb\xbf") if number == 1 else raw).decode("utf-8")
            except UnicodeDecodeError:
                return number
        return 1

    def header(self, required: Sequence[str]) -> list[str]:
        for fields in self._records():
            if any(field.strip() for field in fields):
                header = [field.strip() for field in fields]
                _header_check(self.label, self.reader.line_num, header, required)
                return header
        raise InputFileError(f"{self.label}: 빈 파일입니다")

    def rows(self, table: CsvTable, *, allow_empty: bool, max_rows: int | None) -> Iterator[CsvRow]:
        header = table.columns
        width = len(header)
        reader = self.reader
        count = 0
        for fields in self._records():
            if not any(field.strip() for field in fields):
                continue
            count += 1
            row = CsvRow(
                row=count,
                line=reader.line_num,
                values=dict(zip(header, (field.strip() for field in fields), strict=False)),
            )
            if max_rows is not None and count > max_rows:
                raise table.error(row, f"데이터 행이 너무 많습니다({max_rows}행까지)")
            if len(fields) > width and any(field.strip() for field in fields[width:]):
                raise table.error(row, f"값이 머리글의 열 수({width})보다 많습니다")
            yield row
        if not count and not allow_empty:
            raise InputFileError(f"{self.label}: 머리글 아래에 데이터 행이 없습니다")


def _header_check(label: str, line: int, header: list[str], required: Sequence[str]) -> None:
    seen: set[str] = set()
    for column in header:
        if column and column in seen:
            raise InputFileError(f"{label} {line}번째 줄(머리글): 열 이름 '{column}'이 두 번 나옵니다")
        seen.add(column)
    missing = [column for column in required if column not in seen]
    if missing:
        raise InputFileError(
            f"{label} {line}번째 줄(머리글): 필요한 열이 없습니다: {', '.join(missing)}"
            f" (머리글: {', '.join(column for column in header if column) or '없음'})"
        )


def case_id_read(table: CsvTable, row: CsvRow, seen: dict[str, CsvRow], column: str = "case_id") -> str:
    """The row's case id: not empty, and not on an earlier row (``seen`` maps ids to their rows)."""
    case_id = row.get(column)
    if not case_id:
        raise table.error(row, f"{column}가 비어 있습니다")
    first = seen.get(case_id)
    if first is not None:
        raise table.error(row, f"{column} '{case_id}'가 중복됩니다({first.line}번째 줄에 이미 있음)")
    seen[case_id] = row
    return case_id


def finite_number(table: CsvTable, row: CsvRow, column: str) -> float:
    """The row's value in ``column`` as a finite float."""
    text = row.get(column)
    if not text:
        raise table.error(row, f"{column} 값이 비어 있습니다")
    try:
        value = float(text)
    except ValueError:
        raise table.error(row, f"{column} 값이 숫자가 아닙니다: '{text}'") from None
    if not math.isfinite(value):
        raise table.error(row, f"{column} 값이 유한한 숫자가 아닙니다: '{text}'")
    return value


def binary_label(table: CsvTable, row: CsvRow, column: str = "label") -> int:
    """The row's label: 0 or 1 (``1.0`` is read as 1)."""
    text = row.get(column)
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if value not in (0.0, 1.0):
        raise table.error(row, f"{column}는 0 또는 1이어야 합니다: '{text}'")
    return int(value)


def classification_truth_read(source: Path | str | bytes, *, name: str | None = None) -> dict[str, int]:
    """``case_id,label`` rows as case id → label (0/1), in the file's order."""
    table = csv_table_read(source, required=("case_id", "label"), name=name)
    seen: dict[str, CsvRow] = {}
    truth: dict[str, int] = {}
    for row in table.rows:
        case_id = case_id_read(table, row, seen)
        truth[case_id] = binary_label(table, row)
    return truth


def classification_predictions_read(
    source: Path | str | bytes, *, case_ids: Collection[str] | None = None, name: str | None = None
) -> dict[str, float]:
    """``case_id,score`` rows as case id → score, in the file's order.

    With ``case_ids`` (the reference's cases) a prediction for any other case is an error: it usually
    means the wrong file or a mangled id, and silently dropping it would hide that.
    """
    table = csv_table_read(source, required=("case_id", "score"), name=name)
    seen: dict[str, CsvRow] = {}
    scores: dict[str, float] = {}
    for row in table.rows:
        case_id = case_id_read(table, row, seen)
        if case_ids is not None and case_id not in case_ids:
            raise table.error(row, f"정답 파일에 없는 case_id입니다: '{case_id}'")
        scores[case_id] = finite_number(table, row, "score")
    return scores
