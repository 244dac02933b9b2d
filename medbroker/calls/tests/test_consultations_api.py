"""API of the data-demand consultation: same rules as the pages, errors as {code, message}."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from django.test import Client

from medbroker.accounts.models import User
from medbroker.accounts.services.api_tokens import api_token_create
from medbroker.calls.models import Call, Consultation, ConsultationMessage
from medbroker.calls.services.consultations import consultation_close, consultation_item_answer
from medbroker.calls.tests.consultation_factories import colon_ct_dataset, consultation_make, open_call
from medbroker.catalog.models import Dataset
from medbroker.catalog.tests.factories import DatasetFactory

pytestmark = pytest.mark.django_db

Login = Callable[[Client, User | None], Client]
BASE = "/api/v1/consultations"


@pytest.fixture
def call() -> Call:
    return open_call()


@pytest.fixture
def stomach() -> Dataset:
    return DatasetFactory(title="위 내시경 영상")


def _post(client: Client, path: str, payload: dict, **extra: str):  # type: ignore[no-untyped-def]
    return client.post(path, json.dumps(payload), content_type="application/json", **extra)


def test_applicant_creates_a_consultation(
    client: Client, login: Login, applicant: User, call: Call, stomach: Dataset
) -> None:
    colon = colon_ct_dataset()

    response = _post(
        login(client, applicant),
        BASE,
        {
            "purpose": "위암 검출",
            "items": [
                {"dataset_id": stomach.pk, "requested_amount": 3000, "needs_annotated": True},
                {"dataset_id": colon.pk, "requested_amount": 500},
            ],
        },
    )

    consultation = Consultation.objects.get()
    body = response.json()
    assert response.status_code == 201
    assert {
        k: body[k] for k in ("id", "call", "company", "status", "purpose", "answered_at", "messages")
    } == {
        "id": consultation.pk,
        "call": "practice-test",  # the open call, since none was named
        "company": "대구메디AI",
        "status": "open",
        "purpose": "위암 검출",
        "answered_at": None,
        "messages": [],
    }
    assert [
        (i["dataset_id"], i["dataset_title"], i["requested_amount"], i["needs_annotated"], i["answer"])
        for i in body["items"]
    ] == [
        (stomach.pk, "위 내시경 영상", 3000, True, "pending"),
        (colon.pk, "대장 CT 영상", 500, False, "pending"),
    ]


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        (
            {"purpose": "x", "items": [{"dataset_id": "STOMACH", "requested_amount": 0}]},
            "consultation_amount_invalid",
        ),
        (
            {"purpose": "x", "items": [{"dataset_id": "DRAFT", "requested_amount": 5}]},
            "consultation_dataset_unpublished",
        ),
        ({"purpose": "x", "items": []}, "consultation_items_required"),
        (
            {
                "call": "no-such-call",
                "purpose": "x",
                "items": [{"dataset_id": "STOMACH", "requested_amount": 5}],
            },
            "consultation_call_unavailable",
        ),
    ],
)
def test_bad_requests_are_400_with_a_code_and_create_nothing(
    client: Client, login: Login, applicant: User, call: Call, stomach: Dataset, payload: dict, code: str
) -> None:
    draft = DatasetFactory(publication=Dataset.Publication.DRAFT)
    for item in payload["items"]:
        item["dataset_id"] = {"STOMACH": stomach.pk, "DRAFT": draft.pk}[item["dataset_id"]]

    response = _post(login(client, applicant), BASE, payload)

    assert response.status_code == 400
    assert response.json()["code"] == code
    assert Consultation.objects.count() == 0


def test_unpublished_dataset_error_body(client: Client, login: Login, applicant: User, call: Call) -> None:
    draft = DatasetFactory(publication=Dataset.Publication.DRAFT)

    response = _post(
        login(client, applicant),
        BASE,
        {"purpose": "x", "items": [{"dataset_id": draft.pk, "requested_amount": 5}]},
    )

    assert response.json() == {
        "code": "consultation_dataset_unpublished",
        "message": f"공개된 데이터셋만 협의할 수 있습니다(데이터셋 번호 {draft.pk}).",
        "field": "items",
    }


def test_list_is_the_own_company_for_applicants_and_everything_for_staff(
    client: Client,
    login: Login,
    applicant: User,
    other_applicant: User,
    operator: User,
    auditor: User,
    call: Call,
    stomach: Dataset,
) -> None:
    mine = consultation_make(applicant=applicant, call=call, datasets=[stomach])
    theirs = consultation_make(applicant=other_applicant, call=call, datasets=[stomach])

    def ids(user: User) -> list[int]:
        return [c["id"] for c in login(Client(), user).get(BASE).json()]

    assert ids(applicant) == [mine.pk]
    assert ids(other_applicant) == [theirs.pk]
    assert ids(operator) == [theirs.pk, mine.pk]
    assert ids(auditor) == [theirs.pk, mine.pk]


def test_detail_shows_answers_and_thread_and_hides_other_companies(
    client: Client,
    login: Login,
    applicant: User,
    other_applicant: User,
    operator: User,
    call: Call,
    stomach: Dataset,
) -> None:
    consultation = consultation_make(applicant=applicant, call=call, datasets=[stomach], amount=2000)
    consultation_item_answer(
        actor=operator, item=consultation.items.get(), answer="partial", available_amount=700
    )
    _post(login(Client(), operator), f"{BASE}/{consultation.pk}/messages", {"body": "700건 제공 가능"})

    mine = login(client, applicant).get(f"{BASE}/{consultation.pk}")
    theirs = login(Client(), other_applicant).get(f"{BASE}/{consultation.pk}")

    body = mine.json()
    assert mine.status_code == 200
    assert body["status"] == "answered"
    assert [(i["answer"], i["available_amount"]) for i in body["items"]] == [("partial", 700)]
    assert [(m["author"], m["author_is_staff"], m["body"]) for m in body["messages"]] == [
        (str(operator), True, "700건 제공 가능")
    ]
    assert theirs.status_code == 404
    assert theirs.json() == {
        "code": "consultation_not_found",
        "message": "협의를 찾을 수 없습니다.",
        "field": None,
    }


def test_messages_are_refused_on_a_closed_consultation(
    client: Client, login: Login, applicant: User, operator: User, call: Call, stomach: Dataset
) -> None:
    consultation = consultation_make(applicant=applicant, call=call, datasets=[stomach])
    posted = _post(login(client, applicant), f"{BASE}/{consultation.pk}/messages", {"body": "질문"})
    consultation_close(actor=operator, consultation=consultation)

    refused = _post(client, f"{BASE}/{consultation.pk}/messages", {"body": "또 질문"})

    assert posted.status_code == 201
    assert {k: posted.json()[k] for k in ("author", "author_is_staff", "body")} == {
        "author": str(applicant),
        "author_is_staff": False,
        "body": "질문",
    }
    assert refused.status_code == 400
    assert refused.json()["code"] == "consultation_closed"
    assert list(ConsultationMessage.objects.values_list("body", flat=True)) == ["질문"]


def test_a_personal_api_token_works_without_a_session(applicant: User, call: Call, stomach: Dataset) -> None:
    _token, key = api_token_create(user=applicant, name="CI")
    headers = {"HTTP_AUTHORIZATION": f"Bearer {key}"}
    client = Client()

    created = _post(
        client,
        BASE,
        {"purpose": "토큰으로 요청", "items": [{"dataset_id": stomach.pk, "requested_amount": 9}]},
        **headers,
    )
    listed = client.get(BASE, **headers)
    anonymous = client.get(BASE)

    assert created.status_code == 201
    assert [c["purpose"] for c in listed.json()] == ["토큰으로 요청"]
    assert Consultation.objects.get().created_by == applicant
    assert anonymous.status_code == 401
