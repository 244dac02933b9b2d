"""Applications for tests, and small sample files of every accepted and refused type, built in code.

HWP files are OLE2 compound files; olefile reads them but cannot write them, so ``sample_hwp`` writes the
smallest valid compound file by hand (one FAT sector, one directory sector, one "FileHeader" stream of
4096 bytes so that it lives in regular sectors and no mini stream is needed).
"""

from __future__ import annotations

import io
import struct
import zipfile
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile
from openpyxl import Workbook

from medbroker.accounts.models import User
from medbroker.calls.models import Application, Call, ComputeOption, RequiredDocument
from medbroker.calls.services.applications import (
    application_create,
    application_document_attach,
    application_update,
)

# ---------------------------------------------------------------------------------------------------------
# Sample files
# ---------------------------------------------------------------------------------------------------------


def sample_pdf(text: str = "medbroker") -> bytes:
    """A minimal, well-formed one-page PDF."""
    return (
        b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
        b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
        b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]>>endobj\n"
        b"% " + text.encode() + b"\ntrailer<</Root 1 0 R>>\n%%EOF\n"
    )


_SECTOR = 512
_FREE, _END, _FAT = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD


def _directory_entry(name: str, kind: int, child: int, start: int, size: int) -> bytes:
    encoded = (name + "\0").encode("utf-16-le") if name else b""
    return (
        encoded.ljust(64, b"\0")
        + struct.pack("<HBB", len(encoded), kind, 1)  # name length, object type, colour (black)
        + struct.pack("<III", _FREE, _FREE, child)  # left sibling, right sibling, child
        + b"\0" * 16  # CLSID
        + b"\0" * 4  # state bits
        + b"\0" * 16  # creation and modification times
        + struct.pack("<IQ", start, size)
    )


def sample_ole2(stream_name: str = "FileHeader", stream: bytes = b"HWP Document File") -> bytes:
    """An OLE2 compound file with one stream (an HWP 5 file when the stream is its FileHeader)."""
    content = stream.ljust(4096, b"\0")
    stream_sectors = len(content) // _SECTOR
    header = (
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
        + b"\0" * 16
        + struct.pack("<HHHHH", 0x003E, 0x0003, 0xFFFE, 9, 6)
        + b"\0" * 6
        + struct.pack("<IIIIIIIII", 0, 1, 1, 0, 4096, _END, 0, _END, 0)
        + struct.pack("<I", 0)  # DIFAT[0]: the FAT is sector 0
        + struct.pack("<I", _FREE) * 108
    )
    fat = [_FAT, _END] + [2 + i + 1 for i in range(stream_sectors - 1)] + [_END]
    fat_sector = struct.pack(f"<{len(fat)}I", *fat) + struct.pack("<I", _FREE) * (128 - len(fat))
    directory = (
        _directory_entry("Root Entry", 5, 1, _END, 0)
        + _directory_entry(stream_name, 2, _FREE, 2, len(content))
        + _directory_entry("", 0, _FREE, 0, 0) * 2
    )
    return header + fat_sector + directory + content


def sample_hwp() -> bytes:
    return sample_ole2()


def _zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in entries.items():
            # HWPX, like ODF, stores "mimetype" first and uncompressed.
            compression = zipfile.ZIP_STORED if name == "mimetype" else zipfile.ZIP_DEFLATED
            archive.writestr(name, data, compress_type=compression)
    return buffer.getvalue()


def sample_hwpx() -> bytes:
    return _zip(
        {
            "mimetype": b"application/hwp+zip",
            "version.xml": b'<?xml version="1.0"?><version/>',
            "Contents/section0.xml": b"<sec/>",
        }
    )


_DOCX_CONTENT_TYPES = (
    b'<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    b'<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.'
    b'%s"/></Types>'
)


def sample_docx() -> bytes:
    return _zip(
        {
            "[Content_Types].xml": _DOCX_CONTENT_TYPES % b"wordprocessingml.document.main+xml",
            "_rels/.rels": b"<Relationships/>",
            "word/document.xml": b"<w:document/>",
        }
    )


def sample_docm_renamed_docx() -> bytes:
    """A macro-enabled Word document (vbaProject.bin) under a .docx name."""
    return _zip(
        {
            "[Content_Types].xml": _DOCX_CONTENT_TYPES % b"ms-word.document.macroEnabled.main+xml",
            "_rels/.rels": b"<Relationships/>",
            "word/document.xml": b"<w:document/>",
            "word/vbaProject.bin": b"\xd0\xcf\x11\xe0macro",
        }
    )


def sample_xlsx() -> bytes:
    buffer = io.BytesIO()
    workbook = Workbook()
    workbook.active.append(["연도", "매출액"])
    workbook.save(buffer)
    return buffer.getvalue()


def sample_png() -> bytes:
    return b"\x89PNG\r\n\x1a\n" + b"\0\0\0\rIHDR" + b"\0" * 17


def sample_elf() -> bytes:
    return b"\x7fELF\x02\x01\x01" + b"\0" * 57


def sample_exe() -> bytes:
    return b"MZ\x90\x00" + b"\0" * 60 + b"This program cannot be run in DOS mode."


def sample_zip_without_parts() -> bytes:
    return _zip({"readme.txt": b"just a zip"})


def upload(name: str, content: bytes, content_type: str = "application/octet-stream") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type=content_type)


# ---------------------------------------------------------------------------------------------------------
# Applications
# ---------------------------------------------------------------------------------------------------------

ALWAYS_REQUIRED = (
    "application_plan",
    "privacy_consent",
    "participation_agreement",
    "eligibility_confirmation",
)


def application_draft(*, call: Call, applicant: User) -> Application:
    """A fresh draft by ``applicant``'s company (the clock must be inside the intake window)."""
    assert applicant.organisation is not None
    return application_create(call=call, company=applicant.organisation, actor=applicant)


def application_fill(
    application: Application,
    *,
    applicant: User,
    declare: tuple[str, ...] = ("daegu_company",),
    documents: tuple[str, ...] = ALWAYS_REQUIRED,
    compute: str | None = "a100-32",
    **fields: Any,
) -> Application:
    """Fill the plan, declare ``declare``, choose a GPU and upload ``documents`` (each a small PDF)."""
    option = ComputeOption.objects.get(call=application.call, code=compute) if compute else None
    values = {
        "project_title": "위 내시경 병변 검출 AI",
        "summary": "위 내시경 영상으로 병변을 검출하는 AI를 제품화합니다.",
        "compute_option": option,
        "compute_intended_use": "병변 검출 모델 학습" if option else "",
        **fields,
    }
    application = application_update(
        application=application,
        actor=applicant,
        fields=values,
        declarations={code: {"declared": True, "detail": ""} for code in declare},
    )
    for code in documents:
        application_document_attach(
            application=application,
            requirement=RequiredDocument.objects.get(call=application.call, code=code),
            upload=upload(f"{code}.pdf", sample_pdf(code)),
            actor=applicant,
        )
    return Application.objects.get(pk=application.pk)


def application_ready(*, call: Call, applicant: User, **kwargs: Any) -> Application:
    """A draft with everything submission needs (criterion ①, the four documents, an A100)."""
    return application_fill(application_draft(call=call, applicant=applicant), applicant=applicant, **kwargs)
