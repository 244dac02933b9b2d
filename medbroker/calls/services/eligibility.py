"""Eligibility of an application (announcement §2) and the documents it must carry (§5).

Each criterion ①–④ is declared by the company and satisfied only when what it needs is there:
① a Daegu address of the company, ② the relocation pledge, ③ the named Daegu medical institution,
④ the platform-use pledge. Rule ⑤ (``call.minimum_eligibility``) asks for at least that many satisfied
criteria. Everything here reads prefetched relations, so the console can evaluate a whole call at once.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import gettext as _

from medbroker.calls.models import Application, EligibilityCriterion, RequiredDocument
from medbroker.core.errors import DomainError

# VAT Act art. 8 places a business where it is registered; a Daegu address is written "대구광역시 …"
# (or the short "대구 …"), so the address has to start with "대구".
DAEGU_ADDRESS_PREFIX = "대구"


_CIRCLED = "⓪①②③④⑤⑥⑦⑧⑨⑩"


def criterion_mark(number: int) -> str:
    """1 → "①", as the announcement numbers its criteria."""
    return _CIRCLED[number] if 0 <= number < len(_CIRCLED) else str(number)


@dataclass(frozen=True)
class CriterionResult:
    criterion: EligibilityCriterion
    declared: bool
    satisfied: bool
    reason: str

    @property
    def mark(self) -> str:
        return criterion_mark(self.criterion.number)


def _criteria(application: Application) -> list[EligibilityCriterion]:
    return sorted(application.call.eligibility_criteria.all(), key=lambda c: c.number)


def _requirements(application: Application) -> list[RequiredDocument]:
    return sorted(application.call.required_documents.all(), key=lambda r: r.number)


def _uploaded_codes(application: Application) -> set[str]:
    return {document.requirement.code for document in application.documents.all()}


def _declared(application: Application) -> dict[int, bool]:
    return {d.criterion_id: d.declared for d in application.eligibility.all()}


def eligibility_address(application: Application) -> str:
    """The address eligibility ① is judged on: the live one while the company may still change the
    application, the one recorded at (re)submission afterwards."""
    editable = application.status in (Application.Status.DRAFT, Application.Status.RETURNED)
    if not editable and application.company_address_at_submission:
        return application.company_address_at_submission
    return application.company.address


def company_address_in_daegu(address: str) -> bool:
    return address.strip().startswith(DAEGU_ADDRESS_PREFIX)


def _evaluate_one(
    application: Application,
    criterion: EligibilityCriterion,
    declared: bool,
    uploaded: set[str],
    titles: dict[str, str],
) -> CriterionResult:
    if not declared:
        return CriterionResult(criterion, False, False, _("해당하지 않음(선택하지 않음)"))
    requirement = criterion.requirement
    if requirement == EligibilityCriterion.Requirement.DAEGU_ADDRESS:
        address = eligibility_address(application).strip()
        if not address:
            return CriterionResult(
                criterion,
                True,
                False,
                _("기업 주소가 등록되어 있지 않습니다. 기업 정보에서 주소를 입력해 주세요."),
            )
        if company_address_in_daegu(address):
            return CriterionResult(
                criterion, True, True, _("기업 주소가 대구광역시입니다: %(address)s") % {"address": address}
            )
        return CriterionResult(
            criterion,
            True,
            False,
            _("기업 주소(%(address)s)가 대구광역시가 아닙니다. 주소가 바뀌었다면 기업 정보에서 고쳐 주세요.")
            % {"address": address},
        )
    if requirement == EligibilityCriterion.Requirement.DOCUMENT:
        code = criterion.required_document_code
        title = titles.get(code, code)
        if code in uploaded:
            return CriterionResult(criterion, True, True, _("%(title)s 제출됨") % {"title": title})
        return CriterionResult(criterion, True, False, _("%(title)s를 제출해야 합니다.") % {"title": title})
    if requirement == EligibilityCriterion.Requirement.INSTITUTION:
        institution = application.realworld_institution.strip()
        if institution:
            return CriterionResult(
                criterion, True, True, _("실증 예정 의료기관: %(name)s") % {"name": institution}
            )
        return CriterionResult(
            criterion, True, False, _("실증 예정인 대구광역시 소재 의료기관명을 입력해야 합니다.")
        )
    return CriterionResult(criterion, True, True, _("선택함"))


def eligibility_evaluate(application: Application) -> list[CriterionResult]:
    """One result per criterion of the call, in the announcement's order, with the reason in Korean."""
    declared = _declared(application)
    uploaded = _uploaded_codes(application)
    titles = {r.code: r.title for r in _requirements(application)}
    return [
        _evaluate_one(application, criterion, declared.get(criterion.pk, False), uploaded, titles)
        for criterion in _criteria(application)
    ]


def eligibility_is_met(application: Application, results: list[CriterionResult] | None = None) -> bool:
    """Rule ⑤: at least ``call.minimum_eligibility`` declared criteria are satisfied."""
    results = eligibility_evaluate(application) if results is None else results
    return sum(r.satisfied for r in results) >= application.call.minimum_eligibility


def eligibility_not_met_message(minimum: int) -> str:
    return _(
        "신청 자격 ①~④ 중 %(minimum)d개 이상을 충족해야 제출할 수 있습니다(공고 지원대상 ⑤). "
        "해당하는 자격을 선택하고 필요한 증빙을 갖춰 주세요."
    ) % {"minimum": minimum}


def eligibility_ensure_met(application: Application) -> None:
    if not eligibility_is_met(application):
        raise DomainError(
            "eligibility_not_met",
            eligibility_not_met_message(application.call.minimum_eligibility),
            field="eligibility",
        )


def documents_required(application: Application) -> list[RequiredDocument]:
    """The always-required documents, plus each conditional pledge whose criterion is declared (§5)."""
    declared = _declared(application)
    declared_codes = {c.code for c in _criteria(application) if declared.get(c.pk, False)}
    return [
        requirement
        for requirement in _requirements(application)
        if requirement.condition == RequiredDocument.Condition.ALWAYS
        or (
            requirement.condition == RequiredDocument.Condition.IF_CRITERION
            and requirement.criterion_code in declared_codes
        )
    ]


def documents_missing(application: Application) -> list[RequiredDocument]:
    uploaded = _uploaded_codes(application)
    return [r for r in documents_required(application) if r.code not in uploaded]
