"""The agreements API: the shapes of the list, the detail and a performance-test request."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import time_machine
from django.test import Client

from medbroker.accounts.models import Organisation, User
from medbroker.accounts.services import api_token_create
from medbroker.agreements.models import Agreement, PerformanceTestRequest
from medbroker.agreements.tests.factories import DURING_SUPPORT, active_agreement, selected_decision
from medbroker.agreements.tests.scene import drafted_agreement
from medbroker.catalog.models import Sensitivity
from medbroker.catalog.tests.factories import DatasetFactory

pytestmark = pytest.mark.django_db
Login = Callable[[Client, User | None], Client]


@pytest.fixture(autouse=True)
def _frozen_clock() -> Iterator[None]:
    with time_machine.travel(DURING_SUPPORT, tick=False):
        yield


@pytest.fixture
def agreement(operator: User, applicant: User, company: Organisation) -> Agreement:
    datasets = [
        DatasetFactory(title="위 내시경 영상", sensitivity=Sensitivity.STANDARD),
        DatasetFactory(title="흉부 X-ray 공개 가능 영상", sensitivity=Sensitivity.LOW),
    ]
    decision = selected_decision(company=company, operator=operator, datasets=datasets)
    return active_agreement(decision=decision, allows_online=True)


def test_the_list_gives_each_visible_agreement_with_its_terms(
    agreement: Agreement, applicant: User, login: Login
) -> None:
    v1 = agreement.versions.get()
    rows = list(v1.datasets.order_by("pk"))

    response = login(Client(), applicant).get("/api/v1/agreements")

    assert response.status_code == 200
    assert response.json() == [
        {
            "id": agreement.pk,
            "number": agreement.number,
            "company": "대구메디AI",
            "call": agreement.call.slug,
            "status": "active",
            "starts_on": "2025-09-01",
            "ends_on": "2025-11-28",
            "terms": {
                "version": 1,
                "effective_at": "2025-09-01T11:00:00+09:00",
                "datasets": [
                    {
                        "dataset_id": rows[0].dataset_id,
                        "title": "위 내시경 영상",
                        "sensitivity": "standard",
                        "amount": 1000,
                        "needs_annotated": True,
                    },
                    {
                        "dataset_id": rows[1].dataset_id,
                        "title": "흉부 X-ray 공개 가능 영상",
                        "sensitivity": "low",
                        "amount": 1000,
                        "needs_annotated": True,
                    },
                ],
                "compute": {"code": "a100-32", "gpu": "A100", "gpu_memory_gb": 32},
                "allows_online": True,
            },
        }
    ]


def test_an_agreement_awaiting_signatures_has_no_terms_yet(
    operator: User, company: Organisation, applicant: User, login: Login, fast_pdf: None
) -> None:
    agreement = drafted_agreement(operator=operator, company=company)

    body = login(Client(), applicant).get(f"/api/v1/agreements/{agreement.pk}").json()

    assert (body["status"], body["starts_on"], body["terms"], body["signed_at"]) == (
        "awaiting_signatures",
        None,
        None,
        None,
    )
    assert body["period_ends_at"] == "2025-11-29T00:00:00+09:00"


def test_the_detail_adds_the_exact_period_end(agreement: Agreement, auditor: User, login: Login) -> None:
    body = login(Client(), auditor).get(f"/api/v1/agreements/{agreement.pk}").json()

    assert (body["number"], body["signed_at"], body["period_ends_at"], body["terminated_at"]) == (
        agreement.number,
        "2025-09-01T11:00:00+09:00",
        "2025-11-29T00:00:00+09:00",
        None,
    )


def test_a_member_asks_for_a_performance_test_with_a_token(agreement: Agreement, applicant: User) -> None:
    _token, key = api_token_create(user=applicant, name="CI")

    response = Client().post(
        f"/api/v1/agreements/{agreement.pk}/test-requests",
        {"algorithm_name": "GastroFinder", "algorithm_version": "1.2.0", "task_description": "병변 검출"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )

    assert response.status_code == 201
    created = PerformanceTestRequest.objects.get()
    assert response.json() == {
        "id": created.pk,
        "agreement_id": agreement.pk,
        "algorithm_name": "GastroFinder",
        "algorithm_version": "1.2.0",
        "status": "requested",
        "created_at": "2025-09-15T10:00:00+09:00",
    }


def test_errors_come_back_with_their_code(agreement: Agreement, applicant: User, login: Login) -> None:
    Agreement.objects.filter(pk=agreement.pk).update(status=Agreement.Status.TERMINATED)

    response = login(Client(), applicant).post(
        f"/api/v1/agreements/{agreement.pk}/test-requests",
        {"algorithm_name": "GastroFinder", "task_description": "병변 검출"},
        content_type="application/json",
    )

    assert response.status_code == 409
    assert response.json()["code"] == "agreement_not_in_force"
    assert PerformanceTestRequest.objects.count() == 0
