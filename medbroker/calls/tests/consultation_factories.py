"""Helpers for the tests of calls pages and consultations: an open call, datasets, a consultation."""

from __future__ import annotations

import datetime as dt

from medbroker.accounts.models import User
from medbroker.calls.models import Call, Consultation
from medbroker.calls.services.consultations import ConsultationItemInput, consultation_create
from medbroker.calls.tests.factories import call_with_window
from medbroker.catalog.models import Dataset
from medbroker.catalog.tests.factories import BodyPartFactory, DatasetFactory, ModalityFactory
from medbroker.core import timeutils


def open_call(*, slug: str = "practice-test") -> Call:
    """A practice call with the 2025 rules whose intake is open now: opened a week ago, closes in three."""
    now = timeutils.now()
    return call_with_window(
        opens_at=now - dt.timedelta(days=7), closes_at=now + dt.timedelta(days=21), slug=slug
    )


def colon_ct_dataset(**kwargs: object) -> Dataset:
    """The call's colon CT row: 500 annotated + 1,500 non-annotated = 2,000."""
    values: dict[str, object] = {
        "title": "대장 CT 영상",
        "body_part": BodyPartFactory(code="colon", name="대장", name_en="Colon"),
        "modality": ModalityFactory(code="ct", name="CT", name_en="CT"),
        "annotated_count": 500,
        "non_annotated_count": 1500,
    }
    return DatasetFactory(**{**values, **kwargs})


def consultation_make(
    *,
    applicant: User,
    call: Call,
    datasets: list[Dataset],
    amount: int = 1000,
    purpose: str = "위암 검출 AI 개발",
) -> Consultation:
    return consultation_create(
        actor=applicant,
        call=call,
        purpose=purpose,
        items=[ConsultationItemInput(dataset_id=dataset.pk, requested_amount=amount) for dataset in datasets],
    )
