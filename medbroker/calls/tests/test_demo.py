"""``calls_demo_load`` and ``medbroker demo``: the 2025 call, a practice call open around today, templates and
a finished consultation thread; a second run changes nothing."""

from __future__ import annotations

import datetime as dt
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command

from medbroker.accounts.demo import accounts_demo_load
from medbroker.calls.demo import PRACTICE_SLUG, calls_demo_load, practice_window
from medbroker.calls.models import Call, Consultation, ConsultationItem, ConsultationMessage, RequiredDocument
from medbroker.calls.selectors.calls import call_state
from medbroker.catalog.demo import catalog_demo_load
from medbroker.core.timeutils import kst

pytestmark = pytest.mark.django_db

TODAY = kst(2026, 3, 10, 11, 30)


def _load_all() -> object:
    catalog = catalog_demo_load()
    accounts_demo_load(steward_organisation=catalog.steward_organisation)
    return calls_demo_load()


def _snapshot() -> dict[str, object]:
    return {
        "calls": list(
            Call.objects.order_by("slug").values_list(
                "slug", "is_practice", "intake_opens_at", "intake_closes_at"
            )
        ),
        "consultations": list(
            Consultation.objects.values_list("pk", "status", "company__business_registration_number")
        ),
        "items": list(
            ConsultationItem.objects.order_by("pk").values_list(
                "answer", "requested_amount", "available_amount"
            )
        ),
        "messages": ConsultationMessage.objects.count(),
        "templates": sorted(RequiredDocument.objects.values_list("template", flat=True)),
    }


def test_practice_window_opens_a_week_before_and_closes_three_weeks_after_today() -> None:
    assert practice_window(dt.date(2026, 3, 10)) == (
        kst(2026, 3, 3, 9, 0, 0),
        kst(2026, 3, 31, 16, 0, 0),
        dt.date(2026, 8, 8),  # 130 days after the deadline, as 2025-07-21 → 2025-11-28
    )


def test_demo_loads_both_calls_templates_and_a_finished_thread_and_is_idempotent() -> None:
    with time_machine.travel(TODAY, tick=False):
        first = _load_all()
        snapshot = _snapshot()
        second = _load_all()

    practice = Call.objects.get(slug=PRACTICE_SLUG)
    assert (practice.title.startswith("[연습] 「2025년 K-Health"), practice.is_practice) == (True, True)
    assert (practice.intake_opens_at, practice.intake_closes_at) == (kst(2026, 3, 3, 9), kst(2026, 3, 31, 16))
    assert call_state(practice, when=TODAY) == "open"
    assert practice.rubric_items.count() == 6
    assert practice.certifications.count() == 33
    real = Call.objects.get(slug="khealth-daegu-2025")
    assert (real.intake_closes_at, real.is_practice) == (kst(2025, 7, 21, 16), False)

    assert RequiredDocument.objects.count() == 12
    for document in RequiredDocument.objects.all():
        with document.template.open("rb") as handle:
            assert handle.read(5) == b"%PDF-"

    consultation = Consultation.objects.get()
    assert (consultation.call, consultation.status, consultation.created_by.username) == (
        practice,
        "answered",
        "company",
    )
    assert consultation.company.business_registration_number == "1208147521"
    assert list(consultation.items.order_by("pk").values_list("answer", "answered_by__username")) == [
        ("available", "operator"),
        ("partial", "operator"),
    ]
    assert list(consultation.messages.values_list("author__username", flat=True)) == ["company", "operator"]

    assert first.summary_lines[:3] == [
        "공모: khealth-daegu-2025 (접수 2025-07-07 00:00 ~ 2025-07-21 16:00:00 KST)",
        "연습용 공모: practice-2025 (접수 2026-03-03 09:00 ~ 2026-03-31 16:00:00 KST)",
        "제출 서류 양식 PDF: 12건 새로 생성",
    ]
    assert second.summary_lines[2] == "제출 서류 양식 PDF: 0건 새로 생성"
    assert second.summary_lines[3] == first.summary_lines[3]
    assert _snapshot() == snapshot


def test_demo_the_next_day_moves_the_practice_window_and_keeps_the_thread() -> None:
    with time_machine.travel(TODAY, tick=False):
        _load_all()
    with time_machine.travel(TODAY + dt.timedelta(days=1), tick=False):
        _load_all()

    practice = Call.objects.get(slug=PRACTICE_SLUG)
    assert (practice.intake_opens_at, practice.intake_closes_at) == (kst(2026, 3, 4, 9), kst(2026, 4, 1, 16))
    assert Consultation.objects.count() == 1
    assert Call.objects.count() == 2


def test_without_demo_accounts_the_thread_is_skipped() -> None:
    catalog_demo_load()

    result = calls_demo_load()

    assert Consultation.objects.count() == 0
    assert result.summary_lines[-1] == "데모 기업·운영자 계정이 없어 예시 수요 데이터 협의를 건너뛰었습니다."


def test_the_demo_command_runs_end_to_end() -> None:
    out = StringIO()

    with time_machine.travel(TODAY, tick=False):
        call_command("demo", stdout=out)

    text = out.getvalue()
    assert "데모 데이터를 불러왔습니다." in text
    assert "연습용 공모: practice-2025 (접수 2026-03-03 09:00 ~ 2026-03-31 16:00:00 KST)" in text
    assert f"예시 수요 데이터 협의 #{Consultation.objects.get().pk} (대구메디AI 주식회사, 답변 완료)" in text
