"""A data steward in Chromium: sets the folder of a dataset, starts a scan, watches the progress reach 100 %
and reads the de-identification report; then the dataset page shows the key information the scan found.

Starts from the demo catalogue and accounts (the steward of KTL's database signs in with a backup code).
The scan runs in a thread of the live server, as it does under the embedded default, and the page polls it.
Each step saves a screenshot under test-artifacts/browser/ingest_flow-*.png.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from playwright.sync_api import Page, expect

from medbroker.accounts.demo import accounts_demo_load
from medbroker.catalog.demo import catalog_demo_load
from medbroker.catalog.models import Dataset, Institution
from medbroker.ingest.models import ScanJob
from medbroker.ingest.testdata import LABEL_PATTERN, archive_write
from tests.browser.conftest import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

STEWARD_PASSWORD = "demo-steward-2025"
DATASET_TITLE = "응급복부 CT 영상"


def _url(page: Page, path: str) -> str:
    return f"{page.base_url}{path}"  # type: ignore[attr-defined]


def _sign_in(page: Page, username: str, password: str, code: str) -> None:
    page.goto(_url(page, "/accounts/login/"))
    page.get_by_label("아이디").fill(username)
    page.get_by_label("비밀번호").fill(password)
    page.get_by_role("button", name="로그인").click()
    expect(page.get_by_role("heading", name="2단계 인증", level=1)).to_be_visible()
    page.get_by_label("인증 코드").fill(code)
    page.get_by_role("button", name="확인", exact=True).click()


def test_a_steward_scans_a_folder_and_reads_the_report(
    browser_page: Page, settings: Any, tmp_path: Path
) -> None:
    # Given the demo catalogue and accounts, KTL's folder assigned by the operators inside the allowed root,
    # and the hospital's archive in that folder
    settings.MEDBROKER_SCAN_ROOTS = [str(tmp_path.resolve())]
    # In a thread as in the demo, except on the in-memory SQLite of this test, whose shared cache locks a
    # table being written and fails the page's read at once instead of waiting as a file database does.
    settings.MEDBROKER_SCAN_IN_THREAD = connection.vendor == "postgresql"
    settings.CELERY_TASK_ALWAYS_EAGER = True
    catalog = catalog_demo_load()
    accounts_demo_load(steward_organisation=catalog.steward_organisation)
    ktl_folder = (tmp_path / "ktl").resolve()
    Institution.objects.filter(organisation=catalog.steward_organisation).update(scan_folder=str(ktl_folder))
    manifest = archive_write(ktl_folder / "emergency-ct", seed=7)
    folder = str(ktl_folder / "emergency-ct")
    page = browser_page

    # When the steward opens the dataset's scan page from the list of the institution's datasets
    _sign_in(page, "steward", STEWARD_PASSWORD, "11111111")
    page.goto(_url(page, "/catalog/mine/"))
    page.get_by_role("link", name=f"{DATASET_TITLE} 스캔·점검").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"스캔·점검: {DATASET_TITLE}")
    expect(page.locator("#scan-job-progress")).to_contain_text("아직 스캔하지 않았습니다.")
    expect(page.locator("#institution-scan-folder code")).to_have_text(str(ktl_folder))

    # ... saves the folder and the label pattern
    page.get_by_label("데이터 폴더").fill(folder)
    page.get_by_label("라벨 파일 패턴").fill(LABEL_PATTERN)
    page.get_by_role("button", name="설정 저장").click()
    expect(page.locator(".mb-messages")).to_have_text("스캔 설정을 저장했습니다.")
    screenshot(page, "ingest_flow-01-settings")

    # ... and starts the scan
    page.get_by_role("button", name="폴더 스캔 시작").click()
    expect(page.locator(".mb-messages")).to_contain_text("폴더 스캔을 시작했습니다.")

    # Then the progress, polled every second, reaches 100 % and the page shows the result
    progress = page.locator("#scan-job-progress")
    expect(progress.locator(".krds-badge")).to_have_text("완료", timeout=30000)
    expect(progress.locator(".ingest-progress-text strong")).to_have_text("100%")
    expect(progress).to_contain_text(f"파일 {manifest.files} / {manifest.files}개")
    expect(progress.locator("dl.ingest-counts dd").first).to_have_text(str(manifest.files))
    expect(progress).not_to_have_attribute("hx-trigger", re.compile(".*"))
    screenshot(page, "ingest_flow-02-scanned")

    # ... and the de-identification report lists every finding the archive carries, file counts exact
    report = page.locator("section[aria-labelledby=deid-title]")
    expect(report.locator(".krds-badge").first).to_have_text("발견 사항 있음")
    expected = sorted(manifest.findings().items(), key=lambda item: (-item[1], item[0]))
    rows = report.locator("table tbody tr")
    expect(rows).to_have_count(len(expected))
    expect(rows.locator("td:nth-child(2)")).to_have_text([code for code, _ in expected])
    expect(rows.locator("td:nth-child(3)")).to_have_text([str(files) for _, files in expected])
    report.scroll_into_view_if_needed()
    screenshot(page, "ingest_flow-03-report")

    job = ScanJob.objects.get()
    assert (job.status, job.files_new, job.errors_count) == (ScanJob.Status.SUCCEEDED, manifest.files, 0)
    dataset = Dataset.objects.get(title=DATASET_TITLE)
    assert dataset.deidentification == Dataset.Deidentification.FINDINGS
    assert dataset.scan_summary["patients"] == manifest.patients

    # ... and the dataset page shows the key information with the charts
    page.goto(_url(page, f"/catalog/{dataset.pk}/"))
    card = page.locator("section.scan-summary")
    expect(card.get_by_role("heading", level=2)).to_have_text("스캔으로 확인한 주요 정보")
    expect(card.get_by_role("row", name=re.compile("^환자"))).to_have_text(f"환자{manifest.patients}")
    expect(card.locator("#scan-chart-modalities")).to_be_visible()
    # Chart.js has drawn on the canvas (its size attributes are set once it renders).
    expect(card.locator("#scan-chart-modalities")).to_have_attribute("style", re.compile("height"))
    screenshot(page, "ingest_flow-04-dataset-page")
