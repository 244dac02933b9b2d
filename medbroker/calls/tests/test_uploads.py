"""Uploaded documents: type by content, extension family, size, safe names, hashes, replacement."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import time_machine
from django.core.files.storage import default_storage
from django.test import Client
from django.urls import reverse

from medbroker.accounts.models import User
from medbroker.audit.models import AuditEvent
from medbroker.calls.models import Application, ApplicationDocument, Call, RequiredDocument
from medbroker.calls.services.applications import application_document_attach
from medbroker.calls.services.documents import document_check, document_display_name
from medbroker.calls.tests.factories import call_2025
from medbroker.calls.tests.factories_applications import (
    application_draft,
    sample_docm_renamed_docx,
    sample_docx,
    sample_elf,
    sample_exe,
    sample_hwp,
    sample_hwpx,
    sample_ole2,
    sample_pdf,
    sample_png,
    sample_xlsx,
    sample_zip_without_parts,
    upload,
)
from medbroker.core.errors import DomainError
from medbroker.core.timeutils import kst


@pytest.fixture
def call(db: None) -> Call:
    return call_2025()


@pytest.fixture(autouse=True)
def during_intake() -> Iterator[None]:
    with time_machine.travel(kst(2025, 7, 14, 10, 0, 0), tick=False):
        yield


@pytest.fixture
def application(call: Call, applicant: User) -> Application:
    return application_draft(call=call, applicant=applicant)


def _attach(
    application: Application, applicant: User, name: str, content: bytes, code: str = "application_plan"
) -> Any:
    return application_document_attach(
        application=application,
        requirement=RequiredDocument.objects.get(call=application.call, code=code),
        upload=upload(name, content),
        actor=applicant,
    )


@pytest.mark.parametrize(
    ("name", "builder", "detected"),
    [
        ("계획서.pdf", sample_pdf, "pdf"),
        ("계획서.hwp", sample_hwp, "hwp"),
        ("계획서.hwpx", sample_hwpx, "hwpx"),
        ("계획서.docx", sample_docx, "docx"),
        ("매출.xlsx", sample_xlsx, "xlsx"),
        ("UPPER.PDF", sample_pdf, "pdf"),
    ],
)
def test_accepted_types_are_stored_under_a_generated_name(
    application: Application, applicant: User, name: str, builder: Callable[[], bytes], detected: str
) -> None:
    content = builder()

    document = _attach(application, applicant, name, content)

    assert (document.original_name, document.detected_type, document.size, document.sha256) == (
        name,
        detected,
        len(content),
        hashlib.sha256(content).hexdigest(),
    )
    assert re.fullmatch(rf"applications/2025/07/[0-9a-f]{{32}}\.{detected}", document.file.name)
    with default_storage.open(document.file.name, "rb") as stored:
        assert stored.read() == content
    event = AuditEvent.objects.filter(action="calls.application_document_attached").get()
    assert event.data["sha256"] == document.sha256


REFUSALS = [
    (
        "사진.png",
        sample_png,
        "upload_extension",
        "'사진.png' 파일은 올릴 수 없는 형식입니다. PDF, HWP, HWPX, DOCX, XLSX 파일만 올릴 수 있습니다.",
    ),
    (
        "사진.pdf",
        sample_png,
        "upload_content",
        "'사진.pdf' 파일의 내용이 PDF 형식이 아닙니다. 파일이 손상되었거나 다른 형식의 파일에 확장자만 바꾼 것일 수 "
        "있습니다. PDF, HWP, HWPX, DOCX, XLSX 파일만 올릴 수 있습니다.",
    ),
    ("program.exe", sample_exe, "upload_extension", None),
    ("program.pdf", sample_exe, "upload_content", None),
    ("binary.hwp", sample_elf, "upload_content", None),
    (
        "계획서.docx",
        sample_pdf,
        "upload_type_mismatch",
        "'계획서.docx' 파일은 확장자가 DOCX이지만 내용은 PDF 파일입니다. 내용에 맞는 확장자(.pdf)로 저장해 다시 "
        "올려 주세요.",
    ),
    ("계획서.hwp", sample_hwpx, "upload_type_mismatch", None),
    ("매출.xlsx", sample_docx, "upload_type_mismatch", None),
    ("압축.docx", sample_zip_without_parts, "upload_content", None),
    ("매크로.docx", sample_docm_renamed_docx, "upload_content", None),
    ("스크립트.pdf", lambda: b"%PDF-1.4\n<html><script>alert(1)</script></html>\n", "upload_content", None),
    ("압축.hwpx", sample_zip_without_parts, "upload_content", None),
    ("워드97.hwp", lambda: sample_ole2("WordDocument", b"\xec\xa5"), "upload_content", None),
    ("가짜.hwp", lambda: sample_ole2("FileHeader", b"Not an HWP header"), "upload_content", None),
    ("빈파일.pdf", lambda: b"", "upload_empty", "'빈파일.pdf' 파일이 비어 있습니다."),
]


@pytest.mark.parametrize(("name", "builder", "code", "message"), REFUSALS)
def test_refused_files_leave_nothing_behind(
    application: Application,
    applicant: User,
    name: str,
    builder: Callable[[], bytes],
    code: str,
    message: str | None,
) -> None:
    with pytest.raises(DomainError) as refused:
        _attach(application, applicant, name, builder())

    assert refused.value.code == "upload_refused"
    assert refused.value.details["documents"]["application_plan"] == str(refused.value.message)
    if message is not None:
        assert str(refused.value.message) == message
    assert f"'{name}'" in str(refused.value.message)
    # The code of the underlying check is the one a single-file check reports.
    with pytest.raises(DomainError) as checked:
        document_check(upload(name, builder()))
    assert checked.value.code == code
    assert ApplicationDocument.objects.count() == 0
    assert not default_storage.exists("applications")


def test_oversize_is_refused_with_the_limit(application: Application, applicant: User, settings: Any) -> None:
    settings.MEDBROKER_UPLOAD_MAX_BYTES = 1024
    content = sample_pdf().ljust(1536, b" ")

    with pytest.raises(DomainError) as refused:
        _attach(application, applicant, "큰파일.pdf", content)

    assert (
        str(refused.value.message)
        == "'큰파일.pdf' 파일이 너무 큽니다(1.5 KB). 파일 하나는 1 KB까지 올릴 수 있습니다."
    )
    assert ApplicationDocument.objects.count() == 0


def test_a_file_exactly_at_the_limit_is_accepted(
    application: Application, applicant: User, settings: Any
) -> None:
    content = sample_pdf().ljust(2048, b" ")
    settings.MEDBROKER_UPLOAD_MAX_BYTES = 2048

    assert _attach(application, applicant, "딱맞음.pdf", content).size == 2048


@pytest.mark.parametrize(
    ("given", "shown"),
    [
        ("../../etc/passwd.pdf", "passwd.pdf"),
        ("..\\..\\windows\\win.ini.pdf", "win.ini.pdf"),
        ("a\x00b.pdf", "ab.pdf"),
        ("줄\n바꿈\r\t.pdf", "줄바꿈.pdf"),
        ("\u202eevil\u202c.pdf", "evil.pdf"),
        (".hidden.pdf", "hidden.pdf"),
        ("/", "이름 없는 파일"),
        ("가" * 300 + ".pdf", "가" * 116 + ".pdf"),
    ],
)
def test_display_names_are_sanitised(given: str, shown: str) -> None:
    assert document_display_name(given) == shown


def test_hostile_names_never_reach_the_file_system(application: Application, applicant: User) -> None:
    document = _attach(application, applicant, "../../etc/passwd.pdf", sample_pdf())

    assert document.original_name == "passwd.pdf"
    assert "passwd" not in document.file.name
    assert document.file.name.startswith("applications/2025/07/")


def test_a_300_character_name_is_kept_short(application: Application, applicant: User) -> None:
    document = _attach(application, applicant, "a" * 300 + ".pdf", sample_pdf())

    assert (len(document.original_name), document.original_name[-4:]) == (120, ".pdf")


def test_replacing_keeps_only_the_new_file(
    application: Application, applicant: User, django_capture_on_commit_callbacks: Any
) -> None:
    first = _attach(application, applicant, "v1.pdf", sample_pdf("v1"))
    old_name = first.file.name

    with django_capture_on_commit_callbacks(execute=True):
        second = _attach(application, applicant, "v2.pdf", sample_pdf("v2"))

    assert second.pk == first.pk
    assert list(ApplicationDocument.objects.values_list("original_name", "sha256")) == [
        ("v2.pdf", hashlib.sha256(sample_pdf("v2")).hexdigest())
    ]
    assert not default_storage.exists(old_name)
    assert default_storage.exists(second.file.name)


def test_a_refused_replacement_keeps_the_old_file(application: Application, applicant: User) -> None:
    first = _attach(application, applicant, "v1.pdf", sample_pdf("v1"))

    with pytest.raises(DomainError):
        _attach(application, applicant, "v2.pdf", sample_png())

    document = ApplicationDocument.objects.get()
    assert (document.original_name, document.file.name) == ("v1.pdf", first.file.name)
    assert default_storage.exists(first.file.name)


# ---------------------------------------------------------------------------------------------------------
# Through the edit page: a wrong file is named, and everything typed stays on the page
# ---------------------------------------------------------------------------------------------------------


def _edit_data(**extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"plan-project_title": "내가 입력한 과제명", "plan-summary": "내가 입력한 개요"}
    for prefix in ("datasets", "projects", "certifications", "ip"):
        data.update({f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0"})
    data.update(extra)
    return data


def test_a_wrong_file_on_the_edit_page_keeps_the_rest_of_the_form(
    application: Application, applicant: User, login: Callable[..., Client], client: Client
) -> None:
    login(client, applicant)

    response = client.post(
        reverse("calls:application_edit", args=[application.pk]),
        _edit_data(
            **{
                "documents-document_application_plan": upload("계획서.docx", sample_pdf()),
                "documents-document_privacy_consent": upload("동의서.pdf", sample_pdf()),
            }
        ),
    )

    page = response.content.decode()
    assert response.status_code == 400
    assert "&#x27;계획서.docx&#x27; 파일은 확장자가 DOCX이지만 내용은 PDF 파일입니다." in page
    assert 'value="내가 입력한 과제명"' in page
    assert "내가 입력한 개요</textarea>" in page
    assert "올릴 파일은 다시 선택해 주세요" in page
    # Nothing was saved: neither the fields nor the good file sent with the bad one.
    application.refresh_from_db()
    assert application.project_title == ""
    assert ApplicationDocument.objects.count() == 0


def test_good_files_on_the_edit_page_are_saved_with_the_fields(
    application: Application, applicant: User, login: Callable[..., Client], client: Client
) -> None:
    login(client, applicant)

    response = client.post(
        reverse("calls:application_edit", args=[application.pk]),
        _edit_data(**{"documents-document_application_plan": upload("계획서.hwp", sample_hwp())}),
    )

    assert response.status_code == 302
    application.refresh_from_db()
    assert application.project_title == "내가 입력한 과제명"
    assert list(ApplicationDocument.objects.values_list("requirement__code", "detected_type")) == [
        ("application_plan", "hwp")
    ]


def test_the_upload_page_names_the_wrong_file(
    application: Application, applicant: User, login: Callable[..., Client], client: Client
) -> None:
    login(client, applicant)

    response = client.post(
        reverse("calls:application_document_upload", args=[application.pk, "privacy_consent"]),
        {"file": upload("setup.exe", sample_exe())},
    )

    assert response.status_code == 400
    assert "&#x27;setup.exe&#x27; 파일은 올릴 수 없는 형식입니다." in response.content.decode()
    assert ApplicationDocument.objects.count() == 0
