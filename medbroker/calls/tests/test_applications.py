"""The application's services: creating, editing and every transition of the state machine."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import time_machine

from medbroker.accounts.models import User
from medbroker.audit.models import AuditEvent
from medbroker.calls.models import (
    Application,
    ApplicationStatusChange,
    Call,
    Certification,
    Consultation,
    ConsultationItem,
    EligibilityDeclaration,
)
from medbroker.calls.services.applications import (
    application_create,
    application_resubmit,
    application_return,
    application_submit,
    application_update,
    application_withdraw,
)
from medbroker.calls.tests.factories import call_2025
from medbroker.calls.tests.factories_applications import application_draft, application_ready
from medbroker.catalog.tests.factories import DatasetFactory
from medbroker.core.errors import DomainError
from medbroker.core.timeutils import kst

NOW = kst(2025, 7, 14, 10, 0, 0)


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


def _history(application: Application) -> list[tuple[str, str, str, str]]:
    return [
        (c.from_status, c.to_status, c.changed_by.username, c.reason)
        for c in ApplicationStatusChange.objects.filter(application=application)
    ]


def _actions(application: Application) -> list[str]:
    return list(
        AuditEvent.objects.filter(object_type="calls.application", object_id=str(application.pk))
        .order_by("sequence")
        .values_list("action", flat=True)
    )


# ---------------------------------------------------------------------------------------------------------
# Creating
# ---------------------------------------------------------------------------------------------------------


def test_create_starts_a_draft_with_one_declaration_per_criterion(call: Call, applicant: User) -> None:
    application = application_create(call=call, company=applicant.organisation, actor=applicant)

    assert (application.status, application.company, application.created_by) == (
        "draft",
        applicant.organisation,
        applicant,
    )
    assert list(
        EligibilityDeclaration.objects.filter(application=application)
        .order_by("criterion__number")
        .values_list("criterion__code", "declared")
    ) == [
        ("daegu_company", False),
        ("relocation", False),
        ("realworld_daegu", False),
        ("platform_use", False),
    ]
    assert _history(application) == [("", "draft", "applicant", "")]
    assert _actions(application) == ["calls.application_created"]


def test_create_prefills_datasets_from_the_answered_consultation(call: Call, applicant: User) -> None:
    stomach, colon, missing, pending = DatasetFactory.create_batch(4)
    consultation = Consultation.objects.create(
        call=call,
        company=applicant.organisation,
        created_by=applicant,
        purpose="병변 검출",
        status="answered",
    )
    for dataset, requested, answer, available in (
        (stomach, 1000, "available", 1000),
        (colon, 800, "partial", 300),
        (missing, 500, "unavailable", 0),
        (pending, 200, "pending", None),
    ):
        ConsultationItem.objects.create(
            consultation=consultation,
            dataset=dataset,
            requested_amount=requested,
            needs_annotated=dataset == stomach,
            answer=answer,
            available_amount=available,
            answered_at=NOW if answer != "pending" else None,
        )

    application = application_create(call=call, company=applicant.organisation, actor=applicant)

    assert application.consultation == consultation
    assert sorted(
        application.requested_datasets.values_list("dataset__title", "amount", "needs_annotated")
    ) == sorted([(stomach.title, 1000, True), (colon.title, 300, False)])


def test_one_live_application_per_company_and_call(call: Call, applicant: User) -> None:
    first = application_draft(call=call, applicant=applicant)

    with pytest.raises(DomainError) as refused:
        application_create(call=call, company=applicant.organisation, actor=applicant)

    assert (refused.value.code, refused.value.status_code, refused.value.details) == (
        "application_exists",
        409,
        {"application_id": first.pk},
    )
    assert Application.objects.filter(call=call).count() == 1


def test_a_withdrawn_application_does_not_block_a_new_one(call: Call, applicant: User) -> None:
    first = application_draft(call=call, applicant=applicant)
    application_withdraw(application=first, actor=applicant, confirmed=True)

    second = application_create(call=call, company=applicant.organisation, actor=applicant)

    assert list(Application.objects.filter(call=call).order_by("pk").values_list("pk", "status")) == [
        (first.pk, "withdrawn"),
        (second.pk, "draft"),
    ]


def test_only_a_member_of_the_company_can_create_for_it(call: Call, applicant: User, operator: User) -> None:
    with pytest.raises(DomainError) as refused:
        application_create(call=call, company=applicant.organisation, actor=operator)

    assert (refused.value.code, refused.value.status_code) == ("forbidden", 403)
    assert Application.objects.count() == 0


# ---------------------------------------------------------------------------------------------------------
# Editing
# ---------------------------------------------------------------------------------------------------------


def test_update_replaces_sections_and_evidence(call: Call, applicant: User) -> None:
    application = application_draft(call=call, applicant=applicant)
    dataset = DatasetFactory()
    gmp, iso = Certification.objects.filter(call=call, name__in=["GMP", "ISO 9001"]).order_by("name")
    kwargs: dict[str, Any] = {
        "fields": {
            "project_title": "병변 검출",
            "summary": "요약",
            "realworld_institution": "계명대학교 동산병원",
        },
        "declarations": {"daegu_company": {"declared": True, "detail": "본사"}},
        "datasets": [{"dataset": dataset, "amount": 500, "needs_annotated": True}],
        "revenues": [
            {"year": 2021, "amount_krw": 100_000_000},
            {"year": 2024, "amount_krw": 150_000_000, "provisional": True},
        ],
        "projects": [
            {
                "kind": "government",
                "project_id": "RS-2023-001",
                "title": "의료영상 AI",
                "agency": "KHIDI",
                "started_on": kst(2023, 4, 1).date(),
                "ended_on": kst(2024, 12, 31).date(),
            }
        ],
        "certifications": [
            {"certification": gmp, "certificate_number": "G-1"},
            {"certification": iso, "certificate_number": "Q-2"},
        ],
        "intellectual_property": [
            {
                "kind": "patent",
                "registration_number": "10-1234567",
                "title": "병변 검출 방법",
                "registered_on": kst(2024, 3, 2).date(),
            }
        ],
    }

    application_update(application=application, actor=applicant, **kwargs)
    application_update(application=application, actor=applicant, revenues=[{"year": 2023, "amount_krw": 5}])

    application.refresh_from_db()
    assert (application.project_title, application.summary, application.realworld_institution) == (
        "병변 검출",
        "요약",
        "계명대학교 동산병원",
    )
    assert list(application.eligibility.filter(declared=True).values_list("criterion__code", "detail")) == [
        ("daegu_company", "본사")
    ]
    assert list(application.requested_datasets.values_list("dataset", "amount", "needs_annotated")) == [
        (dataset.pk, 500, True)
    ]
    # A list replaces the rows of its part; the other parts stay as they were.
    assert list(application.revenues.values_list("year", "amount_krw", "provisional")) == [(2023, 5, False)]
    assert list(application.projects.values_list("project_id", "agency")) == [("RS-2023-001", "KHIDI")]
    assert sorted(application.certifications.values_list("certification__name", "certificate_number")) == [
        ("GMP", "G-1"),
        ("ISO 9001", "Q-2"),
    ]
    assert list(application.intellectual_property.values_list("registration_number", flat=True)) == [
        "10-1234567"
    ]
    assert _actions(application)[-2:] == ["calls.application_updated", "calls.application_updated"]


def test_update_refuses_provisional_revenue_of_a_past_year(call: Call, applicant: User) -> None:
    application = application_draft(call=call, applicant=applicant)

    with pytest.raises(DomainError) as refused:
        application_update(
            application=application,
            actor=applicant,
            revenues=[{"year": 2022, "amount_krw": 1, "provisional": True}],
        )

    assert (refused.value.code, str(refused.value.message)) == (
        "provisional_year",
        "가결산은 2024년 매출액에만 표시할 수 있습니다.",
    )
    assert application.revenues.count() == 0


def test_update_refuses_another_calls_compute_option(call: Call, applicant: User) -> None:
    from medbroker.calls.tests.factories import call_with_window

    other = call_with_window(opens_at=kst(2025, 7, 1), closes_at=kst(2025, 8, 1))
    application = application_draft(call=call, applicant=applicant)

    with pytest.raises(DomainError) as refused:
        application_update(
            application=application,
            actor=applicant,
            fields={"compute_option": other.compute_options.first()},
        )

    assert refused.value.code == "invalid_compute_option"
    application.refresh_from_db()
    assert application.compute_option is None


def test_another_company_cannot_update(call: Call, applicant: User, other_applicant: User) -> None:
    application = application_draft(call=call, applicant=applicant)

    with pytest.raises(DomainError) as refused:
        application_update(application=application, actor=other_applicant, fields={"project_title": "탈취"})

    assert (refused.value.code, refused.value.status_code) == ("forbidden", 403)
    application.refresh_from_db()
    assert application.project_title == ""


# ---------------------------------------------------------------------------------------------------------
# The state machine: every allowed transition, and every refused one leaves the application as it was
# ---------------------------------------------------------------------------------------------------------


def _submit(a: Application, applicant: User, operator: User) -> Application:
    return application_submit(application=a, actor=applicant)


def _return(a: Application, applicant: User, operator: User) -> Application:
    return application_return(application=a, actor=operator, reason="사업계획서 서명 누락")


def _resubmit(a: Application, applicant: User, operator: User) -> Application:
    return application_resubmit(application=a, actor=applicant)


def _withdraw(a: Application, applicant: User, operator: User) -> Application:
    return application_withdraw(application=a, actor=applicant, confirmed=True)


def _edit(a: Application, applicant: User, operator: User) -> Application:
    return application_update(application=a, actor=applicant, fields={"project_title": "바뀐 과제명"})


TRANSITIONS: dict[str, Callable[[Application, User, User], Application]] = {
    "submit": _submit,
    "return": _return,
    "resubmit": _resubmit,
    "withdraw": _withdraw,
    "edit": _edit,
}

# How to bring a ready draft to each state.
PATHS: dict[str, list[str]] = {
    "draft": [],
    "submitted": ["submit"],
    "returned": ["submit", "return"],
    "resubmitted": ["submit", "return", "resubmit"],
    "withdrawn": ["withdraw"],
}

ALLOWED: dict[tuple[str, str], str] = {
    ("draft", "submit"): "submitted",
    ("draft", "withdraw"): "withdrawn",
    ("draft", "edit"): "draft",
    ("submitted", "return"): "returned",
    ("submitted", "withdraw"): "withdrawn",
    ("returned", "resubmit"): "resubmitted",
    ("returned", "withdraw"): "withdrawn",
    ("returned", "edit"): "returned",
    ("resubmitted", "return"): "returned",
    ("resubmitted", "withdraw"): "withdrawn",
}


@pytest.mark.parametrize("state", list(PATHS))
@pytest.mark.parametrize("action", list(TRANSITIONS))
def test_state_machine(call: Call, applicant: User, operator: User, state: str, action: str) -> None:
    application = application_ready(call=call, applicant=applicant)
    for step in PATHS[state]:
        application = TRANSITIONS[step](application, applicant, operator)
    application.refresh_from_db()
    before = (
        application.status,
        application.receipt_number,
        application.project_title,
        application.updated_at,
    )
    history_before = _history(application)

    if (state, action) in ALLOWED:
        result = TRANSITIONS[action](application, applicant, operator)
        assert result.status == ALLOWED[(state, action)]
        application.refresh_from_db()
        assert application.status == ALLOWED[(state, action)]
        if action != "edit":
            assert _history(application)[-1][:2] == (state, ALLOWED[(state, action)])
    else:
        with pytest.raises(DomainError) as refused:
            TRANSITIONS[action](application, applicant, operator)
        assert (refused.value.code, refused.value.status_code) == ("invalid_transition", 409)
        application.refresh_from_db()
        assert (
            application.status,
            application.receipt_number,
            application.project_title,
            application.updated_at,
        ) == before
        assert _history(application) == history_before


def test_a_full_round_keeps_the_history_and_the_receipt_number(
    call: Call, applicant: User, operator: User
) -> None:
    application = application_ready(call=call, applicant=applicant)

    submitted = application_submit(application=application, actor=applicant)
    with time_machine.travel(kst(2025, 7, 15, 9, 0, 0), tick=False):
        application_return(application=application, actor=operator, reason="  서명 누락  ")
    with time_machine.travel(kst(2025, 7, 16, 11, 30, 0), tick=False):
        resubmitted = application_resubmit(application=application, actor=applicant)

    assert submitted.receipt_number == resubmitted.receipt_number == "KHD2025-0001"
    application.refresh_from_db()
    assert (application.status, application.submitted_at, application.last_submitted_at) == (
        "resubmitted",
        NOW,
        kst(2025, 7, 16, 11, 30, 0),
    )
    assert _history(application) == [
        ("", "draft", "applicant", ""),
        ("draft", "submitted", "applicant", ""),
        ("submitted", "returned", "operator", "서명 누락"),
        ("returned", "resubmitted", "applicant", ""),
    ]
    assert [a for a in _actions(application) if a != "calls.application_document_attached"] == [
        "calls.application_created",
        "calls.application_updated",
        "calls.application_submitted",
        "calls.application_returned",
        "calls.application_resubmitted",
    ]


def test_return_needs_a_reason(call: Call, applicant: User, operator: User) -> None:
    application = application_submit(
        application=application_ready(call=call, applicant=applicant), actor=applicant
    )

    with pytest.raises(DomainError) as refused:
        application_return(application=application, actor=operator, reason="   ")

    assert (refused.value.code, refused.value.field, str(refused.value.message)) == (
        "reason_required",
        "reason",
        "보완 요청 사유를 입력해 주세요.",
    )
    application.refresh_from_db()
    assert application.status == "submitted"


@pytest.mark.parametrize("role", ["auditor", "applicant", "reviewer"])
def test_only_operators_return(
    call: Call, applicant: User, users_by_role: dict[str, User], role: str
) -> None:
    application = application_submit(
        application=application_ready(call=call, applicant=applicant), actor=applicant
    )

    with pytest.raises(DomainError) as refused:
        application_return(application=application, actor=users_by_role[role], reason="사유")

    assert (refused.value.code, refused.value.status_code) == ("forbidden", 403)
    application.refresh_from_db()
    assert application.status == "submitted"


def test_withdraw_needs_the_confirmation(call: Call, applicant: User) -> None:
    application = application_draft(call=call, applicant=applicant)

    with pytest.raises(DomainError) as refused:
        application_withdraw(application=application, actor=applicant, confirmed=False)

    assert (refused.value.code, refused.value.field) == ("confirmation_required", "confirm")
    application.refresh_from_db()
    assert application.status == "draft"


def test_withdraw_records_the_reason(call: Call, applicant: User) -> None:
    application = application_submit(
        application=application_ready(call=call, applicant=applicant), actor=applicant
    )

    application_withdraw(application=application, actor=applicant, confirmed=True, reason=" 내부 사정 ")

    assert _history(application)[-1] == ("submitted", "withdrawn", "applicant", "내부 사정")
    assert _actions(application)[-1] == "calls.application_withdrawn"


def test_submission_needs_the_plan_title_and_summary(call: Call, applicant: User) -> None:
    application = application_ready(call=call, applicant=applicant, project_title="", summary="")

    with pytest.raises(DomainError) as refused:
        application_submit(application=application, actor=applicant)

    assert (refused.value.code, str(refused.value.message), refused.value.details) == (
        "application_incomplete",
        "제출 전에 다음 항목을 완료해 주세요: 사업계획(과제명·사업 개요)",
        {"incomplete": ["plan"]},
    )


def test_submission_needs_data_or_a_gpu_and_a_use_for_the_gpu(call: Call, applicant: User) -> None:
    without_support = application_ready(call=call, applicant=applicant, compute=None)

    with pytest.raises(DomainError) as refused:
        application_submit(application=without_support, actor=applicant)
    assert refused.value.details == {"incomplete": ["support"]}

    application_update(
        application=without_support,
        actor=applicant,
        fields={"compute_option": call.compute_options.get(code="v100-16"), "compute_intended_use": ""},
    )
    with pytest.raises(DomainError) as refused:
        application_submit(application=without_support, actor=applicant)
    assert refused.value.details == {"incomplete": ["compute_use"]}
