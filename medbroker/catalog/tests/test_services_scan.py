"""The catalogue's side of a scan: the result applied to the dataset, and the de-identification decision."""

from __future__ import annotations

import pytest
import time_machine

from medbroker.accounts.models import Role
from medbroker.accounts.tests.factories import UserFactory
from medbroker.audit.models import AuditEvent
from medbroker.catalog.models import Dataset
from medbroker.catalog.services import (
    dataset_deidentification_override,
    dataset_publish,
    dataset_scan_apply,
)
from medbroker.catalog.tests.conftest import Catalogue
from medbroker.core.errors import DomainError, PermissionDeniedError
from medbroker.core.timeutils import kst

pytestmark = pytest.mark.django_db

NOW = kst(2025, 8, 1, 9, 0)
LATER = kst(2025, 8, 2, 10, 30)
KEY_INFORMATION = {"files": 12, "patients": 3, "modalities": {"CT": 12}}


@pytest.fixture
def dara_steward(catalogue: Catalogue):
    return UserFactory(
        username="dara_steward", organisation=catalogue.dara.organisation, roles=[Role.DATA_STEWARD]
    )


def state(dataset: Dataset) -> tuple:
    dataset.refresh_from_db()
    return (
        dataset.publication,
        dataset.deidentification,
        dataset.deidentification_findings,
        dataset.deidentification_override_reason,
        dataset.deidentification_override_by_id,
        dataset.deidentification_override_at,
    )


def apply(dataset: Dataset, *, findings: int, formats: list[str] | None = None, actor=None) -> Dataset:
    return dataset_scan_apply(
        dataset=dataset,
        key_information=KEY_INFORMATION,
        annotated=4,
        non_annotated=8,
        formats=["DICOM"] if formats is None else formats,
        files_with_findings=findings,
        actor=actor,
    )


@time_machine.travel(NOW, tick=False)
def test_a_clean_scan_sets_counts_formats_and_state_with_one_event(catalogue: Catalogue, operator) -> None:
    dataset = catalogue.colon_endoscopy_draft

    applied = apply(dataset, findings=0, formats=["DICOM", "EDF+"], actor=operator)

    dataset.refresh_from_db()
    assert applied.pk == dataset.pk
    assert (
        dataset.scan_summary,
        dataset.scanned_at,
        dataset.annotated_count,
        dataset.non_annotated_count,
        dataset.total_count,
        dataset.formats,
        dataset.deidentification,
        dataset.deidentification_findings,
    ) == (KEY_INFORMATION, NOW, 4, 8, 12, ["DICOM", "EDF+"], "clean", 0)
    assert "edf+" in dataset.search_document
    event = AuditEvent.objects.get()
    assert (event.action, event.actor, event.object_id, event.summary) == (
        "catalog.dataset_scan_applied",
        operator,
        str(dataset.pk),
        "데이터셋 스캔 결과 반영: 대장 내시경 영상",
    )
    assert event.data == {
        "changes": {
            "annotated_count": [5000, 4],
            "non_annotated_count": [11000, 8],
            "formats": [["DICOM"], ["DICOM", "EDF+"]],
            "deidentification": ["not_checked", "clean"],
        },
        "annotated_count": 4,
        "non_annotated_count": 8,
        "deidentification": "clean",
        "deidentification_findings": 0,
    }


def test_a_scan_without_formats_keeps_the_stewards_list(catalogue: Catalogue) -> None:
    dataset = catalogue.stomach_endoscopy

    apply(dataset, findings=0, formats=[])

    dataset.refresh_from_db()
    assert dataset.formats == ["DICOM", "JPEG"]


def test_findings_block_publication_until_an_operator_overrides(
    catalogue: Catalogue, operator, dara_steward
) -> None:
    dataset = catalogue.colon_endoscopy_draft
    apply(dataset, findings=3)
    before = state(dataset)

    with pytest.raises(DomainError) as refused:
        dataset_publish(actor=dara_steward, dataset=dataset)

    assert (refused.value.code, refused.value.status_code, str(refused.value)) == (
        "dataset_deidentification_findings",
        409,
        "비식별 점검에서 발견 사항이 있는 파일이 3개 있어 공개할 수 없습니다. "
        "데이터를 고친 뒤 다시 스캔하거나 운영자의 공개 허용을 받아 주세요.",
    )
    assert state(dataset) == before
    assert AuditEvent.objects.filter(action="catalog.dataset_published").count() == 0

    with time_machine.travel(LATER, tick=False):
        dataset_deidentification_override(
            actor=operator, dataset=dataset, reason="  비공개 태그는 장비 보정값임을 확인함  "
        )
    published = dataset_publish(actor=dara_steward, dataset=dataset)

    assert state(dataset) == (
        "published",
        "overridden",
        3,
        "비공개 태그는 장비 보정값임을 확인함",
        operator.pk,
        LATER,
    )
    assert published.publication == "published"
    event = AuditEvent.objects.get(action="catalog.dataset_deidentification_overridden")
    assert (event.actor, event.summary, event.data) == (
        operator,
        "비식별 점검 발견 사항에도 공개 허용: 대장 내시경 영상",
        {
            "institution": "대구다라병원",
            "title": "대장 내시경 영상",
            "files_with_findings": 3,
            "reason": "비공개 태그는 장비 보정값임을 확인함",
        },
    )


def test_a_new_scan_with_findings_clears_an_override(catalogue: Catalogue, operator) -> None:
    dataset = catalogue.colon_endoscopy_draft
    apply(dataset, findings=3)
    dataset_deidentification_override(actor=operator, dataset=dataset, reason="확인함")

    apply(dataset, findings=1)

    assert state(dataset) == ("draft", "findings", 1, "", None, None)


def test_a_clean_scan_after_findings_allows_publication(catalogue: Catalogue, dara_steward) -> None:
    dataset = catalogue.colon_endoscopy_draft
    apply(dataset, findings=2)

    apply(dataset, findings=0)
    dataset_publish(actor=dara_steward, dataset=dataset)

    assert state(dataset) == ("published", "clean", 0, "", None, None)


@pytest.mark.parametrize(
    ("reason", "code", "message"),
    [
        ("   ", "deidentification_override_reason_required", "공개 허용 사유를 입력해 주세요."),
        (
            "가" * 1001,
            "deidentification_override_reason_too_long",
            "공개 허용 사유는 1000자 이내로 입력해 주세요.",
        ),
    ],
)
def test_an_override_needs_a_reason(catalogue: Catalogue, operator, reason, code, message) -> None:
    dataset = catalogue.colon_endoscopy_draft
    apply(dataset, findings=2)
    before = state(dataset)

    with pytest.raises(DomainError) as refused:
        dataset_deidentification_override(actor=operator, dataset=dataset, reason=reason)

    assert (refused.value.code, refused.value.field, str(refused.value)) == (code, "reason", message)
    assert state(dataset) == before
    assert AuditEvent.objects.filter(action="catalog.dataset_deidentification_overridden").count() == 0


def test_a_reason_of_exactly_the_limit_is_accepted(catalogue: Catalogue, operator) -> None:
    dataset = catalogue.colon_endoscopy_draft
    apply(dataset, findings=2)

    dataset_deidentification_override(actor=operator, dataset=dataset, reason="가" * 1000)

    assert state(dataset)[1:4] == ("overridden", 2, "가" * 1000)


@pytest.mark.parametrize("findings", [None, 0])
def test_only_a_dataset_with_findings_can_be_overridden(catalogue: Catalogue, operator, findings) -> None:
    dataset = catalogue.colon_endoscopy_draft
    if findings is not None:
        apply(dataset, findings=findings)
    before = state(dataset)

    with pytest.raises(DomainError) as refused:
        dataset_deidentification_override(actor=operator, dataset=dataset, reason="확인함")

    assert (refused.value.code, refused.value.status_code) == ("deidentification_no_findings", 409)
    assert state(dataset) == before


def test_only_operators_override(catalogue: Catalogue, dara_steward, auditor) -> None:
    dataset = catalogue.colon_endoscopy_draft
    apply(dataset, findings=2)
    before = state(dataset)

    for user in (dara_steward, auditor):
        with pytest.raises(PermissionDeniedError) as refused:
            dataset_deidentification_override(actor=user, dataset=dataset, reason="확인함")
        assert (refused.value.code, str(refused.value)) == (
            "forbidden",
            "비식별 점검 결과에 대한 공개 허용은(는) 운영자만 할 수 있습니다.",
        )

    assert state(dataset) == before


def test_findings_on_a_published_dataset_leave_it_published(catalogue: Catalogue) -> None:
    dataset = catalogue.heart_ecg

    apply(dataset, findings=5, formats=["WFDB"])

    assert state(dataset) == ("published", "findings", 5, "", None, None)


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("annotated", -1, "dataset_count_invalid"),
        ("files_with_findings", "3", "dataset_count_invalid"),
        ("formats", "DICOM", "dataset_formats_invalid"),
        ("key_information", ["not", "a", "dict"], "dataset_key_information_invalid"),
    ],
)
def test_bad_scan_values_are_refused_and_change_nothing(catalogue: Catalogue, field, value, code) -> None:
    dataset = catalogue.colon_endoscopy_draft
    arguments = {
        "key_information": KEY_INFORMATION,
        "annotated": 1,
        "non_annotated": 1,
        "formats": ["DICOM"],
        "files_with_findings": 0,
        field: value,
    }

    with pytest.raises(DomainError) as refused:
        dataset_scan_apply(dataset=dataset, **arguments)

    dataset.refresh_from_db()
    assert refused.value.code == code
    assert (dataset.scanned_at, dataset.annotated_count, dataset.deidentification) == (
        None,
        5000,
        "not_checked",
    )
    assert AuditEvent.objects.count() == 0
