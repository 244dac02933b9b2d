"""Who sees which agreement, which terms are in force, and what awaits an agreement."""

from __future__ import annotations

import pytest

from medbroker.accounts.models import Organisation, Role, User
from medbroker.accounts.tests.factories import UserFactory
from medbroker.agreements.models import Agreement, AgreementVersion
from medbroker.agreements.selectors import (
    agreement_for_user,
    agreement_in_force,
    agreement_member_ensure,
    agreement_terms,
    agreements_visible_to,
    decisions_awaiting_agreement,
)
from medbroker.agreements.tests.factories import DURING_SUPPORT, active_agreement, selected_decision
from medbroker.core.errors import NotFoundError, PermissionDeniedError
from medbroker.core.timeutils import kst
from medbroker.reviews.models import Decision

pytestmark = pytest.mark.django_db


@pytest.fixture
def agreements(operator: User, company: Organisation, other_company: Organisation) -> dict[str, Agreement]:
    return {
        "own": active_agreement(decision=selected_decision(company=company, operator=operator)),
        "other": active_agreement(
            decision=selected_decision(company=other_company, operator=operator, rank=2)
        ),
    }


def test_each_role_sees_its_agreements(
    agreements: dict[str, Agreement], users_by_role: dict[str, User | None]
) -> None:
    seen = {
        role: sorted(a.number for a in agreements_visible_to(user))
        for role, user in users_by_role.items()
        if user is not None
    }

    everything = sorted(a.number for a in agreements.values())
    assert seen == {
        "applicant": [agreements["own"].number],
        "other_applicant": [agreements["other"].number],
        "reviewer": [],
        "steward": [],
        "operator": everything,
        "auditor": everything,
    }


def test_another_companys_agreement_is_not_found(
    agreements: dict[str, Agreement], applicant: User, reviewer: User
) -> None:
    assert agreement_for_user(applicant, agreements["own"].pk) == agreements["own"]
    for user, agreement in ((applicant, agreements["other"]), (reviewer, agreements["own"])):
        with pytest.raises(NotFoundError) as error:
            agreement_for_user(user, agreement.pk)
        assert (error.value.code, error.value.status_code) == ("agreement_not_found", 404)


def test_membership_is_an_active_applicant_of_the_company(
    agreements: dict[str, Agreement],
    applicant: User,
    other_applicant: User,
    operator: User,
    company: Organisation,
) -> None:
    agreement_member_ensure(agreements["own"], applicant)
    steward_of_company = UserFactory(organisation=company, roles=[Role.DATA_STEWARD])
    inactive = UserFactory(organisation=company, roles=[Role.APPLICANT], is_active=False)

    for user in (other_applicant, operator, steward_of_company, inactive):
        with pytest.raises(PermissionDeniedError) as error:
            agreement_member_ensure(agreements["own"], user)
        assert (error.value.code, error.value.status_code) == ("not_member", 403)


def test_in_force_needs_the_active_status_and_the_period(agreements: dict[str, Agreement]) -> None:
    agreement = agreements["own"]
    assert agreement_in_force(agreement, at=DURING_SUPPORT) is True
    assert agreement_in_force(agreement, at=kst(2025, 11, 28, 23, 59, 59)) is True
    assert agreement_in_force(agreement, at=kst(2025, 11, 29, 0, 0, 0)) is False
    assert agreement_in_force(agreement, at=kst(2025, 8, 31, 23, 59, 59)) is False

    for status in (Agreement.Status.AWAITING_SIGNATURES, Agreement.Status.ENDED, Agreement.Status.TERMINATED):
        agreement.status = status
        assert agreement_in_force(agreement, at=DURING_SUPPORT) is False


def test_the_terms_are_the_effective_version(agreements: dict[str, Agreement], operator: User) -> None:
    agreement = agreements["own"]
    v1 = agreement.versions.get()
    AgreementVersion.objects.create(agreement=agreement, number=2, created_by=operator)

    assert agreement_terms(agreement) == v1
    prefetched = Agreement.objects.prefetch_related("versions").get(pk=agreement.pk)
    assert agreement_terms(prefetched) == v1


def test_decisions_awaiting_an_agreement_are_published_selections_without_one(
    agreements: dict[str, Agreement], operator: User
) -> None:
    second = selected_decision(operator=operator, rank=4)
    first = selected_decision(operator=operator, rank=3)
    unpublished = selected_decision(operator=operator, rank=5)
    Decision.objects.filter(pk=unpublished.pk).update(published_at=None)
    reserve = selected_decision(operator=operator, rank=6)
    Decision.objects.filter(pk=reserve.pk).update(outcome=Decision.Outcome.RESERVE)

    assert list(decisions_awaiting_agreement()) == [first, second]
    assert list(decisions_awaiting_agreement(first.application.call)) == [first, second]
