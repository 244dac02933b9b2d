from __future__ import annotations

import pytest
from django.test import Client

from medbroker.catalog.models import Dataset
from medbroker.catalog.tests.conftest import Catalogue
from medbroker.catalog.tests.factories import DatasetFactory
from medbroker.core.timeutils import kst

pytestmark = pytest.mark.django_db

PUBLISHED_AT = kst(2025, 7, 7, 9, 0)


def ids(response) -> list[int]:
    return [item["id"] for item in response.json()["items"]]


def test_one_item_of_the_list_in_full(client: Client, catalogue: Catalogue) -> None:
    dataset = catalogue.stomach_endoscopy
    Dataset.objects.filter(pk=dataset.pk).update(published_at=PUBLISHED_AT)

    response = client.get("/api/v1/datasets", {"modality": "endoscopy"})

    assert response.status_code == 200
    assert response.json() == {
        "count": 1,
        "items": [
            {
                "id": dataset.pk,
                "title": "위 내시경 영상",
                "title_en": "Gastric endoscopy images",
                "institution": "대구가나병원",
                "institution_id": catalogue.gana.pk,
                "institution_en": "Daegu Gana Hospital",
                "body_part": "위",
                "body_part_code": "stomach",
                "body_part_en": "Stomach",
                "modality": "내시경",
                "modality_code": "endoscopy",
                "modality_en": "Endoscopy",
                "dicom_modality": "ES",
                "data_type": "imaging",
                "annotated": 10550,
                "non_annotated": 10950,
                "total": 21500,
                "counts_suppressed": False,
                "sensitivity": "standard",
                "formats": ["DICOM", "JPEG"],
                "illustrative": False,
                "published_at": "2025-07-07T00:00:00Z",
            }
        ],
    }


def test_list_shows_published_datasets_in_catalogue_order(client: Client, catalogue: Catalogue) -> None:
    response = client.get("/api/v1/datasets")

    assert response.json()["count"] == 4
    assert ids(response) == [
        catalogue.stomach_endoscopy.pk,
        catalogue.colon_ct.pk,
        catalogue.breast_mri.pk,
        catalogue.heart_ecg.pk,
    ]


def test_list_is_paginated(client: Client, catalogue: Catalogue) -> None:
    first = client.get("/api/v1/datasets", {"page_size": 3})
    second = client.get("/api/v1/datasets", {"page_size": 3, "page": 2})
    beyond = client.get("/api/v1/datasets", {"page_size": 3, "page": 3})

    assert (first.json()["count"], len(first.json()["items"])) == (4, 3)
    assert ids(second) == [catalogue.heart_ecg.pk]
    assert beyond.json() == {"count": 4, "items": []}


def test_default_page_size_is_the_projects(client: Client, catalogue: Catalogue) -> None:
    DatasetFactory.create_batch(50, institution=catalogue.dara)

    response = client.get("/api/v1/datasets")

    assert (response.json()["count"], len(response.json()["items"])) == (54, 50)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"q": "내시경"}, ["stomach_endoscopy"]),
        ({"q": "colon ct"}, ["colon_ct"]),
        ({"body_part": "breast"}, ["breast_mri"]),
        ({"modality": ["ct", "mri"]}, ["colon_ct", "breast_mri"]),
        ({"data_type": "time_series"}, ["heart_ecg"]),
        ({"sensitivity": "high"}, ["colon_ct", "breast_mri"]),
        ({"annotated": "false"}, ["breast_mri"]),
        ({"annotated": "true", "sensitivity": ["high", "low"]}, ["colon_ct", "heart_ecg"]),
        ({"q": "없는낱말"}, []),
    ],
)
def test_list_filters(client: Client, catalogue: Catalogue, params: dict, expected: list[str]) -> None:
    response = client.get("/api/v1/datasets", params)

    assert response.status_code == 200
    assert ids(response) == [getattr(catalogue, name).pk for name in expected]


def test_filter_by_institution_id(client: Client, catalogue: Catalogue) -> None:
    response = client.get("/api/v1/datasets", {"institution": catalogue.dara.pk})

    assert ids(response) == [catalogue.heart_ecg.pk]


def test_a_malformed_filter_is_a_validation_error(client: Client, catalogue: Catalogue) -> None:
    response = client.get("/api/v1/datasets", {"institution": "abc"})

    assert response.status_code == 422


def test_detail_of_a_published_dataset(client: Client, catalogue: Catalogue) -> None:
    dataset = catalogue.heart_ecg
    Dataset.objects.filter(pk=dataset.pk).update(
        published_at=PUBLISHED_AT,
        description="가상 병원의 심전도",
        annotation_description="리듬 라벨",
        source_note="예시",
        key_information={"표본 주파수": "500 Hz", "리드": 12},
        contact_name="의료정보팀",
        contact_email="data@dara.example",
        contact_phone="053-000-0001",
    )

    response = client.get(f"/api/v1/datasets/{dataset.pk}")

    assert response.status_code == 200
    assert response.json() == {
        "id": dataset.pk,
        "title": "12유도 심전도",
        "title_en": "12-lead ECG",
        "institution": "대구다라병원",
        "institution_id": catalogue.dara.pk,
        "institution_en": "Daegu Dara Hospital",
        "body_part": "심장",
        "body_part_code": "heart",
        "body_part_en": "Heart",
        "modality": "ECG",
        "modality_code": "ecg",
        "modality_en": "Electrocardiography (ECG)",
        "dicom_modality": "ECG",
        "data_type": "time_series",
        "annotated": 2000,
        "non_annotated": 8000,
        "total": 10000,
        "counts_suppressed": False,
        "sensitivity": "low",
        "formats": ["WFDB"],
        "illustrative": True,
        "published_at": "2025-07-07T00:00:00Z",
        "description": "가상 병원의 심전도",
        "annotation_description": "리듬 라벨",
        "online_use_allowed": True,
        "source_note": "예시",
        "key_information": {"표본 주파수": "500 Hz", "리드": 12},
        "contact": {"name": "의료정보팀", "email": "data@dara.example", "phone": "053-000-0001"},
    }


@pytest.mark.parametrize("state", [Dataset.Publication.DRAFT, Dataset.Publication.WITHDRAWN])
def test_an_unpublished_dataset_is_not_found(
    client: Client, catalogue: Catalogue, login, operator, state: str
) -> None:
    dataset = catalogue.colon_endoscopy_draft
    Dataset.objects.filter(pk=dataset.pk).update(publication=state)
    # Even an operator: the API is the public catalogue.
    login(client, operator)

    response = client.get(f"/api/v1/datasets/{dataset.pk}")

    assert response.status_code == 404
    assert response.json() == {
        "code": "dataset_not_found",
        "message": "공개된 데이터셋 중에 해당 번호가 없습니다.",
        "field": None,
    }


def test_a_dataset_that_never_existed_is_not_found(client: Client, db: None) -> None:
    assert client.get("/api/v1/datasets/987654").status_code == 404


def test_totals(client: Client, catalogue: Catalogue) -> None:
    response = client.get("/api/v1/datasets/totals")

    assert response.status_code == 200
    body = response.json()
    assert body["overall"] == {
        "code": "all",
        "name": "전체",
        "name_en": "All",
        "datasets": 4,
        "annotated": 13050,
        "non_annotated": 20850,
        "total": 33900,
    }
    assert body["by_modality"][0] == {
        "code": "endoscopy",
        "name": "내시경",
        "name_en": "Endoscopy",
        "datasets": 1,
        "annotated": 10550,
        "non_annotated": 10950,
        "total": 21500,
    }
    assert [row["code"] for row in body["by_modality"]] == ["endoscopy", "ct", "mri", "ecg"]
    assert [(row["code"], row["total"]) for row in body["by_body_part"]] == [
        ("stomach", 21500),
        ("colon", 2000),
        ("breast", 400),
        ("heart", 10000),
    ]


def test_korean_names_come_back_as_text_not_escapes(client: Client, catalogue: Catalogue) -> None:
    response = client.get("/api/v1/datasets", {"modality": "endoscopy"})

    assert response["Content-Type"] == "application/json; charset=utf-8"
    assert '"body_part": "위"' in response.content.decode("utf-8")
