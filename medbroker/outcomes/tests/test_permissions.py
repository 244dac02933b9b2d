"""Permission matrix (style guide): every role × every outcomes page and API endpoint.

``applicant``'s company has an agreement in force with a draft report (sections filled, one attachment);
for the review the report is first submitted. Anonymous users go to the login page (302; the API: 401);
roles without business there get 403; another company gets 404 for this company's report, attachment and
agreement. Only the requests expected to succeed change anything.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import time_machine
from django.test import Client
from django.urls import reverse

from medbroker.accounts.models import Organisation, User
from medbroker.agreements.tests.factories import active_agreement, selected_decision
from medbroker.audit.models import AuditEvent
from medbroker.calls.tests.factories import call_2025
from medbroker.calls.tests.factories_applications import sample_pdf, upload
from medbroker.core.timeutils import kst
from medbroker.outcomes.models import ReportAttachment, ReportOutcome, ReportReview, ResultsReport
from medbroker.outcomes.services.reports import report_attachment_add, report_open, report_update

ROLES = ["anonymous", "applicant", "other_applicant", "reviewer", "steward", "operator", "auditor"]
pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _frozen_clock() -> Iterator[None]:
    with time_machine.travel(kst(2025, 11, 25, 10, 0, 0), tick=False):
        yield


@pytest.fixture
def report(company: Organisation, applicant: User) -> ResultsReport:
    agreement = active_agreement(decision=selected_decision(company=company, call=call_2025()))
    report = report_open(agreement=agreement, actor=applicant)
    report = report_update(
        report=report,
        actor=applicant,
        fields={"model_performance": "AUROC 0.91", "summary": "논문 1건"},
        outcomes=[{"kind": "paper", "title": "Gastric AI"}],
    )
    report_attachment_add(report=report, upload=upload("증빙.pdf", sample_pdf()), actor=applicant)
    return report


def _urls(report: ResultsReport) -> dict[str, tuple[str, str, dict[str, Any]]]:
    pk = report.pk
    attachment = report.attachments.get()
    save = {
        "data_usage": "데이터",
        "compute_usage": "GPU",
        "model_performance": "AUROC 0.95",
        "summary": "특허 1건",
        "revenue_krw": "",
        "jobs_created": "",
        "outcomes-TOTAL_FORMS": "1",
        "outcomes-INITIAL_FORMS": "1",
        "outcomes-MIN_NUM_FORMS": "0",
        "outcomes-MAX_NUM_FORMS": "100",
        "outcomes-0-kind": "patent",
        "outcomes-0-title": "병변 검출 방법",
    }
    return {
        "company_overview": ("get", reverse("outcomes:company_overview"), {}),
        "report_list": ("get", reverse("outcomes:report_list"), {}),
        "report_detail": ("get", reverse("outcomes:report_detail", args=[pk]), {}),
        "report_open": ("post", reverse("outcomes:report_open", args=[report.agreement_id]), {}),
        "report_save": ("post", reverse("outcomes:report_save", args=[pk]), save),
        "report_outcome_row": ("get", reverse("outcomes:report_outcome_row", args=[pk]), {}),
        "report_submit": ("post", reverse("outcomes:report_submit", args=[pk]), {}),
        "report_review": (
            "post",
            reverse("outcomes:report_review", args=[pk]),
            {"verdict": "returned", "comment": "보완"},
        ),
        "report_attachment_add": (
            "post",
            reverse("outcomes:report_attachment_add", args=[pk]),
            {"file": upload("특허.pdf", sample_pdf("특허"))},
        ),
        "report_attachment": ("get", reverse("outcomes:report_attachment", args=[attachment.pk]), {}),
        "report_attachment_remove": (
            "post",
            reverse("outcomes:report_attachment_remove", args=[attachment.pk]),
            {},
        ),
        "report_pdf": ("get", reverse("outcomes:report_pdf", args=[pk]), {}),
        "dashboard": ("get", reverse("outcomes:dashboard"), {}),
        "dashboard_xlsx": ("get", reverse("outcomes:dashboard_xlsx"), {}),
        "dashboard_pdf": ("get", reverse("outcomes:dashboard_pdf"), {}),
        "api_dashboard": ("get", "/api/v1/outcomes/dashboard", {}),
        "api_reports": ("get", "/api/v1/outcomes/reports", {}),
        "api_report": ("get", f"/api/v1/outcomes/reports/{pk}", {}),
        "api_report_submit": ("post", f"/api/v1/outcomes/reports/{pk}/submit", {}),
    }


# Expected status per page, in the order of ROLES:
#          anonymous applicant other_applicant reviewer steward operator auditor
EXPECTED: dict[str, list[int]] = {
    # Another company sees its own overview (it has no agreement).
    "company_overview": [302, 200, 200, 403, 403, 403, 403],
    "report_list": [302, 200, 200, 403, 403, 200, 200],
    "report_detail": [302, 200, 404, 403, 403, 200, 200],
    # The report exists: opening it again goes to it.
    "report_open": [302, 302, 404, 403, 403, 302, 403],
    "report_save": [302, 302, 404, 403, 403, 403, 403],
    "report_outcome_row": [302, 200, 404, 403, 403, 403, 403],
    "report_submit": [302, 302, 404, 403, 403, 403, 403],
    "report_review": [302, 403, 403, 403, 403, 302, 403],
    "report_attachment_add": [302, 302, 404, 403, 403, 403, 403],
    "report_attachment": [302, 200, 404, 403, 403, 200, 200],
    "report_attachment_remove": [302, 302, 404, 403, 403, 403, 403],
    "report_pdf": [302, 200, 404, 403, 403, 200, 200],
    "dashboard": [302, 403, 403, 403, 403, 200, 200],
    "dashboard_xlsx": [302, 403, 403, 403, 403, 200, 200],
    "dashboard_pdf": [302, 403, 403, 403, 403, 200, 200],
    "api_dashboard": [401, 403, 403, 403, 403, 200, 200],
    "api_reports": [401, 200, 200, 403, 403, 200, 200],
    "api_report": [401, 200, 404, 403, 403, 200, 200],
    "api_report_submit": [401, 200, 404, 403, 403, 403, 403],
}
# The report is submitted before these run, so the operator has something to review.
SUBMITTED_FIRST = {"report_review"}


def _state() -> dict[str, Any]:
    return {
        "reports": list(
            ResultsReport.objects.order_by("pk").values_list(
                "pk", "status", "submitted_at", "model_performance", "summary"
            )
        ),
        "outcomes": list(ReportOutcome.objects.order_by("pk").values_list("kind", "title")),
        "attachments": list(ReportAttachment.objects.order_by("pk").values_list("original_name", flat=True)),
        "reviews": list(ReportReview.objects.values_list("verdict", "comment")),
        "changes": AuditEvent.objects.filter(action__startswith="outcomes.report_")
        .exclude(action__in=["outcomes.report_exported", "outcomes.report_attachment_downloaded"])
        .count(),
    }


def _expected_change(page: str, before: dict[str, Any], after: dict[str, Any]) -> None:
    if page == "report_save":
        assert after["reports"][0][3:] == ("AUROC 0.95", "특허 1건")
        assert after["outcomes"] == [("patent", "병변 검출 방법")]
    elif page in ("report_submit", "api_report_submit"):
        assert after["reports"][0][1] == "submitted"
    elif page == "report_review":
        assert after["reports"][0][1] == "returned"
        assert after["reviews"] == [("returned", "보완")]
    elif page == "report_attachment_add":
        assert after["attachments"] == ["증빙.pdf", "특허.pdf"]
    elif page == "report_attachment_remove":
        assert after["attachments"] == []
    else:  # pragma: no cover - every changing page is listed above
        raise AssertionError(page)
    assert after["changes"] == before["changes"] + 1


SUCCEEDS = {
    ("applicant", "report_save"),
    ("applicant", "report_submit"),
    ("applicant", "api_report_submit"),
    ("applicant", "report_attachment_add"),
    ("applicant", "report_attachment_remove"),
    ("operator", "report_review"),
}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("page", list(EXPECTED))
def test_permission_matrix(
    report: ResultsReport,
    users_by_role: dict[str, User | None],
    login: Callable[[Client, User | None], Client],
    role: str,
    page: str,
) -> None:
    if page in SUBMITTED_FIRST:
        ResultsReport.objects.filter(pk=report.pk).update(status="submitted", submitted_at=kst(2025, 11, 24))
    method, url, data = _urls(report)[page]
    client = login(Client(), users_by_role[role])
    before = _state()

    response = getattr(client, method)(url, data)

    assert response.status_code == EXPECTED[page][ROLES.index(role)]
    after = _state()
    if (role, page) in SUCCEEDS:
        _expected_change(page, before, after)
    else:
        assert after == before
    if response.status_code == 302 and role == "anonymous":
        assert response["Location"].startswith(reverse("accounts:login"))
