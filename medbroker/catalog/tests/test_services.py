from __future__ import annotations

import datetime as dt

import pytest
import time_machine

from medbroker.accounts.models import Role
from medbroker.accounts.tests.factories import UserFactory
from medbroker.audit.models import AuditEvent
from medbroker.catalog.models import Dataset, DataType, Sensitivity
from medbroker.catalog.services import (
    dataset_create,
    dataset_publish,
    dataset_search_document_build,
    dataset_update,
    dataset_withdraw,
)
from medbroker.catalog.tests.conftest import Catalogue
from medbroker.catalog.tests.factories import body_part, modality
from medbroker.core.errors import DomainError, PermissionDeniedError
from medbroker.core.timeutils import kst

pytestmark = pytest.mark.django_db

NOW = kst(2025, 7, 10, 14, 30)


@pytest.fixture
def dara_steward(catalogue: Catalogue):
    return UserFactory(
        username="dara_steward", organisation=catalogue.dara.organisation, roles=[Role.DATA_STEWARD]
    )


def snapshot(dataset: Dataset) -> tuple:
    dataset.refresh_from_db()
    return (dataset.publication, dataset.published_at, dataset.title, dataset.annotated_count)


@time_machine.travel(NOW, tick=False)
def test_publish_a_draft_records_the_event(catalogue: Catalogue, dara_steward) -> None:
    draft = catalogue.colon_endoscopy_draft

    published = dataset_publish(actor=dara_steward, dataset=draft)

    draft.refresh_from_db()
    assert (draft.publication, draft.published_at) == (Dataset.Publication.PUBLISHED, NOW)
    assert published.pk == draft.pk
    event = AuditEvent.objects.get()
    assert (event.action, event.actor, event.object_type, event.object_id, event.summary) == (
        "catalog.dataset_published",
        dara_steward,
        "catalog.dataset",
        str(draft.pk),
        "데이터셋 공개: 대장 내시경 영상",
    )
    assert event.data == {
        "institution": "대구다라병원",
        "title": "대장 내시경 영상",
        "from": "draft",
        "to": "published",
    }
    assert event.occurred_at == NOW


def test_publishing_twice_is_refused_and_changes_nothing(catalogue: Catalogue, dara_steward) -> None:
    dataset = catalogue.heart_ecg
    before = snapshot(dataset)

    with pytest.raises(DomainError) as refused:
        dataset_publish(actor=dara_steward, dataset=dataset)

    assert (refused.value.code, refused.value.status_code, str(refused.value)) == (
        "dataset_already_published",
        409,
        "이미 공개된 데이터셋입니다.",
    )
    assert snapshot(dataset) == before
    assert AuditEvent.objects.count() == 0


def test_a_dataset_without_cases_cannot_be_published(catalogue: Catalogue, dara_steward) -> None:
    draft = catalogue.colon_endoscopy_draft
    Dataset.objects.filter(pk=draft.pk).update(annotated_count=0, non_annotated_count=0)

    with pytest.raises(DomainError) as refused:
        dataset_publish(actor=dara_steward, dataset=draft)

    assert refused.value.code == "dataset_empty"
    assert snapshot(draft)[0] == Dataset.Publication.DRAFT
    assert AuditEvent.objects.count() == 0


@time_machine.travel(NOW, tick=False)
def test_withdraw_records_the_event_with_its_reason(catalogue: Catalogue, operator) -> None:
    dataset = catalogue.colon_ct
    published_at = dataset.published_at

    dataset_withdraw(actor=operator, dataset=dataset, reason="  비식별 재검토  ")

    dataset.refresh_from_db()
    assert (dataset.publication, dataset.published_at) == (Dataset.Publication.WITHDRAWN, published_at)
    event = AuditEvent.objects.get()
    assert (event.action, event.actor, event.object_id, event.summary) == (
        "catalog.dataset_withdrawn",
        operator,
        str(dataset.pk),
        "데이터셋 공개 중단: 대장 CT 영상",
    )
    assert event.data == {
        "institution": "대구가나병원",
        "title": "대장 CT 영상",
        "from": "published",
        "to": "withdrawn",
        "reason": "비식별 재검토",
    }


def test_a_withdrawn_dataset_can_be_published_again(catalogue: Catalogue, operator) -> None:
    dataset = catalogue.colon_ct
    dataset_withdraw(actor=operator, dataset=dataset)

    dataset_publish(actor=operator, dataset=dataset)

    dataset.refresh_from_db()
    assert dataset.publication == Dataset.Publication.PUBLISHED
    assert list(AuditEvent.objects.order_by("sequence").values_list("action", "data__from")) == [
        ("catalog.dataset_withdrawn", "published"),
        ("catalog.dataset_published", "withdrawn"),
    ]


def test_only_published_datasets_can_be_withdrawn(catalogue: Catalogue, dara_steward) -> None:
    draft = catalogue.colon_endoscopy_draft

    with pytest.raises(DomainError) as refused:
        dataset_withdraw(actor=dara_steward, dataset=draft)

    assert refused.value.code == "dataset_not_published"
    assert snapshot(draft)[0] == Dataset.Publication.DRAFT
    assert AuditEvent.objects.count() == 0


@pytest.mark.parametrize("who", ["other_steward", "applicant", "auditor", "reviewer"])
def test_only_operators_and_the_institutions_stewards_may_publish(
    catalogue: Catalogue, who: str, applicant, auditor, reviewer
) -> None:
    actors = {
        "other_steward": UserFactory(organisation=catalogue.gana.organisation, roles=[Role.DATA_STEWARD]),
        "applicant": applicant,
        "auditor": auditor,
        "reviewer": reviewer,
    }
    draft = catalogue.colon_endoscopy_draft
    before = snapshot(draft)

    with pytest.raises(PermissionDeniedError) as refused:
        dataset_publish(actor=actors[who], dataset=draft)
    with pytest.raises(PermissionDeniedError):
        dataset_update(actor=actors[who], dataset=draft, data={"title": "바뀐 이름"})

    assert (refused.value.code, refused.value.status_code) == ("catalog_not_allowed", 403)
    assert snapshot(draft) == before
    assert AuditEvent.objects.count() == 0


def test_create_registers_a_draft_with_its_search_document(catalogue: Catalogue, dara_steward) -> None:
    dataset = dataset_create(
        actor=dara_steward,
        institution=catalogue.dara,
        data={
            "title": "  심장 CT 영상 ",
            "title_en": "Cardiac CT",
            "body_part": body_part("heart"),
            "modality": modality("ct"),
            "annotated_count": 120,
            "non_annotated_count": 80,
            "formats": ["DICOM", " DICOM ", ""],
            "sensitivity": Sensitivity.HIGH,
        },
    )

    dataset.refresh_from_db()
    assert (dataset.title, dataset.publication, dataset.data_type, dataset.total_count, dataset.formats) == (
        "심장 CT 영상",
        Dataset.Publication.DRAFT,
        DataType.IMAGING,
        200,
        ["DICOM"],
    )
    assert (
        dataset.search_document
        == "심장 ct 영상\ncardiac ct\n심장\nheart\nct\n대구다라병원\ndaegu dara hospital\ndicom"
    )
    event = AuditEvent.objects.get()
    assert (event.action, event.summary) == ("catalog.dataset_created", "데이터셋 등록: 심장 CT 영상")
    assert event.data == {
        "institution": "대구다라병원",
        "title": "심장 CT 영상",
        "body_part": "heart",
        "modality": "ct",
        "annotated_count": 120,
        "non_annotated_count": 80,
    }


def test_create_for_another_institution_is_refused(catalogue: Catalogue, dara_steward) -> None:
    with pytest.raises(PermissionDeniedError):
        dataset_create(
            actor=dara_steward,
            institution=catalogue.gana,
            data={"title": "x", "body_part": body_part("heart"), "modality": modality("ct")},
        )

    assert Dataset.objects.count() == 5
    assert AuditEvent.objects.count() == 0


def test_update_records_each_change_and_refreshes_the_search_document(catalogue: Catalogue, operator) -> None:
    dataset = catalogue.heart_ecg

    updated = dataset_update(
        actor=operator,
        dataset=dataset,
        data={
            "title": "12유도 심전도 (2024)",
            "annotated_count": 2500,
            "modality": modality("ct"),
            "title_en": "12-lead ECG",
        },
    )

    dataset.refresh_from_db()
    assert (dataset.title, dataset.annotated_count, dataset.total_count, dataset.data_type) == (
        "12유도 심전도 (2024)",
        2500,
        10500,
        DataType.IMAGING,
    )
    assert updated.total_count == 10500
    assert dataset.search_document == dataset_search_document_build(dataset)
    assert "(2024)" in dataset.search_document
    event = AuditEvent.objects.get()
    assert (event.action, event.summary) == ("catalog.dataset_updated", "데이터셋 수정: 12유도 심전도 (2024)")
    assert event.data == {
        "changes": {
            "title": ["12유도 심전도", "12유도 심전도 (2024)"],
            "annotated_count": [2000, 2500],
            "modality": ["ecg", "ct"],
        }
    }


def test_an_update_that_changes_nothing_writes_no_event(catalogue: Catalogue, operator) -> None:
    dataset_update(actor=operator, dataset=catalogue.colon_ct, data={"title": "대장 CT 영상"})

    assert AuditEvent.objects.count() == 0


@pytest.mark.parametrize(
    ("data", "code", "field"),
    [
        ({"publication": "published"}, "dataset_field_not_editable", "publication"),
        ({"institution": None}, "dataset_field_not_editable", "institution"),
        ({"title": "   "}, "dataset_field_required", "title"),
        ({"annotated_count": -1}, "dataset_count_invalid", "annotated_count"),
        ({"non_annotated_count": "12"}, "dataset_count_invalid", "non_annotated_count"),
        ({"formats": "DICOM"}, "dataset_formats_invalid", "formats"),
        ({"key_information": ["a"]}, "dataset_key_information_invalid", "key_information"),
        ({"sensitivity": "secret"}, "dataset_sensitivity_invalid", "sensitivity"),
        ({"body_part": "stomach"}, "dataset_body_part_invalid", "body_part"),
    ],
)
def test_update_refuses_bad_values_and_changes_nothing(
    catalogue: Catalogue, operator, data: dict, code: str, field: str
) -> None:
    dataset = catalogue.colon_ct
    before = snapshot(dataset)

    with pytest.raises(DomainError) as refused:
        dataset_update(actor=operator, dataset=dataset, data=data)

    assert (refused.value.code, refused.value.field) == (code, field)
    assert snapshot(dataset) == before
    assert AuditEvent.objects.count() == 0


def test_publish_time_is_stored_in_korea_time_terms(catalogue: Catalogue, operator) -> None:
    with time_machine.travel(dt.datetime(2025, 7, 21, 6, 59, tzinfo=dt.UTC), tick=False):
        dataset_publish(actor=operator, dataset=catalogue.colon_endoscopy_draft)

    catalogue.colon_endoscopy_draft.refresh_from_db()
    assert catalogue.colon_endoscopy_draft.published_at == kst(2025, 7, 21, 15, 59)
