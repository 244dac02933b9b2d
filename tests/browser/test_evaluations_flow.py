"""A performance test in Chromium: the operator opens 메디비전랩's evaluation and the run page of its model,
reads the verdict against the locked plan and the ROC chart, issues an English report and downloads it; the
company reads the same run with aggregates only.

Starts from the demo's accounts, the practice call's agreements and the evaluations demo (a binary test set,
a model and a predictions file run, a Korean report each). Each step saves a screenshot under
test-artifacts/browser/evaluations_flow-*.png, and the first page of the downloaded report as a PNG where
pdftoppm is installed.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from medbroker.accounts.demo import accounts_demo_load
from medbroker.calls.demo import calls_demo_load
from medbroker.catalog.demo import catalog_demo_load
from medbroker.demo.support import support_demo_load
from medbroker.evaluations import models
from medbroker.evaluations.demo import MODEL_LABEL, evaluations_demo_load
from medbroker.evaluations.services.reports import report_verify
from medbroker.reviews.demo import reviews_demo_load
from tests.browser.conftest import ARTIFACTS, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

OPERATOR_PASSWORD = "demo-operator-2025"
COMPANY = "company2343"
COMPANY_PASSWORD = "demo-company-2025"


def _url(page: Page, path: str) -> str:
    return f"{page.base_url}{path}"  # type: ignore[attr-defined]


def _shot(page: Page, step: str) -> Path:
    return screenshot(page, f"evaluations_flow-{step}")


def _sign_in(page: Page, username: str, password: str, code: str) -> None:
    page.context.clear_cookies()
    page.goto(_url(page, "/accounts/login/"))
    page.get_by_label("아이디").fill(username)
    page.get_by_label("비밀번호").fill(password)
    page.get_by_role("button", name="로그인").click()
    expect(page.get_by_role("heading", name="2단계 인증", level=1)).to_be_visible()
    page.get_by_label("인증 코드").fill(code)
    page.get_by_role("button", name="확인", exact=True).click()


def _pdf_first_page(pdf: Path) -> None:
    # The PDF's first page as a PNG beside the screenshots, for a person to look at.
    pdftoppm = shutil.which("pdftoppm")
    if pdftoppm is None:
        return
    subprocess.run(
        [
            pdftoppm,
            "-png",
            "-r",
            "80",
            "-f",
            "1",
            "-l",
            "1",
            "-singlefile",
            str(pdf),
            str(pdf.with_suffix("")),
        ],
        check=True,
        timeout=60,
    )


def test_the_operator_reads_a_finished_run_and_issues_a_report(
    company_page: Page, operator_page: Page
) -> None:
    # Given the demo's accounts and agreements, and 메디비전랩's finished performance test
    catalog = catalog_demo_load()
    accounts_demo_load(steward_organisation=catalog.steward_organisation)
    calls_demo_load()
    reviews_demo_load()
    support_demo_load()
    demo = evaluations_demo_load()
    evaluation = demo.evaluation
    assert evaluation is not None
    run = models.EvaluationRun.objects.get(
        submission__evaluation=evaluation, submission__kind=models.Submission.Kind.MODEL
    )
    verdict = run.get_verdict_display()
    page = operator_page

    # When the operator opens the evaluation from the list
    _sign_in(page, "operator", OPERATOR_PASSWORD, "11111111")
    page.goto(_url(page, "/evaluations/"))
    page.get_by_role("link", name=evaluation.number).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"성능시험 {evaluation.number}")
    expect(page.locator("#plan-sha256")).to_have_text(evaluation.plan_sha256)
    expect(page.locator("article.ev-submission")).to_have_count(2)
    _shot(page, "01-evaluation")

    # ... and the run page of the model
    page.locator("article.ev-submission").filter(has_text=MODEL_LABEL).get_by_role(
        "link", name="결과 보기"
    ).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"시험 결과 · 실행 #{run.pk}")

    # Then the verdict against the locked plan, the metrics and the drawn ROC chart are there
    banner = page.locator("#verdict")
    expect(banner.locator("strong")).to_have_text(verdict)
    expect(banner).to_contain_text(evaluation.plan_sha256)
    expect(page.locator("#metrics-table tbody tr").first).to_contain_text("민감도")
    chart = page.locator("#run-curve-chart")
    expect(chart).to_be_visible()
    # Chart.js has drawn on the canvas (its size attributes are set once it renders).
    expect(chart).to_have_attribute("style", re.compile("height"))
    expect(page.locator("#report-list")).to_contain_text("PT-")
    _shot(page, "02-run")

    # When the operator issues the English report and downloads it
    page.locator("#report-issue label", has_text="영어").click()
    page.get_by_role("button", name="성적서 발급").click()
    report = models.TestReport.objects.filter(run=run, language="en").get()
    expect(page.locator(".mb-messages")).to_have_text(f"성적서 {report.number}을(를) 발급했습니다.")
    with page.expect_download() as download_info:
        page.get_by_role("link", name=report.number).click()
    pdf = ARTIFACTS / "evaluations_flow-03-report.pdf"
    download_info.value.save_as(str(pdf))

    # Then the downloaded file is the issued one
    assert report_verify(pdf=pdf.read_bytes()) == report
    _pdf_first_page(pdf)

    # And the company reads the same run without a case id
    company = company_page
    _sign_in(company, COMPANY, COMPANY_PASSWORD, "21111111")
    company.goto(_url(company, f"/evaluations/runs/{run.pk}/"))
    expect(company.locator("#verdict strong")).to_have_text(verdict)
    expect(company.locator("#failure-cases")).to_have_count(0)
    expect(company.get_by_role("button", name="성적서 발급")).to_have_count(0)
    _shot(company, "04-company-run")
