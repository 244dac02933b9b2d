"""Building blocks for the reviews tests: a committee on the 2025 call and submitted applications."""

from __future__ import annotations

from typing import Any

import time_machine

from medbroker.accounts.models import Organisation, Role, User
from medbroker.accounts.tests.factories import OrganisationFactory, UserFactory
from medbroker.calls.models import Application, Call
from medbroker.calls.services.applications import application_submit
from medbroker.calls.tests.factories import call_2025
from medbroker.calls.tests.factories_applications import application_ready
from medbroker.core.timeutils import kst
from medbroker.reviews.models import Committee, CommitteeMember

# A moment inside the 2025 intake window, for building submitted applications.
DURING_INTAKE = kst(2025, 7, 14, 10, 0, 0)


def committee_2025(**settings: Any) -> Committee:
    call = call_2025()
    committee, _ = Committee.objects.get_or_create(
        call=call, defaults={"name": "2025 K-Health 대구 서면평가위원회", **settings}
    )
    return committee


def member(
    committee: Committee, *, username: str, organisation: Organisation | None = None, **kwargs: Any
) -> CommitteeMember:
    organisation = organisation or OrganisationFactory(
        kind=Organisation.Kind.INSTITUTION, name=f"{username} 소속기관"
    )
    user = UserFactory(username=username, organisation=organisation, roles=[Role.REVIEWER])
    return CommitteeMember.objects.create(
        committee=committee,
        user=user,
        organisation=organisation,
        expertise=kwargs.pop("expertise", "의료영상"),
        **kwargs,
    )


def submitted_application(call: Call, *, company_name: str, **fill: Any) -> tuple[Application, User]:
    """A submitted application of a new Daegu company (built with the clock inside the intake window)."""
    company = OrganisationFactory(name=company_name, address="대구광역시 동구 첨단로 1")
    applicant = UserFactory(organisation=company, roles=[Role.APPLICANT])
    with time_machine.travel(DURING_INTAKE, tick=False):
        application = application_ready(call=call, applicant=applicant, **fill)
        application = application_submit(application=application, actor=applicant)
    return application, applicant
