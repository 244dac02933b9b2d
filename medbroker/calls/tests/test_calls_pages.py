"""Public call pages: the 2025 call exactly as announced, its deadline in KST, rubric and document templates."""

from __future__ import annotations

import pytest
import time_machine
from django.test import Client
from django.urls import reverse

from medbroker.calls.definitions import CALL_2025, CALL_2025_SLUG
from medbroker.calls.models import Call, RequiredDocument
from medbroker.calls.selectors.calls import BonusColumn, call_rubric_table, certifications_by_category
from medbroker.calls.services.calls import call_configure
from medbroker.calls.services.templates_docs import document_template_name
from medbroker.calls.tests.factories import call_2025, call_with_window
from medbroker.core.errors import DomainError
from medbroker.core.timeutils import kst

pytestmark = pytest.mark.django_db


def _detail(client: Client, slug: str = CALL_2025_SLUG) -> tuple[str, dict]:
    response = client.get(reverse("calls:call_detail", args=[slug]))
    assert response.status_code == 200
    return response.content.decode(), response.context


def test_rubric_has_the_announced_area_subtotals_total_bonus_and_grand_total(client: Client) -> None:
    call_2025()

    html, context = _detail(client)

    rubric = context["rubric"]
    assert rubric.areas == [("사업추진 체계", 15), ("사업 내용의 타당성", 55), ("기대효과", 30)]
    assert [row.item.max_points for row in rubric.rows] == [10, 5, 15, 10, 30, 30]
    assert [row.area_rowspan for row in rubric.rows] == [2, 0, 3, 0, 0, 1]
    assert [row.item_rowspan for row in rubric.rows] == [2, 0, 2, 0, 1, 1]
    assert (rubric.total, rubric.bonus_total, rubric.grand_total) == (100, 10, 110)
    assert rubric.bonus_caps == [("객관지표", 5), ("기술·인증", 5)]
    assert 'data-total="rubric">100<' in html
    assert 'data-total="bonus">10<' in html
    assert 'data-total="grand">110<' in html


def test_bonus_table_follows_the_bonus_rules_of_the_call() -> None:
    call = call_2025()

    rows = call_rubric_table(call).bonus_rows

    assert [(row.group, row.group_rowspan, row.item) for row in rows] == [
        ("objective", 2, "매출액 증감"),
        ("objective", 0, "정부과제 및 자체기술개발 수행"),
        ("technology", 2, "기술 및 품질 인증"),
        ("technology", 0, "지식재산권"),
    ]
    assert rows[0].rule == "'21~'23년도 평균 매출액 대비 '24년도 매출액 (재무제표 발행 전이면 가결산재무제표)"
    assert rows[0].columns == [BonusColumn("증가", 3), BonusColumn("유지", 2), BonusColumn("감소", 0)]
    assert rows[1].columns == [
        BonusColumn("5건 이상", 2),
        BonusColumn("3건 이상", 1),
        BonusColumn("3건 미만", 0),
    ]
    assert rows[2].columns == [
        BonusColumn("5건 이상", 3),
        BonusColumn("3건 이상", 2),
        BonusColumn("3건 미만", 0),
    ]
    assert rows[2].rule == "인정 인증 목록 기준 (기준일 2025-07-07 현재 유효한 인증)"
    assert rows[3].columns == [
        BonusColumn("5건 이상", 2),
        BonusColumn("3건 이상", 1),
        BonusColumn("3건 미만", 0),
    ]


def test_the_33_certifications_are_grouped_by_category_in_the_announced_order(client: Client) -> None:
    call = call_2025()

    groups = certifications_by_category(call)
    html, context = _detail(client)

    assert [(category, len(items)) for category, items in groups] == [
        ("의료기기 인증", 2),
        ("SW프로세스 인증", 4),
        ("SW제품 인증 및 기타인증", 27),
    ]
    assert [c.name for c in groups[1][1]] == ["SP", "TMMi", "CMMI", "SPICE"]
    assert groups[2][1][-1].name == "MainBiz"
    assert context["certification_count"] == 33
    assert "기술 및 품질 인증 기준 (33종)" in html


def test_deadline_is_shown_as_1600_kst_and_the_window_is_half_open(client: Client) -> None:
    call_2025()

    with time_machine.travel(kst(2025, 7, 21, 15, 59, 59), tick=False):
        html_before, context_before = _detail(client)
    with time_machine.travel(kst(2025, 7, 21, 16, 0, 0), tick=False):
        html_after, context_after = _detail(client)

    assert "2025-07-21 16:00:00" in html_before
    assert "KST 마감" in html_before
    assert "2025-07-07(월) 00:00" in html_before
    assert (context_before["summary"].state, context_before["summary"].days_left) == ("open", 0)
    assert 'data-deadline="2025-07-21T16:00:00+09:00"' in html_before
    assert context_after["summary"].state == "closed"
    assert "접수가 마감되었습니다." in html_after
    assert "data-deadline" not in html_after


def test_overview_eligibility_and_compute_options_are_shown_as_announced(client: Client) -> None:
    call_2025()

    html, context = _detail(client)

    for text in (
        "지원가능 범위 내 지원",
        "AI 의료데이터 활용 지원",
        "컴퓨팅 자원 활용 지원",
        "협약일로부터 2025-11-28(금)까지",
        "053-281-0034",
        "053-281-0129",
        "<strong>①</strong> 의료·헬스 관련 제품",
        "<strong>④</strong> 「의료데이터 중개 플랫폼」",
        "<strong>⑤</strong> 위 사항 중 <strong>1개 이상</strong>",
        "※ 「지역이전 확약서」 제출 필요",
        "신청 자격 ② 해당 시 필수",
        "신청 자격 ④ 해당 시 필수",
    ):
        assert text in html, text
    assert html.count("<dd>해당없음</dd>") == 2
    assert [(o.gpu, o.gpu_memory_gb, o.cpu_cores, o.memory_gb) for o in context["compute_options"]] == [
        ("V100", 16, 128, 120),
        ("V100", 32, 128, 120),
        ("A100", 32, 32, 128),
    ]
    assert "연습용" not in html


def test_call_list_orders_open_calls_first_and_badges_the_practice_call(client: Client) -> None:
    call_2025()
    call_with_window(opens_at=kst(2026, 3, 1, 9), closes_at=kst(2026, 3, 31, 16), slug="practice-2025")

    with time_machine.travel(kst(2026, 3, 10, 12), tick=False):
        response = client.get(reverse("calls:call_list"))

    assert [(s.call.slug, s.state) for s in response.context["summaries"]] == [
        ("practice-2025", "open"),
        (CALL_2025_SLUG, "closed"),
    ]
    html = response.content.decode()
    assert html.count('<span class="mb-badge practice">연습용</span>') == 1
    assert "2026-03-31 16:00:00" in html


def test_practice_call_page_says_it_is_for_practice(client: Client) -> None:
    call_with_window(opens_at=kst(2026, 3, 1, 9), closes_at=kst(2026, 3, 31, 16), slug="practice-2025")

    html, _context = _detail(client, "practice-2025")

    assert '<span class="mb-badge practice">연습용</span>' in html
    assert "연습용 공모입니다." in html


def test_unknown_or_unpublished_call_is_404(client: Client) -> None:
    call = call_2025()
    Call.objects.filter(pk=call.pk).update(is_published=False)

    assert client.get(reverse("calls:call_detail", args=[CALL_2025_SLUG])).status_code == 404
    assert client.get(reverse("calls:call_detail", args=["no-such-call"])).status_code == 404
    assert client.get(reverse("calls:call_list")).context["summaries"] == []


def test_document_template_download_is_a_pdf_stored_once(client: Client) -> None:
    call_2025()
    url = reverse("calls:document_template", args=[CALL_2025_SLUG, "application_plan"])

    first = client.get(url)
    document = RequiredDocument.objects.get(call__slug=CALL_2025_SLUG, code="application_plan")
    stored = document.template.name
    second = client.get(url)

    assert first.status_code == 200
    assert first["Content-Type"] == "application/pdf"
    assert first.content.startswith(b"%PDF")
    assert first["Content-Disposition"] == (
        'attachment; filename="khealth-daegu-2025-application_plan.pdf"; '
        "filename*=UTF-8''01_%EC%82%AC%EC%97%85%EC%8B%A0%EC%B2%AD%EC%84%9C%20%EB%B0%8F%20"
        "%EA%B3%84%ED%9A%8D%EC%84%9C_%EC%96%91%EC%8B%9D.pdf"
    )
    assert stored == f"call_templates/{document_template_name(document)}"
    assert second.content == first.content
    assert RequiredDocument.objects.get(pk=document.pk).template.name == stored


def test_document_template_is_rendered_again_when_the_call_changes() -> None:
    from medbroker.calls.services.templates_docs import document_template_attach

    call = call_2025()
    document = RequiredDocument.objects.get(call=call, code="privacy_consent")
    assert document_template_attach(document=document) is True
    old_name = document.template.name
    assert document_template_attach(document=document) is False

    call_configure(definition={**CALL_2025, "title": "2026년 공모"}, slug=CALL_2025_SLUG)
    document = RequiredDocument.objects.select_related("call").get(pk=document.pk)

    assert document_template_attach(document=document) is True
    assert document.template.name != old_name
    assert not document.template.storage.exists(old_name)
    assert document.template.storage.exists(document.template.name)


def test_document_template_404_for_unknown_code_or_a_document_without_template(client: Client) -> None:
    call_2025()
    RequiredDocument.objects.filter(code="privacy_consent").update(has_template=False)

    unknown = client.get(reverse("calls:document_template", args=[CALL_2025_SLUG, "no-such-document"]))
    without = client.get(reverse("calls:document_template", args=[CALL_2025_SLUG, "privacy_consent"]))

    assert (unknown.status_code, without.status_code) == (404, 404)
    assert not RequiredDocument.objects.get(code="privacy_consent").template


def test_call_configure_refuses_a_slug_that_names_another_page() -> None:
    with pytest.raises(DomainError) as error:
        call_configure(definition=CALL_2025, slug="applications")

    assert error.value.code == "call_slug_reserved"
    assert Call.objects.count() == 0


def test_reserved_words_under_calls_do_not_resolve_to_a_call() -> None:
    from django.urls import resolve

    assert resolve("/calls/consultations/").url_name == "consultation_list"
    assert resolve("/calls/console/consultations/").url_name == "console_consultations"
    assert resolve("/calls/applications/").url_name == "application_list"
    assert resolve("/calls/console/").url_name == "console"
    assert resolve("/calls/khealth-daegu-2025/").url_name == "call_detail"
    assert resolve("/calls/consoles/").url_name == "call_detail"
