"""The company's result page: nothing before publication; afterwards its outcome, support scale, its own
per-item means and verified bonus — never a reviewer's name, comment or sheet, never another company's."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from decimal import Decimal

import pytest
import time_machine
from django.test import Client
from django.urls import reverse

from medbroker.accounts.models import User
from medbroker.calls.models import Application
from medbroker.calls.tests.factories import call_with_window
from medbroker.catalog.tests.factories import DatasetFactory
from medbroker.core.timeutils import kst
from medbroker.reviews.models import Assignment
from medbroker.reviews.services.decisions import decision_record, decisions_publish
from medbroker.reviews.tests.factories import committee_2025
from medbroker.reviews.tests.factories_ranking import (
    REVIEWER_NAMES,
    ScoredCommittee,
    close,
    revenue_bonus_verify,
    scored_committee,
)

D = Decimal
pytestmark = pytest.mark.django_db
Login = Callable[[Client, User | None], Client]
COMMENT = "대표자의 과거 사업 실패 이력이 우려됨"


@pytest.fixture(autouse=True)
def _frozen_clock() -> Iterator[None]:
    with time_machine.travel(kst(2025, 8, 20, 14, 0, 0), tick=False):
        yield


@pytest.fixture
def scored(operator: User, applicant: User) -> ScoredCommittee:
    """가나의료 (``applicant``'s company): 80 and 70 with a written comment, 3 verified bonus points, selected
    with one of its two datasets and an A100; 다라헬스: 65, not selected. The committee is closed."""
    committee = committee_2025()
    scored = scored_committee(committee, operator=operator, totals={"가나의료": [80, 70], "다라헬스": [65]})
    application = scored.applications["가나의료"]
    applicant.organisation = application.company
    applicant.save(update_fields=["organisation"])
    # A comment the company must never read (the sheet is submitted; the comment is on it).
    sheet = Assignment.objects.get(member=scored.members[0], application=application).sheet
    sheet.entries.filter(rubric_item__code="technical_merit").update(comment=COMMENT)
    revenue_bonus_verify(application, operator)
    for title in ("위 내시경 영상", "대장 CT"):
        application.requested_datasets.create(dataset=DatasetFactory(title=title), amount=1200)
    return scored


def _decide_and_publish(scored: ScoredCommittee, operator: User) -> None:
    committee = close(scored.committee, operator)
    application = scored.applications["가나의료"]
    decision_record(
        application=application,
        outcome="selected",
        granted_dataset_ids=[application.requested_datasets.order_by("pk").first().pk],
        granted_compute_code="a100-32",
        support_starts_on=dt.date(2025, 9, 1),
        actor=operator,
    )
    decision_record(application=scored.applications["다라헬스"], outcome="not_selected", actor=operator)
    with time_machine.travel(kst(2025, 8, 25, 10, 0, 0), tick=False):
        decisions_publish(committee=committee, actor=operator)


def test_before_publication_the_company_sees_only_under_review(
    scored: ScoredCommittee, operator: User, applicant: User, login: Login
) -> None:
    close(scored.committee, operator)
    application = scored.applications["가나의료"]
    decision_record(application=application, outcome="not_selected", actor=operator)
    client = login(Client(), applicant)

    listing = client.get(reverse("reviews:company_results"))
    detail = client.get(reverse("reviews:company_result", args=[application.pk]))

    assert [(r.application, r.decision) for r in listing.context["results"]] == [(application, None)]
    for response in (listing, detail):
        html = response.content.decode()
        assert response.status_code == 200
        assert "심사 중" in html
        # Neither the (unpublished) outcome nor any score.
        for text in ("미선정", "75.00", "78.00", "서면평가 점수"):
            assert text not in html, text
    assert reverse("reviews:bonus_preview", args=[application.pk]) in detail.content.decode()


def test_after_publication_the_company_sees_its_outcome_scale_and_breakdown(
    scored: ScoredCommittee, operator: User, applicant: User, login: Login
) -> None:
    _decide_and_publish(scored, operator)
    application = scored.applications["가나의료"]
    client = login(Client(), applicant)

    listing = client.get(reverse("reviews:company_results")).content.decode()
    response = client.get(reverse("reviews:company_result", args=[application.pk]))

    assert "선정" in listing and "심사 중" not in listing
    html = response.content.decode()
    for text in (
        '결과: <span class="rv-outcome selected">선정</span>',
        "75.00",  # review score
        "3.00",  # verified bonus
        "78.00",  # final
        "위 내시경 영상 · 1,200건",
        "A100 32GB",
        "2025-09-01 ~ 2025-11-28",
        "평가위원 2명이 준 점수의 평균입니다.",
        "사업내용의 기술성",
        "매출액 증감",
    ):
        assert text in html, text
    assert "대장 CT" not in html  # requested but not granted
    breakdown = response.context["result"].decision.score_breakdown
    assert [(item["indicator"], item["mean"]) for item in breakdown["items"]] == [
        ("추진 조직 역량 및 의지", "10.00"),
        ("사업추진 수행역량", "5.00"),
        ("사업목표의 명확성", "15.00"),
        ("사업내용 및 추진전략", "10.00"),
        ("사업내용의 기술성", "30.00"),
        ("의료산업 공헌도", "5.00"),
    ]
    assert breakdown["bonus"]["items"][0]["reason"] in html


def test_the_result_page_never_names_a_reviewer_or_quotes_a_sheet(
    scored: ScoredCommittee, operator: User, applicant: User, login: Login
) -> None:
    _decide_and_publish(scored, operator)
    client = login(Client(), applicant)

    pages = [
        client.get(reverse("reviews:company_results")).content.decode(),
        client.get(
            reverse("reviews:company_result", args=[scored.applications["가나의료"].pk])
        ).content.decode(),
    ]

    for html in pages:
        for secret in (*REVIEWER_NAMES, COMMENT, "80.00", "70.00"):
            assert secret not in html, secret


def test_another_company_gets_404_for_this_result_even_after_publication(
    scored: ScoredCommittee, operator: User, other_applicant: User, login: Login
) -> None:
    _decide_and_publish(scored, operator)
    client = login(Client(), other_applicant)

    response = client.get(reverse("reviews:company_result", args=[scored.applications["가나의료"].pk]))
    listing = client.get(reverse("reviews:company_results"))

    assert response.status_code == 404
    assert listing.context["results"] == []
    assert "가나의료" not in listing.content.decode()


def test_the_published_breakdown_does_not_move_with_later_changes(
    scored: ScoredCommittee, operator: User, applicant: User, login: Login
) -> None:
    _decide_and_publish(scored, operator)
    application = scored.applications["가나의료"]
    # A later verdict changes the live bonus; the published result stays what was decided.
    application.revenues.all().delete()

    response = login(Client(), applicant).get(reverse("reviews:company_result", args=[application.pk]))

    assert response.context["result"].decision.score_breakdown["bonus"]["total"] == "3.00"
    assert response.context["result"].decision.final_score == D("78.00")


def test_a_draft_application_is_not_listed(scored: ScoredCommittee, applicant: User, login: Login) -> None:
    # Only submitted applications (with a receipt number) have a review to report.
    practice = call_with_window(opens_at=kst(2025, 8, 1), closes_at=kst(2025, 9, 1))
    Application.objects.create(call=practice, company=applicant.organisation, created_by=applicant)

    listing = login(Client(), applicant).get(reverse("reviews:company_results"))

    assert [r.application.receipt_number for r in listing.context["results"]] == [
        scored.applications["가나의료"].receipt_number
    ]
