"""Building blocks for the tests of the steps after selection: a selected decision on the 2025 call and an
agreement in force, made directly so each app's tests start from the state they need.

The 2025 call's support period ends 2025-11-28; ``DURING_SUPPORT`` is a moment inside it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from medbroker.accounts.models import Organisation, Role, User
from medbroker.accounts.tests.factories import LabFactory, OrganisationFactory, UserFactory
from medbroker.agreements.models import Agreement, AgreementDataset, AgreementSignature, AgreementVersion
from medbroker.calls.models import Application, ApplicationDataset, Call, ComputeOption
from medbroker.calls.tests.factories import call_2025
from medbroker.catalog.models import Dataset, Sensitivity
from medbroker.catalog.tests.factories import DatasetFactory
from medbroker.core import timeutils
from medbroker.reviews.models import Decision

DURING_SUPPORT = timeutils.kst(2025, 9, 15, 10, 0, 0)
SIGNED_ON = dt.date(2025, 9, 1)


def lab_operator() -> User:
    existing = User.objects.filter(role_assignments__role=Role.OPERATOR).first()
    return existing or UserFactory(username="lab_operator", organisation=LabFactory(), roles=[Role.OPERATOR])


def selected_decision(
    *,
    company: Organisation | None = None,
    call: Call | None = None,
    datasets: Sequence[Dataset] | None = None,
    compute_code: str | None = "a100-32",
    rank: int = 1,
    operator: User | None = None,
) -> Decision:
    """A published selection decision, its application submitted, with ``datasets`` granted (one standard
    and one low-sensitivity dataset when none are given) and the GPU of ``compute_code``."""
    call = call or call_2025()
    company = company or OrganisationFactory(address="대구광역시 동구 첨단로 1")
    operator = operator or lab_operator()
    number = Application.objects.filter(call=call).exclude(receipt_number=None).count() + 1
    application = Application.objects.create(
        call=call,
        company=company,
        created_by=operator,
        status=Application.Status.SUBMITTED,
        receipt_number=f"{call.receipt_prefix or call.slug.upper()}-{number:04d}",
        submitted_at=timeutils.kst(2025, 7, 14, 10, 0, 0),
        last_submitted_at=timeutils.kst(2025, 7, 14, 10, 0, 0),
        project_title="위 내시경 병변 검출 AI",
    )
    if datasets is None:
        datasets = [
            DatasetFactory(sensitivity=Sensitivity.STANDARD),
            DatasetFactory(sensitivity=Sensitivity.LOW, title="흉부 X-ray 공개 가능 영상"),
        ]
    rows = [
        ApplicationDataset.objects.create(
            application=application, dataset=d, amount=1000, needs_annotated=True
        )
        for d in datasets
    ]
    option = ComputeOption.objects.get(call=call, code=compute_code) if compute_code else None
    decision = Decision.objects.create(
        application=application,
        outcome=Decision.Outcome.SELECTED,
        rank=rank,
        granted_compute=option,
        support_ends_on=call.support_ends_on,
        decided_by=operator,
        decided_at=timeutils.kst(2025, 8, 20, 10, 0, 0),
        published_at=timeutils.kst(2025, 8, 21, 10, 0, 0),
    )
    decision.granted_datasets.set(rows)
    return decision


def active_agreement(
    *,
    decision: Decision | None = None,
    allows_online: bool = False,
    signed_on: dt.date = SIGNED_ON,
    **decision_kwargs: object,
) -> Agreement:
    """An agreement in force since ``signed_on``: version 1 effective, signed by both sides on upload."""
    decision = decision or selected_decision(**decision_kwargs)  # type: ignore[arg-type]
    application = decision.application
    operator = decision.decided_by
    agreement = Agreement.objects.create(
        number=f"{application.receipt_number}-AG",
        decision=decision,
        call=application.call,
        company=application.company,
        status=Agreement.Status.ACTIVE,
        starts_on=signed_on,
        ends_on=decision.support_ends_on or application.call.support_ends_on,
        signed_at=timeutils.kst(signed_on.year, signed_on.month, signed_on.day, 11, 0, 0),
        created_by=operator,
    )
    version = AgreementVersion.objects.create(
        agreement=agreement,
        number=1,
        status=AgreementVersion.Status.EFFECTIVE,
        compute_option=decision.granted_compute,
        allows_online=allows_online,
        created_by=operator,
        effective_at=agreement.signed_at,
    )
    for row in decision.granted_datasets.all():
        AgreementDataset.objects.create(
            version=version, dataset=row.dataset, amount=row.amount, needs_annotated=row.needs_annotated
        )
    company_user = User.objects.filter(organisation=application.company).first() or UserFactory(
        organisation=application.company, roles=[Role.APPLICANT]
    )
    for side, signer in (
        (AgreementSignature.Side.LAB, operator),
        (AgreementSignature.Side.COMPANY, company_user),
    ):
        AgreementSignature.objects.create(
            version=version,
            side=side,
            method=AgreementSignature.Method.UPLOAD,
            signer=signer,
            signed_at=agreement.signed_at,
            original_name="협약서.pdf",
        )
    return agreement
