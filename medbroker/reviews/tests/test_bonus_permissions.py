"""Who may open the bonus preview and the evidence verification pages, and who may record a verdict."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from django.test import Client
from django.urls import reverse

from medbroker.accounts.models import User
from medbroker.audit.models import AuditEvent
from medbroker.calls.models import Application, GovernmentProject
from medbroker.reviews.models import Conflict, EvidenceVerification
from medbroker.reviews.tests.factories import committee_2025, member, submitted_application

pytestmark = pytest.mark.django_db

ROLES = [
    "anonymous",
    "applicant",
    "other_applicant",
    "reviewer",
    "reviewer_conflicted",
    "steward",
    "operator",
    "auditor",
]

# role → expected status of GET bonus_preview, GET evidence_review, POST evidence_verify.
EXPECTED = {
    "anonymous": (302, 302, 302),
    "applicant": (200, 403, 403),
    "other_applicant": (404, 403, 403),
    "reviewer": (403, 403, 403),
    "reviewer_conflicted": (403, 403, 403),
    "steward": (403, 403, 403),
    "operator": (200, 200, 302),
    "auditor": (200, 200, 403),
}


@pytest.fixture
def setup(
    users_by_role: dict[str, User | None], applicant: User
) -> tuple[Application, GovernmentProject, dict[str, User | None]]:
    committee = committee_2025()
    application, _ = submitted_application(committee.call, company_name="권한테스트")
    # The fixture applicant becomes a member of the applying company: "the applicant of the company".
    applicant.organisation = application.company
    applicant.save(update_fields=["organisation"])
    project = GovernmentProject.objects.create(
        application=application,
        project_id="RS-1",
        title="과제",
        started_on=dt.date(2023, 1, 1),
        ended_on=dt.date(2023, 12, 31),
    )
    conflicted = member(committee, username="conflicted")
    Conflict.objects.create(member=conflicted, application=application, kind=Conflict.Kind.RECUSAL)
    return application, project, {**users_by_role, "reviewer_conflicted": conflicted.user}


@pytest.mark.parametrize("role", ROLES)
def test_permission_matrix(
    client: Client,
    login: Callable[[Client, User | None], Client],
    setup: tuple[Application, GovernmentProject, dict[str, User | None]],
    role: str,
) -> None:
    application, project, users = setup
    login(client, users[role])
    preview, review, verify = EXPECTED[role]

    assert client.get(reverse("reviews:bonus_preview", args=[application.pk])).status_code == preview
    assert client.get(reverse("reviews:evidence_review", args=[application.pk])).status_code == review
    response = client.post(
        reverse("reviews:evidence_verify", args=[application.pk]),
        {"kind": "project", "evidence_id": project.pk, "status": "verified", "reason": ""},
    )
    assert response.status_code == verify

    if role == "operator":
        assert EvidenceVerification.objects.get().status == "verified"
    else:
        # Refused: nothing recorded.
        assert not EvidenceVerification.objects.exists()
        assert not AuditEvent.objects.filter(action__startswith="reviews.evidence_").exists()


def test_anonymous_users_are_sent_to_the_login_page(
    client: Client, setup: tuple[Application, GovernmentProject, dict[str, User | None]]
) -> None:
    application, _, _ = setup
    url = reverse("reviews:bonus_preview", args=[application.pk])

    response = client.get(url)

    assert response["Location"] == f"{reverse('accounts:login')}?next={url}"


def test_verify_accepts_only_post(
    client: Client,
    login: Callable[[Client, User | None], Client],
    operator: User,
    setup: tuple[Application, GovernmentProject, dict[str, User | None]],
) -> None:
    application, _, _ = setup
    login(client, operator)

    assert client.get(reverse("reviews:evidence_verify", args=[application.pk])).status_code == 405


def test_an_unknown_application_is_404_for_staff(
    client: Client, login: Callable[[Client, User | None], Client], operator: User, db: None
) -> None:
    login(client, operator)

    assert client.get(reverse("reviews:bonus_preview", args=[999999])).status_code == 404
    assert client.get(reverse("reviews:evidence_review", args=[999999])).status_code == 404
