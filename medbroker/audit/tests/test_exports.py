"""Audit log exports: exactly the filtered events, Excel and CSV, the cap of Excel, who may take them."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
import time_machine
from django.urls import reverse
from openpyxl import load_workbook

from medbroker.audit import exports
from medbroker.audit.models import AuditEvent
from medbroker.audit.tests.scene import event_at, five_events
from medbroker.core.excel import XLSX_CONTENT_TYPE
from medbroker.core.timeutils import kst

pytestmark = pytest.mark.django_db

EXPORTED_AT = kst(2025, 7, 3, 11, 30)
HEADERS = ["순번", "시각(KST)", "행위자", "행위", "대상 종류", "대상 ID", "요약", "세부 내용(JSON)", "해시"]
ROLES = ("anonymous", "applicant", "other_applicant", "reviewer", "steward", "operator", "auditor")


@pytest.fixture
def events(operator, applicant, auditor):
    return five_events(operator=operator, applicant=applicant, auditor=auditor)


def _get(client, url_name, params=None):
    with time_machine.travel(EXPORTED_AT, tick=False):
        response = client.get(reverse(url_name), params or {})
        if hasattr(response, "streaming_content"):
            response.body = b"".join(response.streaming_content)
        else:
            response.body = response.content
    return response


def _wall_clock(at: dt.datetime) -> dt.datetime:
    # Excel has no time zones: the cell holds the KST wall-clock time, as its header says.
    return at.replace(tzinfo=None)


def _xlsx_rows(body: bytes, sheet: int = 0) -> list[list]:
    workbook = load_workbook(io.BytesIO(body))
    return [list(row) for row in workbook.worksheets[sheet].iter_rows(values_only=True)]


def _csv_rows(body: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))


# ---------------------------------------------------------------------------------------------------------
# Excel
# ---------------------------------------------------------------------------------------------------------


def test_the_workbook_holds_exactly_the_filtered_events(client, login, auditor, events):
    login(client, auditor)

    response = _get(
        client,
        "audit:event_export_xlsx",
        {"app": "access", "date_from": "2025-07-01", "date_to": "2025-07-01"},
    )

    assert response.status_code == 200
    assert response["Content-Type"] == XLSX_CONTENT_TYPE
    assert response["Content-Disposition"] == 'attachment; filename="audit-events-20250703-113000.xlsx"'
    revoked, booked = events[1], events[2]
    assert _xlsx_rows(response.body) == [
        HEADERS,
        [
            2,
            _wall_clock(kst(2025, 7, 1, 0, 0, 0)),
            revoked.actor_label,
            "access.grant_revoked",
            "access.accessgrant",
            "7",
            "grant 7 revoked: 보안 서약 위반",
            '{"reason": "보안 서약 위반"}',
            revoked.entry_hash,
        ],
        [
            3,
            _wall_clock(kst(2025, 7, 1, 14, 0, 0)),
            booked.actor_label,
            "access.booking_created",
            "access.closedroombooking",
            "11",
            "학습실 A 좌석 2 예약",
            "{}",
            booked.entry_hash,
        ],
    ]
    assert revoked.actor_label.startswith("operator (")


def test_the_workbook_says_what_was_exported(client, login, auditor, events):
    login(client, auditor)

    response = _get(client, "audit:event_export_xlsx", {"actor": "operator"})

    assert _xlsx_rows(response.body, sheet=1) == [
        ["내보낸 시각(KST)", "2025-07-03 11:30:00"],
        ["내보낸 사람", "auditor"],
        ["기준 순번", 5],
        ["조건: actor", "operator"],
        ["조건에 맞는 기록", 2],
        ["이 파일의 기록", 2],
    ]


def test_the_export_is_recorded_but_not_in_the_file(client, login, auditor, events):
    login(client, auditor)

    response = _get(client, "audit:event_export_xlsx", {"app": "access"})

    record = AuditEvent.objects.get(action="audit.events_exported")
    assert [row[0] for row in _xlsx_rows(response.body)[1:]] == [2, 3, 4]
    assert (record.sequence, record.actor, record.object_type, record.occurred_at) == (
        6,
        auditor,
        "audit.auditevent",
        EXPORTED_AT,
    )
    assert record.summary == "exported 3 of 3 audit events as xlsx"
    assert record.data == {
        "format": "xlsx",
        "filters": {"app": "access"},
        "up_to_sequence": 5,
        "count": 3,
        "total": 3,
    }


def test_a_workbook_over_the_cap_holds_the_oldest_events_and_says_how_many_are_missing(
    client, login, operator, events, monkeypatch
):
    monkeypatch.setattr(exports, "XLSX_MAX_ROWS", 2)
    login(client, operator)

    response = _get(client, "audit:event_export_xlsx", {"app": "access"})

    assert [row[0] for row in _xlsx_rows(response.body)] == ["순번", 2, 3]
    assert (response["X-Export-Rows"], response["X-Export-Total"]) == ("2", "3")
    about = dict(_xlsx_rows(response.body, sheet=1))
    assert (about["조건에 맞는 기록"], about["이 파일의 기록"]) == (3, 2)
    assert about["안내"] == (
        "Excel 파일에는 최대 2건까지 담습니다. 순번이 앞선 2건만 들어 있고 1건은 빠졌습니다. "
        "전체는 CSV로 내려받거나 조건을 좁혀 주세요."
    )
    assert AuditEvent.objects.get(action="audit.events_exported").data["count"] == 2


def test_text_that_looks_like_a_formula_stays_text(client, login, auditor, applicant):
    event_at(
        kst(2025, 7, 1, 9), action="calls.application_saved", actor=applicant, summary='=HYPERLINK("x","y")'
    )
    event_at(kst(2025, 7, 1, 10), action="calls.application_saved", actor=applicant, summary="제어\x07문자")
    login(client, auditor)

    workbook = load_workbook(io.BytesIO(_get(client, "audit:event_export_xlsx").body))
    csv_rows = _csv_rows(_get(client, "audit:event_export_csv", {"action": "calls.application_saved"}).body)

    formula_cell = workbook.worksheets[0]["G2"]
    assert (formula_cell.value, formula_cell.data_type) == ('=HYPERLINK("x","y")', "s")
    assert workbook.worksheets[0]["G3"].value == "제어문자"
    assert csv_rows[1][6] == '\'=HYPERLINK("x","y")'


def test_an_empty_selection_exports_only_the_header(client, login, auditor, events):
    login(client, auditor)

    response = _get(client, "audit:event_export_xlsx", {"actor": "nobody"})

    assert _xlsx_rows(response.body) == [HEADERS]


# ---------------------------------------------------------------------------------------------------------
# CSV
# ---------------------------------------------------------------------------------------------------------


def test_the_csv_streams_exactly_the_filtered_events_as_utf8_with_a_bom(client, login, operator, events):
    login(client, operator)

    response = _get(client, "audit:event_export_csv", {"object_type": "access.accessgrant"})

    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="audit-events-20250703-113000.csv"'
    assert response.body.startswith(b"\xef\xbb\xbf")
    revoked, expired = events[1], events[3]
    assert _csv_rows(response.body) == [
        HEADERS,
        [
            "2",
            "2025-07-01 00:00:00",
            revoked.actor_label,
            "access.grant_revoked",
            "access.accessgrant",
            "7",
            "grant 7 revoked: 보안 서약 위반",
            '{"reason": "보안 서약 위반"}',
            revoked.entry_hash,
        ],
        [
            "4",
            "2025-07-02 00:00:00",
            "system",
            "access.grant_expired",
            "access.accessgrant",
            "8",
            "grant 8 expired",
            "{}",
            expired.entry_hash,
        ],
    ]
    record = AuditEvent.objects.get(action="audit.events_exported")
    assert record.data == {
        "format": "csv",
        "filters": {"object_type": "access.accessgrant"},
        "up_to_sequence": 5,
        "count": 2,
        "total": 2,
    }


def test_the_csv_has_no_row_limit(client, login, auditor, events, monkeypatch):
    monkeypatch.setattr(exports, "XLSX_MAX_ROWS", 1)
    monkeypatch.setattr(exports, "CSV_CHUNK_ROWS", 2)
    login(client, auditor)

    rows = _csv_rows(_get(client, "audit:event_export_csv").body)

    assert [row[0] for row in rows[1:]] == ["1", "2", "3", "4", "5"]


@pytest.mark.parametrize("url_name", ["audit:event_export_xlsx", "audit:event_export_csv"])
@pytest.mark.parametrize(
    "params",
    [{"date_from": "2025-07-02", "date_to": "2025-07-01"}, {"date_from": "어제"}, {"app": "nowhere"}],
)
def test_an_export_with_a_bad_filter_is_refused_rather_than_widened(
    url_name, params, client, login, auditor, events
):
    login(client, auditor)

    response = _get(client, url_name, params)

    assert response.status_code == 400
    assert "text/html" in response["Content-Type"]
    assert AuditEvent.objects.count() == 5


# ---------------------------------------------------------------------------------------------------------
# Permission matrix of the exports
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("url_name", ["audit:event_export_xlsx", "audit:event_export_csv"])
@pytest.mark.parametrize(
    ("role", "status"),
    [
        ("anonymous", 302),
        ("applicant", 403),
        ("other_applicant", 403),
        ("reviewer", 403),
        ("steward", 403),
        ("operator", 200),
        ("auditor", 200),
    ],
)
def test_only_operators_and_auditors_export(url_name, role, status, client, login, users_by_role, events):
    login(client, users_by_role[role])

    response = _get(client, url_name)

    assert response.status_code == status
    if status == 302:
        assert response["Location"] == f"/accounts/login/?next={reverse(url_name)}"
    exported = AuditEvent.objects.filter(action="audit.events_exported").count()
    assert exported == (1 if status == 200 else 0)
    if status == 200:
        rows = _xlsx_rows(response.body) if url_name.endswith("xlsx") else _csv_rows(response.body)
        assert [str(row[0]) for row in rows[1:]] == ["1", "2", "3", "4", "5"]


@pytest.mark.parametrize("url_name", ["audit:event_export_xlsx", "audit:event_export_csv"])
def test_an_export_is_a_get(url_name, client, login, auditor, events):
    login(client, auditor)

    response = client.post(reverse(url_name))

    assert response.status_code == 405
    assert AuditEvent.objects.count() == 5
