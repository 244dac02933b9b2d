"""Permission matrix of the calls pages and the consultation pages and API (style guide: one per app).

Roles: anonymous, applicant of the company, applicant of another company, reviewer, data steward,
operator, auditor. A refused request changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.test import Client
from django.urls import reverse

from medbroker.accounts.models import User
from medbroker.calls.models import Call, Consultation, ConsultationItem, ConsultationMessage
from medbroker.calls.tests.consultation_factories import consultation_make, open_call
from medbroker.catalog.models import Dataset
from medbroker.catalog.tests.factories import DatasetFactory

pytestmark = pytest.mark.django_db

ROLES = ("anonymous", "applicant", "other_applicant", "reviewer", "steward", "operator", "auditor")
LOGIN = "login"  # anonymous on a login-only page: 302 to /accounts/login/


@dataclass(frozen=True)
class World:
    call: Call
    dataset: Dataset
    consultation: Consultation
    item: ConsultationItem


@pytest.fixture
def world(applicant: User) -> World:
    call = open_call()
    dataset = DatasetFactory()
    consultation = consultation_make(applicant=applicant, call=call, datasets=[dataset], amount=100)
    return World(call=call, dataset=dataset, consultation=consultation, item=consultation.items.get())


def _state() -> tuple[int, int, int, list[str]]:
    return (
        Consultation.objects.count(),
        ConsultationMessage.objects.count(),
        ConsultationItem.objects.exclude(answer="pending").count(),
        list(Consultation.objects.order_by("pk").values_list("status", flat=True)),
    )


Request = Callable[[Client, World], object]


PAGES: dict[str, tuple[Request, dict[str, int | str]]] = {
    "home": (lambda c, w: c.get(reverse("home")), dict.fromkeys(ROLES, 200)),
    "call_list": (lambda c, w: c.get(reverse("calls:call_list")), dict.fromkeys(ROLES, 200)),
    "call_detail": (
        lambda c, w: c.get(reverse("calls:call_detail", args=[w.call.slug])),
        dict.fromkeys(ROLES, 200),
    ),
    "document_template": (
        lambda c, w: c.get(reverse("calls:document_template", args=[w.call.slug, "privacy_consent"])),
        dict.fromkeys(ROLES, 200),
    ),
    "consultation_list": (
        lambda c, w: c.get(reverse("calls:consultation_list")),
        {
            "anonymous": LOGIN,
            "applicant": 200,
            "other_applicant": 200,
            "reviewer": 403,
            "steward": 403,
            "operator": 403,
            "auditor": 403,
        },
    ),
    "consultation_new": (
        lambda c, w: c.get(reverse("calls:consultation_new")),
        {
            "anonymous": LOGIN,
            "applicant": 200,
            "other_applicant": 200,
            "reviewer": 403,
            "steward": 403,
            "operator": 403,
            "auditor": 403,
        },
    ),
    "consultation_new_post": (
        lambda c, w: c.post(
            reverse("calls:consultation_new"),
            {
                "call": w.call.pk,
                "purpose": "목적",
                "items-TOTAL_FORMS": 1,
                "items-INITIAL_FORMS": 0,
                "items-0-dataset": w.dataset.pk,
                "items-0-requested_amount": 10,
            },
        ),
        {
            "anonymous": LOGIN,
            "applicant": 302,
            "other_applicant": 302,
            "reviewer": 403,
            "steward": 403,
            "operator": 403,
            "auditor": 403,
        },
    ),
    "consultation_detail": (
        lambda c, w: c.get(reverse("calls:consultation_detail", args=[w.consultation.pk])),
        {
            "anonymous": LOGIN,
            "applicant": 200,
            "other_applicant": 404,
            "reviewer": 403,
            "steward": 403,
            "operator": 200,
            "auditor": 200,
        },
    ),
    "consultation_message": (
        lambda c, w: c.post(
            reverse("calls:consultation_message", args=[w.consultation.pk]), {"body": "안녕하세요"}
        ),
        {
            "anonymous": LOGIN,
            "applicant": 302,
            "other_applicant": 404,
            "reviewer": 403,
            "steward": 403,
            "operator": 302,
            "auditor": 403,
        },
    ),
    "consultation_item_answer": (
        lambda c, w: c.post(
            reverse("calls:consultation_item_answer", args=[w.consultation.pk, w.item.pk]),
            {f"item-{w.item.pk}-answer": "available"},
        ),
        {
            "anonymous": LOGIN,
            "applicant": 403,
            "other_applicant": 403,
            "reviewer": 403,
            "steward": 403,
            "operator": 302,
            "auditor": 403,
        },
    ),
    "consultation_close": (
        lambda c, w: c.post(reverse("calls:consultation_close", args=[w.consultation.pk])),
        {
            "anonymous": LOGIN,
            "applicant": 403,
            "other_applicant": 403,
            "reviewer": 403,
            "steward": 403,
            "operator": 302,
            "auditor": 403,
        },
    ),
    "console_consultations": (
        lambda c, w: c.get(reverse("calls:console_consultations")),
        {
            "anonymous": LOGIN,
            "applicant": 403,
            "other_applicant": 403,
            "reviewer": 403,
            "steward": 403,
            "operator": 200,
            "auditor": 200,
        },
    ),
}

API = "/api/v1/consultations"


def _json(client: Client, path: str, payload: dict) -> object:
    return client.post(path, json.dumps(payload), content_type="application/json")


ENDPOINTS: dict[str, tuple[Request, dict[str, int | str]]] = {
    "GET consultations": (
        lambda c, w: c.get(API),
        {
            "anonymous": 401,
            "applicant": 200,
            "other_applicant": 200,
            "reviewer": 403,
            "steward": 403,
            "operator": 200,
            "auditor": 200,
        },
    ),
    "POST consultations": (
        lambda c, w: _json(
            c, API, {"purpose": "목적", "items": [{"dataset_id": w.dataset.pk, "requested_amount": 5}]}
        ),
        {
            "anonymous": 401,
            "applicant": 201,
            "other_applicant": 201,
            "reviewer": 403,
            "steward": 403,
            "operator": 403,
            "auditor": 403,
        },
    ),
    "GET consultations/{id}": (
        lambda c, w: c.get(f"{API}/{w.consultation.pk}"),
        {
            "anonymous": 401,
            "applicant": 200,
            "other_applicant": 404,
            "reviewer": 403,
            "steward": 403,
            "operator": 200,
            "auditor": 200,
        },
    ),
    "POST consultations/{id}/messages": (
        lambda c, w: _json(c, f"{API}/{w.consultation.pk}/messages", {"body": "안녕하세요"}),
        {
            "anonymous": 401,
            "applicant": 201,
            "other_applicant": 404,
            "reviewer": 403,
            "steward": 403,
            "operator": 201,
            "auditor": 403,
        },
    ),
}

WRITES = {
    "consultation_new_post",
    "consultation_message",
    "consultation_item_answer",
    "consultation_close",
    "POST consultations",
    "POST consultations/{id}/messages",
}
SUCCESS = {200, 201, 302}


def _cases(table: dict[str, tuple[Request, dict[str, int | str]]]) -> list[tuple[str, str]]:
    return [(name, role) for name in table for role in ROLES]


@pytest.mark.parametrize(("name", "role"), _cases(PAGES) + _cases(ENDPOINTS))
def test_permission_matrix(
    name: str,
    role: str,
    world: World,
    users_by_role: dict[str, User | None],
    login: Callable[[Client, User | None], Client],
) -> None:
    request, expected = {**PAGES, **ENDPOINTS}[name]
    client = login(Client(), users_by_role[role])
    before = _state()

    response = request(client, world)

    want = expected[role]
    if want == LOGIN:
        assert response.status_code == 302  # type: ignore[attr-defined]
        assert response["Location"].startswith("/accounts/login/?next=")  # type: ignore[index]
    else:
        assert response.status_code == want  # type: ignore[attr-defined]
    refused = want == LOGIN or want not in SUCCESS
    if name in WRITES and refused:
        assert _state() == before
    if name in WRITES and not refused:
        assert _state() != before
