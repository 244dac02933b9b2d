"""Pages of the data-demand consultation: the company's list, a new request, the thread, the console."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.test import Client
from django.urls import reverse

from medbroker.accounts.models import User
from medbroker.calls.models import Call, Consultation, ConsultationItem, ConsultationMessage
from medbroker.calls.services.consultations import consultation_close, consultation_item_answer
from medbroker.calls.tests.consultation_factories import colon_ct_dataset, consultation_make, open_call
from medbroker.calls.tests.factories import call_2025
from medbroker.catalog.models import Dataset
from medbroker.catalog.tests.factories import DatasetFactory

pytestmark = pytest.mark.django_db

Login = Callable[[Client, User | None], Client]


@pytest.fixture
def call() -> Call:
    return open_call()


@pytest.fixture
def stomach() -> Dataset:
    return DatasetFactory(title="위 내시경 영상")


@pytest.fixture
def colon() -> Dataset:
    return colon_ct_dataset()


def _new_form(
    call: Call, rows: list[tuple[object, object, bool]], purpose: str = "위암 검출 AI"
) -> dict[str, object]:
    data: dict[str, object] = {
        "call": call.pk,
        "purpose": purpose,
        "items-TOTAL_FORMS": len(rows),
        "items-INITIAL_FORMS": 0,
    }
    for index, (dataset, amount, annotated) in enumerate(rows):
        data[f"items-{index}-dataset"] = dataset
        data[f"items-{index}-requested_amount"] = amount
        if annotated:
            data[f"items-{index}-needs_annotated"] = "on"
    return data


def test_list_shows_only_the_own_company(
    client: Client, login: Login, applicant: User, other_applicant: User, call: Call, stomach: Dataset
) -> None:
    mine = consultation_make(applicant=applicant, call=call, datasets=[stomach], purpose="우리 기업 목적")
    consultation_make(applicant=other_applicant, call=call, datasets=[stomach], purpose="다른 기업 목적")

    response = login(client, applicant).get(reverse("calls:consultation_list"))

    assert [c.pk for c in response.context["table"].page] == [mine.pk]
    assert response.context["table"].page[0].item_count == 1
    html = response.content.decode()
    assert "우리 기업 목적" in html
    assert "다른 기업 목적" not in html


def test_new_form_preselects_datasets_and_the_open_call(
    client: Client, login: Login, applicant: User, call: Call, stomach: Dataset, colon: Dataset
) -> None:
    call_2025()  # closed: never the default
    draft = DatasetFactory(publication=Dataset.Publication.DRAFT)
    url = f"{reverse('calls:consultation_new')}?dataset={colon.pk}&dataset={draft.pk}&dataset=abc&dataset={stomach.pk}"

    response = login(client, applicant).get(url)

    assert response.context["form"].initial == {"call": call.pk}
    assert [f.initial.get("dataset") for f in response.context["formset"].forms] == [colon, stomach, None]
    assert [c.slug for c in response.context["form"].fields["call"].queryset] == ["practice-test"]
    assert draft not in response.context["formset"].forms[0].fields["dataset"].queryset


def test_new_form_preselects_the_call_from_its_page(
    client: Client, login: Login, applicant: User, call: Call
) -> None:
    upcoming = open_call(slug="second-call")

    response = login(client, applicant).get(f"{reverse('calls:consultation_new')}?call={upcoming.slug}")

    assert response.context["form"].initial == {"call": upcoming.pk}


def test_posting_the_form_creates_the_consultation(
    client: Client, login: Login, applicant: User, call: Call, stomach: Dataset, colon: Dataset
) -> None:
    data = _new_form(call, [(stomach.pk, 3000, True), ("", "", False), (colon.pk, 800, False)])

    response = login(client, applicant).post(reverse("calls:consultation_new"), data)

    consultation = Consultation.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("calls:consultation_detail", args=[consultation.pk])
    assert list(
        consultation.items.order_by("pk").values_list("dataset_id", "requested_amount", "needs_annotated")
    ) == [
        (stomach.pk, 3000, True),
        (colon.pk, 800, False),
    ]


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([("STOMACH", 0, False)], "1 이상의 값을 입력해 주세요."),
        ([("STOMACH", "", False)], "희망 건수를 입력해 주세요."),
        ([("", 100, False)], "데이터셋을 선택해 주세요."),
        ([("", "", False)], "데이터셋을 1개 이상 선택해 주세요."),
        ([("STOMACH", 10, False), ("STOMACH", 20, False)], "같은 데이터셋을 두 번 선택했습니다."),
    ],
)
def test_bad_requests_show_the_error_and_create_nothing(
    client: Client,
    login: Login,
    applicant: User,
    call: Call,
    stomach: Dataset,
    rows: list[tuple[object, object, bool]],
    message: str,
) -> None:
    rows = [(stomach.pk if d == "STOMACH" else d, a, n) for d, a, n in rows]

    response = login(client, applicant).post(reverse("calls:consultation_new"), _new_form(call, rows))

    assert response.status_code == 200
    assert message in response.content.decode()
    assert Consultation.objects.count() == 0


def test_an_unpublished_dataset_cannot_be_posted(
    client: Client, login: Login, applicant: User, call: Call
) -> None:
    draft = DatasetFactory(publication=Dataset.Publication.DRAFT)

    response = login(client, applicant).post(
        reverse("calls:consultation_new"), _new_form(call, [(draft.pk, 10, False)])
    )

    assert response.status_code == 200
    assert response.context["formset"].forms[0].errors == {
        "dataset": ["올바르게 선택해 주세요. 선택하신 것이 선택가능항목에 없습니다."]
    }
    assert Consultation.objects.count() == 0


def test_applicant_sees_answers_but_no_answer_form(
    client: Client, login: Login, applicant: User, operator: User, call: Call, stomach: Dataset
) -> None:
    consultation = consultation_make(applicant=applicant, call=call, datasets=[stomach], amount=3000)
    consultation_item_answer(
        actor=operator,
        item=consultation.items.get(),
        answer="partial",
        available_amount=1200,
        note="1,200건 가능",
    )

    response = login(client, applicant).get(reverse("calls:consultation_detail", args=[consultation.pk]))

    html = response.content.decode()
    assert '<span class="mb-status partial">일부 보유</span>' in html
    assert '<td class="mb-num">1,200</td>' in html
    assert "1,200건 가능" in html
    assert [form for _item, form in response.context["items"]] == [None]
    assert f"calls/consultations/{consultation.pk}/items/" not in html
    assert response.context["message_form"] is not None
    assert response.context["may_close"] is False


def test_operator_answers_item_by_item_on_the_detail_page(
    client: Client,
    login: Login,
    applicant: User,
    operator: User,
    call: Call,
    stomach: Dataset,
    colon: Dataset,
) -> None:
    consultation = consultation_make(applicant=applicant, call=call, datasets=[stomach, colon], amount=1000)
    first, second = consultation.items.order_by("pk")
    login(client, operator)
    assert all(
        form is not None
        for _item, form in client.get(reverse("calls:consultation_detail", args=[consultation.pk])).context[
            "items"
        ]
    )

    answer_url = reverse("calls:consultation_item_answer", args=[consultation.pk, first.pk])
    response = client.post(
        answer_url, {f"item-{first.pk}-answer": "available", f"item-{first.pk}-note": "전량"}
    )
    client.post(
        reverse("calls:consultation_item_answer", args=[consultation.pk, second.pk]),
        {f"item-{second.pk}-answer": "partial", f"item-{second.pk}-available_amount": "300"},
    )

    assert response.status_code == 302
    assert (
        response["Location"]
        == f"{reverse('calls:consultation_detail', args=[consultation.pk])}#item-{first.pk}"
    )
    assert list(
        consultation.items.order_by("pk").values_list("answer", "available_amount", "answer_note")
    ) == [
        ("available", 1000, "전량"),
        ("partial", 300, ""),
    ]
    consultation.refresh_from_db()
    assert consultation.status == "answered"


def test_a_refused_answer_shows_the_reason_and_changes_nothing(
    client: Client, login: Login, applicant: User, operator: User, call: Call, stomach: Dataset
) -> None:
    consultation = consultation_make(applicant=applicant, call=call, datasets=[stomach], amount=1000)
    item = consultation.items.get()

    response = login(client, operator).post(
        reverse("calls:consultation_item_answer", args=[consultation.pk, item.pk]),
        {f"item-{item.pk}-answer": "partial", f"item-{item.pk}-available_amount": "1000"},
        follow=True,
    )

    assert [str(m) for m in response.context["messages"]] == [
        "'일부 보유' 답변에는 1건 이상, 희망 건수(1,000건) 미만의 제공 가능 건수를 입력해 주세요."
    ]
    item.refresh_from_db()
    assert (item.answer, item.available_amount) == ("pending", None)


def test_an_item_of_another_consultation_is_404(
    client: Client, login: Login, applicant: User, operator: User, call: Call, stomach: Dataset
) -> None:
    first = consultation_make(applicant=applicant, call=call, datasets=[stomach])
    second = consultation_make(applicant=applicant, call=call, datasets=[stomach])

    response = login(client, operator).post(
        reverse("calls:consultation_item_answer", args=[first.pk, second.items.get().pk]),
        {f"item-{second.items.get().pk}-answer": "available"},
    )

    assert response.status_code == 404
    assert ConsultationItem.objects.filter(answer="pending").count() == 2


def test_message_thread_and_close(
    client: Client, login: Login, applicant: User, operator: User, call: Call, stomach: Dataset
) -> None:
    consultation = consultation_make(applicant=applicant, call=call, datasets=[stomach])
    detail = reverse("calls:consultation_detail", args=[consultation.pk])
    applicant_client = login(Client(), applicant)
    operator_client = login(Client(), operator)

    applicant_client.post(
        reverse("calls:consultation_message", args=[consultation.pk]), {"body": "질문입니다"}
    )
    empty = applicant_client.post(reverse("calls:consultation_message", args=[consultation.pk]), {"body": ""})
    operator_client.post(reverse("calls:consultation_close", args=[consultation.pk]))
    after_close = applicant_client.post(
        reverse("calls:consultation_message", args=[consultation.pk]), {"body": "추가 질문"}, follow=True
    )

    assert empty.status_code == 302
    assert list(ConsultationMessage.objects.values_list("author__username", "body")) == [
        ("applicant", "질문입니다")
    ]
    assert "종료된 협의입니다. 새 협의를 요청해 주세요." in after_close.content.decode()
    page = applicant_client.get(detail)
    assert page.context["message_form"] is None
    assert operator_client.get(detail).context["items"][0][1] is None  # no answer form once closed


def test_console_filters_sorts_and_pages(
    client: Client, login: Login, applicant: User, other_applicant: User, operator: User, stomach: Dataset
) -> None:
    practice = open_call()
    other = open_call(slug="other-call")
    answered = consultation_make(applicant=applicant, call=practice, datasets=[stomach])
    consultation_item_answer(actor=operator, item=answered.items.get(), answer="available")
    waiting = consultation_make(applicant=other_applicant, call=practice, datasets=[stomach])
    closed = consultation_make(applicant=applicant, call=other, datasets=[stomach])
    consultation_close(actor=operator, consultation=closed)
    login(client, operator)
    url = reverse("calls:console_consultations")

    def pks(query: str) -> list[int]:
        return [c.pk for c in client.get(f"{url}{query}").context["table"].page]

    assert pks("") == [closed.pk, waiting.pk, answered.pk]
    assert pks("?status=open") == [waiting.pk]
    assert pks("?status=answered&call=practice-test") == [answered.pk]
    assert pks("?call=other-call") == [closed.pk]
    assert pks("?status=bogus") == [closed.pk, waiting.pk, answered.pk]
    # 대구메디AI before 서울헬스랩, then by number.
    assert pks("?sort=company") == [answered.pk, closed.pk, waiting.pk]
    assert pks("?sort=-company") == [waiting.pk, answered.pk, closed.pk]
    response = client.get(url)
    assert response.context["status_counts"] == {"open": 1, "answered": 1, "closed": 1}


def test_console_pages_by_20(
    client: Client, login: Login, applicant: User, operator: User, stomach: Dataset
) -> None:
    call = open_call()
    for _ in range(21):
        consultation_make(applicant=applicant, call=call, datasets=[stomach])

    first = login(client, operator).get(reverse("calls:console_consultations"))
    second = client.get(reverse("calls:console_consultations") + "?page=2")

    assert (len(first.context["table"].page), len(second.context["table"].page)) == (20, 1)
    assert "전체 21건 중 1–20" in first.content.decode()


def test_the_item_inputs_are_named_for_screen_readers(client, login, applicant) -> None:
    from medbroker.calls.tests.factories import call_2025

    call_2025()
    login(client, applicant)

    page = client.get("/calls/consultations/new/").content.decode()

    assert 'aria-label="데이터셋"' in page
    assert 'aria-label="희망 건수"' in page
