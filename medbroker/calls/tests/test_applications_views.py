"""The company's application pages: start, edit (formsets, htmx rows), detail, withdrawal, downloads."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import time_machine
from django.test import Client
from django.urls import reverse

from medbroker.accounts.models import User
from medbroker.audit.models import AuditEvent
from medbroker.calls.models import Application, Call, Certification, Consultation, ConsultationItem
from medbroker.calls.services.applications import application_submit
from medbroker.calls.tests.factories import call_2025
from medbroker.calls.tests.factories_applications import (
    application_draft,
    application_ready,
    sample_pdf,
    upload,
)
from medbroker.catalog.tests.factories import DatasetFactory
from medbroker.core.timeutils import kst

NOW = kst(2025, 7, 14, 10, 0, 0)


@pytest.fixture
def call(db: None) -> Call:
    return call_2025()


@pytest.fixture(autouse=True)
def during_intake() -> Iterator[None]:
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def company_client(applicant: User, login: Callable[..., Client], client: Client) -> Client:
    return login(client, applicant)


def _management(**totals: int) -> dict[str, str]:
    data = {}
    for prefix in ("datasets", "projects", "certifications", "ip"):
        data[f"{prefix}-TOTAL_FORMS"] = str(totals.get(prefix, 0))
        data[f"{prefix}-INITIAL_FORMS"] = "0"
    return data


def test_list_offers_the_open_call_then_the_own_application(
    call: Call, applicant: User, company_client: Client
) -> None:
    page = company_client.get(reverse("calls:application_list")).content.decode()
    assert reverse("calls:application_new", args=[call.slug]) in page

    application = application_draft(call=call, applicant=applicant)

    page = company_client.get(reverse("calls:application_list")).content.decode()
    assert reverse("calls:application_detail", args=[application.pk]) in page
    assert reverse("calls:application_new", args=[call.slug]) not in page


def test_new_shows_the_consultation_and_creates_a_prefilled_draft(
    call: Call, applicant: User, company_client: Client
) -> None:
    dataset = DatasetFactory(title="대장 CT")
    consultation = Consultation.objects.create(
        call=call, company=applicant.organisation, created_by=applicant, purpose="용종", status="answered"
    )
    ConsultationItem.objects.create(
        consultation=consultation,
        dataset=dataset,
        requested_amount=900,
        answer="partial",
        available_amount=500,
        answered_at=NOW,
    )
    url = reverse("calls:application_new", args=[call.slug])

    assert "대장 CT" in company_client.get(url).content.decode()
    response = company_client.post(url)

    application = Application.objects.get()
    assert response["Location"] == reverse("calls:application_edit", args=[application.pk])
    assert list(application.requested_datasets.values_list("dataset__title", "amount")) == [("대장 CT", 500)]
    again = company_client.post(url)
    assert again["Location"] == reverse("calls:application_detail", args=[application.pk])
    assert Application.objects.count() == 1


def test_edit_page_shows_every_section_and_what_each_criterion_needs(
    call: Call, other_applicant: User, login: Callable[..., Client], client: Client
) -> None:
    application = application_draft(call=call, applicant=other_applicant)

    response = login(client, other_applicant).get(reverse("calls:application_edit", args=[application.pk]))

    page = response.content.decode()
    assert response.status_code == 200
    for anchor in (
        'id="plan"',
        'id="eligibility"',
        'id="datasets"',
        'id="compute"',
        'id="bonus"',
        'id="documents"',
    ):
        assert anchor in page
    assert "현재 주소는 대구광역시가 아니므로 ①로는 자격을 충족할 수 없습니다." in page
    assert "지역이전 확약서 제출(아래 '제출 서류'에서 올립니다)" in page
    assert "V100 16GB (CPU 128코어 · 메모리 120GB · 1TB(HDD))" in page
    assert "A100 32GB (CPU 32코어 · 메모리 128GB · 1TB(HDD))" in page
    assert 'name="revenue-revenue_2021"' in page and 'name="revenue-revenue_2024"' in page
    assert "파일당 20 MB까지" in page


def test_edit_saves_every_part_from_the_page(call: Call, applicant: User, company_client: Client) -> None:
    application = application_draft(call=call, applicant=applicant)
    dataset = DatasetFactory()
    gmp = Certification.objects.get(call=call, name="GMP")
    option = call.compute_options.get(code="v100-32")
    data: dict[str, Any] = {
        **_management(datasets=1, projects=2, certifications=1, ip=1),
        "plan-project_title": "AI 판독 보조",
        "plan-summary": "개요",
        "eligibility-declared_daegu_company": "on",
        "eligibility-declared_realworld_daegu": "on",
        "eligibility-realworld_institution": "칠곡경북대학교병원",
        "eligibility-detail_daegu_company": "본사 대구",
        "datasets-0-dataset": str(dataset.pk),
        "datasets-0-amount": "700",
        "datasets-0-needs_annotated": "on",
        "compute-compute_option": str(option.pk),
        "compute-compute_intended_use": "학습",
        "revenue-revenue_2021": "100",
        "revenue-revenue_2024": "400",
        "revenue-provisional": "on",
        "projects-0-kind": "own",
        "projects-0-project_id": "OWN-1",
        "projects-0-title": "자체 과제",
        "projects-0-started_on": "2023-01-01",
        "projects-0-ended_on": "2023-12-31",
        # An untouched blank row (its select shows the first option) is ignored.
        "projects-1-kind": "government",
        "certifications-0-certification": str(gmp.pk),
        "certifications-0-certificate_number": "GMP-7",
        "certifications-0-valid_until": "2027-01-01",
        "ip-0-kind": "patent",
        "ip-0-registration_number": "10-7654321",
        "ip-0-title": "판독 보조 방법",
        "ip-0-registered_on": "2024-05-05",
        "documents-document_application_plan": _file("계획서.pdf"),
    }

    response = company_client.post(reverse("calls:application_edit", args=[application.pk]), data)

    assert response.status_code == 302
    application.refresh_from_db()
    assert (application.project_title, application.realworld_institution, application.compute_option) == (
        "AI 판독 보조",
        "칠곡경북대학교병원",
        option,
    )
    assert list(
        application.eligibility.filter(declared=True).values_list("criterion__number", flat=True)
    ) == [1, 3]
    assert list(application.requested_datasets.values_list("dataset", "amount", "needs_annotated")) == [
        (dataset.pk, 700, True)
    ]
    assert list(application.revenues.values_list("year", "amount_krw", "provisional")) == [
        (2021, 100, False),
        (2024, 400, True),
    ]
    assert list(application.projects.values_list("kind", "project_id")) == [("own", "OWN-1")]
    assert list(application.certifications.values_list("certification__name", "certificate_number")) == [
        ("GMP", "GMP-7")
    ]
    assert list(application.intellectual_property.values_list("registration_number", flat=True)) == [
        "10-7654321"
    ]
    assert list(application.documents.values_list("original_name", flat=True)) == ["계획서.pdf"]


def _file(name: str) -> Any:
    return upload(name, sample_pdf())


def test_edit_with_a_bad_row_saves_nothing_and_marks_the_row(
    call: Call, applicant: User, company_client: Client
) -> None:
    application = application_draft(call=call, applicant=applicant)
    data = {
        **_management(projects=1),
        "plan-project_title": "새 과제명",
        "projects-0-kind": "government",
        "projects-0-project_id": "G-1",
        "projects-0-title": "과제",
        "projects-0-started_on": "2024-01-01",
        "projects-0-ended_on": "2023-01-01",
    }

    response = company_client.post(reverse("calls:application_edit", args=[application.pk]), data)

    assert response.status_code == 400
    assert "종료일이 시작일보다 앞설 수 없습니다." in response.content.decode()
    application.refresh_from_db()
    assert (application.project_title, application.projects.count()) == ("", 0)


def test_a_dataset_twice_is_refused(call: Call, applicant: User, company_client: Client) -> None:
    application = application_draft(call=call, applicant=applicant)
    dataset = DatasetFactory()
    data = {
        **_management(datasets=2),
        "datasets-0-dataset": str(dataset.pk),
        "datasets-0-amount": "1",
        "datasets-1-dataset": str(dataset.pk),
        "datasets-1-amount": "2",
    }

    response = company_client.post(reverse("calls:application_edit", args=[application.pk]), data)

    assert response.status_code == 400
    assert f"같은 항목이 두 번 입력되었습니다: {dataset.title}" in response.content.decode()
    assert application.requested_datasets.count() == 0


def test_add_row_returns_a_blank_row_and_the_new_total(
    call: Call, applicant: User, company_client: Client
) -> None:
    application = application_draft(call=call, applicant=applicant)

    response = company_client.get(
        reverse("calls:application_formset_row", args=[application.pk, "certifications"]),
        {"certifications-TOTAL_FORMS": "3"},
    )

    page = response.content.decode()
    assert 'name="certifications-3-certification"' in page
    assert '<option value="" selected>인증 선택</option>' in page
    assert '<optgroup label="의료기기 인증">' in page
    assert (
        '<input type="hidden" name="certifications-TOTAL_FORMS" id="id_certifications-TOTAL_FORMS" value="4" '
        'hx-swap-oob="true">'
    ) in page
    unknown = company_client.get(reverse("calls:application_formset_row", args=[application.pk, "nope"]))
    assert unknown.status_code == 404


def test_a_submitted_application_cannot_be_edited(
    call: Call, applicant: User, company_client: Client
) -> None:
    application = application_submit(
        application=application_ready(call=call, applicant=applicant), actor=applicant
    )

    response = company_client.post(
        reverse("calls:application_edit", args=[application.pk]), {"plan-project_title": "바꿈"}, follow=True
    )

    assert "&#x27;제출 완료&#x27; 상태의 신청서는 수정할 수 없습니다." in response.content.decode()
    application.refresh_from_db()
    assert application.project_title == "위 내시경 병변 검출 AI"


def test_detail_lists_what_is_missing(call: Call, applicant: User, company_client: Client) -> None:
    application = application_draft(call=call, applicant=applicant)

    response = company_client.get(reverse("calls:application_detail", args=[application.pk]))

    checklist = [(item.code, item.done) for item in response.context["checklist"]]
    assert checklist == [
        ("plan", False),
        ("eligibility", False),
        ("document:application_plan", False),
        ("document:privacy_consent", False),
        ("document:participation_agreement", False),
        ("document:eligibility_confirmation", False),
        ("support", False),
    ]
    assert "7개 항목 미완료" in response.content.decode()


def test_submit_from_the_page_shows_the_reason_it_was_refused(
    call: Call, applicant: User, company_client: Client
) -> None:
    application = application_draft(call=call, applicant=applicant)

    response = company_client.post(reverse("calls:application_submit", args=[application.pk]), follow=True)

    assert "신청 자격 ①~④ 중 1개 이상을 충족해야 제출할 수 있습니다" in response.content.decode()
    application.refresh_from_db()
    assert application.status == "draft"


def test_withdrawal_needs_the_box_ticked(call: Call, applicant: User, company_client: Client) -> None:
    application = application_draft(call=call, applicant=applicant)
    url = reverse("calls:application_withdraw", args=[application.pk])

    refused = company_client.post(url, {"reason": "사정"})
    assert refused.status_code == 400
    assert "철회하려면 확인란을 선택해 주세요." in refused.content.decode()
    application.refresh_from_db()
    assert application.status == "draft"

    accepted = company_client.post(url, {"reason": "사정", "confirm": "on"})

    assert accepted["Location"] == reverse("calls:application_detail", args=[application.pk])
    application.refresh_from_db()
    assert application.status == "withdrawn"


def test_company_downloads_its_file_without_an_audit_event(
    call: Call, applicant: User, company_client: Client
) -> None:
    application = application_ready(call=call, applicant=applicant)
    document = application.documents.get(requirement__code="application_plan")

    response = company_client.get(
        reverse("calls:application_document_download", args=[application.pk, document.pk])
    )

    assert response.status_code == 200
    assert b"".join(response.streaming_content) == sample_pdf("application_plan")
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == 'attachment; filename="application_plan.pdf"'
    assert response["Cache-Control"] == "private, no-store"
    assert not AuditEvent.objects.filter(action="calls.application_document_downloaded").exists()


@pytest.mark.parametrize("role", ["operator", "auditor"])
def test_staff_downloads_are_audit_logged(
    call: Call, applicant: User, users_by_role: dict[str, User], login: Callable[..., Client], role: str
) -> None:
    application = application_ready(call=call, applicant=applicant)
    document = application.documents.get(requirement__code="privacy_consent")

    response = login(Client(), users_by_role[role]).get(
        reverse("calls:application_document_download", args=[application.pk, document.pk])
    )

    assert b"".join(response.streaming_content) == sample_pdf("privacy_consent")
    event = AuditEvent.objects.get(action="calls.application_document_downloaded")
    assert (event.actor, event.object_id, event.data["document_id"], event.data["sha256"]) == (
        users_by_role[role],
        str(application.pk),
        document.pk,
        document.sha256,
    )


def test_uploaded_files_are_not_served_as_media(call: Call, applicant: User, company_client: Client) -> None:
    application = application_ready(call=call, applicant=applicant)
    document = application.documents.first()
    assert document is not None

    assert company_client.get(f"/_media-not-served/{document.file.name}").status_code == 404
    assert Client().get(f"/media/{document.file.name}").status_code == 404
