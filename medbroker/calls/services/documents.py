"""Checking an uploaded application document before it is stored.

The type is decided by the file's CONTENT, never by its name: a renamed executable stays an executable.
The name's extension must still belong to the detected family, so the reviewers' software opens the file as
what it is. The user's file name is kept only as display text; the stored name is generated.
"""

from __future__ import annotations

import hashlib
import unicodedata
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import IO

import olefile
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.utils.translation import gettext as _

from medbroker.core.errors import DomainError

# The formats the call accepts as electronic files (announcement §5): documents from the KTL templates
# (HWP/HWPX/DOCX), spreadsheets of evidence (XLSX) and PDFs.
EXTENSION_TYPES: dict[str, str] = {
    ".pdf": "pdf",
    ".hwp": "hwp",
    ".hwpx": "hwpx",
    ".docx": "docx",
    ".xlsx": "xlsx",
}
TYPE_LABELS: dict[str, str] = {"pdf": "PDF", "hwp": "HWP", "hwpx": "HWPX", "docx": "DOCX", "xlsx": "XLSX"}
CONTENT_TYPES: dict[str, str] = {
    "pdf": "application/pdf",
    "hwp": "application/x-hwp",
    "hwpx": "application/hwp+zip",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
ACCEPT_ATTRIBUTE = ",".join(EXTENSION_TYPES)

DISPLAY_NAME_MAX_CHARS = 120
_OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ZIP_MAGIC = b"PK\x03\x04"
_HWP_SIGNATURE = b"HWP Document File"
_HWPX_MIMETYPE = b"application/hwp+zip"
# The main part each OOXML type must declare; a macro-enabled document declares another one.
_OOXML_MAIN_PARTS = {
    "docx": ("word/document.xml", b"wordprocessingml.document.main+xml"),
    "xlsx": ("xl/workbook.xml", b"spreadsheetml.sheet.main+xml"),
}
_CONTENT_TYPES_READ_LIMIT = 256 * 1024
# A real PDF ends with an end-of-file marker (maybe followed by a little whitespace); a file that merely
# starts with "%PDF-" and carries HTML or script after it is not one.
_PDF_EOF_WINDOW = 2048


@dataclass(frozen=True)
class CheckedDocument:
    display_name: str
    detected_type: str
    size: int
    sha256: str

    @property
    def stored_name(self) -> str:
        """A fresh name for storage: nothing of the user's name reaches the file system."""
        return f"{uuid.uuid4().hex}.{self.detected_type}"


def document_display_name(name: str) -> str:
    """The user's file name made safe to show: no path, no control characters, a bounded length."""
    name = unicodedata.normalize("NFC", name or "")
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co"))
    name = name.strip().lstrip(".").strip()
    if len(name) > DISPLAY_NAME_MAX_CHARS:
        suffix = PurePosixPath(name).suffix
        suffix = suffix if len(suffix) <= 10 else ""
        name = name[: DISPLAY_NAME_MAX_CHARS - len(suffix)].rstrip() + suffix
    return name or _("이름 없는 파일")


def _zip_type(stream: IO[bytes]) -> str | None:
    try:
        with zipfile.ZipFile(stream) as archive:
            names = set(archive.namelist())
            if "mimetype" in names:
                # Only the first bytes are read: a hostile archive cannot make us inflate a huge entry.
                with archive.open("mimetype") as entry:
                    if entry.read(len(_HWPX_MIMETYPE) + 1).strip() == _HWPX_MIMETYPE:
                        return "hwpx"
            if "[Content_Types].xml" in names:
                # Macros (vbaProject.bin) are refused: reviewers open these files on lab computers.
                if any(name.lower().endswith("vbaproject.bin") for name in names):
                    return None
                with archive.open("[Content_Types].xml") as entry:
                    content_types = entry.read(_CONTENT_TYPES_READ_LIMIT)
                if b"macroEnabled" in content_types:
                    return None
                for kind, (main_part, main_type) in _OOXML_MAIN_PARTS.items():
                    if main_part in names and main_type in content_types:
                        return kind
    # zipfile raises NotImplementedError for a compression method it cannot read: such a file is refused
    # as not a document, like a corrupt archive.
    except (zipfile.BadZipFile, OSError, KeyError, ValueError, NotImplementedError):
        return None
    return None


def _ole_type(stream: IO[bytes]) -> str | None:
    try:
        ole = olefile.OleFileIO(stream)
    except (OSError, ValueError, IndexError, TypeError):
        return None
    try:
        if not ole.exists("FileHeader"):
            return None
        with ole.openstream("FileHeader") as header:
            return "hwp" if header.read(len(_HWP_SIGNATURE)) == _HWP_SIGNATURE else None
    except (OSError, ValueError, IndexError, TypeError):
        return None
    finally:
        ole.close()


def document_type_detect(stream: IO[bytes]) -> str | None:
    """The type (pdf, hwp, hwpx, docx, xlsx) read from the content of ``stream``; None for anything else."""
    stream.seek(0)
    head = stream.read(8)
    stream.seek(0)
    try:
        if head.startswith(b"%PDF-"):
            stream.seek(0, 2)
            stream.seek(max(0, stream.tell() - _PDF_EOF_WINDOW))
            return "pdf" if b"%%EOF" in stream.read() else None
        if head == _OLE2_MAGIC:
            return _ole_type(stream)
        if head.startswith(_ZIP_MAGIC):
            return _zip_type(stream)
        return None
    finally:
        stream.seek(0)


def _sha256(upload: UploadedFile) -> str:
    digest = hashlib.sha256()
    upload.seek(0)
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    return digest.hexdigest()


def _refuse(code: str, message: str, field: str | None) -> DomainError:
    return DomainError(code, message, field=field)


def document_check(upload: UploadedFile, *, field: str | None = None) -> CheckedDocument:
    """Refuse an empty, oversize or unaccepted file with a message naming the file and the problem."""
    display_name = document_display_name(upload.name or "")
    size = upload.size or 0
    if size == 0:
        raise _refuse("upload_empty", _("'%(name)s' 파일이 비어 있습니다.") % {"name": display_name}, field)
    limit = settings.MEDBROKER_UPLOAD_MAX_BYTES
    if size > limit:
        raise _refuse(
            "upload_too_large",
            _("'%(name)s' 파일이 너무 큽니다(%(size)s). 파일 하나는 %(limit)s까지 올릴 수 있습니다.")
            % {"name": display_name, "size": size_display(size), "limit": size_display(limit)},
            field,
        )
    extension = PurePosixPath(display_name.lower()).suffix
    expected = EXTENSION_TYPES.get(extension)
    if expected is None:
        raise _refuse(
            "upload_extension",
            _(
                "'%(name)s' 파일은 올릴 수 없는 형식입니다. PDF, HWP, HWPX, DOCX, XLSX 파일만 올릴 수 있습니다."
            )
            % {"name": display_name},
            field,
        )
    stream = upload.file
    if stream is None:
        raise _refuse("upload_empty", _("'%(name)s' 파일이 비어 있습니다.") % {"name": display_name}, field)
    detected = document_type_detect(stream)
    if detected is None:
        raise _refuse(
            "upload_content",
            _(
                "'%(name)s' 파일의 내용이 %(expected)s 형식이 아닙니다. 파일이 손상되었거나 다른 형식의 "
                "파일에 확장자만 바꾼 것일 수 있습니다. PDF, HWP, HWPX, DOCX, XLSX 파일만 올릴 수 있습니다."
            )
            % {"name": display_name, "expected": TYPE_LABELS[expected]},
            field,
        )
    if detected != expected:
        raise _refuse(
            "upload_type_mismatch",
            _(
                "'%(name)s' 파일은 확장자가 %(expected)s이지만 내용은 %(detected)s 파일입니다. "
                "내용에 맞는 확장자(.%(detected_ext)s)로 저장해 다시 올려 주세요."
            )
            % {
                "name": display_name,
                "expected": TYPE_LABELS[expected],
                "detected": TYPE_LABELS[detected],
                "detected_ext": detected,
            },
            field,
        )
    return CheckedDocument(
        display_name=display_name, detected_type=detected, size=size, sha256=_sha256(upload)
    )


def size_display(size: int) -> str:
    """20971520 → "20 MB" (binary units, as the limit is configured)."""
    if size >= 1024 * 1024:
        value, unit = size / (1024 * 1024), "MB"
    elif size >= 1024:
        value, unit = size / 1024, "KB"
    else:
        return f"{size} B"
    return f"{value:.1f} {unit}".replace(".0 ", " ")
