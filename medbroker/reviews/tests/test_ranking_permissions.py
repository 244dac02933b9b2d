"""Permission matrix (style guide): every role × the ranking, decision, publication, export and result pages.

The committee is closed with two scored applications, both decided but not yet published; the first belongs
to ``applicant``'s company. Anonymous users go to the login page (302); roles without business there get
403; another company gets 404 for this company's result. The chair of the committee reads the ranking and
nothing else; a member who is not chair reads nothing here. Only the operator's requests change anything.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from medbroker.accounts.models import User
from medbroker.audit.models import AuditEvent
from medbroker.reviews.models import Decision
from medbroker.reviews.services.decisions import decision_record
from medbroker.reviews.tests.factories import committee_2025
from medbroker.reviews.tests.factories_ranking import ScoredCommittee, close, scored_committee

ROLES = [
    "anonymous",
    "applicant",
    "other_applicant",
    "reviewer",
    "steward",
    "operator",
    "auditor",
    "chair",
    "member",
]
pytestmark = pytest.mark.django_db


@pytest.fixture
def scored(operator: User, applicant: User) -> ScoredCommittee:
    committee = committee_2025()
    scored = scored_committee(
        committee, operator=operator, totals={"가나의료": [80, 70], "다라헬스": [65, 60]}
    )
    # ``applicant`` (the matrix's "applicant of the company") works for 가나의료.
    applicant.organisation = scored.applications["가나의료"].company
    applicant.save(update_fields=["organisation"])
    close(committee, operator)
    for application in scored.applications.values():
        decision_record(application=application, outcome="not_selected", actor=operator)
    return scored


def _urls(scored: ScoredCommittee) -> dict[str, tuple[str, str, dict[str, Any]]]:
    pk = scored.committee.pk
    application = scored.applications["가나의료"]
    return {
        "ranking": ("get", reverse("reviews:ranking", args=[pk]), {}),
        "decision_edit": ("get", reverse("reviews:decision_edit", args=[pk, application.pk]), {}),
        "decision_edit_post": (
            "post",
            reverse("reviews:decision_edit", args=[pk, application.pk]),
            {"outcome": "reserve", "note": "위조"},
        ),
        "decisions_publish": ("post", reverse("reviews:decisions_publish", args=[pk]), {}),
        "export_sheets": ("get", reverse("reviews:export_sheets", args=[pk]), {}),
        "export_ranking": ("get", reverse("reviews:export_ranking", args=[pk]), {}),
        "minutes_pdf": ("get", reverse("reviews:minutes_pdf", args=[pk]), {}),
        "company_results": ("get", reverse("reviews:company_results"), {}),
        "company_result": ("get", reverse("reviews:company_result", args=[application.pk]), {}),
    }


# Expected status per page, in the order of ROLES:
#          anonymous applicant other_applicant reviewer steward operator auditor chair member
EXPECTED: dict[str, list[int]] = {
    "ranking": [302, 403, 403, 403, 403, 200, 200, 200, 403],
    "decision_edit": [302, 403, 403, 403, 403, 200, 403, 403, 403],
    # The operator's valid POST saves and goes back to the ranking.
    "decision_edit_post": [302, 403, 403, 403, 403, 302, 403, 403, 403],
    # Every application is decided: the operator publishes and goes back to the ranking.
    "decisions_publish": [302, 403, 403, 403, 403, 302, 403, 403, 403],
    "export_sheets": [302, 403, 403, 403, 403, 200, 200, 403, 403],
    "export_ranking": [302, 403, 403, 403, 403, 200, 200, 403, 403],
    "minutes_pdf": [302, 403, 403, 403, 403, 200, 200, 403, 403],
    # Another company sees its own (empty) list; the result of this company's application is 404 to it.
    "company_results": [302, 200, 200, 403, 403, 403, 403, 403, 403],
    "company_result": [302, 200, 404, 403, 403, 403, 403, 403, 403],
}


def _state() -> list[tuple]:
    return list(
        Decision.objects.order_by("pk").values_list("application_id", "outcome", "note", "published_at")
    )


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("page", list(EXPECTED))
def test_permission_matrix(
    scored: ScoredCommittee,
    users_by_role: dict[str, User | None],
    login: Callable[[Client, User | None], Client],
    role: str,
    page: str,
) -> None:
    users = {**users_by_role, "chair": scored.members[0].user, "member": scored.members[1].user}
    method, url, data = _urls(scored)[page]
    client = login(Client(), users[role])
    before = _state()
    exports_before = AuditEvent.objects.filter(action__endswith="_exported").count()

    response = getattr(client, method)(url, data)

    assert response.status_code == EXPECTED[page][ROLES.index(role)]
    after = _state()
    if role == "operator" and page == "decision_edit_post":
        assert [(row[1], row[2]) for row in after] == [("reserve", "위조"), ("not_selected", "")]
    elif role == "operator" and page == "decisions_publish":
        assert all(row[3] is not None for row in after)
    else:
        assert after == before
    # Only a delivered export is logged, as a sensitive read; a refused one leaves no trace of a read.
    exported = page.startswith("export") or page == "minutes_pdf"
    delivered = exported and response.status_code == 200
    assert AuditEvent.objects.filter(action__endswith="_exported").count() == exports_before + int(delivered)


def test_unknown_committee_is_404_for_staff(
    operator: User, auditor: User, login: Callable[[Client, User | None], Client]
) -> None:
    for user in (operator, auditor):
        client = login(Client(), user)
        assert client.get(reverse("reviews:ranking", args=[999_999])).status_code == 404
        assert client.get(reverse("reviews:export_ranking", args=[999_999])).status_code == 404
    assert (
        login(Client(), operator).post(reverse("reviews:decisions_publish", args=[999_999])).status_code
        == 404
    )


def test_decision_form_for_an_application_of_another_call_is_404(
    scored: ScoredCommittee, operator: User, login: Callable[[Client, User | None], Client]
) -> None:
    url = reverse("reviews:decision_edit", args=[scored.committee.pk, 999_999])

    assert login(Client(), operator).get(url).status_code == 404


def test_support_period_after_the_call_end_through_the_form_is_refused(
    scored: ScoredCommittee, operator: User, login: Callable[[Client, User | None], Client]
) -> None:
    # The reserve outcome passes the cut-off check (80/70 → 75.00); only the period is wrong.
    url = reverse("reviews:decision_edit", args=[scored.committee.pk, scored.applications["가나의료"].pk])
    before = _state()

    response = login(Client(), operator).post(
        url, {"outcome": "reserve", "support_ends_on": dt.date(2025, 11, 29)}
    )

    assert response.status_code == 400
    assert response.context["form"].errors == {
        "support_ends_on": ["지원 종료일은 공모의 지원기간 종료일(2025-11-28)을 넘을 수 없습니다."]
    }
    assert _state() == before
