"""The bonus preview and evidence verification pages: what they show and how a verdict is entered."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from django.test import Client
from django.urls import reverse

from medbroker.accounts.models import User
from medbroker.audit.models import AuditEvent
from medbroker.calls.models import Application, GovernmentProject
from medbroker.calls.tests.factories import call_2025
from medbroker.reviews.models import EvidenceVerification
from medbroker.reviews.tests.factories import submitted_application
from medbroker.reviews.tests.factories_bonus import add_evidence

pytestmark = pytest.mark.django_db

Login = Callable[[Client, User | None], Client]


@pytest.fixture
def application() -> Application:
    application, _ = submitted_application(call_2025(), company_name="화면테스트")
    add_evidence(application)
    return application


@pytest.fixture
def company_user(application: Application, applicant: User) -> User:
    applicant.organisation = application.company
    applicant.save(update_fields=["organisation"])
    return applicant


def test_the_applicant_previews_every_item_with_its_explanation(
    client: Client, login: Login, application: Application, company_user: User
) -> None:
    login(client, company_user)

    response = client.get(reverse("reviews:bonus_preview", args=[application.pk]))

    content = response.content.decode()
    assert response.status_code == 200
    assert "최종 점수에는 운영자가 증빙 서류로 확인한 항목만 반영되므로" in content
    assert (
        "2024년 매출액 1,200,000,000원(가결산)이 2021~2023년 평균 900,000,000원(3개 연도)보다 많음 → 증가: 3점"
        in content
    )
    assert "서로 다른 과제 5건 → 5건 이상: 2점" in content
    assert "서로 다른 인증 5건 → 5건 이상: 3점" in content
    assert "우대사항 합계 (상한 10점)" in content
    assert response.context["preview"].total == 10
    # The company's page shows no verdicts and no verification form.
    assert "verified" not in response.context and "판정 입력" not in content


def test_the_review_page_shows_both_scores_and_a_form_per_row_for_operators(
    client: Client, login: Login, application: Application, operator: User
) -> None:
    login(client, operator)

    response = client.get(reverse("reviews:evidence_review", args=[application.pk]))

    content = response.content.decode()
    assert (response.context["verified"].total, response.context["preview"].total) == (0, 10)
    assert (
        content.count('action="{}"'.format(reverse("reviews:evidence_verify", args=[application.pk]))) == 19
    )
    assert content.count("미확인") == 19


def test_auditors_read_the_review_page_without_forms(
    client: Client, login: Login, application: Application, auditor: User
) -> None:
    login(client, auditor)

    response = client.get(reverse("reviews:evidence_review", args=[application.pk]))

    assert response.status_code == 200
    assert reverse("reviews:evidence_verify", args=[application.pk]) not in response.content.decode()
    assert "읽기 전용입니다. 증빙 판정은 운영자만 할 수 있습니다." in response.content.decode()


def test_an_operator_verifies_a_row_and_returns_to_it(
    client: Client, login: Login, application: Application, operator: User
) -> None:
    project = application.projects.order_by("pk").first()
    assert project is not None
    login(client, operator)

    response = client.post(
        reverse("reviews:evidence_verify", args=[application.pk]),
        {"kind": "project", "evidence_id": project.pk, "status": "verified", "reason": ""},
    )

    review = reverse("reviews:evidence_review", args=[application.pk])
    assert response.status_code == 302
    assert response["Location"] == f"{review}#evidence-project-{project.pk}"
    page = client.get(review)
    assert page.context["verified"].government_projects.counted == (f"{project.project_id}({project.title})",)


def test_a_rejection_without_a_reason_is_refused_and_changes_nothing(
    client: Client, login: Login, application: Application, operator: User
) -> None:
    project = application.projects.order_by("pk").first()
    assert project is not None
    login(client, operator)

    response = client.post(
        reverse("reviews:evidence_verify", args=[application.pk]),
        {"kind": "project", "evidence_id": project.pk, "status": "rejected", "reason": "  "},
    )

    assert response.status_code == 400
    assert "불인정 사유를 입력해 주세요." in response.content.decode()
    assert not EvidenceVerification.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="reviews.evidence_").exists()


@pytest.mark.parametrize(
    "data",
    [
        {"kind": "project", "evidence_id": "", "status": "verified"},
        {"kind": "project", "evidence_id": "1", "status": ""},
        {"kind": "nonsense", "evidence_id": "1", "status": "verified"},
    ],
)
def test_a_malformed_verdict_is_refused(
    client: Client, login: Login, application: Application, operator: User, data: dict[str, str]
) -> None:
    login(client, operator)

    response = client.post(reverse("reviews:evidence_verify", args=[application.pk]), data)

    assert response.status_code == 400
    assert not EvidenceVerification.objects.exists()


def test_evidence_of_another_application_is_404(
    client: Client, login: Login, application: Application, operator: User
) -> None:
    other, _ = submitted_application(application.call, company_name="다른회사")
    foreign = GovernmentProject.objects.create(
        application=other,
        project_id="X",
        title="x",
        started_on=dt.date(2023, 1, 1),
        ended_on=dt.date(2023, 2, 1),
    )
    login(client, operator)

    response = client.post(
        reverse("reviews:evidence_verify", args=[application.pk]),
        {"kind": "project", "evidence_id": foreign.pk, "status": "verified"},
    )

    assert response.status_code == 404
    assert not EvidenceVerification.objects.exists()


def test_a_draft_links_to_its_bonus_preview(client, login, applicant) -> None:
    import time_machine

    from medbroker.calls.tests.factories import call_2025
    from medbroker.calls.tests.factories_applications import application_draft
    from medbroker.core.timeutils import kst

    with time_machine.travel(kst(2025, 7, 14, 10, 0, 0), tick=False):
        application = application_draft(call=call_2025(), applicant=applicant)
        login(client, applicant)
        page = client.get(reverse("calls:application_edit", args=[application.pk])).content.decode()
        preview = client.get(reverse("reviews:bonus_preview", args=[application.pk]))

    assert reverse("reviews:bonus_preview", args=[application.pk]) in page
    assert preview.status_code == 200
