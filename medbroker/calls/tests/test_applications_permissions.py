"""Permission matrix (style guide): every role × every application and console page and API endpoint.

The application belongs to ``applicant``'s company and is submitted (it has a receipt and documents).
Anonymous users are sent to the login page (302) or get 401 from the API; roles without business there get
403; another company gets 404 for anything of this application, whose existence is none of its business.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import time_machine
from django.test import Client
from django.urls import reverse

from medbroker.accounts.models import User
from medbroker.calls.models import Application, Call
from medbroker.calls.services.applications import application_submit
from medbroker.calls.tests.factories import call_2025
from medbroker.calls.tests.factories_applications import application_ready
from medbroker.core.timeutils import kst

ROLES = ["anonymous", "applicant", "other_applicant", "reviewer", "steward", "operator", "auditor"]


@pytest.fixture(autouse=True)
def during_intake() -> Iterator[None]:
    with time_machine.travel(kst(2025, 7, 14, 10, 0, 0), tick=False):
        yield


@pytest.fixture
def call(db: None) -> Call:
    return call_2025()


@pytest.fixture
def application(call: Call, applicant: User) -> Application:
    return application_submit(application=application_ready(call=call, applicant=applicant), actor=applicant)


def _urls(application: Application) -> dict[str, tuple[str, str, dict[str, Any]]]:
    pk = application.pk
    slug = application.call.slug
    document = application.documents.order_by("pk").first()
    assert document is not None
    return {
        "application_list": ("get", reverse("calls:application_list"), {}),
        "application_new": ("get", reverse("calls:application_new", args=[slug]), {}),
        "application_detail": ("get", reverse("calls:application_detail", args=[pk]), {}),
        "application_edit": ("get", reverse("calls:application_edit", args=[pk]), {}),
        "application_formset_row": (
            "get",
            reverse("calls:application_formset_row", args=[pk, "datasets"]),
            {},
        ),
        "application_submit": ("post", reverse("calls:application_submit", args=[pk]), {}),
        "application_resubmit": ("post", reverse("calls:application_resubmit", args=[pk]), {}),
        "application_withdraw": ("get", reverse("calls:application_withdraw", args=[pk]), {}),
        "application_document_upload": (
            "get",
            reverse("calls:application_document_upload", args=[pk, "application_plan"]),
            {},
        ),
        "application_document_download": (
            "get",
            reverse("calls:application_document_download", args=[pk, document.pk]),
            {},
        ),
        "application_receipt": ("get", reverse("calls:application_receipt", args=[pk]), {}),
        "application_receipt_pdf": ("get", reverse("calls:application_receipt_pdf", args=[pk]), {}),
        "console": ("get", reverse("calls:console"), {}),
        "console_call": ("get", reverse("calls:console_call", args=[slug]), {}),
        "console_export": ("get", reverse("calls:console_export", args=[slug]), {}),
        "console_application": ("get", reverse("calls:console_application", args=[pk]), {}),
        "console_application_return": (
            "post",
            reverse("calls:console_application_return", args=[pk]),
            {"reason": "서명 누락"},
        ),
        "api_list": ("get", "/api/v1/applications", {}),
        "api_detail": ("get", f"/api/v1/applications/{pk}", {}),
        "api_submit": ("post", f"/api/v1/applications/{pk}/submit", {}),
        "api_resubmit": ("post", f"/api/v1/applications/{pk}/resubmit", {}),
        # The write side of the company pages, with forged content.
        "application_new_post": ("post", reverse("calls:application_new", args=[slug]), {}),
        "application_edit_post": (
            "post",
            reverse("calls:application_edit", args=[pk]),
            {"project_title": "위조된 과제명"},
        ),
        "application_withdraw_post": ("post", reverse("calls:application_withdraw", args=[pk]), {}),
        "application_document_upload_post": (
            "post",
            reverse("calls:application_document_upload", args=[pk, "application_plan"]),
            {},
        ),
    }


# Expected status per page, in the order of ROLES:
#             anonymous applicant other_applicant reviewer steward operator auditor
EXPECTED: dict[str, list[int]] = {
    # The applicant's live application already exists, so "new" sends it there (302).
    "application_list": [302, 200, 200, 403, 403, 403, 403],
    "application_new": [302, 302, 200, 403, 403, 403, 403],
    "application_detail": [302, 200, 404, 403, 403, 403, 403],
    # Submitted: the edit page sends the company back to the detail page.
    "application_edit": [302, 302, 404, 403, 403, 403, 403],
    "application_formset_row": [302, 200, 404, 403, 403, 403, 403],
    # Refused by the state machine (already submitted / not returned): back to the detail page with the reason.
    "application_submit": [302, 302, 404, 403, 403, 403, 403],
    "application_resubmit": [302, 302, 404, 403, 403, 403, 403],
    "application_withdraw": [302, 200, 404, 403, 403, 403, 403],
    "application_document_upload": [302, 200, 404, 403, 403, 403, 403],
    "application_document_download": [302, 200, 404, 403, 403, 200, 200],
    "application_receipt": [302, 200, 404, 403, 403, 200, 200],
    "application_receipt_pdf": [302, 200, 404, 403, 403, 200, 200],
    "console": [302, 403, 403, 403, 403, 200, 200],
    "console_call": [302, 403, 403, 403, 403, 200, 200],
    "console_export": [302, 403, 403, 403, 403, 200, 200],
    "console_application": [302, 403, 403, 403, 403, 200, 200],
    "console_application_return": [302, 403, 403, 403, 403, 302, 403],
    "api_list": [401, 200, 200, 403, 403, 200, 200],
    "api_detail": [401, 200, 404, 403, 403, 200, 200],
    # The applicant's application is already submitted: a second submission is a conflict.
    "api_submit": [401, 409, 404, 403, 403, 403, 403],
    # Not returned for correction: nothing to resubmit.
    "api_resubmit": [401, 409, 404, 403, 403, 403, 403],
    # The applicant is sent to its live application; another company starts its own draft (a new row).
    "application_new_post": [302, 302, 302, 403, 403, 403, 403],
    # A submitted application is not editable: back to the detail page, the forged title is not stored.
    "application_edit_post": [302, 302, 404, 403, 403, 403, 403],
    # Without the confirmation box the withdrawal form is refused.
    "application_withdraw_post": [302, 400, 404, 403, 403, 403, 403],
    # No file sent.
    "application_document_upload_post": [302, 400, 404, 403, 403, 403, 403],
}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("page", list(EXPECTED))
def test_permission_matrix(
    application: Application,
    users_by_role: dict[str, User | None],
    login: Callable[[Client, User | None], Client],
    role: str,
    page: str,
) -> None:
    method, url, data = _urls(application)[page]
    client = login(Client(), users_by_role[role])
    before = (application.status, application.status_changes.count(), application.project_title)

    response = getattr(client, method)(url, data)

    assert response.status_code == EXPECTED[page][ROLES.index(role)]
    application.refresh_from_db()
    if not (page == "console_application_return" and role == "operator"):
        # Only the operator's return changes anything; every other request leaves the application as it was.
        assert (application.status, application.status_changes.count(), application.project_title) == before
    else:
        assert application.status == "returned"
