"""A new company's whole path through the platform, in Chromium, with the operator answering in a second window.

Sign-up → catalogue search → data-demand consultation → operator's answer (after the second factor) →
application with a refused upload on the way → submission and receipt → the operator's console. Each step
saves a screenshot under test-artifacts/browser/company_flow-*.png.
"""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from django.core.management import call_command
from django.utils.text import Truncator
from playwright.sync_api import Locator, Page, expect

from medbroker.accounts.models import Organisation, Role
from medbroker.calls.demo import PRACTICE_SLUG, PRACTICE_TITLE
from medbroker.calls.models import Application, Consultation, ConsultationItem
from medbroker.calls.tests.factories_applications import sample_pdf, sample_png
from medbroker.catalog.models import Dataset
from medbroker.core import timeutils
from tests.browser.conftest import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

COMPANY_NAME = "달구벌비전AI 주식회사"
BUSINESS_REGISTRATION_NUMBER = "220-81-62517"  # check digit 7: valid
COMPANY_ADDRESS = "대구광역시 북구 호암로 51"
USERNAME = "dalgubeol"
PASSWORD = "Endo-Scope!2025x"

DATASET_TITLE = "위 내시경 영상"
REQUESTED_AMOUNT = "2000"
PURPOSE = "위 내시경 영상으로 조기위암 병변을 찾는 AI를 학습시키려 합니다. Annotation 데이터가 필요합니다."
OPERATOR_NOTE = "요청하신 2,000건 모두 Annotation 데이터로 제공 가능합니다."

PROJECT_TITLE = "내시경 조기위암 검출 AI 제품화"
SUMMARY = "위 내시경 영상에서 조기위암 의심 병변을 실시간으로 표시하는 AI 소프트웨어를 인허가까지 개발합니다."
GPU_LABEL = "V100 16GB (CPU 128코어 · 메모리 120GB · 1TB(HDD))"
GPU_USE = "위 내시경 2,000건으로 검출 모델을 학습합니다. 약 3개월 사용 예정입니다."

# The four documents every application carries, then the pledge that criterion ④ asks for (announcement §5).
DOCUMENTS = (
    ("1. 사업신청서 및 계획서", "사업신청서.pdf"),
    ("2. 개인정보 수집·이용·제공 동의서", "개인정보동의서.pdf"),
    ("3. 사업참여 및 중복지원금지 협약서", "협약서.pdf"),
    ("4. 신청자격 적정성 확인서", "자격확인서.pdf"),
    ("6. 의료데이터 중개 플랫폼 사용 확약서", "플랫폼확약서.pdf"),
)
PNG_AS_PDF = "사업신청서-스캔.pdf"
PNG_AS_PDF_ERROR = (
    f"'{PNG_AS_PDF}' 파일의 내용이 PDF 형식이 아닙니다. 파일이 손상되었거나 다른 형식의 파일에 확장자만 "
    "바꾼 것일 수 있습니다. PDF, HWP, HWPX, DOCX, XLSX 파일만 올릴 수 있습니다."
)
RECEIPT_NUMBER = "PRACTICE2025-0001"

OPERATOR_USERNAME = "operator"
OPERATOR_PASSWORD = "demo-operator-2025"
OPERATOR_BACKUP_CODE = "11111111"


def _shot(page: Page, step: str) -> None:
    screenshot(page, f"company_flow-{step}")


def _url(page: Page, path: str) -> str:
    return f"{page.base_url}{path}"  # type: ignore[attr-defined]


def _tick(control: Locator) -> None:
    """Tick a KRDS checkbox or radio as a person does: its styled label covers the input, so click the label."""
    control.page.locator(f"label[for='{control.get_attribute('id')}']").click()
    expect(control).to_be_checked()


def _kst(value: Any, pattern: str = "%Y-%m-%d %H:%M") -> str:
    return timeutils.to_kst(value).strftime(pattern)


def _pdf(name: str) -> dict[str, Any]:
    return {"name": name, "mimeType": "application/pdf", "buffer": sample_pdf(name)}


# ── the steps ────────────────────────────────────────────────────────────────────────────────────────


def _company_signs_up(page: Page) -> None:
    page.goto(_url(page, "/"))
    page.get_by_role("link", name="기업 회원가입").first.click()
    expect(page.get_by_role("heading", name="기업 회원가입", level=1)).to_be_visible()
    page.get_by_label("기업명").fill(COMPANY_NAME)
    page.get_by_label("사업자등록번호").fill(BUSINESS_REGISTRATION_NUMBER)
    page.get_by_label("대표자").fill("박대표")
    page.get_by_label("주소").fill(COMPANY_ADDRESS)
    page.get_by_label("담당자 이름").fill("김담당")
    page.get_by_label("담당자 이메일").fill("kim@dalgubeol-vision.example")
    page.get_by_label("담당자 전화").fill("053-123-4567")
    page.get_by_label("아이디").fill(USERNAME)
    page.get_by_label("이름(표시 이름)").fill("김담당")
    # The label's required mark "*" is aria-hidden: the accessible name is the plain word.
    page.get_by_role("textbox", name="비밀번호", exact=True).fill(PASSWORD)
    page.get_by_label("비밀번호 확인").fill(PASSWORD)
    _tick(page.get_by_label("개인정보 수집·이용에 동의합니다."))
    _shot(page, "01-signup-filled")
    page.get_by_role("button", name="가입하기").click()

    expect(page).to_have_url(_url(page, "/"))
    expect(page.locator(".mb-messages")).to_have_text(
        f"{COMPANY_NAME} 기업 회원가입이 완료되었습니다. 공모 안내에서 지원 신청을 시작할 수 있습니다."
    )
    expect(page.locator(".mb-user")).to_have_text(f"김담당 · {COMPANY_NAME}")
    _shot(page, "02-signed-in")


def _company_asks_for_endoscopy_data(page: Page) -> int:
    page.get_by_role("navigation", name="주 메뉴").get_by_role("link", name="데이터 카탈로그").click()
    page.get_by_role("searchbox", name="검색어").fill("내시경")
    page.get_by_role("button", name="검색", exact=True).click()
    results = page.locator("#dataset-results")
    expect(results.get_by_role("status")).to_have_text("검색 결과 2건 · 검색어: 내시경")
    expect(results.locator("tbody tr td:first-child a")).to_have_text(["위 내시경 영상", "대장 내시경 영상"])
    _shot(page, "03-catalog-search")

    results.get_by_role("link", name=DATASET_TITLE).click()
    expect(page.get_by_role("heading", name=DATASET_TITLE, level=1)).to_be_visible()
    _shot(page, "04-dataset-detail")
    page.get_by_role("link", name="이 데이터로 수요 협의 신청").click()

    expect(page.get_by_role("heading", name="새 수요 데이터 협의", level=1)).to_be_visible()
    first_row = page.locator("#item-rows tbody tr").first
    expect(first_row.locator("select")).to_have_value(str(Dataset.objects.get(title=DATASET_TITLE).pk))
    expect(first_row.locator("select option:checked")).to_have_text(
        f"{DATASET_TITLE} · 한국산업기술시험원 대구의료인공지능개발지원센터 (21,500건)"
    )
    first_row.locator("input[name$='-requested_amount']").fill(REQUESTED_AMOUNT)
    _tick(first_row.get_by_label("필요"))
    # The 2025 call closed on 2025-07-21: only the practice call still takes consultations.
    expect(page.get_by_label("공모").locator("option")).to_have_text([PRACTICE_TITLE])
    page.get_by_label("공모").select_option(label=PRACTICE_TITLE)
    page.get_by_label("활용 목적").fill(PURPOSE)
    _shot(page, "05-consultation-filled")
    page.get_by_role("button", name="협의 요청").click()

    expect(page.locator(".mb-messages")).to_have_text(
        "수요 데이터 협의를 요청했습니다. 운영자가 항목별로 답변합니다."
    )
    consultation = Consultation.objects.get(company__name=COMPANY_NAME)
    expect(page.get_by_role("heading", level=1)).to_have_text(f"수요 데이터 협의 #{consultation.pk}")
    expect(page.locator(".mb-call-head .mb-status")).to_have_text("답변 대기")
    row = page.locator(f"#item-{consultation.items.get().pk}")
    expect(row.locator("td")).to_have_text(
        [re.compile(f"^{DATASET_TITLE}"), "2,000", "필요", "검토 중", "-", "-"]
    )
    _shot(page, "06-consultation-requested")
    return consultation.pk


def _operator_signs_in_and_answers(page: Page, consultation_pk: int) -> None:
    consultation = Consultation.objects.get(pk=consultation_pk)
    page.goto(_url(page, "/accounts/login/"))
    page.get_by_label("아이디").fill(OPERATOR_USERNAME)
    page.get_by_label("비밀번호").fill(OPERATOR_PASSWORD)
    page.get_by_role("button", name="로그인").click()

    expect(page.get_by_role("heading", name="2단계 인증", level=1)).to_be_visible()
    page.get_by_label("인증 코드").fill(OPERATOR_BACKUP_CODE)
    _shot(page, "07-operator-otp")
    page.get_by_role("button", name="확인", exact=True).click()

    page.get_by_role("navigation", name="주 메뉴").get_by_role("link", name="협의 답변").click()
    expect(page.get_by_role("heading", name="수요 데이터 협의 현황", level=1)).to_be_visible()
    row = page.locator("tbody tr").filter(has_text=COMPANY_NAME)
    expect(row.locator("td")).to_have_text(
        [
            f"#{consultation_pk}",
            COMPANY_NAME,
            f"{Truncator(PRACTICE_TITLE).chars(40)} 연습용",
            "0/1",
            "답변 대기",
            _kst(consultation.created_at),
            _kst(consultation.updated_at),
        ]
    )
    _shot(page, "08-operator-consultations")
    row.get_by_role("link", name=f"#{consultation_pk}").click()

    answer = page.get_by_role("form", name=f"{DATASET_TITLE} 답변")
    _tick(answer.get_by_label("보유", exact=True))
    answer.get_by_label("답변 내용").fill(OPERATOR_NOTE)
    answer.get_by_role("button", name="답변 저장").click()
    expect(page.locator(".mb-messages")).to_have_text(f"'{DATASET_TITLE}' 항목에 답변했습니다.")
    expect(page.locator(".mb-call-head .mb-status")).to_have_text("답변 완료")
    _shot(page, "09-operator-answered")


def _company_sees_the_answer(page: Page, consultation_pk: int) -> None:
    page.reload()
    item = ConsultationItem.objects.get(consultation_id=consultation_pk)
    expect(page.locator(".mb-call-head .mb-status")).to_have_text("답변 완료")
    expect(page.locator(f"#item-{item.pk} td")).to_have_text(
        [re.compile(f"^{DATASET_TITLE}"), "2,000", "필요", "보유", "2,000", re.compile(f"^{OPERATOR_NOTE}")]
    )
    _shot(page, "10-company-sees-answer")


def _company_starts_the_application(page: Page) -> None:
    menu = page.get_by_role("navigation", name="주 메뉴")
    menu.locator("summary", has_text="신청").click()
    menu.get_by_role("link", name="지원 신청").click()
    expect(page.get_by_role("heading", name="지원 신청", level=1)).to_be_visible()
    practice = page.locator(".mb-doc").filter(has_text=PRACTICE_TITLE)
    practice.get_by_role("link", name="신청서 작성").click()

    expect(page.get_by_role("heading", name="신청서 작성 시작", level=1)).to_be_visible()
    expect(page.locator("table tbody tr td")).to_have_text([DATASET_TITLE, "보유", "2,000", "2,000", "필요"])
    _shot(page, "11-application-new")
    page.get_by_role("button", name="작성 시작").click()
    expect(page.locator(".mb-messages")).to_have_text("신청서 작성을 시작했습니다. 항목을 채우고 저장하세요.")


def _fill_application(page: Page) -> None:
    plan = page.locator("#plan")  # the bonus section has its own "과제명" (government projects)
    plan.get_by_label("과제명").fill(PROJECT_TITLE)
    plan.get_by_label("사업 개요").fill(SUMMARY)
    plan.get_by_label("추진 조직 및 역량").fill(
        "의료영상 AI 개발팀 6명과 소화기내과 자문의 2명이 참여합니다."
    )
    plan.get_by_label("사업 목표(최종·단계별)").fill("1단계 병변 검출 민감도 90%, 2단계 식약처 인허가 신청.")
    _tick(page.get_by_label(re.compile(r"^① 의료·헬스 관련 제품")))
    _tick(page.get_by_label(re.compile(r"^④ 「의료데이터 중개 플랫폼」")))
    _tick(page.get_by_label(GPU_LABEL))
    page.get_by_label("컴퓨팅 자원 활용 계획").fill(GPU_USE)


def _company_uploads_a_png_named_pdf(page: Page, application: Application) -> None:
    """The refusal: a PNG renamed .pdf is refused by content, and what was typed stays on the page."""
    _fill_application(page)
    page.get_by_label(DOCUMENTS[0][0]).set_input_files(
        {"name": PNG_AS_PDF, "mimeType": "application/pdf", "buffer": sample_png()}
    )
    page.get_by_role("button", name="저장", exact=True).click()

    documents = page.locator("#documents")
    expect(documents.get_by_role("alert")).to_have_text([PNG_AS_PDF_ERROR])
    expect(page.locator(".mb-alert.error")).to_contain_text(
        "저장하지 못했습니다. 표시된 항목을 고친 뒤 다시 저장해 주세요. 입력한 내용은 그대로 남아 있습니다."
    )
    expect(page.locator(".mb-alert.error")).to_contain_text(
        "보안을 위해 브라우저가 선택한 파일을 다시 보내지 않으므로, 올릴 파일은 다시 선택해 주세요."
    )
    expect(page.locator("#plan").get_by_label("과제명")).to_have_value(PROJECT_TITLE)
    expect(page.locator("#plan").get_by_label("사업 개요")).to_have_value(SUMMARY)
    expect(page.get_by_label("컴퓨팅 자원 활용 계획")).to_have_value(GPU_USE)
    expect(page.get_by_label(GPU_LABEL)).to_be_checked()
    _shot(page, "12-png-as-pdf-refused")

    # Nothing of the refused save was stored.
    application.refresh_from_db()
    assert (application.project_title, application.compute_option_id, application.documents.count()) == (
        "",
        None,
        0,
    )


def _company_completes_and_submits(page: Page) -> None:
    # The typed text came back with the refusal; only the files must be chosen again.
    for label, file_name in DOCUMENTS:
        page.get_by_label(label).set_input_files(_pdf(file_name))
    datasets = page.locator("#rows-datasets .mb-row")
    expect(datasets).to_have_count(1)
    expect(datasets.first.locator("select option:checked")).to_have_text(
        f"{DATASET_TITLE} · 한국산업기술시험원 대구의료인공지능개발지원센터 (Annotation 10,550건 / 전체 21,500건)"
    )
    expect(datasets.first.get_by_label("희망 건수")).to_have_value(REQUESTED_AMOUNT)
    expect(datasets.first.get_by_label("Annotation 데이터 필요")).to_be_checked()
    _shot(page, "13-application-filled")
    page.get_by_role("button", name="저장 후 제출 전 확인").click()

    expect(page.locator(".mb-messages")).to_have_text("저장했습니다.")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"{PROJECT_TITLE} 작성 중")
    submit = page.get_by_role("button", name="제출", exact=True)
    expect(submit).to_be_enabled()  # disabled while anything of "제출 전 확인" is missing
    _shot(page, "14-application-review")
    submit.click()

    expect(page.locator(".mb-messages")).to_have_text(f"제출했습니다. 접수번호는 {RECEIPT_NUMBER}입니다.")
    expect(page.get_by_role("heading", name="접수증", level=1)).to_be_visible()
    expect(page.locator(".mb-receipt-number")).to_have_text(RECEIPT_NUMBER)
    receipt = page.locator(".mb-receipt table").first
    expect(receipt.get_by_role("row", name=re.compile("^기업명"))).to_have_text(f"기업명{COMPANY_NAME}")
    expect(receipt.get_by_role("row", name=re.compile("^사업자등록번호"))).to_have_text(
        f"사업자등록번호{BUSINESS_REGISTRATION_NUMBER}"
    )
    expect(receipt.get_by_role("row", name=re.compile("^상태"))).to_have_text("상태제출 완료")
    submitted_at = _kst(Application.objects.get(company__name=COMPANY_NAME).submitted_at, "%Y-%m-%d %H:%M:%S")
    expect(receipt.get_by_role("row", name=re.compile("^제출 시각"))).to_have_text(
        f"제출 시각{submitted_at} KST"
    )
    _shot(page, "15-receipt")

    pdf_link = page.get_by_role("link", name="PDF로 받기")
    response = page.request.get(_url(page, pdf_link.get_attribute("href") or ""))
    assert (response.status, response.headers["content-type"], response.body()[:5]) == (
        200,
        "application/pdf",
        b"%PDF-",
    )


def _operator_sees_it_in_the_console(page: Page) -> None:
    page.get_by_role("navigation", name="주 메뉴").get_by_role("link", name="운영 콘솔").click()
    expect(page.get_by_role("heading", name="운영 콘솔", level=1)).to_be_visible()
    page.get_by_role("link", name=PRACTICE_TITLE).click()
    expect(page).to_have_url(_url(page, f"/calls/console/{PRACTICE_SLUG}/"))
    row = page.locator("tbody tr").filter(has_text=COMPANY_NAME)
    expect(row).to_have_count(1)
    cells = row.locator("td")
    expect(cells.nth(0)).to_have_text(RECEIPT_NUMBER)
    expect(cells.nth(1)).to_have_text(f"{COMPANY_NAME}{BUSINESS_REGISTRATION_NUMBER}")
    expect(cells.nth(2)).to_have_text("제출 완료")
    submitted_at = Application.objects.get(company__name=COMPANY_NAME).last_submitted_at
    expect(cells.nth(3)).to_have_text(_kst(submitted_at, "%Y-%m-%d %H:%M:%S"))
    expect(cells.nth(4)).to_have_text("✓ 충족 ①④")
    expect(cells.nth(5)).to_have_text("없음")
    _shot(page, "16-operator-console")


# ── the test ─────────────────────────────────────────────────────────────────────────────────────────


def test_a_new_company_signs_up_consults_applies_and_the_operator_sees_the_receipt(
    company_page: Page, operator_page: Page
) -> None:
    # Given the demo data (2025 call, catalogue, practice call open around today, demo operator)
    call_command("demo", stdout=io.StringIO())

    # When a new Daegu company signs up and asks for endoscopy data
    _company_signs_up(company_page)
    consultation_pk = _company_asks_for_endoscopy_data(company_page)

    # and the operator, after the second factor, answers "보유"
    _operator_signs_in_and_answers(operator_page, consultation_pk)
    _company_sees_the_answer(company_page, consultation_pk)

    # and the company applies to the practice call, first with a PNG renamed .pdf, then with real PDFs
    _company_starts_the_application(company_page)
    application = Application.objects.get(company__name=COMPANY_NAME)
    _company_uploads_a_png_named_pdf(company_page, application)
    _company_completes_and_submits(company_page)

    # Then the operator's console lists it as submitted with its receipt number
    _operator_sees_it_in_the_console(operator_page)

    # and the database holds exactly that one submitted application of the new company
    company = Organisation.objects.get(business_registration_number="2208162517")
    applications = Application.objects.filter(company=company)
    assert [
        (a.call.slug, a.status, a.receipt_number, a.project_title, a.compute_option.code)
        for a in applications
    ] == [(PRACTICE_SLUG, Application.Status.SUBMITTED, RECEIPT_NUMBER, PROJECT_TITLE, "v100-16")]
    submitted = applications.get()
    assert sorted(d.requirement.code for d in submitted.documents.all()) == sorted(
        [
            "application_plan",
            "privacy_consent",
            "participation_agreement",
            "eligibility_confirmation",
            "platform_pledge",
        ]
    )
    assert [(d.dataset.title, d.amount, d.needs_annotated) for d in submitted.requested_datasets.all()] == [
        (DATASET_TITLE, 2000, True)
    ]
    assert [(u.username, u.role_codes) for u in company.members.all()] == [
        (USERNAME, frozenset({Role.APPLICANT}))
    ]
