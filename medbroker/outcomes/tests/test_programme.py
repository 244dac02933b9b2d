"""The programme dashboard's figures for a built scene, exactly, and the Excel and PDF exports of them."""

from __future__ import annotations

import datetime as dt
import io
import re
import zlib
from collections.abc import Iterator
from decimal import Decimal

import pytest
import time_machine
from openpyxl import load_workbook

from medbroker.accounts.models import Organisation, User
from medbroker.audit.models import AuditEvent
from medbroker.core.timeutils import kst
from medbroker.outcomes.selectors import programme_summary
from medbroker.outcomes.selectors.programme import dashboard_call
from medbroker.outcomes.services.exports import dashboard_context, dashboard_pdf, dashboard_workbook
from medbroker.outcomes.tests.scene import ProgrammeScene, programme_scene

pytestmark = pytest.mark.django_db
D = Decimal
NOW = kst(2025, 12, 15, 12, 0, 0)


@pytest.fixture(autouse=True)
def _frozen_clock() -> Iterator[None]:
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def scene(
    company: Organisation, other_company: Organisation, applicant: User, other_applicant: User
) -> ProgrammeScene:
    return programme_scene(
        company=company, other_company=other_company, applicant=applicant, other_applicant=other_applicant
    )


def test_programme_summary_counts_the_scene_exactly(scene: ProgrammeScene) -> None:
    summary = programme_summary(scene.first.call)

    assert summary.as_of == dt.date(2025, 12, 15)
    assert summary.agreements_by_status == {
        "awaiting_signatures": 1,
        "active": 0,
        "ended": 2,
        "terminated": 0,
    }
    assert summary.companies_supported == 2
    # 위 내시경 영상 in both agreements counts once; its cases count in each (1000 + 500), plus 1000 of X-ray.
    assert (summary.datasets_used, summary.cases_used) == (2, 2500)
    assert summary.grants_by_status == {"active": 2, "revoked": 1, "expired": 0, "closed": 0}
    assert summary.grants_by_mode == {"closed_room": 2, "online": 1}
    # Still "active" in the table until the reconciler runs, yet past their window: none usable.
    assert summary.grants_usable_now == 0
    assert summary.online_sessions == 2
    assert summary.gpu_hours_total == D("39.75")
    assert summary.allocations_by_status == {"offered": 0, "active": 1, "released": 1}
    assert summary.gpu_waiting == 1
    # 2025-09-01 → 2025-11-28 is 89 days, 65 of them weekdays the room is open; 8 seats × 8 slot hours a day.
    assert (summary.room_since, summary.room_until) == (dt.date(2025, 9, 1), dt.date(2025, 11, 28))
    assert summary.room_capacity_hours == D("4160.00")
    assert (summary.room_booked_hours, summary.room_attended_hours) == (D("13.00"), D("8.00"))
    assert (summary.room_booked_percent, summary.room_attended_percent) == (D("0.3"), D("0.2"))
    assert summary.reports_by_status == {
        "draft": 1,
        "submitted": 1,
        "returned": 0,
        "accepted": 0,
        "overdue": 1,
        "late": 1,
        "not_opened": 0,
    }
    assert summary.test_requests_by_status == {
        "requested": 1,
        "accepted": 0,
        "completed": 1,
        "rejected": 1,
        "withdrawn": 0,
    }
    rows = [
        (
            row.agreement.number,
            row.datasets,
            row.cases,
            row.gpu,
            row.gpu_hours,
            row.room_booked_hours,
            row.room_attended_hours,
            row.online_sessions,
            row.report_status,
            row.report_late,
            row.report_overdue,
        )
        for row in summary.companies
    ]
    assert rows == [
        ("AWAIT-AG", [], 0, "", D("0.00"), D("0.00"), D("0.00"), 0, "", False, False),
        (
            "KHD2025-0001-AG",
            ["위 내시경 영상", "흉부 X-ray 공개 가능 영상"],
            2000,
            "A100 32GB · a100-01/gpu0",
            D("34.50"),
            D("11.00"),
            D("3.00"),
            2,
            "submitted",
            True,
            False,
        ),
        (
            "KHD2025-0002-AG",
            ["위 내시경 영상"],
            500,
            "A100 32GB · a100-01/gpu1",
            D("5.25"),
            D("5.00"),
            D("5.00"),
            0,
            "draft",
            False,
            True,
        ),
    ]


def test_room_window_runs_to_today_during_the_support_period(scene: ProgrammeScene) -> None:
    summary = programme_summary(scene.first.call, at=kst(2025, 9, 11, 12, 0, 0))

    # 2025-09-01 → 2025-09-11 is 11 days, 9 of them weekdays; bookings count by the day of their slot, today
    # included.
    assert (summary.room_since, summary.room_until) == (dt.date(2025, 9, 1), dt.date(2025, 9, 11))
    assert summary.room_capacity_hours == D("576.00")
    assert (summary.room_booked_hours, summary.room_attended_hours) == (D("8.00"), D("3.00"))
    # The agreements are recorded as ended: no grant works, whatever its own window says.
    assert summary.grants_usable_now == 0
    assert summary.reports_by_status["overdue"] == 0


def test_dashboard_defaults_to_the_latest_call_with_agreements(scene: ProgrammeScene) -> None:
    assert dashboard_call(None) == scene.first.call
    assert dashboard_call("khealth-daegu-2025") == scene.first.call
    assert dashboard_call("no-such-call") is None


def test_workbook_reads_back_with_exact_cells(scene: ProgrammeScene, auditor: User) -> None:
    summary = programme_summary(scene.first.call)

    workbook = load_workbook(io.BytesIO(dashboard_workbook(summary, actor=auditor)))

    assert workbook.sheetnames == ["요약", "기업별", "결과보고서"]
    overview = dict(workbook["요약"].iter_rows(min_row=2, values_only=True))
    assert overview["공모"] == scene.first.call.title
    assert overview["기준일(KST)"] == "2025-12-15"
    assert overview["지원 기업 수"] == 2
    assert overview["협약 기간 종료"] == 2
    assert overview["활용 데이터셋 수"] == 2
    assert overview["활용 데이터 건수"] == 2500
    assert overview["데이터 이용 권한 이용 중지"] == 1
    assert overview["데이터 이용 방식 온라인(SSL-VPN·VDI·OTP)"] == 1
    assert overview["GPU 사용 시간 합계"] == 39.75
    assert overview["GPU 대기"] == 1
    assert overview["학습실 집계 기간"] == "2025-09-01 ~ 2025-11-28"
    assert overview["학습실 수용 시간"] == 4160
    assert overview["학습실 예약 시간"] == 13
    assert overview["학습실 예약률(%)"] == 0.3
    assert overview["결과보고서 기한 경과(미제출)"] == 1
    assert overview["결과보고서 기한 후 제출"] == 1
    assert overview["성능시험 요청 시험 완료"] == 1

    companies = list(workbook["기업별"].iter_rows(values_only=True))
    assert companies[0] == (
        "협약번호",
        "기업명",
        "협약 상태",
        "협약 시작일",
        "협약 종료일",
        "데이터셋",
        "데이터 건수",
        "GPU",
        "GPU 사용 시간",
        "학습실 예약 시간",
        "학습실 이용 시간",
        "온라인 세션",
        "결과보고서",
        "제출 기한",
        "기한 후 제출",
    )
    assert companies[2] == (
        "KHD2025-0001-AG",
        "대구메디AI",
        "기간 종료",
        _excel(2025, 9, 1),
        _excel(2025, 11, 28),
        "위 내시경 영상\n흉부 X-ray 공개 가능 영상",
        2000,
        "A100 32GB · a100-01/gpu0",
        34.5,
        11,
        3,
        2,
        "제출 완료",
        _excel(2025, 12, 12),
        "예",
    )
    assert companies[3][:3] == ("KHD2025-0002-AG", "서울헬스랩", "기간 종료")
    assert companies[3][12:] == ("작성 중", _excel(2025, 12, 12), None)

    reports = list(workbook["결과보고서"].iter_rows(values_only=True))
    assert reports[1:] == [
        (
            "KHD2025-0001-AG",
            "대구메디AI",
            "제출 완료",
            _excel(2025, 12, 12),
            _excel(2025, 12, 13, 0, 1, 0),
            "예",
            None,
            0,
            0,
            None,
            None,
        ),
        (
            "KHD2025-0002-AG",
            "서울헬스랩",
            "작성 중",
            _excel(2025, 12, 12),
            None,
            None,
            "예",
            0,
            0,
            None,
            None,
        ),
    ]
    event = AuditEvent.objects.get(action="outcomes.dashboard_exported")
    assert (event.actor, event.object_type, event.data) == (
        auditor,
        "calls.call",
        {"call": "khealth-daegu-2025", "format": "xlsx", "agreements": 3},
    )


def _excel(*parts: int) -> dt.datetime:
    # Excel has no time zones: cells hold the KST wall-clock time, naive.
    return kst(*parts).replace(tzinfo=None)


def _font_names(pdf: bytes) -> set[bytes]:
    # Font dictionaries may sit in compressed object streams: look inside every stream too.
    chunks = [pdf]
    for stream in re.findall(rb"stream\r?\n(.*?)\r?\nendstream", pdf, flags=re.DOTALL):
        try:
            chunks.append(zlib.decompress(stream))
        except zlib.error:
            continue
    return {name for chunk in chunks for name in re.findall(rb"/BaseFont\s*/([A-Za-z0-9+\-]+)", chunk)}


def test_dashboard_pdf_embeds_the_platform_font_and_server_drawn_charts(
    scene: ProgrammeScene, operator: User
) -> None:
    summary = programme_summary(scene.first.call)
    context = dashboard_context(summary)

    content = dashboard_pdf(summary, actor=operator)

    assert content.startswith(b"%PDF-")
    assert any(b"Pretendard-GOV" in name for name in _font_names(content))
    # The charts are SVG drawn here (no script runs in the PDF), with the same figures as the page.
    assert "<svg" in context["charts"]["gpu"]
    assert "대구메디AI" in context["charts"]["gpu"] and "34.50시간" in context["charts"]["gpu"]
    assert "4,160.00시간" in context["charts"]["room"]
    assert "<script" not in context["charts"]["gpu"]
    event = AuditEvent.objects.get(action="outcomes.dashboard_exported")
    assert (event.actor, event.data["format"]) == (operator, "pdf")
