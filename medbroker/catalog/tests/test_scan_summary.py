"""The scan's key information on the dataset page: exact for those who manage or audit the dataset, small
cells suppressed for everyone else, and nothing at all before the first scan."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

import pytest
from django.test import Client

from medbroker.accounts.models import User
from medbroker.catalog.models import Dataset
from medbroker.catalog.selectors import dataset_key_information_view
from medbroker.catalog.tests.factories import DatasetFactory, InstitutionFactory, body_part, modality

pytestmark = pytest.mark.django_db

SCANNED_AT = dt.datetime(2025, 3, 4, 1, 30, tzinfo=dt.UTC)  # 10:30 KST


def _acquisition(low: float, high: float, middle: float) -> dict[str, Any]:
    return {"min": low, "max": high, "median": middle, "values": {}}


SUMMARY: dict[str, Any] = {
    "files": 131,
    "instances": 120,
    "patients": 12,
    "studies": 14,
    "series": 20,
    "modalities": {"CT": 100, "MR": 17, "US": 3},
    "body_parts": {"ABDOMEN": 90, "CHEST": 27, "HEAD": 3},
    "manufacturers": {"SIEMENS": 63, "GE MEDICAL SYSTEMS": 57},
    "models": {"SOMATOM Force": 63, "Revolution": 57},
    "signals": {"records": 10, "formats": {"EDF+": 8, "WFDB": 2}},
    "acquisition": {
        "ct_slice_thickness_mm": _acquisition(1.0, 5.0, 2.5),
        "ct_kvp": _acquisition(120.0, 120.0, 120.0),
        "sampling_rate_hz": _acquisition(256.0, 500.0, 256.0),
    },
    "sex": {"M": 7, "F": 4, "O": 0, "unknown": 1},
    "age_bands": {
        "0-9": 0,
        "10-19": 0,
        "20-29": 0,
        "30-39": 0,
        "40-49": 0,
        "50-59": 3,
        "60-69": 6,
        "70-79": 3,
        "80-89": 0,
        "90+": 0,
        "unknown": 0,
    },
    "date_range": {"first": "2019-03-04", "last": "2023-11-30"},
    "cases": {"total": 24, "annotated": 3, "non_annotated": 21},
    "deid": {"files_with_findings": 4, "findings": {"PatientName": 4}},
    "errors": 0,
}


@pytest.fixture
def scanned(steward: User) -> Dataset:
    modality("mri")  # so that "MR" is shown with the catalogue's name
    return DatasetFactory(
        institution=InstitutionFactory(organisation=steward.organisation),
        title="복부 CT 영상",
        body_part=body_part("colon"),
        modality=modality("ct"),
        scan_summary=SUMMARY,
        scanned_at=SCANNED_AT,
        deidentification=Dataset.Deidentification.FINDINGS,
        deidentification_findings=4,
    )


def _cells(view: Any, name: str) -> list[tuple[str, str]]:
    distribution = view.cases if name == "cases" else view.distribution(name)
    return [(cell.label, cell.display) for cell in distribution.cells]


def test_a_company_sees_small_cells_suppressed_with_their_complement(
    scanned: Dataset, applicant: User
) -> None:
    view = dataset_key_information_view(dataset=scanned, user=applicant)

    assert view is not None
    assert view.exact is False
    assert view.k == 5
    assert [(cell.label, cell.display) for cell in view.totals] == [
        ("환자", "12"),
        ("검사(Study)", "14"),
        ("시리즈(Series)", "20"),
        ("영상 인스턴스", "120"),
        ("신호 기록", "10"),
        ("파일", "131"),
    ]
    # One small cell: the next-smallest is hidden too, or 120 - 100 - 17 would give it away.
    assert _cells(view, "modalities") == [("CT", "100"), ("MRI (MR)", "비공개"), ("US", "< 5")]
    assert _cells(view, "body_parts") == [("ABDOMEN", "90"), ("CHEST", "비공개"), ("HEAD", "< 5")]
    assert _cells(view, "manufacturers") == [("SIEMENS", "63"), ("GE MEDICAL SYSTEMS", "57")]
    # Two small cells protect each other; a zero stays a zero.
    assert _cells(view, "sex") == [("남성", "7"), ("여성", "< 5"), ("기타", "0"), ("알 수 없음", "< 5")]
    assert _cells(view, "age_bands")[5:8] == [("50–59세", "< 5"), ("60–69세", "6"), ("70–79세", "< 5")]
    assert _cells(view, "age_bands")[9:] == [("90세 이상", "0"), ("알 수 없음", "0")]
    assert _cells(view, "signal_formats") == [("EDF+", "비공개"), ("WFDB", "< 5")]
    assert _cells(view, "cases") == [("Annotation", "< 5"), ("Non-Annotation", "비공개")]
    assert view.suppressed_any is True
    assert view.chart_data == {
        "count_label": "건수",
        "modalities": {"labels": ["CT"], "counts": [100]},
        "age_bands": {
            "labels": [
                "0–9세",
                "10–19세",
                "20–29세",
                "30–39세",
                "40–49세",
                "60–69세",
                "80–89세",
                "90세 이상",
                "알 수 없음",
            ],
            "counts": [0, 0, 0, 0, 0, 6, 0, 0, 0],
        },
        "sex": {"labels": ["남성"], "counts": [7]},
        "body_parts": {"labels": ["ABDOMEN"], "counts": [90]},
    }


def test_totals_under_k_are_suppressed_for_outsiders(scanned: Dataset, reviewer: User) -> None:
    scanned.scan_summary = {**SUMMARY, "patients": 3, "studies": 4}

    view = dataset_key_information_view(dataset=scanned, user=reviewer)

    assert view is not None
    assert [cell.display for cell in view.totals] == ["< 5", "< 5", "20", "120", "10", "131"]


@pytest.mark.parametrize("role", ["steward", "operator", "auditor"])
def test_managers_and_auditors_see_exact_values(
    scanned: Dataset, users_by_role: dict[str, User | None], role: str
) -> None:
    view = dataset_key_information_view(dataset=scanned, user=users_by_role[role])

    assert view is not None
    assert view.exact is True
    assert view.suppressed_any is False
    assert _cells(view, "modalities") == [("CT", "100"), ("MRI (MR)", "17"), ("US", "3")]
    assert _cells(view, "cases") == [("Annotation", "3"), ("Non-Annotation", "21")]
    assert view.chart_data["sex"] == {"labels": ["남성", "여성", "알 수 없음"], "counts": [7, 4, 1]}
    assert [(row.label, row.display) for row in view.acquisition] == [
        ("CT 슬라이스 두께", "1–5 mm (중앙값 2.5)"),
        ("CT 관전압", "120 kVp"),
        ("샘플링 주파수", "256–500 Hz (중앙값 256)"),
    ]
    assert (view.date_first, view.date_last) == ("2019-03", "2023-11")


def test_the_steward_of_another_institution_is_an_outsider(scanned: Dataset, other_applicant: User) -> None:
    from medbroker.accounts.models import Role
    from medbroker.accounts.tests.factories import InstitutionOrganisationFactory, UserFactory

    other = UserFactory(organisation=InstitutionOrganisationFactory(), roles=[Role.DATA_STEWARD])

    view = dataset_key_information_view(dataset=scanned, user=other)

    assert view is not None
    assert view.exact is False


def test_a_dataset_never_scanned_has_no_key_information(client: Client, steward: User, login: Any) -> None:
    dataset = DatasetFactory(institution=InstitutionFactory(organisation=steward.organisation))

    assert dataset_key_information_view(dataset=dataset, user=steward) is None
    html = login(client, steward).get(f"/catalog/{dataset.pk}/").content.decode()
    assert "스캔으로 확인한 주요 정보" not in html
    assert "scan-summary-data" not in html
    assert "chart.umd.min.js" not in html


def _row(html: str, label: str) -> str:
    """The value beside ``label`` in the scan card (the page's other cards have rows of the same names)."""
    start = html.index('aria-labelledby="scan-summary-title"')
    html = html[start : html.index("</section>", start)]
    match = re.search(rf'<th scope="row">{re.escape(label)}</th><td class="mb-num">([^<]*)</td>', html)
    assert match is not None, label
    return match.group(1)


def test_the_dataset_page_shows_a_company_suppressed_counts_and_charts(
    client: Client, scanned: Dataset, applicant: User, login: Any
) -> None:
    response = login(client, applicant).get(f"/catalog/{scanned.pk}/")

    html = response.content.decode()
    assert response.status_code == 200
    assert "스캔으로 확인한 주요 정보" in html
    assert "스캔 시각 2025-03-04 10:30 KST" in html
    assert _row(html, "환자") == "12"
    assert _row(html, "US") == "&lt; 5"
    assert _row(html, "MRI (MR)") == "비공개"
    assert _row(html, "검사 기간") == "2019-03 ~ 2023-11"
    assert _row(html, "CT 슬라이스 두께") == "1–5 mm (중앙값 2.5)"
    assert "&lt; 5 인 항목은 그래프에서 뺐습니다." in html
    # The de-identification state and the ingest page are for the dataset's managers only.
    assert "/ingest/datasets/" not in html
    assert "비식별 점검" not in html
    assert '<script src="/static/vendor/chartjs/chart.umd.min.js" defer></script>' in html
    assert '<script src="/static/medbroker/charts.js" defer></script>' in html
    data = re.search(r'<script id="scan-summary-data" type="application/json">(.*?)</script>', html, re.S)
    assert data is not None
    assert json.loads(data.group(1))["modalities"] == {"labels": ["CT"], "counts": [100]}


def test_the_dataset_page_shows_the_steward_exact_counts_the_state_and_the_ingest_link(
    client: Client, scanned: Dataset, steward: User, login: Any
) -> None:
    response = login(client, steward).get(f"/catalog/{scanned.pk}/")

    html = response.content.decode()
    assert response.status_code == 200
    assert _row(html, "US") == "3"
    assert _row(html, "MRI (MR)") == "17"
    assert _row(html, "Annotation") == "3"
    assert "그래프에서 뺐습니다" not in html
    assert '<span class="krds-badge bg-light-danger">발견 사항 있음 (파일 4개)</span>' in html
    assert f'href="/ingest/datasets/{scanned.pk}/"' in html


def test_anonymous_visitors_see_the_suppressed_view(client: Client, scanned: Dataset) -> None:
    scanned.publication = Dataset.Publication.PUBLISHED
    scanned.save(update_fields=["publication"])

    html = client.get(f"/catalog/{scanned.pk}/").content.decode()

    assert _row(html, "US") == "&lt; 5"
    assert _row(html, "여성") == "&lt; 5"
    assert _row(html, "남성") == "7"


def test_k_comes_from_the_settings(scanned: Dataset, applicant: User, settings: Any) -> None:
    settings.MEDBROKER_SMALL_CELL_K = 10

    view = dataset_key_information_view(dataset=scanned, user=applicant)

    assert view is not None
    assert _cells(view, "sex") == [("남성", "< 10"), ("여성", "< 10"), ("기타", "0"), ("알 수 없음", "< 10")]
    assert _cells(view, "manufacturers") == [("SIEMENS", "63"), ("GE MEDICAL SYSTEMS", "57")]


def test_the_stewards_list_links_each_dataset_to_its_scan_page_with_the_state(
    client: Client, scanned: Dataset, steward: User, login: Any
) -> None:
    html = login(client, steward).get("/catalog/mine/").content.decode()

    assert '<td><span class="krds-badge bg-light-danger">발견 사항 있음</span></td>' in html
    assert (
        f'<a class="krds-btn xsmall tertiary" href="/ingest/datasets/{scanned.pk}/" '
        'aria-label="복부 CT 영상 스캔·점검">스캔·점검</a>'
    ) in html
