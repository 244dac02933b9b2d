"""Receipt numbers (a sequence per call, safe under concurrency), the receipt page and its PDF."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.urls import reverse

from medbroker.accounts.models import Role, User
from medbroker.accounts.tests.factories import OrganisationFactory, UserFactory
from medbroker.calls.models import Application, Call
from medbroker.calls.services import receipts
from medbroker.calls.services.applications import application_submit, application_withdraw
from medbroker.calls.services.receipts import receipt_prefix
from medbroker.calls.tests.factories import call_2025, call_with_window
from medbroker.calls.tests.factories_applications import application_ready
from medbroker.catalog.tests.factories import DatasetFactory
from medbroker.core.timeutils import kst

SUBMITTED_AT = kst(2025, 7, 14, 10, 0, 0)


@pytest.fixture
def call(db: None) -> Call:
    call = call_2025()
    call.receipt_prefix = "KHD2025"
    call.save(update_fields=["receipt_prefix"])
    return call


@pytest.fixture(autouse=True)
def during_intake() -> Iterator[None]:
    with time_machine.travel(SUBMITTED_AT, tick=False):
        yield


def _applicant(name: str) -> User:
    return UserFactory(organisation=OrganisationFactory(name=name), roles=[Role.APPLICANT])


def _submitted(call: Call, applicant: User, **kwargs: Any) -> Application:
    return application_submit(
        application=application_ready(call=call, applicant=applicant, **kwargs), actor=applicant
    )


def test_numbers_follow_the_order_of_submission_and_are_never_reused(call: Call) -> None:
    first, second, third, fourth = (_applicant(f"기업{n}") for n in range(4))

    numbers = [_submitted(call, user).receipt_number for user in (first, second)]
    application_withdraw(
        application=Application.objects.get(company=second.organisation), actor=second, confirmed=True
    )
    numbers += [_submitted(call, user).receipt_number for user in (third, fourth)]

    assert numbers == ["KHD2025-0001", "KHD2025-0002", "KHD2025-0003", "KHD2025-0004"]
    assert Application.objects.get(company=second.organisation).receipt_number == "KHD2025-0002"


def test_each_call_has_its_own_sequence(call: Call) -> None:
    practice = call_with_window(opens_at=kst(2025, 7, 1), closes_at=kst(2025, 8, 1), slug="practice-2025")
    practice.receipt_prefix = "PRACTICE"
    practice.save(update_fields=["receipt_prefix"])
    user = _applicant("연습기업")

    assert _submitted(practice, user).receipt_number == "PRACTICE-0001"
    assert _submitted(call, user).receipt_number == "KHD2025-0001"


def test_a_drafts_receipt_number_is_empty_until_submission(call: Call) -> None:
    assert application_ready(call=call, applicant=_applicant("초안기업")).receipt_number is None


def test_the_2025_call_numbers_khd2025_and_a_call_without_prefix_derives_one(db: None) -> None:
    khealth = call_2025()
    practice = call_with_window(opens_at=kst(2025, 7, 1), closes_at=kst(2025, 8, 1), slug="practice")

    assert (receipt_prefix(khealth), receipt_prefix(practice)) == ("KHD2025", "P2025")


def test_two_calls_cannot_share_a_receipt_prefix(db: None) -> None:
    from django.db import IntegrityError

    call_2025()

    with pytest.raises(IntegrityError):
        call_with_window(
            opens_at=kst(2025, 7, 1), closes_at=kst(2025, 8, 1), slug="copy", receipt_prefix="KHD2025"
        )


def test_a_number_taken_concurrently_is_retried_with_the_next(
    call: Call, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Another transaction took 0001 between our read of the sequence and our write: the unique
    # constraint refuses the duplicate and the next free number is used.
    taken = _submitted(call, _applicant("먼저 온 기업"))
    assert taken.receipt_number == "KHD2025-0001"
    answers = iter([1, 2])
    monkeypatch.setattr(receipts, "_next_number", lambda call, prefix: next(answers))

    assert _submitted(call, _applicant("나중 기업")).receipt_number == "KHD2025-0002"


# ---------------------------------------------------------------------------------------------------------
# The receipt page and PDF
# ---------------------------------------------------------------------------------------------------------


def test_receipt_page_shows_what_was_submitted(
    call: Call, applicant: User, login: Callable[..., Client], client: Client
) -> None:
    application = application_ready(call=call, applicant=applicant)
    dataset = DatasetFactory(title="위 내시경 영상")
    application.requested_datasets.create(dataset=dataset, amount=1200, needs_annotated=True)
    application = application_submit(application=application, actor=applicant)
    login(client, applicant)

    page = client.get(reverse("calls:application_receipt", args=[application.pk])).content.decode()

    assert "KHD2025-0001" in page
    assert "대구메디AI" in page
    assert "120-81-47521" in page
    assert "2025-07-14 10:00:00 KST" in page
    assert "A100 32GB" in page
    assert "위 내시경 영상" in page
    assert "1,200" in page
    for document in application.documents.all():
        assert document.sha256 in page
        assert document.original_name in page


def test_receipt_pdf_is_a_pdf(
    call: Call, applicant: User, login: Callable[..., Client], client: Client
) -> None:
    application = _submitted(call, applicant)
    login(client, applicant)

    response = client.get(reverse("calls:application_receipt_pdf", args=[application.pk]))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == 'inline; filename="receipt-KHD2025-0001.pdf"'
    assert response.content.startswith(b"%PDF-")


def test_a_draft_has_no_receipt(
    call: Call, applicant: User, login: Callable[..., Client], client: Client
) -> None:
    application = application_ready(call=call, applicant=applicant)
    login(client, applicant)

    assert client.get(reverse("calls:application_receipt", args=[application.pk])).status_code == 404
    assert client.get(reverse("calls:application_receipt_pdf", args=[application.pk])).status_code == 404


# Two real transactions at once need a server database: SQLite serialises whole-database writes, so the
# race this test provokes cannot happen there (CI runs the suite on PostgreSQL first).
@pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrent transactions need PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_concurrent_submissions_get_distinct_numbers(call: Call) -> None:
    users = [_applicant(f"동시기업{n}") for n in range(4)]
    ready = [application_ready(call=call, applicant=user) for user in users]
    barrier = threading.Barrier(len(users))
    numbers: list[str | None] = []
    errors: list[BaseException] = []

    def submit(application: Application, user: User) -> None:
        try:
            barrier.wait()
            numbers.append(application_submit(application=application, actor=user).receipt_number)
        except BaseException as error:  # reported below; a thread cannot fail the test itself
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=submit, args=pair) for pair in zip(ready, users, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert sorted(n or "" for n in numbers) == [
        "KHD2025-0001",
        "KHD2025-0002",
        "KHD2025-0003",
        "KHD2025-0004",
    ]
