"""Services of the data-demand consultation: exact results, audit events, and refusals that change nothing."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine

from medbroker.accounts.models import User
from medbroker.audit.models import AuditEvent
from medbroker.audit.services import audit_chain_verify
from medbroker.calls.models import Call, Consultation, ConsultationItem, ConsultationMessage
from medbroker.calls.services.consultations import (
    ConsultationItemInput,
    consultation_close,
    consultation_create,
    consultation_item_answer,
    consultation_message_post,
)
from medbroker.calls.tests.consultation_factories import colon_ct_dataset, consultation_make, open_call
from medbroker.calls.tests.factories import call_2025
from medbroker.catalog.models import Dataset
from medbroker.catalog.tests.factories import DatasetFactory
from medbroker.core.errors import DomainError, PermissionDeniedError
from medbroker.core.timeutils import kst

pytestmark = pytest.mark.django_db


@pytest.fixture
def call() -> Call:
    return open_call()


@pytest.fixture
def stomach() -> Dataset:
    return DatasetFactory(title="위 내시경 영상")


@pytest.fixture
def colon() -> Dataset:
    return colon_ct_dataset()


def _actions() -> list[str]:
    return list(AuditEvent.objects.order_by("sequence").values_list("action", flat=True))


# --- consultation_create ---------------------------------------------------------------------------------


def test_applicant_asks_about_two_datasets(
    applicant: User, call: Call, stomach: Dataset, colon: Dataset
) -> None:
    consultation = consultation_create(
        actor=applicant,
        call=call,
        purpose="  위암 검출 AI 개발  ",
        items=[
            ConsultationItemInput(dataset_id=stomach.pk, requested_amount=3000, needs_annotated=True),
            ConsultationItemInput(dataset_id=colon.pk, requested_amount=800),
        ],
    )

    assert (consultation.call, consultation.company, consultation.created_by) == (
        call,
        applicant.organisation,
        applicant,
    )
    assert (consultation.status, consultation.purpose, consultation.answered_at) == (
        "open",
        "위암 검출 AI 개발",
        None,
    )
    assert list(
        consultation.items.order_by("pk").values_list(
            "dataset_id", "requested_amount", "needs_annotated", "answer"
        )
    ) == [(stomach.pk, 3000, True, "pending"), (colon.pk, 800, False, "pending")]
    event = AuditEvent.objects.get(action="calls.consultation_created")
    assert (event.actor, event.object_type, event.object_id) == (
        applicant,
        "calls.consultation",
        str(consultation.pk),
    )
    assert event.data == {
        "call": "practice-test",
        "company_id": applicant.organisation_id,
        "items": [
            {"dataset_id": stomach.pk, "requested_amount": 3000, "needs_annotated": True},
            {"dataset_id": colon.pk, "requested_amount": 800, "needs_annotated": False},
        ],
    }
    assert audit_chain_verify() is None


@pytest.mark.parametrize(
    ("items", "code"),
    [
        ([], "consultation_items_required"),
        ([("stomach", 0)], "consultation_amount_invalid"),
        ([("stomach", -5)], "consultation_amount_invalid"),
        ([("stomach", 10), ("stomach", 20)], "consultation_dataset_duplicate"),
        ([("stomach", 10), ("draft", 10)], "consultation_dataset_unpublished"),
        ([("withdrawn", 10)], "consultation_dataset_unpublished"),
        ([("missing", 10)], "consultation_dataset_unpublished"),
    ],
)
def test_bad_items_are_refused_and_nothing_is_created(
    applicant: User, call: Call, stomach: Dataset, items: list[tuple[str, int]], code: str
) -> None:
    datasets = {
        "stomach": stomach.pk,
        "draft": DatasetFactory(publication=Dataset.Publication.DRAFT).pk,
        "withdrawn": DatasetFactory(publication=Dataset.Publication.WITHDRAWN).pk,
        "missing": 999_999,
    }
    before = _actions()

    with pytest.raises(DomainError) as error:
        consultation_create(
            actor=applicant,
            call=call,
            purpose="목적",
            items=[ConsultationItemInput(dataset_id=datasets[name], requested_amount=n) for name, n in items],
        )

    assert error.value.code == code
    assert (Consultation.objects.count(), ConsultationItem.objects.count()) == (0, 0)
    assert _actions() == before


def test_unpublished_dataset_message_is_korean(applicant: User, call: Call) -> None:
    draft = DatasetFactory(publication=Dataset.Publication.DRAFT)

    with pytest.raises(DomainError) as error:
        consultation_make(applicant=applicant, call=call, datasets=[draft])

    assert str(error.value) == f"공개된 데이터셋만 협의할 수 있습니다(데이터셋 번호 {draft.pk})."
    assert error.value.field == "items"


def test_empty_purpose_is_refused(applicant: User, call: Call, stomach: Dataset) -> None:
    with pytest.raises(DomainError) as error:
        consultation_make(applicant=applicant, call=call, datasets=[stomach], purpose="   ")

    assert (error.value.code, str(error.value)) == (
        "consultation_purpose_required",
        "활용 목적을 입력해 주세요.",
    )
    assert Consultation.objects.count() == 0


def test_a_call_whose_intake_closed_takes_no_consultation(applicant: User, stomach: Dataset) -> None:
    call = call_2025()

    with time_machine.travel(kst(2025, 7, 21, 15, 59, 59), tick=False):
        before_deadline = consultation_make(applicant=applicant, call=call, datasets=[stomach])
    with time_machine.travel(kst(2025, 7, 21, 16, 0, 0), tick=False), pytest.raises(DomainError) as error:
        consultation_make(applicant=applicant, call=call, datasets=[stomach])

    assert error.value.code == "consultation_call_closed"
    assert list(Consultation.objects.values_list("pk", flat=True)) == [before_deadline.pk]


def test_only_applicants_of_a_company_ask(
    operator: User, reviewer: User, call: Call, stomach: Dataset
) -> None:
    for user in (operator, reviewer):
        with pytest.raises(PermissionDeniedError) as error:
            consultation_make(applicant=user, call=call, datasets=[stomach])
        assert error.value.code == "consultation_not_applicant"
    assert Consultation.objects.count() == 0


# --- consultation_message_post ---------------------------------------------------------------------------


def test_company_and_operator_post_to_the_thread(
    applicant: User, operator: User, call: Call, stomach: Dataset
) -> None:
    consultation = consultation_make(applicant=applicant, call=call, datasets=[stomach])

    first = consultation_message_post(actor=applicant, consultation=consultation, body=" 일정 문의 ")
    second = consultation_message_post(actor=operator, consultation=consultation, body="답변드립니다.")

    assert list(consultation.messages.values_list("author__username", "body")) == [
        ("applicant", "일정 문의"),
        ("operator", "답변드립니다."),
    ]
    assert [first.pk, second.pk] == list(consultation.messages.values_list("pk", flat=True))
    assert _actions()[-2:] == ["calls.consultation_message_posted", "calls.consultation_message_posted"]


@pytest.mark.parametrize("who", ["other_applicant", "auditor", "reviewer", "steward"])
def test_others_may_not_post(
    request: pytest.FixtureRequest, who: str, applicant: User, call: Call, stomach: Dataset
) -> None:
    consultation = consultation_make(applicant=applicant, call=call, datasets=[stomach])
    user = request.getfixturevalue(who)
    before = _actions()

    with pytest.raises(PermissionDeniedError) as error:
        consultation_message_post(actor=user, consultation=consultation, body="hello")

    assert error.value.code == "consultation_message_forbidden"
    assert ConsultationMessage.objects.count() == 0
    assert _actions() == before


def test_no_message_on_a_closed_consultation_or_an_empty_one(
    applicant: User, operator: User, call: Call, stomach: Dataset
) -> None:
    consultation = consultation_make(applicant=applicant, call=call, datasets=[stomach])
    with pytest.raises(DomainError) as empty:
        consultation_message_post(actor=applicant, consultation=consultation, body="  \n ")
    consultation_close(actor=operator, consultation=consultation)

    with pytest.raises(DomainError) as closed:
        consultation_message_post(actor=applicant, consultation=consultation, body="추가 문의")

    assert (empty.value.code, closed.value.code) == ("consultation_message_empty", "consultation_closed")
    assert str(closed.value) == "종료된 협의입니다. 새 협의를 요청해 주세요."
    assert ConsultationMessage.objects.count() == 0


# --- consultation_item_answer ----------------------------------------------------------------------------


def test_answering_every_item_makes_the_consultation_answered(
    applicant: User, operator: User, call: Call, stomach: Dataset, colon: Dataset
) -> None:
    consultation = consultation_make(applicant=applicant, call=call, datasets=[stomach, colon], amount=3000)
    first, second = consultation.items.order_by("pk")
    answered_at = kst(2026, 3, 10, 14, 30)

    with time_machine.travel(answered_at, tick=False):
        consultation_item_answer(actor=operator, item=first, answer="available", note=" 전량 제공 ")
        consultation.refresh_from_db()
        assert (consultation.status, consultation.answered_at) == ("open", None)
        consultation_item_answer(actor=operator, item=second, answer="partial", available_amount=2000)

    consultation.refresh_from_db()
    first.refresh_from_db()
    second.refresh_from_db()
    assert (consultation.status, consultation.answered_at) == ("answered", answered_at)
    assert (first.answer, first.available_amount, first.answer_note, first.answered_by) == (
        "available",
        3000,
        "전량 제공",
        operator,
    )
    assert (second.answer, second.available_amount, second.answered_at) == ("partial", 2000, answered_at)
    event = AuditEvent.objects.filter(action="calls.consultation_item_answered").order_by("sequence").last()
    assert event.data == {
        "item_id": second.pk,
        "dataset_id": colon.pk,
        "answer": "partial",
        "previous_answer": "pending",
        "available_amount": 2000,
        "status": "answered",
    }


def test_a_correction_keeps_the_consultation_answered(
    applicant: User, operator: User, call: Call, stomach: Dataset
) -> None:
    consultation = consultation_make(applicant=applicant, call=call, datasets=[stomach], amount=100)
    item = consultation.items.get()
    with time_machine.travel(kst(2026, 3, 10, 9), tick=False):
        consultation_item_answer(actor=operator, item=item, answer="available")
    with time_machine.travel(kst(2026, 3, 11, 9), tick=False):
        consultation_item_answer(actor=operator, item=item, answer="unavailable", available_amount=50)

    consultation.refresh_from_db()
    item.refresh_from_db()
    assert (consultation.status, consultation.answered_at) == ("answered", kst(2026, 3, 10, 9))
    # "Not in the database" records nothing available, whatever number came with it.
    assert (item.answer, item.available_amount, item.answered_at) == ("unavailable", 0, kst(2026, 3, 11, 9))


@pytest.mark.parametrize(
    ("answer", "amount", "code"),
    [
        ("available", 999, "consultation_answer_amount_invalid"),
        ("partial", None, "consultation_answer_amount_invalid"),
        ("partial", 0, "consultation_answer_amount_invalid"),
        ("partial", 1000, "consultation_answer_amount_invalid"),
        ("pending", None, "consultation_answer_invalid"),
        ("maybe", None, "consultation_answer_invalid"),
    ],
)
def test_inconsistent_answers_are_refused_and_change_nothing(
    applicant: User, operator: User, call: Call, stomach: Dataset, answer: str, amount: int | None, code: str
) -> None:
    consultation = consultation_make(applicant=applicant, call=call, datasets=[stomach], amount=1000)
    item = consultation.items.get()
    before = _actions()

    with pytest.raises(DomainError) as error:
        consultation_item_answer(actor=operator, item=item, answer=answer, available_amount=amount)

    item.refresh_from_db()
    consultation.refresh_from_db()
    assert error.value.code == code
    assert (item.answer, item.available_amount, item.answered_by, consultation.status) == (
        "pending",
        None,
        None,
        "open",
    )
    assert _actions() == before


@pytest.mark.parametrize("who", ["applicant", "other_applicant", "auditor", "reviewer", "steward"])
def test_only_operators_answer(
    request: pytest.FixtureRequest, who: str, applicant: User, call: Call, stomach: Dataset
) -> None:
    consultation = consultation_make(applicant=applicant, call=call, datasets=[stomach])
    item = consultation.items.get()

    with pytest.raises(PermissionDeniedError) as error:
        consultation_item_answer(actor=request.getfixturevalue(who), item=item, answer="available")

    item.refresh_from_db()
    assert (error.value.code, str(error.value)) == (
        "consultation_not_operator",
        "협의 항목에는 운영자만 답변할 수 있습니다.",
    )
    assert item.answer == "pending"


def test_a_closed_consultation_takes_no_answer(
    applicant: User, operator: User, call: Call, stomach: Dataset
) -> None:
    consultation = consultation_make(applicant=applicant, call=call, datasets=[stomach])
    consultation_close(actor=operator, consultation=consultation)

    with pytest.raises(DomainError) as error:
        consultation_item_answer(actor=operator, item=consultation.items.get(), answer="available")

    assert error.value.code == "consultation_closed"
    assert consultation.items.get().answer == "pending"


# --- consultation_close ----------------------------------------------------------------------------------


def test_operator_closes_once(applicant: User, operator: User, call: Call, stomach: Dataset) -> None:
    consultation = consultation_make(applicant=applicant, call=call, datasets=[stomach])

    closed = consultation_close(actor=operator, consultation=consultation)
    with pytest.raises(DomainError) as again:
        consultation_close(actor=operator, consultation=consultation)

    assert closed.status == Consultation.Status.CLOSED
    assert again.value.code == "consultation_closed"
    assert AuditEvent.objects.filter(action="calls.consultation_closed").count() == 1
    assert AuditEvent.objects.get(action="calls.consultation_closed").data == {"previous_status": "open"}


def test_only_operators_close(applicant: User, auditor: User, call: Call, stomach: Dataset) -> None:
    consultation = consultation_make(applicant=applicant, call=call, datasets=[stomach])

    for user in (applicant, auditor):
        with pytest.raises(PermissionDeniedError):
            consultation_close(actor=user, consultation=consultation)

    consultation.refresh_from_db()
    assert consultation.status == "open"
    assert not AuditEvent.objects.filter(action="calls.consultation_closed").exists()


def test_consultations_may_be_asked_before_the_intake_opens(applicant: User, stomach: Dataset) -> None:
    call = call_2025()

    with time_machine.travel(kst(2025, 6, 30, 10) - dt.timedelta(days=1), tick=False):
        consultation = consultation_make(applicant=applicant, call=call, datasets=[stomach])

    assert consultation.call == call
