"""Eligibility ①–④, rule ⑤ and the documents each declaration requires (announcement §2, §5)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import time_machine

from medbroker.accounts.models import User
from medbroker.calls.models import Application, Call, RequiredDocument
from medbroker.calls.services.applications import (
    application_document_attach,
    application_submit,
    application_update,
)
from medbroker.calls.services.eligibility import (
    documents_missing,
    documents_required,
    eligibility_evaluate,
    eligibility_is_met,
)
from medbroker.calls.tests.factories import call_2025
from medbroker.calls.tests.factories_applications import (
    ALWAYS_REQUIRED,
    application_draft,
    application_fill,
    sample_pdf,
    upload,
)
from medbroker.core.errors import DomainError
from medbroker.core.timeutils import kst

RULE_5_MESSAGE = (
    "신청 자격 ①~④ 중 1개 이상을 충족해야 제출할 수 있습니다(공고 지원대상 ⑤). "
    "해당하는 자격을 선택하고 필요한 증빙을 갖춰 주세요."
)


@pytest.fixture
def call(db: None) -> Call:
    return call_2025()


@pytest.fixture(autouse=True)
def during_intake() -> Iterator[None]:
    with time_machine.travel(kst(2025, 7, 14, 10, 0, 0), tick=False):
        yield


def _declare(application: Application, applicant: User, *codes: str, institution: str = "") -> Application:
    return application_update(
        application=application,
        actor=applicant,
        fields={"realworld_institution": institution},
        declarations={code: {"declared": True} for code in codes},
    )


def _results(application: Application) -> list[tuple[int, bool, bool, str]]:
    fresh = Application.objects.get(pk=application.pk)
    return [(r.criterion.number, r.declared, r.satisfied, r.reason) for r in eligibility_evaluate(fresh)]


def test_nothing_declared_satisfies_nothing(call: Call, applicant: User) -> None:
    application = application_draft(call=call, applicant=applicant)

    assert _results(application) == [
        (1, False, False, "해당하지 않음(선택하지 않음)"),
        (2, False, False, "해당하지 않음(선택하지 않음)"),
        (3, False, False, "해당하지 않음(선택하지 않음)"),
        (4, False, False, "해당하지 않음(선택하지 않음)"),
    ]
    assert eligibility_is_met(application) is False


def test_daegu_address_satisfies_criterion_1(call: Call, applicant: User) -> None:
    application = _declare(application_draft(call=call, applicant=applicant), applicant, "daegu_company")

    assert _results(application)[0] == (
        1,
        True,
        True,
        "기업 주소가 대구광역시입니다: 대구광역시 동구 첨단로 1",
    )
    assert eligibility_is_met(application) is True


def test_address_outside_daegu_does_not_satisfy_criterion_1_and_says_why(
    call: Call, other_applicant: User
) -> None:
    application = _declare(
        application_draft(call=call, applicant=other_applicant), other_applicant, "daegu_company"
    )

    assert _results(application)[0] == (
        1,
        True,
        False,
        "기업 주소(서울특별시 강남구 테헤란로 1)가 대구광역시가 아닙니다. 주소가 바뀌었다면 기업 정보에서 고쳐 주세요.",
    )
    assert eligibility_is_met(application) is False


def test_relocation_needs_the_pledge_document(call: Call, other_applicant: User) -> None:
    application = _declare(
        application_draft(call=call, applicant=other_applicant), other_applicant, "relocation"
    )
    assert _results(application)[1] == (2, True, False, "지역이전 확약서를 제출해야 합니다.")

    application_document_attach(
        application=application,
        requirement=RequiredDocument.objects.get(call=call, code="relocation_pledge"),
        upload=upload("확약서.pdf", sample_pdf()),
        actor=other_applicant,
    )

    assert _results(application)[1] == (2, True, True, "지역이전 확약서 제출됨")


def test_realworld_validation_needs_the_named_institution(call: Call, other_applicant: User) -> None:
    draft = application_draft(call=call, applicant=other_applicant)
    assert _results(_declare(draft, other_applicant, "realworld_daegu"))[2] == (
        3,
        True,
        False,
        "실증 예정인 대구광역시 소재 의료기관명을 입력해야 합니다.",
    )

    named = _declare(draft, other_applicant, "realworld_daegu", institution="경북대학교병원")

    assert _results(named)[2] == (3, True, True, "실증 예정 의료기관: 경북대학교병원")


def test_platform_use_needs_the_platform_pledge(call: Call, other_applicant: User) -> None:
    application = _declare(
        application_draft(call=call, applicant=other_applicant), other_applicant, "platform_use"
    )

    assert _results(application)[3] == (
        4,
        True,
        False,
        "의료데이터 중개 플랫폼 사용 확약서를 제출해야 합니다.",
    )


def test_required_documents_are_the_four_always_plus_each_declared_pledge(
    call: Call, applicant: User
) -> None:
    application = application_draft(call=call, applicant=applicant)
    assert [r.code for r in documents_required(application)] == list(ALWAYS_REQUIRED)

    application = _declare(application, applicant, "relocation", "platform_use")

    assert [r.code for r in documents_required(Application.objects.get(pk=application.pk))] == [
        *ALWAYS_REQUIRED,
        "relocation_pledge",
        "platform_pledge",
    ]


def test_rule_5_refuses_submission_when_no_declared_criterion_is_satisfied(
    call: Call, other_applicant: User
) -> None:
    # Given a complete application whose only declaration (①) fails: the company is in Seoul.
    application = application_fill(
        application_draft(call=call, applicant=other_applicant),
        applicant=other_applicant,
        declare=("daegu_company",),
    )

    with pytest.raises(DomainError) as refused:
        application_submit(application=application, actor=other_applicant)

    assert refused.value.code == "eligibility_not_met"
    assert str(refused.value.message) == RULE_5_MESSAGE
    application.refresh_from_db()
    assert (application.status, application.receipt_number, application.submitted_at) == ("draft", None, None)


def test_declaring_relocation_without_the_pledge_is_a_missing_document(call: Call, applicant: User) -> None:
    # ① is satisfied (Daegu address) so rule ⑤ holds, but ② was declared and its pledge is missing.
    application = application_fill(
        application_draft(call=call, applicant=applicant),
        applicant=applicant,
        declare=("daegu_company", "relocation"),
    )
    assert [r.code for r in documents_missing(application)] == ["relocation_pledge"]

    with pytest.raises(DomainError) as refused:
        application_submit(application=application, actor=applicant)

    assert refused.value.code == "documents_missing"
    assert str(refused.value.message) == "제출해야 할 서류가 빠져 있습니다: 지역이전 확약서"
    assert refused.value.details == {"missing": ["relocation_pledge"]}
    application.refresh_from_db()
    assert application.status == "draft"


def test_a_satisfied_pledge_alone_meets_rule_5(call: Call, other_applicant: User) -> None:
    # A Seoul company that pledges to use the platform (④) is eligible.
    application = application_fill(
        application_draft(call=call, applicant=other_applicant),
        applicant=other_applicant,
        declare=("platform_use",),
        documents=(*ALWAYS_REQUIRED, "platform_pledge"),
    )

    submitted = application_submit(application=application, actor=other_applicant)

    assert submitted.status == "submitted"
    assert [n for n, _d, satisfied, _r in _results(application) if satisfied] == [4]


def test_minimum_eligibility_is_read_from_the_call(call: Call, applicant: User) -> None:
    Call.objects.filter(pk=call.pk).update(minimum_eligibility=2)
    application = application_fill(application_draft(call=call, applicant=applicant), applicant=applicant)

    with pytest.raises(DomainError) as refused:
        application_submit(application=application, actor=applicant)

    assert refused.value.code == "eligibility_not_met"
    assert str(refused.value.message).startswith("신청 자격 ①~④ 중 2개 이상을 충족해야 제출할 수 있습니다")


def test_a_submitted_application_keeps_the_address_it_was_submitted_with(call: Call, applicant: User) -> None:
    application = application_fill(application_draft(call=call, applicant=applicant), applicant=applicant)
    application_submit(application=application, actor=applicant)
    company = applicant.organisation
    assert company is not None
    company.address = "서울특별시 강남구 테헤란로 1"
    company.save()

    assert (
        Application.objects.get(pk=application.pk).company_address_at_submission == "대구광역시 동구 첨단로 1"
    )
    assert _results(application)[0] == (
        1,
        True,
        True,
        "기업 주소가 대구광역시입니다: 대구광역시 동구 첨단로 1",
    )
    assert eligibility_is_met(Application.objects.get(pk=application.pk)) is True
