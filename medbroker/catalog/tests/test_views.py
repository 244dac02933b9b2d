from __future__ import annotations

import re

import pytest
from django.test import Client

from medbroker.audit.models import AuditEvent
from medbroker.catalog.models import Dataset, Sensitivity
from medbroker.catalog.tests.conftest import Catalogue, institution
from medbroker.catalog.tests.factories import DatasetFactory, body_part, modality

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "dataset-results"}


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def listed_titles(response) -> list[str]:
    return [d.title for d in response.context["table"].page]


def test_catalogue_page_lists_published_datasets_with_facets_and_totals(
    client: Client, catalogue: Catalogue
) -> None:
    response = client.get("/catalog/")

    assert response.status_code == 200
    assert listed_titles(response) == ["위 내시경 영상", "대장 CT 영상", "유방 MRI 영상", "12유도 심전도"]
    html = response.content.decode()
    assert html.count('class="krds-badge bg-light-warning catalog-illustrative"') == 1
    assert 'id="facet-modality-ct"' in html
    assert 'id="facet-count-modality-ct"' in html
    assert (
        'hx-get="/catalog/"' in html
        and 'hx-target="#dataset-results"' in html
        and 'hx-push-url="true"' in html
    )
    assert '<script src="/static/vendor/chartjs/chart.umd.min.js" defer></script>' in html
    assert response.context["totals_chart"] == {
        "labels": ["내시경", "CT", "MRI", "ECG"],
        "annotated": [10550, 500, 0, 2000],
        "non_annotated": [10950, 1500, 400, 8000],
        "annotated_label": "Annotation",
        "non_annotated_label": "Non-Annotation",
    }
    assert 'id="catalog-totals-data"' in html
    # Closed network: nothing is loaded from outside the platform.
    assert not re.search(r'(src|href)="(https?:)?//', html)


def test_facet_change_from_htmx_returns_only_the_results_region(client: Client, catalogue: Catalogue) -> None:
    response = client.get("/catalog/", {"modality": "ct"}, **HTMX)

    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html
    assert html.startswith('<section id="dataset-results"')
    assert listed_titles(response) == ["대장 CT 영상"]
    # Facet counts outside the region follow along as out-of-band swaps.
    assert (
        'id="facet-count-body_part-colon" hx-swap-oob="true"><span class="sr-only">결과 </span>1</span>'
        in html
    )
    assert 'id="catalog-sort" name="sort" value="institution" hx-swap-oob="true"' in html
    assert set(response["Vary"].replace(" ", "").split(",")) >= {"HX-Request", "HX-Target"}


def test_history_restore_gets_the_whole_page(client: Client, catalogue: Catalogue) -> None:
    response = client.get(
        "/catalog/", {"modality": "ct"}, HTTP_HX_REQUEST="true", HTTP_HX_HISTORY_RESTORE_REQUEST="true"
    )

    assert "<html" in response.content.decode()


def test_sortable_columns_and_the_whitelist(client: Client, catalogue: Catalogue) -> None:
    by_total = client.get("/catalog/", {"sort": "-total"})
    by_title = client.get("/catalog/", {"sort": "title"})
    forged = client.get("/catalog/", {"sort": "search_document"})
    forged_desc = client.get("/catalog/", {"sort": "-institution__organisation__name"})

    assert listed_titles(by_total) == ["위 내시경 영상", "12유도 심전도", "대장 CT 영상", "유방 MRI 영상"]
    assert listed_titles(by_title) == ["12유도 심전도", "대장 CT 영상", "위 내시경 영상", "유방 MRI 영상"]
    assert forged.context["table"].sort == "institution"
    assert listed_titles(forged) == ["위 내시경 영상", "대장 CT 영상", "유방 MRI 영상", "12유도 심전도"]
    assert forged_desc.context["table"].sort == "institution"


def test_catalogue_pages_through_results(client: Client, db: None) -> None:
    holder = institution("대구마바병원", "Daegu Maba Hospital")
    DatasetFactory.create_batch(25, institution=holder)

    second = client.get("/catalog/", {"page": 2, "sort": "title"})

    assert len(listed_titles(second)) == 5
    assert "전체 25건 중 21–25" in second.content.decode()


def test_search_box_filters_the_page(client: Client, catalogue: Catalogue) -> None:
    response = client.get("/catalog/", {"q": "유방 mri"})

    assert listed_titles(response) == ["유방 MRI 영상"]
    assert "검색 결과 1건" in response.content.decode()


def test_detail_explains_that_only_low_sensitivity_data_may_be_used_online(
    client: Client, catalogue: Catalogue
) -> None:
    low = client.get(f"/catalog/{catalogue.heart_ecg.pk}/").content.decode()
    high = client.get(f"/catalog/{catalogue.colon_ct.pk}/").content.decode()

    assert "SSL-VPN·VDI 접속과 OTP 인증을 거쳐 온라인으로 활용할 수 있으며" in low
    assert "폐쇄형 학습실에서만 활용할 수 있습니다" not in low
    assert "이 데이터는 KTL 대구센터의 보안 환경인 폐쇄형 학습실에서만 활용할 수 있습니다." in high
    assert "<strong>민감도: 높음</strong>" in high
    assert 'class="krds-badge bg-light-warning catalog-illustrative"' in low


def test_detail_renders_key_information_as_a_definition_list(client: Client, catalogue: Catalogue) -> None:
    Dataset.objects.filter(pk=catalogue.colon_ct.pk).update(
        key_information={"촬영 기간": "2019–2023", "장비": ["Siemens", "GE"], "슬라이스 두께": 1.0}
    )

    html = client.get(f"/catalog/{catalogue.colon_ct.pk}/").content.decode()

    section = html[html.index('id="dataset-more-title"') :]
    pairs = re.findall(r"<dt>([^<]*)</dt><dd>([^<]*)</dd>", section[: section.index("</dl>")])
    # Sorted: PostgreSQL's jsonb keeps its own key order, SQLite the order written.
    assert sorted(pairs) == [("슬라이스 두께", "1.0"), ("장비", "Siemens, GE"), ("촬영 기간", "2019–2023")]


def test_applicants_get_the_consultation_button(
    client: Client, login, catalogue: Catalogue, applicant, reviewer
) -> None:
    url = f"/catalog/{catalogue.colon_ct.pk}/"
    button = f'href="/calls/consultations/new/?dataset={catalogue.colon_ct.pk}"'

    anonymous_html = client.get(url).content.decode()
    login(client, reviewer)
    reviewer_html = client.get(url).content.decode()
    login(client, applicant)
    applicant_html = client.get(url).content.decode()

    assert button in applicant_html and "이 데이터로 수요 협의 신청" in applicant_html
    assert button not in reviewer_html
    assert button not in anonymous_html
    assert "로그인하고 수요 협의 신청" in anonymous_html


def test_steward_list_shows_the_own_institutions_datasets_including_drafts(
    client: Client, login, steward, operator
) -> None:
    own = institution("", "", organisation=steward.organisation)
    other = institution("대구사아병원", "")
    DatasetFactory(institution=own, title="자기 기관 초안", publication=Dataset.Publication.DRAFT)
    DatasetFactory(institution=own, title="자기 기관 공개")
    DatasetFactory(institution=other, title="다른 기관 초안", publication=Dataset.Publication.DRAFT)

    login(client, steward)
    steward_page = client.get("/catalog/mine/", {"sort": "title"})
    login(client, operator)
    operator_page = client.get("/catalog/mine/", {"sort": "title"})

    assert listed_titles(steward_page) == ["자기 기관 공개", "자기 기관 초안"]
    assert listed_titles(operator_page) == ["다른 기관 초안", "자기 기관 공개", "자기 기관 초안"]
    assert operator_page.context["is_operator"] is True


def test_steward_without_a_registered_institution_is_told_so(client: Client, login, steward) -> None:
    login(client, steward)

    html = client.get("/catalog/new/").content.decode()

    assert "소속 기관이 데이터 보유기관으로 등록되어 있지 않습니다." in html
    assert '<form method="post"' not in html


def form_data(dataset: Dataset, **changes: object) -> dict[str, object]:
    data: dict[str, object] = {
        "title": dataset.title,
        "title_en": dataset.title_en,
        "description": dataset.description,
        "body_part": dataset.body_part_id,
        "modality": dataset.modality_id,
        "annotated_count": dataset.annotated_count,
        "non_annotated_count": dataset.non_annotated_count,
        "formats": ", ".join(dataset.formats),
        "annotation_description": dataset.annotation_description,
        "sensitivity": dataset.sensitivity,
        "contact_name": "",
        "contact_email": "",
        "contact_phone": "",
        "source_note": "",
        "key_information": "",
    }
    data.update(changes)
    return data


def test_steward_edits_a_dataset_through_the_service(client: Client, login, steward) -> None:
    dataset = DatasetFactory(
        institution=institution("", "", organisation=steward.organisation), title="원래 이름"
    )
    login(client, steward)

    response = client.post(
        f"/catalog/{dataset.pk}/edit/",
        form_data(dataset, title="새 이름", formats="DICOM, PNG", key_information='{"해상도": "512×512"}'),
    )

    assert (response.status_code, response["Location"]) == (302, "/catalog/mine/")
    dataset.refresh_from_db()
    assert (dataset.title, dataset.formats, dataset.key_information) == (
        "새 이름",
        ["DICOM", "PNG"],
        {"해상도": "512×512"},
    )
    assert AuditEvent.objects.get().data == {
        "changes": {
            "title": ["원래 이름", "새 이름"],
            "formats": [["DICOM"], ["DICOM", "PNG"]],
            "key_information": [{}, {"해상도": "512×512"}],
        }
    }


def test_invalid_key_information_is_shown_and_nothing_changes(client: Client, login, steward) -> None:
    dataset = DatasetFactory(
        institution=institution("", "", organisation=steward.organisation), title="원래 이름"
    )
    login(client, steward)

    response = client.post(
        f"/catalog/{dataset.pk}/edit/", form_data(dataset, title="새 이름", key_information="[1, 2]")
    )

    assert response.status_code == 200
    assert response.context["form"].errors == {
        "key_information": ['{"항목": "값"} 형태의 JSON 객체로 입력해 주세요.']
    }
    dataset.refresh_from_db()
    assert dataset.title == "원래 이름"
    assert AuditEvent.objects.count() == 0


def test_steward_registers_a_new_draft(client: Client, login, steward) -> None:
    own = institution("", "", organisation=steward.organisation)
    template = DatasetFactory.build(body_part=body_part("breast"), modality=modality("mri"))
    login(client, steward)

    response = client.post(
        "/catalog/new/",
        {
            **form_data(template, title="유방 MRI (2025)", annotated_count=10, non_annotated_count=5),
            "institution": own.pk,
        },
    )

    created = Dataset.objects.get(title="유방 MRI (2025)")
    assert (response.status_code, response["Location"]) == (302, f"/catalog/{created.pk}/edit/")
    assert (created.institution, created.publication, created.total_count, created.sensitivity) == (
        own,
        Dataset.Publication.DRAFT,
        15,
        Sensitivity.STANDARD,
    )
    assert AuditEvent.objects.get().action == "catalog.dataset_created"


def test_publish_and_withdraw_buttons(client: Client, login, steward) -> None:
    dataset = DatasetFactory(
        institution=institution("", "", organisation=steward.organisation),
        title="공개할 데이터",
        publication=Dataset.Publication.DRAFT,
    )
    login(client, steward)

    published = client.post(f"/catalog/{dataset.pk}/publish/", follow=True)
    again = client.post(f"/catalog/{dataset.pk}/publish/", follow=True)
    withdrawn = client.post(f"/catalog/{dataset.pk}/withdraw/", {"reason": "재검토"}, follow=True)

    assert messages_of(published) == ["'공개할 데이터' 데이터셋을 공개했습니다."]
    assert messages_of(again) == ["이미 공개된 데이터셋입니다."]
    assert messages_of(withdrawn) == ["'공개할 데이터' 데이터셋의 공개를 중단했습니다."]
    assert published.redirect_chain == [("/catalog/mine/", 302)]
    dataset.refresh_from_db()
    assert dataset.publication == Dataset.Publication.WITHDRAWN
    assert list(AuditEvent.objects.order_by("sequence").values_list("action", flat=True)) == [
        "catalog.dataset_published",
        "catalog.dataset_withdrawn",
    ]
    assert AuditEvent.objects.get(action="catalog.dataset_withdrawn").data["reason"] == "재검토"


def test_steward_list_search_box(client: Client, login, operator, catalogue: Catalogue) -> None:
    login(client, operator)

    response = client.get("/catalog/mine/", {"q": "대장", "sort": "title"})

    assert listed_titles(response) == ["대장 CT 영상", "대장 내시경 영상"]


def test_english_pages_show_english_institution_names(client) -> None:
    from django.conf import settings

    from medbroker.catalog.demo import catalog_demo_load

    catalog_demo_load()
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"

    page = client.get("/catalog/").content.decode()

    assert "Daegu Hanbit Hospital (fictional)" in page
    assert "대구한빛병원(가상)" not in page
