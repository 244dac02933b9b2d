"""The operators' console: per-call lists with filters, counts, the Excel export and returning for correction."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from openpyxl import load_workbook

from medbroker.accounts.models import Role, User
from medbroker.accounts.tests.factories import OrganisationFactory, UserFactory
from medbroker.audit.models import AuditEvent
from medbroker.calls.models import Application, Call, Consultation
from medbroker.calls.services.applications import EXPORT_HEADERS, application_submit
from medbroker.calls.tests.factories import call_2025
from medbroker.calls.tests.factories_applications import ALWAYS_REQUIRED, application_ready
from medbroker.catalog.tests.factories import DatasetFactory
from medbroker.core.timeutils import kst

NOW = kst(2025, 7, 14, 10, 0, 0)


@pytest.fixture
def call(db: None) -> Call:
    call = call_2025()
    call.receipt_prefix = "KHD2025"
    call.save(update_fields=["receipt_prefix"])
    return call


@pytest.fixture(autouse=True)
def during_intake() -> Iterator[None]:
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def applications(call: Call, applicant: User, other_applicant: User) -> dict[str, Application]:
    """Three applications: a submitted eligible one, a Seoul draft (not eligible), and a draft missing files."""
    submitted = application_ready(call=call, applicant=applicant)
    submitted.requested_datasets.create(
        dataset=DatasetFactory(title="위 내시경 영상"), amount=1000, needs_annotated=True
    )
    with time_machine.travel(kst(2025, 7, 15, 9, 30, 5), tick=False):
        submitted = application_submit(application=submitted, actor=applicant)
    seoul = application_ready(call=call, applicant=other_applicant, compute="v100-16")
    third = UserFactory(
        username="third", organisation=OrganisationFactory(name="가나다헬스"), roles=[Role.APPLICANT]
    )
    missing = application_ready(call=call, applicant=third, documents=ALWAYS_REQUIRED[:2], compute=None)
    Consultation.objects.create(
        call=call, company=applicant.organisation, created_by=applicant, purpose="협의", status="answered"
    )
    return {"submitted": submitted, "seoul": seoul, "missing": missing}


def _client(login: Callable[..., Client], client: Client, user: User) -> Client:
    return login(client, user)


def test_console_lists_calls_with_counts(
    call: Call,
    applications: dict[str, Application],
    operator: User,
    login: Callable[..., Client],
    client: Client,
) -> None:
    response = _client(login, client, operator).get(reverse("calls:console"))

    assert response.status_code == 200
    entry = next(e for e in response.context["calls"] if e.call == call)
    assert entry.total == 3
    assert [(c.status, c.count) for c in entry.counts] == [
        ("draft", 2),
        ("submitted", 1),
        ("returned", 0),
        ("resubmitted", 0),
        ("withdrawn", 0),
    ]
    assert reverse("calls:console_call", args=[call.slug]) in response.content.decode()


def _companies(response: Any) -> list[str]:
    return [row.application.company.name for row in response.context["rows"]]


@pytest.mark.parametrize(
    ("query", "companies"),
    [
        ("", ["대구메디AI", "서울헬스랩", "가나다헬스"]),
        ("?status=submitted", ["대구메디AI"]),
        ("?status=draft", ["서울헬스랩", "가나다헬스"]),
        ("?eligibility=ok", ["대구메디AI", "가나다헬스"]),
        ("?eligibility=not_ok", ["서울헬스랩"]),
        ("?missing=yes", ["가나다헬스"]),
        ("?missing=no", ["대구메디AI", "서울헬스랩"]),
        ("?status=draft&eligibility=ok&missing=yes", ["가나다헬스"]),
        ("?sort=company", ["가나다헬스", "대구메디AI", "서울헬스랩"]),
        ("?sort=-company", ["서울헬스랩", "대구메디AI", "가나다헬스"]),
        ("?status=bogus&sort=pk;drop", ["대구메디AI", "서울헬스랩", "가나다헬스"]),
    ],
)
def test_console_call_filters_and_sorts(
    call: Call,
    applications: dict[str, Application],
    operator: User,
    login: Callable[..., Client],
    client: Client,
    query: str,
    companies: list[str],
) -> None:
    response = _client(login, client, operator).get(reverse("calls:console_call", args=[call.slug]) + query)

    assert response.status_code == 200
    assert _companies(response) == companies


def test_console_call_rows_show_eligibility_missing_documents_and_consultation(
    call: Call,
    applications: dict[str, Application],
    auditor: User,
    login: Callable[..., Client],
    client: Client,
) -> None:
    response = _client(login, client, auditor).get(reverse("calls:console_call", args=[call.slug]))

    rows = {row.application.company.name: row for row in response.context["rows"]}
    assert [
        (r.eligible, [d.code for d in r.missing_documents], r.consultation_label) for r in rows.values()
    ] == [
        (True, [], "답변 완료"),
        (False, [], "협의 없음"),
        (True, ["participation_agreement", "eligibility_confirmation"], "협의 없음"),
    ]
    assert [(c.status, c.count, c.percent) for c in response.context["counts"]][:2] == [
        ("draft", 2, 67),
        ("submitted", 1, 33),
    ]


def test_console_call_pages_twenty_rows(
    call: Call, operator: User, applicant: User, login: Callable[..., Client], client: Client
) -> None:
    for n in range(21):
        Application.objects.create(
            call=call, company=OrganisationFactory(name=f"기업{n:02d}"), created_by=applicant
        )
    url = reverse("calls:console_call", args=[call.slug])
    logged_in = _client(login, client, operator)

    first = logged_in.get(url + "?sort=company")
    second = logged_in.get(url + "?sort=company&page=2")

    assert len(first.context["rows"]) == 20
    assert _companies(second) == ["기업20"]


def test_export_is_an_excel_file_with_korean_headers_and_kst_times(
    call: Call,
    applications: dict[str, Application],
    operator: User,
    login: Callable[..., Client],
    client: Client,
) -> None:
    response = _client(login, client, operator).get(reverse("calls:console_export", args=[call.slug]))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert response["Content-Disposition"] == (
        'attachment; filename="applications-khealth-daegu-2025-20250714-1000.xlsx"'
    )
    sheet = load_workbook(io.BytesIO(response.content)).active
    rows = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert rows[0] == [
        "접수번호",
        "기업명",
        "사업자등록번호",
        "기업 주소",
        "상태",
        "최초 제출 시각(KST)",
        "최근 제출 시각(KST)",
        "과제명",
        "충족 자격",
        "신청 자격(⑤)",
        "미제출 서류",
        "신청 데이터",
        "희망 GPU",
        "수요 협의",
    ]
    assert [str(header) for header in EXPORT_HEADERS] == rows[0]
    assert rows[1] == [
        "KHD2025-0001",
        "대구메디AI",
        "120-81-47521",
        "대구광역시 동구 첨단로 1",
        "제출 완료",
        kst(2025, 7, 15, 9, 30, 5).replace(tzinfo=None),
        kst(2025, 7, 15, 9, 30, 5).replace(tzinfo=None),
        "위 내시경 병변 검출 AI",
        "①",
        "충족",
        None,
        "위 내시경 영상 1,000건 (Annotation)",
        "A100 32GB",
        "답변 완료",
    ]
    assert [row[1] for row in rows[2:]] == ["서울헬스랩", "가나다헬스"]
    assert rows[2][8:11] == [None, "미충족", None]
    assert rows[3][10] == "사업참여 및 중복지원금지 협약서, 신청자격 적정성 확인서"
    assert sheet.freeze_panes == "A2"
    assert sheet["F2"].number_format == "yyyy-mm-dd hh:mm:ss"
    # Auto widths: wide enough for the longest value (Hangul counts double).
    assert sheet.column_dimensions["B"].width == 12
    assert sheet.column_dimensions["L"].width == len("위 내시경 영상 1,000건 (Annotation)") + 2 + 7
    event = AuditEvent.objects.get(action="calls.applications_exported")
    assert (event.actor, event.data["count"], event.data["filters"]) == (
        operator,
        3,
        {"status": "", "eligibility": "", "missing": ""},
    )


def test_export_follows_the_filters(
    call: Call,
    applications: dict[str, Application],
    auditor: User,
    login: Callable[..., Client],
    client: Client,
) -> None:
    response = _client(login, client, auditor).get(
        reverse("calls:console_export", args=[call.slug]) + "?eligibility=not_ok"
    )

    sheet = load_workbook(io.BytesIO(response.content)).active
    assert [row[1] for row in sheet.iter_rows(min_row=2, values_only=True)] == ["서울헬스랩"]
    assert (
        AuditEvent.objects.get(action="calls.applications_exported").data["filters"]["eligibility"]
        == "not_ok"
    )


# ---------------------------------------------------------------------------------------------------------
# One application: operators return it for correction; auditors only read
# ---------------------------------------------------------------------------------------------------------


def test_operator_sees_the_return_form(
    applications: dict[str, Application], operator: User, login: Callable[..., Client], client: Client
) -> None:
    url = reverse("calls:console_application", args=[applications["submitted"].pk])

    page = _client(login, client, operator).get(url).content.decode()

    assert reverse("calls:console_application_return", args=[applications["submitted"].pk]) in page
    assert "보완 요청 보내기" in page


def test_auditor_sees_everything_without_buttons(
    applications: dict[str, Application], auditor: User, login: Callable[..., Client], client: Client
) -> None:
    application = applications["submitted"]

    page = _client(login, client, auditor).get(reverse("calls:console_application", args=[application.pk]))

    content = page.content.decode()
    assert page.status_code == 200
    assert "KHD2025-0001" in content
    assert "<form" not in content.split('<main id="main"', 1)[1]
    assert "보완 요청 보내기" not in content


def test_auditor_cannot_return(
    applications: dict[str, Application], auditor: User, login: Callable[..., Client], client: Client
) -> None:
    application = applications["submitted"]

    response = _client(login, client, auditor).post(
        reverse("calls:console_application_return", args=[application.pk]), {"reason": "감사자가 시도"}
    )

    assert response.status_code == 403
    application.refresh_from_db()
    assert (application.status, application.status_changes.count()) == ("submitted", 2)


def test_return_needs_a_reason_on_the_page(
    applications: dict[str, Application], operator: User, login: Callable[..., Client], client: Client
) -> None:
    application = applications["submitted"]

    response = _client(login, client, operator).post(
        reverse("calls:console_application_return", args=[application.pk]), {"reason": " "}
    )

    assert response.status_code == 400
    application.refresh_from_db()
    assert application.status == "submitted"


def test_operator_returns_and_the_company_sees_the_reason(
    applications: dict[str, Application],
    operator: User,
    applicant: User,
    login: Callable[..., Client],
    client: Client,
) -> None:
    application = applications["submitted"]

    response = _client(login, client, operator).post(
        reverse("calls:console_application_return", args=[application.pk]),
        {"reason": "사업계획서 대표자 서명이 빠져 있습니다."},
    )

    assert response.status_code == 302
    application.refresh_from_db()
    assert application.status == "returned"
    company_page = login(Client(), applicant).get(reverse("calls:application_detail", args=[application.pk]))
    assert "사업계획서 대표자 서명이 빠져 있습니다." in company_page.content.decode()
    assert "보완 제출" in company_page.content.decode()


def test_console_call_without_applications(
    call: Call, operator: User, login: Callable[..., Client], client: Client
) -> None:
    response = _client(login, client, operator).get(reverse("calls:console_call", args=[call.slug]))

    assert response.status_code == 200
    assert response.context["rows"] == []
    assert "조건에 맞는 신청서가 없습니다." in response.content.decode()


def test_unknown_call_is_404(db: None, operator: User, login: Callable[..., Client], client: Client) -> None:
    assert (
        _client(login, client, operator).get(reverse("calls:console_call", args=["nope"])).status_code == 404
    )
