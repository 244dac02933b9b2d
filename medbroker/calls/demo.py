"""Demo data of the calls app for ``medbroker demo``: the 2025 call, a practice call open around today, the
templates of their documents, and one finished consultation thread of the demo company. Idempotent.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.db import transaction

from medbroker.accounts.models import Organisation, User
from medbroker.calls.definitions import CALL_2025, CALL_2025_SLUG
from medbroker.calls.models import Call, Consultation, ConsultationItem
from medbroker.calls.services.calls import call_configure
from medbroker.calls.services.consultations import (
    ConsultationItemInput,
    consultation_create,
    consultation_item_answer,
    consultation_message_post,
)
from medbroker.calls.services.templates_docs import call_document_templates_attach
from medbroker.catalog.models import Dataset, DataType
from medbroker.core import timeutils

PRACTICE_SLUG = "practice-2025"
PRACTICE_TITLE = "[연습] " + CALL_2025["title"]
DEMO_COMPANY_BRN = "1208147521"
DEMO_COMPANY_USERNAME = "company"
DEMO_OPERATOR_USERNAME = "operator"
# The sample consultation is found again by its purpose, so a second run neither duplicates it nor touches
# consultations a user made while trying the demo.
DEMO_CONSULTATION_PURPOSE = (
    "위 내시경 영상 기반 조기위암 병변 검출 AI를 개발하고 있습니다. 학습용 Annotation 데이터와 "
    "외부 검증용 Non-Annotation 데이터의 보유 여부와 제공 가능 건수를 확인하고자 합니다."
)


@dataclass
class CallsDemo:
    calls: list[Call] = field(default_factory=list)
    consultation: Consultation | None = None
    summary_lines: list[str] = field(default_factory=list)


def practice_window(today: dt.date) -> tuple[dt.datetime, dt.datetime, dt.date]:
    """Opens 7 days before ``today`` at 09:00 KST, closes 21 days after at 16:00:00 KST; the support period
    ends as long after the deadline as the 2025 call's does (2025-07-21 → 2025-11-28)."""
    opens = today - dt.timedelta(days=7)
    closes = today + dt.timedelta(days=21)
    support_after_close = (
        CALL_2025["support_ends_on"] - timeutils.to_kst(CALL_2025["intake_closes_at"]).date()
    )
    return (
        timeutils.kst(opens.year, opens.month, opens.day, 9, 0, 0),
        timeutils.kst(closes.year, closes.month, closes.day, 16, 0, 0),
        closes + support_after_close,
    )


def _demo_datasets() -> list[Dataset]:
    """Two published imaging datasets to ask about: the first by catalogue order, and another body part."""
    published = list(
        Dataset.objects.filter(
            publication=Dataset.Publication.PUBLISHED, data_type=DataType.IMAGING
        ).order_by("-annotated_count", "pk")[:10]
    )
    if len(published) < 2:
        return published
    second = next((d for d in published[1:] if d.body_part_id != published[0].body_part_id), published[1])
    return [published[0], second]


def _demo_consultation(call: Call) -> tuple[Consultation | None, str]:
    company = Organisation.objects.filter(business_registration_number=DEMO_COMPANY_BRN).first()
    applicant = User.objects.filter(username=DEMO_COMPANY_USERNAME, organisation=company).first()
    operator = User.objects.filter(username=DEMO_OPERATOR_USERNAME).first()
    if company is None or applicant is None or operator is None:
        return None, "데모 기업·운영자 계정이 없어 예시 수요 데이터 협의를 건너뛰었습니다."
    existing = Consultation.objects.filter(
        call=call, company=company, purpose=DEMO_CONSULTATION_PURPOSE
    ).first()
    if existing is not None:
        return (
            existing,
            f"예시 수요 데이터 협의 #{existing.pk} ({company.name}, {existing.get_status_display()})",
        )
    datasets = _demo_datasets()
    if len(datasets) < 2:
        return None, "공개된 영상 데이터셋이 2개 미만이라 예시 수요 데이터 협의를 건너뛰었습니다."
    first, second = datasets
    consultation = consultation_create(
        actor=applicant,
        call=call,
        purpose=DEMO_CONSULTATION_PURPOSE,
        items=[
            ConsultationItemInput(
                dataset_id=first.pk, requested_amount=min(3000, first.total_count), needs_annotated=True
            ),
            # Asks for more than the dataset holds, so the thread shows a "partly available" answer.
            ConsultationItemInput(dataset_id=second.pk, requested_amount=second.total_count + 500),
        ],
    )
    consultation_message_post(
        actor=applicant,
        consultation=consultation,
        body="Annotation은 병변 위치(바운딩 박스)가 포함된 데이터가 필요합니다. 폐쇄학습실 이용 일정도 함께 안내 부탁드립니다.",
    )
    items = list(consultation.items.order_by("pk"))
    consultation_item_answer(
        actor=operator,
        item=items[0],
        answer=ConsultationItem.Answer.AVAILABLE,
        note="요청하신 건수 모두 Annotation(병변 위치 포함) 데이터로 제공 가능합니다.",
    )
    consultation_item_answer(
        actor=operator,
        item=items[1],
        answer=ConsultationItem.Answer.PARTIAL,
        available_amount=second.total_count,
        note=f"구축 건수가 {second.total_count:,}건이라 그 범위에서 제공 가능합니다.",
    )
    consultation_message_post(
        actor=operator,
        consultation=consultation,
        body="두 데이터 모두 폐쇄학습실(KTL 대구의료인공지능개발지원센터)에서 활용하실 수 있습니다. 이용 일정은 협약 후 안내드립니다.",
    )
    consultation.refresh_from_db()
    return (
        consultation,
        f"예시 수요 데이터 협의 #{consultation.pk} ({company.name}, {consultation.get_status_display()})",
    )


@transaction.atomic
def calls_demo_load() -> CallsDemo:
    """Configure the 2025 call and the practice call, attach their document templates, add the sample thread."""
    call_2025 = call_configure(definition=CALL_2025, slug=CALL_2025_SLUG)
    opens_at, closes_at, support_ends_on = practice_window(timeutils.today_kst())
    practice = call_configure(
        definition=CALL_2025,
        slug=PRACTICE_SLUG,
        title=PRACTICE_TITLE,
        intake_opens_at=opens_at,
        intake_closes_at=closes_at,
        support_ends_on=support_ends_on,
        is_practice=True,
        receipt_prefix="PRACTICE2025",
    )
    rendered = sum(call_document_templates_attach(call=call) for call in (call_2025, practice))
    consultation, consultation_line = _demo_consultation(practice)

    def window(call: Call) -> str:
        opens = timeutils.to_kst(call.intake_opens_at).strftime("%Y-%m-%d %H:%M")
        closes = timeutils.to_kst(call.intake_closes_at).strftime("%Y-%m-%d %H:%M:%S")
        return f"{opens} ~ {closes} KST"

    return CallsDemo(
        calls=[call_2025, practice],
        consultation=consultation,
        summary_lines=[
            f"공모: {call_2025.slug} (접수 {window(call_2025)})",
            f"연습용 공모: {practice.slug} (접수 {window(practice)})",
            f"제출 서류 양식 PDF: {rendered}건 새로 생성",
            consultation_line,
        ],
    )
