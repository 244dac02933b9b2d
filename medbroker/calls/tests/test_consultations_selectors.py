"""What the application form takes over from the consultations: ``consultation_items_for_application``."""

from __future__ import annotations

import pytest
import time_machine

from medbroker.accounts.models import User
from medbroker.calls.selectors.consultations import (
    ConsultedDataset,
    consultation_items_for_application,
    consultations_visible_to,
)
from medbroker.calls.services.consultations import consultation_item_answer
from medbroker.calls.tests.consultation_factories import colon_ct_dataset, consultation_make, open_call
from medbroker.catalog.models import Dataset as CatalogDataset
from medbroker.catalog.tests.factories import DatasetFactory
from medbroker.core.timeutils import kst

pytestmark = pytest.mark.django_db


def test_latest_answer_per_dataset_without_unavailable_or_pending(
    applicant: User, other_applicant: User, operator: User
) -> None:
    call = open_call()
    other_call = open_call(slug="other-call")
    stomach = DatasetFactory(title="가 위 내시경")
    colon = colon_ct_dataset(title="나 대장 CT")
    breast = DatasetFactory(title="다 유방 초음파")
    pending = DatasetFactory(title="라 미답변")
    first = consultation_make(applicant=applicant, call=call, datasets=[stomach, colon, breast], amount=1000)
    items = {item.dataset_id: item for item in first.items.all()}
    with time_machine.travel(kst(2026, 3, 2, 10), tick=False):
        consultation_item_answer(
            actor=operator, item=items[stomach.pk], answer="partial", available_amount=400
        )
        consultation_item_answer(actor=operator, item=items[colon.pk], answer="available", note="전량")
        consultation_item_answer(actor=operator, item=items[breast.pk], answer="unavailable")
    # A later consultation asks again about the stomach data: its answer replaces the earlier one.
    second = consultation_make(applicant=applicant, call=call, datasets=[stomach, pending], amount=600)
    with time_machine.travel(kst(2026, 3, 5, 10), tick=False):
        consultation_item_answer(actor=operator, item=second.items.get(dataset=stomach), answer="available")
    # Another company's and another call's consultations do not count.
    consultation_make(applicant=other_applicant, call=call, datasets=[breast])
    consultation_make(applicant=applicant, call=other_call, datasets=[breast])

    result = consultation_items_for_application(company=applicant.organisation, call=call)

    assert result == [
        ConsultedDataset(
            dataset=stomach,
            amount=600,
            needs_annotated=False,
            answer="available",
            requested_amount=600,
            available_amount=600,
            consultation_id=second.pk,
            item_id=second.items.get(dataset=stomach).pk,
        ),
        ConsultedDataset(
            dataset=colon,
            amount=1000,
            needs_annotated=False,
            answer="available",
            requested_amount=1000,
            available_amount=1000,
            consultation_id=first.pk,
            item_id=items[colon.pk].pk,
        ),
    ]


def test_partial_answer_caps_the_amount_and_unpublished_datasets_drop_out(
    applicant: User, operator: User
) -> None:
    call = open_call()
    stomach = DatasetFactory(title="가 위 내시경")
    colon = colon_ct_dataset(title="나 대장 CT")
    consultation = consultation_make(applicant=applicant, call=call, datasets=[stomach, colon], amount=1000)
    for item in consultation.items.all():
        consultation_item_answer(actor=operator, item=item, answer="partial", available_amount=250)
    CatalogDataset.objects.filter(pk=colon.pk).update(publication=CatalogDataset.Publication.WITHDRAWN)

    result = consultation_items_for_application(company=applicant.organisation, call=call)

    assert [(r.dataset.pk, r.amount, r.requested_amount, r.available_amount, r.answer) for r in result] == [
        (stomach.pk, 250, 1000, 250, "partial")
    ]


def test_visibility_by_role(
    applicant: User, other_applicant: User, operator: User, auditor: User, reviewer: User, steward: User
) -> None:
    call = open_call()
    dataset = DatasetFactory()
    mine = consultation_make(applicant=applicant, call=call, datasets=[dataset])
    theirs = consultation_make(applicant=other_applicant, call=call, datasets=[dataset])

    visible = {
        user.username: sorted(consultations_visible_to(user).values_list("pk", flat=True))
        for user in (applicant, other_applicant, operator, auditor, reviewer, steward)
    }

    assert visible == {
        "applicant": [mine.pk],
        "other_applicant": [theirs.pk],
        "operator": sorted([mine.pk, theirs.pk]),
        "auditor": sorted([mine.pk, theirs.pk]),
        "reviewer": [],
        "steward": [],
    }
