from __future__ import annotations

import pytest

from medbroker.accounts.models import Organisation
from medbroker.catalog.demo import KTL_INSTITUTION_NAME, catalog_demo_load
from medbroker.catalog.models import BodyPart, Dataset, Institution, Modality, Sensitivity
from medbroker.catalog.selectors import DatasetFilters, dataset_totals, datasets_search

pytestmark = pytest.mark.django_db


def call_rows() -> list[tuple[str, str, int, int, int]]:
    return [
        (d.body_part.name, d.modality.name, d.annotated_count, d.non_annotated_count, d.total_count)
        for d in Dataset.objects.filter(
            institution__organisation__name=KTL_INSTITUTION_NAME, is_illustrative=False
        )
        .select_related("body_part", "modality")
        .order_by("body_part__order", "modality__order")
    ]


def test_the_nine_imaging_rows_of_the_call() -> None:
    catalog_demo_load()

    assert call_rows() == [
        ("위", "내시경", 10550, 10950, 21500),
        ("대장", "내시경", 5000, 11000, 16000),
        ("대장", "CT", 500, 1500, 2000),
        ("유방", "초음파", 800, 200, 1000),
        ("유방", "MRI", 300, 100, 400),
        ("유방", "Mammo", 5000, 9000, 14000),
        ("요로결석", "CT", 1050, 1400, 2450),
        ("담관결석", "CT", 450, 200, 650),
        ("응급복부", "CT", 700, 400, 1100),
    ]


def test_the_call_rows_sum_to_the_calls_totals() -> None:
    catalog_demo_load()

    overall = dataset_totals(include_illustrative=False).overall

    assert (overall.annotated, overall.non_annotated, overall.total, overall.datasets) == (
        24350,
        34750,
        59100,
        9,
    )


def test_the_call_rows_are_published_with_their_source() -> None:
    catalog_demo_load()

    rows = Dataset.objects.filter(is_illustrative=False)
    assert set(rows.values_list("publication", flat=True)) == {Dataset.Publication.PUBLISHED}
    assert set(rows.values_list("source_note", flat=True)) == {
        "2025 K-Health 대구 AI 의료생태계 지원사업 공고 3.1 AI 학습용 의료데이터 표"
    }
    assert list(
        rows.order_by("body_part__order", "modality__order").values_list("title", "sensitivity", "formats")
    ) == [
        ("위 내시경 영상", Sensitivity.STANDARD, ["DICOM", "JPEG"]),
        ("대장 내시경 영상", Sensitivity.STANDARD, ["DICOM", "JPEG"]),
        ("대장 CT 영상", Sensitivity.HIGH, ["DICOM"]),
        ("유방 초음파 영상", Sensitivity.STANDARD, ["DICOM"]),
        ("유방 MRI 영상", Sensitivity.HIGH, ["DICOM"]),
        ("유방 Mammo 영상", Sensitivity.STANDARD, ["DICOM"]),
        ("요로결석 CT 영상", Sensitivity.HIGH, ["DICOM"]),
        ("담관결석 CT 영상", Sensitivity.HIGH, ["DICOM"]),
        ("응급복부 CT 영상", Sensitivity.HIGH, ["DICOM"]),
    ]


def test_reference_data_with_dicom_codes() -> None:
    catalog_demo_load()

    assert list(Modality.objects.values_list("name", "name_en", "dicom_code", "data_type")) == [
        ("내시경", "Endoscopy", "ES", "imaging"),
        ("CT", "CT", "CT", "imaging"),
        ("초음파", "Ultrasound", "US", "imaging"),
        ("MRI", "MRI", "MR", "imaging"),
        ("Mammo", "Mammography", "MG", "imaging"),
        ("X선", "Radiography (X-ray)", "DX", "imaging"),
        ("EEG", "Electroencephalography (EEG)", "EEG", "time_series"),
        ("ECG", "Electrocardiography (ECG)", "ECG", "time_series"),
    ]
    assert list(BodyPart.objects.values_list("name", flat=True)[:6]) == [
        "위",
        "대장",
        "유방",
        "요로결석",
        "담관결석",
        "응급복부",
    ]


def test_time_series_and_second_hospital_are_marked_illustrative() -> None:
    catalog_demo_load()

    illustrative = Dataset.objects.filter(is_illustrative=True).order_by(
        "institution__organisation__name", "title"
    )
    assert list(
        illustrative.values_list("institution__organisation__name", "modality__code", "sensitivity")
    ) == [
        ("대구한빛병원(가상)", "ecg", "low"),
        ("대구한빛병원(가상)", "xray", "low"),
        (KTL_INSTITUTION_NAME, "eeg", "standard"),
        (KTL_INSTITUTION_NAME, "ecg", "standard"),
    ]
    ktl_time_series = illustrative.filter(institution__organisation__name=KTL_INSTITUTION_NAME)
    assert sum(d.total_count for d in ktl_time_series) == 100_000
    assert all("예시" in d.description for d in illustrative)


def test_the_steward_organisation_is_ktls_own_database() -> None:
    demo = catalog_demo_load()

    organisation = demo.steward_organisation
    assert (organisation.kind, organisation.name) == (Organisation.Kind.INSTITUTION, KTL_INSTITUTION_NAME)
    assert Institution.objects.get(organisation=organisation).datasets.count() == 11
    assert demo.summary_lines == [
        "데이터 카탈로그: 보유기관 2곳, 공개 데이터셋 13건",
        "공고 3.1 영상 데이터 9건: Annotation 24,350 · Non-Annotation 34,750 · 합계 59,100",
        f"데이터 관리자 소속 기관: {KTL_INSTITUTION_NAME}",
    ]


def test_demo_catalogue_is_searchable_and_has_two_institutions() -> None:
    catalog_demo_load()

    search = datasets_search(user=None, query="내시경", filters=DatasetFilters())
    english = datasets_search(user=None, query="endoscopy")

    assert sorted(search.datasets.values_list("title", flat=True)) == ["대장 내시경 영상", "위 내시경 영상"]
    assert english.datasets.count() == 2
    institution_facet = next(f for f in search.facets if f.name == "institution")
    assert [(o.label, o.count) for o in institution_facet.options] == [
        ("대구한빛병원(가상)", 0),
        (KTL_INSTITUTION_NAME, 2),
    ]


def test_loading_twice_changes_nothing() -> None:
    first = catalog_demo_load()
    before = list(
        Dataset.objects.order_by("pk").values_list("pk", "title", "published_at", "search_document")
    )
    counts = (
        Organisation.objects.count(),
        Institution.objects.count(),
        BodyPart.objects.count(),
        Modality.objects.count(),
    )

    second = catalog_demo_load()

    assert second.steward_organisation.pk == first.steward_organisation.pk
    assert (
        list(Dataset.objects.order_by("pk").values_list("pk", "title", "published_at", "search_document"))
        == before
    )
    assert (
        Organisation.objects.count(),
        Institution.objects.count(),
        BodyPart.objects.count(),
        Modality.objects.count(),
    ) == counts
    assert len(before) == 13


def test_the_lab_organisation_of_the_accounts_demo_stays_separate() -> None:
    from medbroker.accounts.demo import accounts_demo_load

    demo = catalog_demo_load()
    accounts_demo_load(steward_organisation=demo.steward_organisation)

    assert sorted(
        Organisation.objects.filter(name__startswith="한국산업기술시험원").values_list("kind", "name")
    ) == [
        ("institution", KTL_INSTITUTION_NAME),
        ("lab", "한국산업기술시험원"),
    ]


def test_the_api_lists_the_calls_rows_before_the_illustrative_ones(client) -> None:
    catalog_demo_load()

    items = client.get("/api/v1/datasets").json()["items"]

    assert [(i["body_part"], i["modality"]) for i in items[:9]] == [
        ("위", "내시경"),
        ("대장", "내시경"),
        ("대장", "CT"),
        ("유방", "초음파"),
        ("유방", "MRI"),
        ("유방", "Mammo"),
        ("요로결석", "CT"),
        ("담관결석", "CT"),
        ("응급복부", "CT"),
    ]
    assert [i["illustrative"] for i in items] == [False] * 9 + [True] * (len(items) - 9)
