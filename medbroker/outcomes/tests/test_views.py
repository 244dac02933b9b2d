"""The pages at work: the company's overview in each state, the report page (late, missing sections, refused
input), the list filters, the dashboard with its charts drawn by the platform."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.test import Client
from django.urls import reverse

from medbroker.access.models import AccessGrant
from medbroker.access.selectors.grants import grant_state
from medbroker.access.tests.factories import grant
from medbroker.accounts.models import Organisation, User
from medbroker.agreements.models import Agreement, AgreementSignature, AgreementVersion
from medbroker.agreements.tests.factories import active_agreement, selected_decision
from medbroker.calls.tests.factories import call_2025
from medbroker.calls.tests.factories_applications import sample_exe, upload
from medbroker.compute.models import GpuWaitlistEntry
from medbroker.core.timeutils import kst
from medbroker.outcomes.models import ReportAttachment, ReportOutcome, ResultsReport
from medbroker.outcomes.tests.scene import ProgrammeScene, gpu_allocate, programme_scene, report

pytestmark = pytest.mark.django_db
Login = Callable[[Client, User | None], Client]


@pytest.fixture(autouse=True)
def _frozen_clock() -> Iterator[None]:
    with time_machine.travel(kst(2025, 9, 15, 10, 0, 0), tick=False):
        yield


@pytest.fixture
def agreement(company: Organisation, applicant: User) -> Agreement:
    return active_agreement(decision=selected_decision(company=company, call=call_2025()))


def _page(client: Client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


# ---------------------------------------------------------------------------------------------------------
# The company's overview
# ---------------------------------------------------------------------------------------------------------


def test_overview_without_an_agreement_explains_and_points_to_the_results(
    client: Client, login: Login, applicant: User
) -> None:
    html = _page(login(client, applicant), reverse("outcomes:company_overview"))

    assert "아직 협약이 없습니다" in html
    assert f'href="{reverse("reviews:company_results")}"' in html


def test_overview_of_an_agreement_awaiting_signatures_asks_to_sign(
    client: Client, login: Login, company: Organisation, applicant: User
) -> None:
    decision = selected_decision(company=company, call=call_2025())
    awaiting = Agreement.objects.create(
        number="KHD2025-0001-AG",
        decision=decision,
        call=decision.application.call,
        company=company,
        ends_on=dt.date(2025, 11, 28),
        created_by=decision.decided_by,
    )
    AgreementVersion.objects.create(agreement=awaiting, number=1, created_by=decision.decided_by)

    html = _page(login(client, applicant), reverse("outcomes:company_overview"))

    assert "협약서를 확인하고 서명해 주세요" in html
    assert re.search(r'class="current" aria-current="step"><span class="oc-step-number">④', html)
    assert "서명이 끝나면 협약 내용이 효력을 갖습니다." in html

    version = awaiting.versions.get()
    AgreementSignature.objects.create(
        version=version, side="company", method="otp", signer=applicant, signed_at=kst(2025, 9, 1, 10)
    )
    assert "주관기관의 서명을 기다리고 있습니다" in _page(client, reverse("outcomes:company_overview"))


def test_overview_in_use_shows_grants_gpu_share_and_asks_to_book(
    client: Client, login: Login, agreement: Agreement, applicant: User, other_company: Organisation
) -> None:
    grant(agreement)
    low = agreement.versions.get().datasets.order_by("pk")[1].dataset
    grant(agreement, low, status=AccessGrant.Status.REVOKED)
    gpu_allocate(agreement, 0)
    other = active_agreement(decision=selected_decision(company=other_company, call=agreement.call, rank=2))
    gpu_allocate(other, 1)

    html = _page(login(client, applicant), reverse("outcomes:company_overview"))

    assert re.search(r'class="current" aria-current="step"><span class="oc-step-number">⑤', html)
    assert "학습실 좌석을 예약해 주세요" in html
    assert '<span class="mb-status usable">이용 가능</span>' in html
    assert '<span class="mb-status revoked">이용 중지</span>' in html
    # The window ends on its last day, not at the stored end (00:00 of the next day).
    assert html.count("2025-09-01 00:00 ~ 2025-11-28 23:59:59 (KST)") == 2
    assert "2025-11-29" not in html
    assert "A100 32GB · a100-01/gpu0" in html
    # 32 cores and 128 GB shared by the two companies holding GPUs on the node.
    assert "CPU 약 16.0코어, 메모리 약 64.0GB (이 노드를 2개 기업이 함께 사용)" in html
    assert "KHD2025-0002-AG" not in html


def test_overview_shows_the_waiting_position(
    client: Client, login: Login, agreement: Agreement, applicant: User, other_company: Organisation
) -> None:
    other = active_agreement(decision=selected_decision(company=other_company, call=agreement.call, rank=1))
    GpuWaitlistEntry.objects.create(agreement=agreement, gpu_model="A100", gpu_memory_gb=32, selection_rank=2)
    GpuWaitlistEntry.objects.create(agreement=other, gpu_model="A100", gpu_memory_gb=32, selection_rank=1)

    html = _page(login(client, applicant), reverse("outcomes:company_overview"))

    assert "GPU 대기 2번째입니다." in html


@pytest.mark.parametrize(
    ("at", "state", "label"),
    [
        (kst(2025, 11, 28, 23, 59, 59), "usable", "이용 가능"),
        (kst(2025, 11, 29, 0, 0, 0), "expired", "기간 만료"),
    ],
)
def test_grants_expire_at_midnight_after_the_last_day_without_any_job(
    client: Client,
    login: Login,
    agreement: Agreement,
    applicant: User,
    at: dt.datetime,
    state: str,
    label: str,
) -> None:
    line = grant(agreement)

    with time_machine.travel(at, tick=False):
        html = _page(login(client, applicant), reverse("outcomes:company_overview"))
        assert grant_state(line, at=at) == state

    assert f'<span class="mb-status {state}">{label}</span>' in html


def test_overview_after_the_end_offers_to_open_the_report(
    client: Client, login: Login, agreement: Agreement, applicant: User
) -> None:
    Agreement.objects.filter(pk=agreement.pk).update(status=Agreement.Status.ENDED)

    with time_machine.travel(kst(2025, 11, 29, 9, 0, 0), tick=False):
        html = _page(login(client, applicant), reverse("outcomes:company_overview"))
        response = client.post(reverse("outcomes:report_open", args=[agreement.pk]))

    assert re.search(r'class="current" aria-current="step"><span class="oc-step-number">⑥', html)
    assert f'action="{reverse("outcomes:report_open", args=[agreement.pk])}"' in html
    created = ResultsReport.objects.get(agreement=agreement)
    assert response["Location"] == reverse("outcomes:report_detail", args=[created.pk])


# ---------------------------------------------------------------------------------------------------------
# The report page
# ---------------------------------------------------------------------------------------------------------


def test_report_page_names_missing_sections_and_shows_late_submissions(
    client: Client, login: Login, agreement: Agreement, applicant: User, operator: User
) -> None:
    draft = report(agreement, data_usage="데이터")

    html = _page(login(client, applicant), reverse("outcomes:report_detail", args=[draft.pk]))
    assert "제출 전에 채워야 할 항목: 컴퓨팅 자원 활용 내역, AI 모델 성능, 성과 요약" in html
    assert 'hx-get="' + reverse("outcomes:report_outcome_row", args=[draft.pk]) in html

    ResultsReport.objects.filter(pk=draft.pk).update(status="submitted", submitted_at=kst(2025, 12, 13, 9))
    staff_html = _page(login(Client(), operator), reverse("outcomes:report_detail", args=[draft.pk]))
    assert "기한 후 제출" in staff_html
    assert 'name="verdict"' in staff_html
    assert "제출 전에 채워야 할 항목" not in staff_html


def test_submit_view_refuses_an_incomplete_report_with_the_reason(
    client: Client, login: Login, agreement: Agreement, applicant: User
) -> None:
    draft = report(agreement)

    response = login(client, applicant).post(reverse("outcomes:report_submit", args=[draft.pk]), follow=True)

    assert (
        "다음 항목을 채운 뒤 제출하세요: 데이터 활용 내역, 컴퓨팅 자원 활용 내역, AI 모델 성능, 성과 요약"
        in (response.content.decode())
    )
    assert ResultsReport.objects.get(pk=draft.pk).status == "draft"


def test_save_with_a_half_filled_outcome_row_is_refused_and_saves_nothing(
    client: Client, login: Login, agreement: Agreement, applicant: User
) -> None:
    draft = report(agreement, summary="원래 요약")

    response = login(client, applicant).post(
        reverse("outcomes:report_save", args=[draft.pk]),
        {
            "data_usage": "",
            "compute_usage": "",
            "model_performance": "",
            "summary": "새 요약",
            "outcomes-TOTAL_FORMS": "1",
            "outcomes-INITIAL_FORMS": "0",
            "outcomes-0-kind": "patent",
            "outcomes-0-title": "",
            "outcomes-0-reference": "10-2025-0001234",
        },
    )

    assert response.status_code == 400
    assert 'id="id_outcomes-0-title_error"><p class="form-hint-invalid" role="alert">필수 항목입니다.' in (
        response.content.decode()
    )
    assert ResultsReport.objects.get(pk=draft.pk).summary == "원래 요약"
    assert not ReportOutcome.objects.exists()


def test_bad_attachment_through_the_page_is_refused_and_nothing_stored(
    client: Client, login: Login, agreement: Agreement, applicant: User, settings: Any
) -> None:
    draft = report(agreement)

    response = login(client, applicant).post(
        reverse("outcomes:report_attachment_add", args=[draft.pk]), {"file": upload("논문.pdf", sample_exe())}
    )

    assert response.status_code == 400
    assert "&#x27;논문.pdf&#x27; 파일의 내용이 PDF 형식이 아닙니다." in response.content.decode()
    assert not ReportAttachment.objects.exists()
    media = Path(settings.MEDIA_ROOT)
    assert not media.exists() or not any(p.is_file() for p in media.rglob("*"))


def test_outcome_row_comes_with_the_new_total(
    client: Client, login: Login, agreement: Agreement, applicant: User
) -> None:
    draft = report(agreement)

    html = _page(
        login(client, applicant),
        reverse("outcomes:report_outcome_row", args=[draft.pk]) + "?outcomes-TOTAL_FORMS=2",
    )

    assert 'name="outcomes-2-title"' in html
    assert 'id="id_outcomes-TOTAL_FORMS" value="3" hx-swap-oob="true"' in html


# ---------------------------------------------------------------------------------------------------------
# The list and the dashboard
# ---------------------------------------------------------------------------------------------------------


@pytest.fixture
def scene(
    company: Organisation, other_company: Organisation, applicant: User, other_applicant: User
) -> ProgrammeScene:
    return programme_scene(
        company=company, other_company=other_company, applicant=applicant, other_applicant=other_applicant
    )


def _numbers(html: str) -> list[str]:
    return re.findall(r'href="/outcomes/reports/\d+/">(KHD2025-\d{4}-AG)</a>', html)


def test_report_list_filters_late_and_overdue_and_sorts(
    client: Client, login: Login, scene: ProgrammeScene, operator: User, other_applicant: User
) -> None:
    with time_machine.travel(kst(2025, 12, 15, 12, 0, 0), tick=False):
        login(client, operator)
        everything = _page(client, reverse("outcomes:report_list"))
        late = _page(client, reverse("outcomes:report_list") + "?due=late")
        overdue = _page(client, reverse("outcomes:report_list") + "?due=overdue")
        drafts = _page(client, reverse("outcomes:report_list") + "?status=draft&call=khealth-daegu-2025")
        by_company = _page(client, reverse("outcomes:report_list") + "?sort=-company")
        own = _page(login(Client(), other_applicant), reverse("outcomes:report_list"))

    assert _numbers(everything) == ["KHD2025-0001-AG", "KHD2025-0002-AG"]
    assert _numbers(late) == ["KHD2025-0001-AG"]
    assert _numbers(overdue) == ["KHD2025-0002-AG"]
    assert _numbers(drafts) == ["KHD2025-0002-AG"]
    # 서울헬스랩 sorts after 대구메디AI: descending puts it first.
    assert _numbers(by_company) == ["KHD2025-0002-AG", "KHD2025-0001-AG"]
    assert _numbers(own) == ["KHD2025-0002-AG"]


def test_dashboard_shows_the_summary_with_charts_drawn_by_the_platform(
    client: Client, login: Login, scene: ProgrammeScene, auditor: User
) -> None:
    with time_machine.travel(kst(2025, 12, 15, 12, 0, 0), tick=False):
        html = _page(login(client, auditor), reverse("outcomes:dashboard"))

    data = json.loads(
        re.search(r'id="outcomes-chart-data" type="application/json">(.*?)</script>', html).group(1)
    )
    assert data["gpu"]["labels"] == ["부산바이오", "대구메디AI", "서울헬스랩"]
    assert data["gpu"]["values"] == [0.0, 34.5, 5.25]
    assert data["room"]["values"] == [4160.0, 13.0, 8.0]
    assert data["reports"]["values"] == [1, 1, 0, 0, 1, 1, 0]
    assert "39.75" in html and "0.2%" in html
    # No script comes from outside the platform.
    sources = re.findall(r'<script[^>]*src="([^"]+)"', html)
    assert sources and all(src.startswith("/static/") for src in sources)
    assert "/static/vendor/chartjs/chart.umd.min.js" in sources


def test_dashboard_of_an_unknown_call_is_not_found(client: Client, login: Login, operator: User) -> None:
    login(client, operator)

    assert client.get(reverse("outcomes:dashboard") + "?call=nope").status_code == 404
    assert "협약이 체결된 공모가 아직 없습니다." in _page(client, reverse("outcomes:dashboard"))
    assert client.get(reverse("outcomes:dashboard_xlsx")).status_code == 404
