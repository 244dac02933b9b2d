"""A selected company after step ③, in Chromium: it signs its agreement with a second-factor code, starts an
online session on its low-sensitivity data, books a seat in the closed learning room and submits its
results report; the operator reads the programme dashboard and the room's day.

Starts from the demo (the practice call's four selected companies). Each step saves a screenshot under
test-artifacts/browser/support_flow-*.png.
"""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from playwright.sync_api import Page, expect

from medbroker.access.models import AccessGrant, ClosedRoomBooking, OnlineSession
from medbroker.agreements.models import Agreement
from medbroker.outcomes.models import ResultsReport
from tests.browser.conftest import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "demo-company-2025"
SIGNER = "company4322"  # 헬스로직: its agreement waits for the company's signature
USER = "company2343"  # 메디비전랩: agreement in force, an online grant, a draft report
OPERATOR_PASSWORD = "demo-operator-2025"


def _shot(page: Page, step: str) -> None:
    screenshot(page, f"support_flow-{step}")


def _url(page: Page, path: str) -> str:
    return f"{page.base_url}{path}"  # type: ignore[attr-defined]


def _sign_in(page: Page, username: str, password: str, code: str) -> None:
    page.context.clear_cookies()
    page.goto(_url(page, "/accounts/login/"))
    page.get_by_label("아이디").fill(username)
    page.get_by_label("비밀번호").fill(password)
    page.get_by_role("button", name="로그인").click()
    expect(page.get_by_role("heading", name="2단계 인증", level=1)).to_be_visible()
    page.get_by_label("인증 코드").fill(code)
    page.get_by_role("button", name="확인", exact=True).click()


def _company_signs(page: Page) -> None:
    _sign_in(page, SIGNER, PASSWORD, "21111111")
    page.goto(_url(page, "/outcomes/"))
    expect(page.get_by_role("heading", name="지원 현황", level=1)).to_be_visible()
    _shot(page, "01-overview-to-sign")
    page.get_by_role("link", name="협약 보기").first.click()
    page.get_by_label("인증 코드").fill("22222222")
    _shot(page, "02-sign-with-otp")
    page.get_by_role("button", name="협약 내용에 동의하고 서명").click()
    expect(page.get_by_text("협약서 1차에 서명했습니다.")).to_be_visible()
    _shot(page, "03-signed")


def _company_uses(page: Page) -> None:
    _sign_in(page, USER, PASSWORD, "23333333")
    page.goto(_url(page, "/access/grants/"))
    row = page.locator("tbody tr").filter(has_text="흉부 X선 영상")
    row.get_by_label("인증 코드(OTP)").fill("24444444")
    row.get_by_role("button", name="온라인 이용 시작").click()
    expect(page.get_by_text("온라인 이용 세션을 시작했습니다.")).to_be_visible()
    _shot(page, "04-online-session")

    page.goto(_url(page, "/access/rooms/bookings/"))
    page.get_by_role("link", name="다음 주 ›").click()
    page.locator("#room-week form button[type=submit]").first.click()
    expect(page.get_by_text("예약이 확정되었습니다.")).to_be_visible()
    _shot(page, "05-booked")

    page.goto(_url(page, "/outcomes/"))
    page.get_by_role("link", name="보고서 보기").click()
    page.get_by_label("AI 모델 성능").fill(
        "외부 검증 1,000건에서 민감도 0.91, 특이도 0.88 (95% CI 포함)을 얻었습니다."
    )
    page.get_by_label("성과 요약").fill("식약처 인허가용 임상 성능 자료를 마련했고, 논문 1편을 투고했습니다.")
    page.get_by_role("button", name="저장").click()
    expect(page.get_by_text("결과보고서를 저장했습니다.")).to_be_visible()
    page.get_by_role("button", name="제출", exact=True).click()
    expect(page.get_by_text("결과보고서를 제출했습니다. 운영자가 검토합니다.")).to_be_visible()
    _shot(page, "06-report-submitted")


def _operator_reads(page: Page) -> None:
    _sign_in(page, "operator", OPERATOR_PASSWORD, "11111111")
    page.goto(_url(page, "/outcomes/dashboard/?call=practice-2025"))
    expect(page.get_by_role("heading", name="지원사업 성과 현황", level=1)).to_be_visible()
    _shot(page, "07-dashboard")
    page.goto(_url(page, "/access/rooms/day/"))
    _shot(page, "08-room-day")


def test_a_selected_company_signs_uses_its_data_books_and_reports(
    company_page: Page, operator_page: Page
) -> None:
    # Given the demo: four companies selected on the practice call
    call_command("demo", stdout=io.StringIO())
    bookings_before = ClosedRoomBooking.objects.filter(agreement__company__members__username=USER).count()

    # When 헬스로직 signs, 메디비전랩 works with its data and reports, and the operator looks on
    _company_signs(company_page)
    _company_uses(company_page)
    _operator_reads(operator_page)

    # Then the agreement is in force, the session, the booking and the report are recorded
    signed = Agreement.objects.get(company__members__username=SIGNER)
    assert signed.status == Agreement.Status.ACTIVE
    assert list(signed.versions.get(number=1).signatures.values_list("side", "method")) == [
        ("lab", "upload"),
        ("company", "otp"),
    ]
    online = AccessGrant.objects.get(agreement__company__members__username=USER, mode=AccessGrant.Mode.ONLINE)
    assert OnlineSession.objects.filter(grant=online, ended_at=None).count() == 1
    assert ClosedRoomBooking.objects.filter(agreement__company__members__username=USER).count() == (
        bookings_before + 1
    )
    report = ResultsReport.objects.get(agreement__company__members__username=USER)
    assert report.status == ResultsReport.Status.SUBMITTED
