"""Helpers of the agreements tests: drafting through the service, second-factor codes, signed copies.

``factories.active_agreement`` builds a concluded agreement directly; the helpers here go through the
services, for the tests of drafting and signing themselves.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django_otp.oath import totp
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from medbroker.accounts.models import Organisation, User
from medbroker.agreements.models import Agreement, AgreementDataset, AgreementVersion
from medbroker.agreements.services.agreements import agreement_create_from_decision
from medbroker.agreements.tests.factories import selected_decision
from medbroker.calls.tests.factories_applications import sample_docx, sample_pdf
from medbroker.core import timeutils

# Drafting happens after the results are published (2025-08-21) and before the support period ends.
DRAFTED_AT = timeutils.kst(2025, 8, 25, 10, 0, 0)
FAKE_PDF = sample_pdf("agreement")


def drafted_agreement(
    *, operator: User, company: Organisation | None = None, allows_online: bool = False, **kwargs: Any
) -> Agreement:
    """An agreement drafted by ``operator`` through the service: version 1 pending, nobody has signed."""
    decision = selected_decision(company=company, operator=operator, **kwargs)
    return agreement_create_from_decision(decision=decision, actor=operator, allows_online=allows_online)


def version(agreement: Agreement, number: int) -> AgreementVersion:
    return AgreementVersion.objects.get(agreement=agreement, number=number)


def pending_amendment(
    agreement: Agreement, *, operator: User, with_document: bool = True
) -> AgreementVersion:
    """Version 2 of a concluded agreement, the same terms, waiting for both signatures (built directly)."""
    current = AgreementVersion.objects.get(agreement=agreement, status=AgreementVersion.Status.EFFECTIVE)
    amendment = AgreementVersion.objects.create(
        agreement=agreement,
        number=current.number + 1,
        compute_option=current.compute_option,
        allows_online=current.allows_online,
        reason="데이터 추가",
        created_by=operator,
    )
    for row in current.datasets.all():
        AgreementDataset.objects.create(
            version=amendment, dataset=row.dataset, amount=row.amount, needs_annotated=row.needs_annotated
        )
    if with_document:
        amendment.document.save(f"{agreement.number}-v{amendment.number}.pdf", ContentFile(FAKE_PDF))
    return amendment


def signed_copy(name: str = "협약서_서명본.pdf") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, sample_pdf("signed"), content_type="application/pdf")


def docx_copy(name: str = "협약서_서명본.docx") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, sample_docx(), content_type="application/octet-stream")


def totp_device(user: User) -> TOTPDevice:
    return TOTPDevice.objects.create(user=user, name="인증 앱", confirmed=True)


def totp_code(device: TOTPDevice) -> str:
    device.refresh_from_db()
    value = totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits, drift=device.drift)
    return f"{value:0{device.digits}d}"


def backup_codes(user: User, *codes: str) -> StaticDevice:
    device = StaticDevice.objects.create(user=user, name="백업 코드", confirmed=True)
    for code in codes:
        StaticToken.objects.create(device=device, token=code)
    return device


def kst_date(value: dt.datetime) -> dt.date:
    return timeutils.to_kst(value).date()
