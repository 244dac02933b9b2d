"""Test sets: registering one, importing its cases (a CSV and a ZIP of files), activating and retiring it.

Cases come as a CSV (``case_id``, the reference standard of the task, an optional ``input`` file and the
subgroup attributes) and a ZIP holding the files the CSV names. An import is all or nothing: every row and
every file is checked first, the files are extracted into a private folder, and only when all is well are the
rows written and the files moved into ``test-sets/<pk>/``, in one transaction. The errors name the line of
the CSV and what is wrong with it.

Activation fixes the cases: it computes ``content_sha256`` over them (ids, references, attributes, input and
mask file hashes), which every run copies and every report prints, and no case changes afterwards.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import re
import shutil
import stat
import struct
import uuid
import zipfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Any

import numpy as np
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils.translation import gettext as _

from medbroker.accounts.models import User
from medbroker.accounts.permissions import operator_ensure
from medbroker.audit.services import audit_record
from medbroker.catalog.models import Dataset
from medbroker.core.errors import DomainError
from medbroker.evaluations.models import DataKind, TaskType, TestCase, TestSet

TEST_SETS_FOLDER = "test-sets"
# A cases file of a million rows is far more than any test set; a bigger one is a mistake.
CASES_CSV_MAX_BYTES = 64 * 1024 * 1024
ARCHIVE_MAX_MEMBERS = 100_000
# The files a test set extracts, together (the ZIP's own sizes are checked while reading, not trusted).
ARCHIVE_MAX_BYTES = 20 * 1024**3
# Errors shown at once: enough to fix a file in one go, not a page of them.
ERRORS_SHOWN = 20
# A case id becomes a file name (``<case_id>.npy`` in a segmentation predictions ZIP): no path characters.
CASE_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
INPUT_SUFFIXES = (".npy", ".dcm")
SEXES = ("M", "F")
REFERENCE_COLUMN = {
    TaskType.BINARY: "label",
    TaskType.MULTICLASS: "label",
    TaskType.DETECTION: "boxes",
    TaskType.SEGMENTATION: "mask",
}
COPY_CHUNK = 1024 * 1024
# Bytes of central directory one ZIP member may take (46 fixed, its name, extra fields and comment): with
# the declared number of members it bounds what ``zipfile.ZipFile`` reads and parses when it opens a file.
ZIP_ENTRY_MAX_BYTES = 1024
# Reading a damaged or unusual member: a bad CRC, corrupt deflate data, a truncated file, a compression
# method or encryption this Python cannot read.
ZIP_MEMBER_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError)
_ZIP_END = struct.Struct("<4s4H2LH")
_ZIP64_LOCATOR = struct.Struct("<4sLQL")
_ZIP64_END = struct.Struct("<4sQ2H2L4Q")


def evaluation_root() -> Path:
    return Path(settings.MEDBROKER_EVALUATION_ROOT)


def test_set_folder(test_set: TestSet) -> Path:
    """Where a test set's files live; paths in its cases are relative to it."""
    return evaluation_root() / TEST_SETS_FOLDER / str(test_set.pk)


def zip_directory_declared(handle: IO[bytes]) -> tuple[int, int] | None:
    """The number of members and the size of the central directory a ZIP declares in its end record (ZIP64
    too), read without reading the directory; None when there is no end record. ``zipfile.ZipFile`` reads
    and parses the whole directory as it opens a file, so these are checked first: a small upload can
    declare millions of members."""
    handle.seek(0, os.SEEK_END)
    size = handle.tell()
    tail_size = min(size, _ZIP_END.size + 0xFFFF)
    handle.seek(size - tail_size)
    tail = handle.read(tail_size)
    position = tail.rfind(b"PK\x05\x06")
    declared: tuple[int, int] | None = None
    if position >= 0 and position + _ZIP_END.size <= len(tail):
        end = _ZIP_END.unpack_from(tail, position)
        declared = int(end[4]), int(end[5])
        locator_at = size - tail_size + position - _ZIP64_LOCATOR.size
        if locator_at >= 0:
            handle.seek(locator_at)
            locator = handle.read(_ZIP64_LOCATOR.size)
            if len(locator) == _ZIP64_LOCATOR.size and locator.startswith(b"PK\x06\x07"):
                # The ZIP64 record wins, as it does for zipfile.
                handle.seek(_ZIP64_LOCATOR.unpack(locator)[2])
                record = handle.read(_ZIP64_END.size)
                if len(record) == _ZIP64_END.size and record.startswith(b"PK\x06\x06"):
                    fields = _ZIP64_END.unpack(record)
                    declared = int(fields[7]), int(fields[8])
                else:
                    declared = None
    handle.seek(0)
    return declared


def zip_directory_fits(handle: IO[bytes], max_members: int) -> bool | None:
    """Whether the ZIP declares at most ``max_members`` members in a directory of a size that fits them;
    None when it is not a ZIP."""
    declared = zip_directory_declared(handle)
    if declared is None:
        return None
    members, directory_size = declared
    return members <= max_members and directory_size <= max(members, 1) * ZIP_ENTRY_MAX_BYTES


def npy_array_load(path: Path, **options: Any) -> np.ndarray:
    """``np.load`` of a file that must hold one array: never unpickles, and a ZIP (an ``.npz``) named
    ``.npy`` is a ValueError like any other unreadable file, not an ``NpzFile``."""
    loaded = np.load(path, allow_pickle=False, **options)
    if not isinstance(loaded, np.ndarray):
        if hasattr(loaded, "close"):
            loaded.close()
        raise ValueError(f"{path.name} is not a .npy array")
    return loaded


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(COPY_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


# ---------------------------------------------------------------------------------------------------------
# Registering
# ---------------------------------------------------------------------------------------------------------


def _classes_check(task_type: str, classes: Any) -> list[str]:
    if not isinstance(classes, list | tuple):
        raise DomainError("classes_invalid", _("클래스·구조는 이름의 목록이어야 합니다."), field="classes")
    names = [str(name).strip() for name in classes]
    if any(not name or len(name) > 100 for name in names) or len(set(names)) != len(names):
        raise DomainError(
            "classes_invalid", _("클래스·구조 이름은 비어 있지 않고 서로 달라야 합니다."), field="classes"
        )
    if task_type == TaskType.BINARY and len(names) != 2:
        raise DomainError(
            "classes_invalid",
            _("이진 분류의 클래스는 '음성, 양성' 두 개여야 합니다."),
            field="classes",
        )
    if task_type == TaskType.MULTICLASS and not 3 <= len(names) <= 64:
        raise DomainError(
            "classes_invalid", _("다중 분류의 클래스는 3개 이상 64개 이하여야 합니다."), field="classes"
        )
    if task_type in (TaskType.DETECTION, TaskType.SEGMENTATION) and not 1 <= len(names) <= 255:
        raise DomainError(
            "classes_invalid",
            _("병변·구조 이름을 하나 이상(255개 이하) 입력해 주세요."),
            field="classes",
        )
    return names


def _spacing_check(spacing: Any) -> list[float]:
    if spacing is None:
        return []
    if not isinstance(spacing, list | tuple) or len(spacing) > 3:
        raise DomainError(
            "spacing_invalid", _("화소 간격은 축마다 하나씩, 3개까지의 숫자입니다."), field="spacing"
        )
    values: list[float] = []
    for value in spacing:
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or value <= 0
        ):
            raise DomainError("spacing_invalid", _("화소 간격은 0보다 큰 숫자여야 합니다."), field="spacing")
        values.append(float(value))
    return values


def test_set_create(
    *,
    actor: User,
    name: str,
    version: str,
    task_type: str,
    data_kind: str,
    classes: list[str],
    description: str = "",
    dataset: Dataset | None = None,
    spacing: list[float] | None = None,
    request: HttpRequest | None = None,
) -> TestSet:
    """Register a draft test set (no cases yet); only operators."""
    operator_ensure(actor, _("시험셋 등록"))
    name, version = (name or "").strip(), (version or "").strip()
    if not name:
        raise DomainError("field_required", _("시험셋 이름을 입력해 주세요."), field="name")
    if not version:
        raise DomainError("field_required", _("버전을 입력해 주세요."), field="version")
    if task_type not in TaskType.values:
        raise DomainError("task_type_invalid", _("알 수 없는 과제 유형입니다."), field="task_type")
    if data_kind not in DataKind.values:
        raise DomainError("data_kind_invalid", _("알 수 없는 데이터 종류입니다."), field="data_kind")
    names = _classes_check(task_type, classes)
    spacing_values = _spacing_check(spacing)
    with transaction.atomic():
        try:
            # Its own savepoint: the constraint's failure must not spoil a caller's transaction.
            with transaction.atomic():
                test_set = TestSet.objects.create(
                    name=name,
                    version=version,
                    description=(description or "").strip(),
                    task_type=task_type,
                    data_kind=data_kind,
                    classes=names,
                    dataset=dataset,
                    spacing=spacing_values,
                    created_by=actor,
                )
        except IntegrityError:
            raise DomainError(
                "test_set_exists",
                _("같은 이름과 버전의 시험셋이 이미 있습니다."),
                status_code=409,
                field="version",
            ) from None
        audit_record(
            action="evaluations.test_set_created",
            actor=actor,
            target=test_set,
            summary=f"시험셋 등록: {test_set}",
            data={
                "task_type": task_type,
                "data_kind": data_kind,
                "classes": names,
                "spacing": spacing_values,
            },
            request=request,
        )
    return test_set


# ---------------------------------------------------------------------------------------------------------
# Importing cases
# ---------------------------------------------------------------------------------------------------------


@dataclass
class _Row:
    line: int
    case_id: str
    reference: dict[str, Any]
    input_name: str
    mask_name: str
    attributes: dict[str, str]


@dataclass
class _Parsed:
    # The cases CSV's file name: an operator importing several test sets is told which file is wrong.
    source: str
    rows: list[_Row] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def error(self, line: int, message: str) -> None:
        self.errors.append(
            _("%(name)s %(line)d번째 줄: %(message)s")
            % {"name": self.source, "line": line, "message": message}
        )

    def file_error(self, message: str) -> None:
        self.errors.append(_("%(name)s: %(message)s") % {"name": self.source, "message": message})


def _invalid(code: str, errors: list[str], field_name: str) -> DomainError:
    shown = errors[:ERRORS_SHOWN]
    message = _("증례 가져오기를 하지 못했습니다. 아무것도 저장하지 않았습니다. ") + " ".join(shown)
    if len(errors) > len(shown):
        message += " " + _("(그 밖에 %(count)d건)") % {"count": len(errors) - len(shown)}
    return DomainError(code, message, field=field_name, details={"errors": errors})


def member_name_safe(name: str) -> bool:
    """A relative path inside a ZIP that stays inside the folder it is extracted to."""
    if not name or "\\" in name or "\x00" in name or name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return False
    parts = PurePosixPath(name).parts
    return bool(parts) and all(part not in ("", ".", "..") for part in parts)


def _label_parse(text: str, task_type: str, classes: list[str]) -> int:
    if task_type == TaskType.BINARY:
        if text not in ("0", "1"):
            raise ValueError(_("label은 0 또는 1이어야 합니다 (지금: '%(value)s').") % {"value": text})
        return int(text)
    if text in classes:
        return classes.index(text)
    if re.fullmatch(r"\d+", text) and int(text) < len(classes):
        return int(text)
    raise ValueError(
        _("label은 클래스 번호(0~%(last)d) 또는 클래스 이름이어야 합니다 (지금: '%(value)s').")
        % {"last": len(classes) - 1, "value": text}
    )


def boxes_parse(text: str) -> list[list[float]]:
    """``[[x, y, w, h], ...]`` from JSON; ValueError with a Korean message when it is not that."""
    try:
        value = json.loads(text or "[]")
    except ValueError:
        raise ValueError(
            _("boxes가 JSON 목록이 아닙니다 (예: [[10, 20, 30, 30]], 병변이 없으면 []).")
        ) from None
    if not isinstance(value, list):
        raise ValueError(_("boxes는 [x, y, w, h] 상자의 목록이어야 합니다."))
    boxes: list[list[float]] = []
    for box in value:
        if (
            not isinstance(box, list)
            or len(box) != 4
            or any(isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) for v in box)
        ):
            raise ValueError(_("상자마다 숫자 4개 [x, y, w, h]가 있어야 합니다."))
        if box[2] <= 0 or box[3] <= 0:
            raise ValueError(_("상자의 너비와 높이는 0보다 커야 합니다."))
        boxes.append([float(v) for v in box])
    return boxes


def _csv_read(upload: UploadedFile, name: str) -> tuple[list[str], list[dict[str, str]]]:
    """The header's columns and the rows (each with its line number under "__line__")."""
    upload.seek(0)
    content = upload.read(CASES_CSV_MAX_BYTES + 1)
    if len(content) > CASES_CSV_MAX_BYTES:
        raise DomainError("file_too_large", _("증례 목록 파일이 너무 큽니다."), field="cases_csv")
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DomainError(
            "csv_encoding",
            _("%(name)s: UTF-8로 저장한 CSV 파일이어야 합니다.") % {"name": name},
            field="cases_csv",
        ) from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if not reader.fieldnames:
        raise DomainError("csv_empty", _("%(name)s: 빈 파일입니다.") % {"name": name}, field="cases_csv")
    columns = [column.strip() for column in reader.fieldnames]
    reader.fieldnames = columns
    rows = []
    for row in reader:
        # csv puts the surplus of a row with too many values under None.
        if None in row:
            raise DomainError(
                "csv_invalid",
                _("%(name)s %(line)d번째 줄: 값이 머리줄의 열보다 많습니다.")
                % {"name": name, "line": reader.line_num},
                field="cases_csv",
            )
        values = {key: (value or "").strip() for key, value in row.items() if key is not None}
        rows.append({**values, "__line__": str(reader.line_num)})
    return columns, rows


def _rows_parse(
    test_set: TestSet, rows: list[dict[str, str]], columns: Iterable[str], source: str
) -> _Parsed:
    task_type, classes = test_set.task_type, list(test_set.classes)
    parsed = _Parsed(source=source)
    reference_column = REFERENCE_COLUMN[TaskType(task_type)]
    missing = [column for column in ("case_id", reference_column) if column not in columns]
    if missing:
        parsed.file_error(_("필수 열이 없습니다: %(columns)s") % {"columns": ", ".join(missing)})
        return parsed
    if not rows:
        parsed.file_error(_("증례가 하나도 없습니다."))
        return parsed
    attribute_columns = [c for c in columns if c not in ("case_id", reference_column, "input") and c]
    seen: set[str] = set()
    for row in rows:
        line = int(row["__line__"])
        case_id = row.get("case_id", "")
        if not CASE_ID_PATTERN.match(case_id):
            parsed.error(
                line,
                _(
                    "case_id '%(value)s'은(는) 영문·숫자로 시작하고 영문·숫자·. _ -만 쓴 100자 이하여야 합니다."
                )
                % {"value": case_id},
            )
            continue
        if case_id in seen:
            parsed.error(line, _("case_id '%(value)s'이(가) 중복됩니다.") % {"value": case_id})
            continue
        seen.add(case_id)
        value = row.get(reference_column, "")
        reference: dict[str, Any] = {}
        mask_name = ""
        try:
            if task_type in (TaskType.BINARY, TaskType.MULTICLASS):
                reference = {"label": _label_parse(value, task_type, classes)}
            elif task_type == TaskType.DETECTION:
                reference = {"boxes": boxes_parse(value)}
            else:
                if not value:
                    raise ValueError(_("mask에 마스크 파일 이름을 적어야 합니다."))
                if not member_name_safe(value) or not value.lower().endswith(".npy"):
                    raise ValueError(
                        _("mask '%(name)s'은(는) ZIP 안의 .npy 파일 경로여야 합니다.") % {"name": value}
                    )
                mask_name = value
                reference = {"mask": value}
        except ValueError as error:
            parsed.error(line, str(error))
            continue
        input_name = row.get("input", "")
        if input_name and (
            not member_name_safe(input_name) or not input_name.lower().endswith(INPUT_SUFFIXES)
        ):
            parsed.error(
                line,
                _("input '%(name)s'은(는) ZIP 안의 .npy 또는 .dcm 파일 경로여야 합니다.")
                % {"name": input_name},
            )
            continue
        if input_name and input_name == mask_name:
            parsed.error(line, _("입력과 마스크가 같은 파일입니다."))
            continue
        attributes = {column: row[column] for column in attribute_columns if row.get(column)}
        if attributes.get("sex") and attributes["sex"] not in SEXES:
            parsed.error(
                line, _("sex는 M 또는 F여야 합니다 (지금: '%(value)s').") % {"value": attributes["sex"]}
            )
            continue
        parsed.rows.append(_Row(line, case_id, reference, input_name, mask_name, attributes))
    return parsed


def _is_link(info: zipfile.ZipInfo) -> bool:
    return stat.S_ISLNK(info.external_attr >> 16)


def _archive_members(
    archive: UploadedFile | None, wanted: dict[str, int]
) -> tuple[zipfile.ZipFile | None, dict[str, zipfile.ZipInfo]]:
    """The opened ZIP and its members the CSV names; DomainError for an unsafe or unreadable archive."""
    if not wanted:
        return None, {}
    if archive is None:
        raise DomainError(
            "archive_required",
            _("증례 목록이 입력·마스크 파일을 가리키므로 그 파일을 담은 ZIP을 함께 올려 주세요."),
            field="archive",
        )
    too_many = DomainError(
        "archive_invalid",
        _("ZIP에 파일이 너무 많습니다 (%(count)d개까지).") % {"count": ARCHIVE_MAX_MEMBERS},
        field="archive",
    )
    try:
        if zip_directory_fits(archive, ARCHIVE_MAX_MEMBERS) is False:
            raise too_many
        zipped = zipfile.ZipFile(archive)
        infos = zipped.infolist()
    except (zipfile.BadZipFile, OSError, ValueError):
        raise DomainError("archive_invalid", _("ZIP 파일을 읽을 수 없습니다."), field="archive") from None
    if len(infos) > ARCHIVE_MAX_MEMBERS:
        raise too_many
    members: dict[str, zipfile.ZipInfo] = {}
    for info in infos:
        if not member_name_safe(info.filename.rstrip("/") if info.is_dir() else info.filename):
            raise DomainError(
                "archive_unsafe",
                _("ZIP에 안전하지 않은 경로가 있습니다 (절대 경로나 '..'): %(name)s")
                % {"name": info.filename},
                field="archive",
            )
        if _is_link(info):
            raise DomainError(
                "archive_unsafe",
                _("ZIP에 링크가 있습니다: %(name)s") % {"name": info.filename},
                field="archive",
            )
        if info.filename in wanted:
            if info.filename in members:
                raise DomainError(
                    "archive_invalid",
                    _("ZIP에 같은 이름의 파일이 두 번 있습니다: %(name)s") % {"name": info.filename},
                    field="archive",
                )
            if info.flag_bits & 0x1:
                raise DomainError(
                    "archive_invalid",
                    _("암호가 걸린 파일은 읽을 수 없습니다: %(name)s") % {"name": info.filename},
                    field="archive",
                )
            members[info.filename] = info
    if sum(info.file_size for info in members.values()) > ARCHIVE_MAX_BYTES:
        raise DomainError("archive_too_large", _("ZIP의 파일이 너무 큽니다."), field="archive")
    return zipped, members


def _extract(zipped: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, budget: list[int]) -> str:
    """Copy one member to ``target``, never more bytes than it declares or than the budget left; its SHA-256."""
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    written = 0
    try:
        with zipped.open(info) as source, target.open("wb") as handle:
            for chunk in iter(lambda: source.read(COPY_CHUNK), b""):
                written += len(chunk)
                budget[0] -= len(chunk)
                if written > info.file_size or budget[0] < 0:
                    raise DomainError(
                        "archive_invalid",
                        _("ZIP 안의 파일 크기가 맞지 않습니다: %(name)s") % {"name": info.filename},
                        field="archive",
                    )
                digest.update(chunk)
                handle.write(chunk)
    except ZIP_MEMBER_ERRORS:
        raise DomainError(
            "archive_invalid",
            _("ZIP 안의 파일이 손상되었거나 지원하지 않는 압축 방식입니다: %(name)s")
            % {"name": info.filename},
            field="archive",
        ) from None
    return digest.hexdigest()


def _spatial_shape_of_input(path: Path) -> tuple[int, ...] | None:
    """The spatial shape of an input file, or None when it cannot be read (the caller reports it)."""
    if path.suffix.lower() == ".npy":
        array = npy_array_load(path, mmap_mode="r")
        if not np.issubdtype(array.dtype, np.number) or array.ndim < 1 or array.ndim > 4:
            return None
        return tuple(int(size) for size in array.shape)
    import pydicom

    dataset = pydicom.dcmread(path)
    if "PixelData" not in dataset:
        return None
    frames = int(getattr(dataset, "NumberOfFrames", 1) or 1)
    shape = (int(dataset.Rows), int(dataset.Columns))
    return (frames, *shape) if frames > 1 else shape


def _files_check(test_set: TestSet, parsed: _Parsed, folder: Path) -> None:
    """Every extracted file is what its row says: a readable input, a label map of the right labels and
    the input's shape, matching the test set's spacing."""
    structures = len(test_set.classes)
    spacing = list(test_set.spacing or [])
    for row in parsed.rows:
        input_shape = None
        if row.input_name:
            try:
                input_shape = _spatial_shape_of_input(folder / row.input_name)
            except Exception:
                input_shape = None
            if input_shape is None:
                parsed.error(row.line, _("입력 파일을 읽을 수 없습니다: %(name)s") % {"name": row.input_name})
                continue
        if not row.mask_name:
            continue
        try:
            mask = npy_array_load(folder / row.mask_name)
        except (OSError, ValueError, EOFError):
            parsed.error(row.line, _("마스크 파일을 읽을 수 없습니다: %(name)s") % {"name": row.mask_name})
            continue
        if not (np.issubdtype(mask.dtype, np.integer) or mask.dtype == np.bool_) or mask.ndim not in (2, 3):
            parsed.error(
                row.line,
                _("마스크는 2차원 또는 3차원 정수 배열이어야 합니다: %(name)s") % {"name": row.mask_name},
            )
            continue
        if mask.size and (int(mask.min()) < 0 or int(mask.max()) > structures):
            parsed.error(
                row.line,
                _("마스크 값은 0(배경)부터 %(last)d까지여야 합니다: %(name)s")
                % {"last": structures, "name": row.mask_name},
            )
            continue
        if spacing and len(spacing) != mask.ndim:
            parsed.error(
                row.line,
                _("마스크는 %(ndim)d차원인데 시험셋의 화소 간격은 %(count)d개입니다: %(name)s")
                % {"ndim": mask.ndim, "count": len(spacing), "name": row.mask_name},
            )
            continue
        if input_shape is not None and mask.shape not in (input_shape, input_shape[1:]):
            parsed.error(
                row.line,
                _("마스크 크기 %(mask)s이(가) 입력 크기 %(input)s와 다릅니다: %(name)s")
                % {"mask": list(mask.shape), "input": list(input_shape), "name": row.mask_name},
            )


def _stage(test_set: TestSet, parsed: _Parsed, archive: UploadedFile | None, staging: Path) -> dict[str, str]:
    """Extract the files the rows name into ``staging`` and check them; name -> SHA-256."""
    wanted: dict[str, int] = {}
    for row in parsed.rows:
        for name in (row.input_name, row.mask_name):
            if name:
                if name in wanted:
                    parsed.error(
                        row.line, _("파일 '%(name)s'을(를) 다른 증례도 가리킵니다.") % {"name": name}
                    )
                wanted.setdefault(name, row.line)
    if parsed.errors:
        return {}
    zipped, members = _archive_members(archive, wanted)
    archive_name = getattr(archive, "name", "") or "ZIP"
    for name, line in wanted.items():
        if name not in members:
            parsed.error(
                line, _("%(archive)s에 '%(name)s' 파일이 없습니다.") % {"archive": archive_name, "name": name}
            )
    if parsed.errors or zipped is None:
        return {}
    hashes: dict[str, str] = {}
    budget = [ARCHIVE_MAX_BYTES]
    with zipped:
        for name in wanted:
            hashes[name] = _extract(zipped, members[name], staging / name, budget)
    _files_check(test_set, parsed, staging)
    return hashes


def _used_names(test_set: TestSet) -> set[str]:
    used: set[str] = set()
    for input_file, reference in TestCase.objects.filter(test_set=test_set).values_list(
        "input_file", "reference"
    ):
        if input_file:
            used.add(input_file)
        if isinstance(reference, dict) and reference.get("mask"):
            used.add(str(reference["mask"]))
    return used


def _move(staging: Path, names: Iterable[str], destination: Path) -> list[Path]:
    moved: list[Path] = []
    for name in names:
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging / name, target)
        moved.append(target)
    return moved


def _draft_required(status: str, label: str) -> None:
    if status != TestSet.Status.DRAFT:
        raise DomainError(
            "test_set_not_draft",
            _("작성 중인 시험셋만 바꿀 수 있습니다 (현재 상태: %(status)s).") % {"status": label},
            status_code=409,
        )


def _draft_locked(test_set: TestSet) -> TestSet:
    locked = TestSet.objects.select_for_update().get(pk=test_set.pk)
    _draft_required(locked.status, locked.get_status_display())
    return locked


def test_set_cases_import(
    *,
    actor: User,
    test_set: TestSet,
    cases_csv: UploadedFile,
    archive: UploadedFile | None = None,
    request: HttpRequest | None = None,
) -> int:
    """Add the cases of ``cases_csv`` (and the files of ``archive``) to a draft test set; returns how many.

    Nothing is saved when any row or file is wrong: the error lists the lines and their problems.
    """
    operator_ensure(actor, _("시험셋 증례 가져오기"))
    # Checked again under the row's lock below; this spares reading the files of a set that cannot change.
    _draft_required(test_set.status, test_set.get_status_display())
    csv_name = getattr(cases_csv, "name", "") or "cases.csv"
    columns, rows = _csv_read(cases_csv, csv_name)
    parsed = _rows_parse(test_set, rows, columns, csv_name)
    if parsed.errors:
        raise _invalid("test_set_cases_invalid", parsed.errors, "cases_csv")
    incoming = evaluation_root() / TEST_SETS_FOLDER / ".incoming"
    incoming.mkdir(parents=True, exist_ok=True)
    staging = Path(incoming / uuid.uuid4().hex)
    staging.mkdir()
    moved: list[Path] = []
    try:
        hashes = _stage(test_set, parsed, archive, staging)
        if parsed.errors:
            raise _invalid("test_set_cases_invalid", parsed.errors, "archive")
        with transaction.atomic():
            test_set = _draft_locked(test_set)
            existing = set(
                TestCase.objects.filter(
                    test_set=test_set, case_id__in=[row.case_id for row in parsed.rows]
                ).values_list("case_id", flat=True)
            )
            used = _used_names(test_set)
            for row in parsed.rows:
                if row.case_id in existing:
                    parsed.error(
                        row.line,
                        _("case_id '%(value)s'은(는) 이미 가져온 증례입니다.") % {"value": row.case_id},
                    )
                for name in (row.input_name, row.mask_name):
                    if name and name in used:
                        parsed.error(
                            row.line, _("파일 '%(name)s'은(는) 이미 다른 증례가 씁니다.") % {"name": name}
                        )
            if parsed.errors:
                raise _invalid("test_set_cases_invalid", parsed.errors, "cases_csv")
            TestCase.objects.bulk_create(
                [
                    TestCase(
                        test_set=test_set,
                        case_id=row.case_id,
                        reference=row.reference,
                        input_file=row.input_name,
                        input_sha256=hashes.get(row.input_name, ""),
                        attributes=row.attributes,
                    )
                    for row in parsed.rows
                ]
            )
            audit_record(
                action="evaluations.test_set_cases_imported",
                actor=actor,
                target=test_set,
                summary=f"시험셋 증례 가져오기: {test_set} ({len(parsed.rows)}건)",
                data={
                    "cases": len(parsed.rows),
                    "files": len(hashes),
                    "cases_csv": csv_name,
                    "archive": getattr(archive, "name", "") if archive is not None else "",
                },
                request=request,
            )
            # Last, so that nothing after it can fail: a rollback before this point leaves no file behind.
            moved = _move(staging, hashes, test_set_folder(test_set))
    except BaseException:
        for path in moved:
            path.unlink(missing_ok=True)
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return len(parsed.rows)


# ---------------------------------------------------------------------------------------------------------
# Activating and retiring
# ---------------------------------------------------------------------------------------------------------


def test_set_content_sha256(test_set: TestSet) -> str:
    """SHA-256 of the canonical JSON (sorted keys, no spaces, UTF-8) of the cases sorted by case_id, each
    ``{"attributes", "case_id", "input_sha256", "mask_sha256", "reference"}`` (mask_sha256 "" without a mask)."""
    folder = test_set_folder(test_set)
    entries = []
    for case in TestCase.objects.filter(test_set=test_set).order_by("case_id"):
        mask = case.reference.get("mask") if isinstance(case.reference, dict) else None
        entries.append(
            {
                "attributes": case.attributes,
                "case_id": case.case_id,
                "input_sha256": case.input_sha256,
                "mask_sha256": file_sha256(folder / mask) if mask else "",
                "reference": case.reference,
            }
        )
    canonical = json.dumps(entries, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def test_set_activate(*, actor: User, test_set: TestSet, request: HttpRequest | None = None) -> TestSet:
    """Fix a draft test set's cases and put it in use: its content hash is computed now."""
    operator_ensure(actor, _("시험셋 확정"))
    with transaction.atomic():
        test_set = _draft_locked(test_set)
        cases = TestCase.objects.filter(test_set=test_set)
        if not cases.exists():
            raise DomainError(
                "test_set_empty", _("증례가 없는 시험셋은 확정할 수 없습니다."), status_code=409
            )
        if test_set.task_type == TaskType.BINARY:
            labels = {case.reference.get("label") for case in cases.only("reference")}
            if not {0, 1} <= labels:
                raise DomainError(
                    "test_set_one_class",
                    _("이진 분류 시험셋에는 양성과 음성 증례가 모두 있어야 합니다."),
                    status_code=409,
                )
        test_set.content_sha256 = test_set_content_sha256(test_set)
        test_set.status = TestSet.Status.ACTIVE
        test_set.save(update_fields=["content_sha256", "status", "updated_at"])
        audit_record(
            action="evaluations.test_set_activated",
            actor=actor,
            target=test_set,
            summary=f"시험셋 확정: {test_set}",
            data={"content_sha256": test_set.content_sha256, "cases": cases.count()},
            request=request,
        )
    return test_set


def test_set_retire(*, actor: User, test_set: TestSet, request: HttpRequest | None = None) -> TestSet:
    """Take an active test set out of use: no new evaluation may use it (those under way go on)."""
    operator_ensure(actor, _("시험셋 사용 종료"))
    with transaction.atomic():
        test_set = TestSet.objects.select_for_update().get(pk=test_set.pk)
        if test_set.status != TestSet.Status.ACTIVE:
            raise DomainError(
                "test_set_not_active",
                _("사용 중인 시험셋만 사용 종료할 수 있습니다 (현재 상태: %(status)s).")
                % {"status": test_set.get_status_display()},
                status_code=409,
            )
        test_set.status = TestSet.Status.RETIRED
        test_set.save(update_fields=["status", "updated_at"])
        audit_record(
            action="evaluations.test_set_retired",
            actor=actor,
            target=test_set,
            summary=f"시험셋 사용 종료: {test_set}",
            data={"content_sha256": test_set.content_sha256},
            request=request,
        )
    return test_set


# pytest collects any module-level function named test_* that a test module imports; these are services.
for _service in (
    test_set_create,
    test_set_cases_import,
    test_set_activate,
    test_set_retire,
    test_set_content_sha256,
    test_set_folder,
):
    _service.__test__ = False  # type: ignore[union-attr]
del _service
