"""The applications API: the same permissions and rules as the pages, errors as JSON."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import time_machine
from django.test import Client

from medbroker.accounts.models import User
from medbroker.accounts.services.api_tokens import api_token_create
from medbroker.calls.models import Application, Call
from medbroker.calls.services.applications import application_return, application_submit
from medbroker.calls.tests.factories import call_2025
from medbroker.calls.tests.factories_applications import application_draft, application_ready
from medbroker.core.timeutils import kst

NOW = kst(2025, 7, 14, 10, 0, 0)
URL = "/api/v1/applications"


@pytest.fixture
def call(db: None) -> Call:
    call = call_2025()
    call.receipt_prefix = "KHD2025"
    call.save(update_fields=["receipt_prefix"])
    return call


@pytest.fixture(autouse=True)
def during_intake() -> Iterator[None]:
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def own(call: Call, applicant: User) -> Application:
    return application_ready(call=call, applicant=applicant)


@pytest.fixture
def others(call: Call, other_applicant: User) -> Application:
    return application_draft(call=call, applicant=other_applicant)


def _get(login: Callable[..., Client], user: User | None, path: str) -> Any:
    return login(Client(), user).get(path)


def test_applicant_lists_only_its_own(
    own: Application, others: Application, applicant: User, login: Callable[..., Client]
) -> None:
    response = _get(login, applicant, URL)

    assert response.status_code == 200
    assert response.json() == [
        {
            "id": own.pk,
            "call": "khealth-daegu-2025",
            "call_title": own.call.title,
            "company": "대구메디AI",
            "business_registration_number": "1208147521",
            "status": "draft",
            "status_label": "작성 중",
            "receipt_number": None,
            "project_title": "위 내시경 병변 검출 AI",
            "submitted_at": None,
            "last_submitted_at": None,
            "updated_at": "2025-07-14T10:00:00+09:00",
        }
    ]


@pytest.mark.parametrize("role", ["operator", "auditor"])
def test_staff_list_every_application(
    own: Application,
    others: Application,
    users_by_role: dict[str, User],
    login: Callable[..., Client],
    role: str,
) -> None:
    response = _get(login, users_by_role[role], URL)

    assert [item["id"] for item in response.json()] == [own.pk, others.pk]
    assert [
        item["id"] for item in _get(login, users_by_role[role], URL + "?status=draft&call=nope").json()
    ] == []


def test_detail_explains_eligibility_and_what_is_missing(
    others: Application, other_applicant: User, login: Callable[..., Client]
) -> None:
    body = _get(login, other_applicant, f"{URL}/{others.pk}").json()

    assert (body["eligible"], body["missing_documents"]) == (
        False,
        ["application_plan", "privacy_consent", "participation_agreement", "eligibility_confirmation"],
    )
    assert [(c["number"], c["declared"], c["satisfied"]) for c in body["eligibility"]] == [
        (1, False, False),
        (2, False, False),
        (3, False, False),
        (4, False, False),
    ]
    assert [(i["code"], i["done"]) for i in body["checklist"][:2]] == [
        ("plan", False),
        ("eligibility", False),
    ]


def test_another_companys_application_is_not_found(
    others: Application, applicant: User, login: Callable[..., Client]
) -> None:
    response = _get(login, applicant, f"{URL}/{others.pk}")

    assert response.status_code == 404
    assert response.json() == {
        "code": "application_not_found",
        "message": "신청서를 찾을 수 없습니다.",
        "field": None,
    }


def test_submit_returns_the_receipt_number(
    own: Application, applicant: User, login: Callable[..., Client]
) -> None:
    response = login(Client(), applicant).post(f"{URL}/{own.pk}/submit")

    assert response.status_code == 200
    assert response.json() == {
        "id": own.pk,
        "status": "submitted",
        "receipt_number": "KHD2025-0001",
        "submitted_at": "2025-07-14T10:00:00+09:00",
        "last_submitted_at": "2025-07-14T10:00:00+09:00",
    }


def test_submit_with_a_bearer_token(own: Application, applicant: User) -> None:
    _token, key = api_token_create(user=applicant, name="ci")

    response = Client().post(f"{URL}/{own.pk}/submit", HTTP_AUTHORIZATION=f"Bearer {key}")

    assert (response.status_code, response.json()["receipt_number"]) == (200, "KHD2025-0001")


def test_submit_after_the_deadline_is_refused(
    own: Application, applicant: User, login: Callable[..., Client]
) -> None:
    with time_machine.travel(kst(2025, 7, 21, 16, 0, 0), tick=False):
        response = login(Client(), applicant).post(f"{URL}/{own.pk}/submit")

    assert response.status_code == 409
    assert response.json()["code"] == "intake_closed"
    assert response.json()["message"].startswith("접수가 마감되었습니다 (2025-07-21 16:00:00 KST).")
    own.refresh_from_db()
    assert (own.status, own.receipt_number) == ("draft", None)


def test_submit_refuses_rule_5(call: Call, other_applicant: User, login: Callable[..., Client]) -> None:
    # A Seoul company declaring only ①.
    application = application_ready(call=call, applicant=other_applicant)

    response = login(Client(), other_applicant).post(f"{URL}/{application.pk}/submit")

    assert response.status_code == 400
    assert response.json() == {
        "code": "eligibility_not_met",
        "message": "신청 자격 ①~④ 중 1개 이상을 충족해야 제출할 수 있습니다(공고 지원대상 ⑤). "
        "해당하는 자격을 선택하고 필요한 증빙을 갖춰 주세요.",
        "field": "eligibility",
    }
    application.refresh_from_db()
    assert application.status == "draft"


def test_submitting_twice_is_a_conflict(
    own: Application, applicant: User, login: Callable[..., Client]
) -> None:
    application_submit(application=own, actor=applicant)

    response = login(Client(), applicant).post(f"{URL}/{own.pk}/submit")

    assert (response.status_code, response.json()["code"]) == (409, "invalid_transition")


def test_resubmit_after_a_return(
    own: Application, applicant: User, operator: User, login: Callable[..., Client]
) -> None:
    application_submit(application=own, actor=applicant)
    application_return(application=own, actor=operator, reason="보완")

    with time_machine.travel(kst(2025, 7, 15, 8, 0, 0), tick=False):
        response = login(Client(), applicant).post(f"{URL}/{own.pk}/resubmit")

    assert response.json() == {
        "id": own.pk,
        "status": "resubmitted",
        "receipt_number": "KHD2025-0001",
        "submitted_at": "2025-07-14T10:00:00+09:00",
        "last_submitted_at": "2025-07-15T08:00:00+09:00",
    }
