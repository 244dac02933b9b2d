"""Permission matrix (style guide): every role × every page and endpoint of the agreements app.

``applicant``'s company has two concluded agreements: the first with an amendment waiting for both
signatures (and a signed copy on its version 1), the second with nothing open; a performance-test request
on the first; and another company's selection awaits its agreement. Anonymous users go to the login page
(302; 401 on the API); roles without business here get 403; another company gets 404 for this company's
records. Only the requests that are allowed change anything.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import time_machine
from django.core.files.base import ContentFile
from django.test import Client
from django.urls import reverse

from medbroker.accounts.models import Organisation, User
from medbroker.accounts.tests.factories import OrganisationFactory
from medbroker.agreements.models import (
    Agreement,
    AgreementSignature,
    AgreementVersion,
    PerformanceTestRequest,
)
from medbroker.agreements.tests.factories import DURING_SUPPORT, active_agreement, selected_decision
from medbroker.agreements.tests.scene import FAKE_PDF, pending_amendment, signed_copy
from medbroker.calls.tests.factories import call_with_window
from medbroker.calls.tests.factories_applications import sample_pdf
from medbroker.core.timeutils import kst
from medbroker.reviews.models import Decision

ROLES = ["anonymous", "applicant", "other_applicant", "reviewer", "steward", "operator", "auditor"]
pytestmark = pytest.mark.django_db
Login = Callable[[Client, User | None], Client]


@dataclass
class Scene:
    agreement: Agreement
    quiet: Agreement
    amendment: AgreementVersion
    signature: AgreementSignature
    test_request: PerformanceTestRequest
    waiting: Decision


@pytest.fixture(autouse=True)
def _frozen_clock() -> Iterator[None]:
    with time_machine.travel(DURING_SUPPORT, tick=False):
        yield


@pytest.fixture
def scene(operator: User, applicant: User, company: Organisation, fast_pdf: None) -> Scene:
    agreement = active_agreement(decision=selected_decision(company=company, operator=operator))
    # One application per company and call: the second agreement is on a practice call.
    practice = call_with_window(opens_at=kst(2025, 6, 2, 9, 0, 0), closes_at=kst(2025, 6, 16, 16, 0, 0))
    quiet = active_agreement(decision=selected_decision(company=company, call=practice, operator=operator))
    signature = AgreementSignature.objects.get(
        version__agreement=agreement, side=AgreementSignature.Side.COMPANY
    )
    signature.file.save("signed.pdf", ContentFile(sample_pdf("signed")))
    amendment = pending_amendment(agreement, operator=operator)
    test_request = PerformanceTestRequest.objects.create(
        agreement=agreement,
        requested_by=applicant,
        algorithm_name="GastroFinder",
        task_description="병변 검출",
    )
    waiting = selected_decision(company=OrganisationFactory(), operator=operator, rank=3)
    return Scene(agreement, quiet, amendment, signature, test_request, waiting)


def _requests(scene: Scene) -> dict[str, tuple[str, str, dict[str, Any]]]:
    pk, version_pk, test_pk = scene.agreement.pk, scene.amendment.pk, scene.test_request.pk
    return {
        "decision_queue": ("get", reverse("agreements:decision_queue"), {}),
        "agreement_create": (
            "post",
            reverse("agreements:agreement_create", args=[scene.waiting.pk]),
            {"allows_online": "on"},
        ),
        "agreement_list": ("get", reverse("agreements:agreement_list"), {}),
        "agreement_detail": ("get", reverse("agreements:agreement_detail", args=[pk]), {}),
        "agreement_sign": (
            "post",
            reverse("agreements:agreement_sign", args=[version_pk]),
            {"method": "upload"},
        ),
        "agreement_amend": (
            "post",
            reverse("agreements:agreement_amend", args=[scene.quiet.pk]),
            {
                "datasets-TOTAL_FORMS": "1",
                "datasets-INITIAL_FORMS": "0",
                "datasets-0-dataset": str(scene.quiet.versions.get().datasets.first().dataset_id),  # type: ignore[union-attr]
                "datasets-0-amount": "300",
                "compute_option": "",
                "reason": "GPU 반납",
            },
        ),
        "amendment_cancel": (
            "post",
            reverse("agreements:amendment_cancel", args=[version_pk]),
            {"cancel-reason": "기업 요청"},
        ),
        "agreement_terminate": (
            "post",
            reverse("agreements:agreement_terminate", args=[pk]),
            {"terminate-reason": "협약 위반"},
        ),
        "agreement_document": ("get", reverse("agreements:agreement_document", args=[version_pk]), {}),
        "signature_file": ("get", reverse("agreements:signature_file", args=[scene.signature.pk]), {}),
        "test_request_list": ("get", reverse("agreements:test_request_list"), {}),
        "test_request_new": ("get", reverse("agreements:test_request_new", args=[pk]), {}),
        "test_request_new_post": (
            "post",
            reverse("agreements:test_request_new", args=[pk]),
            {"algorithm_name": "ColonSeg", "task_description": "대장 내시경 분할"},
        ),
        "test_request_detail": ("get", reverse("agreements:test_request_detail", args=[test_pk]), {}),
        "test_request_decide": (
            "post",
            reverse("agreements:test_request_decide", args=[test_pk]),
            {"status": "accepted", "comment": "10월 시험"},
        ),
        "test_request_withdraw": ("post", reverse("agreements:test_request_withdraw", args=[test_pk]), {}),
        "api_list": ("get", "/api/v1/agreements", {}),
        "api_detail": ("get", f"/api/v1/agreements/{pk}", {}),
        "api_test_request": (
            "json",
            f"/api/v1/agreements/{pk}/test-requests",
            {"algorithm_name": "ColonSeg", "task_description": "대장 내시경 분할"},
        ),
    }


# Expected status per request, in the order of ROLES:
#      anonymous applicant other_applicant reviewer steward operator auditor
EXPECTED: dict[str, list[int]] = {
    "decision_queue": [302, 403, 403, 403, 403, 200, 200],
    "agreement_create": [302, 403, 403, 403, 403, 302, 403],
    # Another company sees its own (empty) list.
    "agreement_list": [302, 200, 200, 403, 403, 200, 200],
    "agreement_detail": [302, 200, 404, 403, 403, 200, 200],
    # The operator signs for the lab, the applicant for the company; both succeed and go back to the page.
    "agreement_sign": [302, 302, 404, 403, 403, 302, 403],
    "agreement_amend": [302, 403, 403, 403, 403, 302, 403],
    "amendment_cancel": [302, 403, 403, 403, 403, 302, 403],
    "agreement_terminate": [302, 403, 403, 403, 403, 302, 403],
    "agreement_document": [302, 200, 404, 403, 403, 200, 200],
    "signature_file": [302, 200, 404, 403, 403, 200, 200],
    "test_request_list": [302, 200, 200, 403, 403, 200, 200],
    "test_request_new": [302, 200, 404, 403, 403, 403, 403],
    "test_request_new_post": [302, 302, 404, 403, 403, 403, 403],
    "test_request_detail": [302, 200, 404, 403, 403, 200, 200],
    "test_request_decide": [302, 403, 403, 403, 403, 302, 403],
    "test_request_withdraw": [302, 302, 404, 403, 403, 403, 403],
    "api_list": [401, 200, 200, 403, 403, 200, 200],
    "api_detail": [401, 200, 404, 403, 403, 200, 200],
    # Staff may read, but only the company's own members ask for a test (403 not_member).
    "api_test_request": [401, 201, 404, 403, 403, 403, 403],
}

# What a successful request changes, as (request, role) → the part of the state that differs.
CHANGES: dict[tuple[str, str], set[str]] = {
    ("agreement_create", "operator"): {"agreements", "versions"},
    ("agreement_sign", "operator"): {"signatures"},
    ("agreement_sign", "applicant"): {"signatures"},
    ("agreement_amend", "operator"): {"versions"},
    ("amendment_cancel", "operator"): {"versions"},
    # Termination also cancels the amendment still being signed.
    ("agreement_terminate", "operator"): {"agreements", "versions"},
    ("test_request_new_post", "applicant"): {"test_requests"},
    ("test_request_decide", "operator"): {"test_requests"},
    ("test_request_withdraw", "applicant"): {"test_requests"},
    ("api_test_request", "applicant"): {"test_requests"},
}


def _state() -> dict[str, list[tuple[Any, ...]]]:
    return {
        "agreements": list(Agreement.objects.order_by("pk").values_list("pk", "status", "terminated_at")),
        "versions": list(AgreementVersion.objects.order_by("pk").values_list("pk", "status")),
        "signatures": list(AgreementSignature.objects.order_by("pk").values_list("pk", "version_id", "side")),
        "test_requests": list(PerformanceTestRequest.objects.order_by("pk").values_list("pk", "status")),
    }


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("name", list(EXPECTED))
def test_permission_matrix(
    scene: Scene, users_by_role: dict[str, User | None], login: Login, role: str, name: str
) -> None:
    method, url, data = _requests(scene)[name]
    if name == "agreement_sign":
        data = {**data, "upload": signed_copy()}
    client = login(Client(), users_by_role[role])
    before = _state()

    if method == "json":
        response = client.post(url, data, content_type="application/json")
    else:
        response = getattr(client, method)(url, data)

    assert response.status_code == EXPECTED[name][ROLES.index(role)]
    after = _state()
    changed = {part for part in before if before[part] != after[part]}
    assert changed == CHANGES.get((name, role), set())


def test_anonymous_users_are_sent_to_the_login_page(scene: Scene) -> None:
    response = Client().get(reverse("agreements:agreement_detail", args=[scene.agreement.pk]))

    assert response.status_code == 302
    assert response.url.startswith(reverse("accounts:login"))


def test_unknown_records_are_404_for_staff(scene: Scene, operator: User, login: Login) -> None:
    client = login(Client(), operator)
    for name, args in (
        ("agreement_detail", [999_999]),
        ("agreement_document", [999_999]),
        ("signature_file", [999_999]),
        ("test_request_detail", [999_999]),
    ):
        assert client.get(reverse(f"agreements:{name}", args=args)).status_code == 404
    assert client.post(reverse("agreements:agreement_create", args=[999_999])).status_code == 404


def test_the_document_streams_the_generated_pdf(scene: Scene, applicant: User, login: Login) -> None:
    response = login(Client(), applicant).get(
        reverse("agreements:agreement_document", args=[scene.amendment.pk])
    )

    assert response["Content-Type"] == "application/pdf"
    assert response["Cache-Control"] == "private, no-store"
    assert b"".join(response.streaming_content) == FAKE_PDF  # type: ignore[attr-defined]


def test_a_signature_without_a_file_has_nothing_to_stream(scene: Scene, operator: User, login: Login) -> None:
    lab = AgreementSignature.objects.get(version__agreement=scene.agreement, side=AgreementSignature.Side.LAB)

    response = login(Client(), operator).get(reverse("agreements:signature_file", args=[lab.pk]))

    assert response.status_code == 404
