"""Signing: who signs for which side, the signed PDF or the OTP confirmation, and the effect of both."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.db import IntegrityError, transaction

from medbroker.accounts.models import Notification, Organisation, Role, User
from medbroker.accounts.tests.factories import UserFactory
from medbroker.agreements.models import Agreement, AgreementSignature, AgreementVersion
from medbroker.agreements.selectors import agreement_in_force, agreement_terms
from medbroker.agreements.services.signatures import agreement_sign
from medbroker.agreements.tests.scene import (
    DRAFTED_AT,
    backup_codes,
    docx_copy,
    drafted_agreement,
    pending_amendment,
    signed_copy,
    totp_code,
    totp_device,
)
from medbroker.audit.models import AuditEvent
from medbroker.core.errors import DomainError, PermissionDeniedError
from medbroker.core.timeutils import kst

pytestmark = pytest.mark.django_db
Side = AgreementSignature.Side
Method = AgreementSignature.Method
LAB_SIGNS_AT = kst(2025, 8, 26, 15, 0, 0)
COMPANY_SIGNS_AT = kst(2025, 9, 1, 8, 30, 0)


@pytest.fixture
def agreement(operator: User, applicant: User, company: Organisation, fast_pdf: None) -> Agreement:
    with time_machine.travel(DRAFTED_AT, tick=False):
        return drafted_agreement(operator=operator, company=company)


@pytest.fixture
def v1(agreement: Agreement) -> AgreementVersion:
    return agreement.versions.get(number=1)


@pytest.fixture
def clock() -> Iterator[Any]:
    with time_machine.travel(LAB_SIGNS_AT, tick=False) as traveller:
        yield traveller


def _signed_files(settings: Any) -> list[Path]:
    folder = Path(settings.MEDIA_ROOT) / "agreements" / "signed"
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def _state() -> tuple[Any, ...]:
    return (
        list(AgreementSignature.objects.values_list("version_id", "side", "method")),
        list(AgreementVersion.objects.order_by("pk").values_list("status", "effective_at")),
        list(Agreement.objects.order_by("pk").values_list("status", "starts_on", "signed_at")),
        AuditEvent.objects.filter(action__startswith="agreements.").count(),
    )


def test_lab_uploads_then_company_confirms_with_otp_and_the_agreement_is_concluded(
    agreement: Agreement, v1: AgreementVersion, operator: User, applicant: User, clock: Any, settings: Any
) -> None:
    device = totp_device(applicant)

    lab = agreement_sign(
        version=v1, side=Side.LAB, actor=operator, method=Method.UPLOAD, upload=signed_copy()
    )

    v1.refresh_from_db()
    agreement.refresh_from_db()
    assert (v1.status, agreement.status, agreement_terms(agreement)) == (
        AgreementVersion.Status.PENDING,
        Agreement.Status.AWAITING_SIGNATURES,
        None,
    )
    assert (lab.signer, lab.method, lab.original_name, lab.signed_at, lab.otp_device) == (
        operator,
        Method.UPLOAD,
        "협약서_서명본.pdf",
        LAB_SIGNS_AT,
        "",
    )
    assert len(lab.file_sha256) == 64
    assert lab.file.read().startswith(b"%PDF-")
    assert len(_signed_files(settings)) == 1

    clock.move_to(COMPANY_SIGNS_AT)
    company_side = agreement_sign(
        version=v1, side=Side.COMPANY, actor=applicant, method=Method.OTP, otp_code=totp_code(device)
    )

    v1.refresh_from_db()
    agreement.refresh_from_db()
    assert (company_side.method, company_side.otp_device, bool(company_side.file)) == (
        Method.OTP,
        device.persistent_id,
        False,
    )
    assert (v1.status, v1.effective_at) == (AgreementVersion.Status.EFFECTIVE, COMPANY_SIGNS_AT)
    assert (agreement.status, agreement.starts_on, agreement.signed_at) == (
        Agreement.Status.ACTIVE,
        dt.date(2025, 9, 1),
        COMPANY_SIGNS_AT,
    )
    assert agreement_terms(agreement) == v1
    assert list(
        AuditEvent.objects.filter(action__startswith="agreements.")
        .order_by("sequence")
        .values_list("action", flat=True)
    ) == [
        "agreements.agreement_created",
        "agreements.agreement_signed",
        "agreements.agreement_signed",
        "agreements.agreement_concluded",
    ]
    concluded = AuditEvent.objects.get(action="agreements.agreement_concluded")
    assert (concluded.data["starts_on"], concluded.data["superseded_versions"]) == ("2025-09-01", [])
    assert list(Notification.objects.filter(user=applicant).order_by("pk").values_list("kind", "title")) == [
        ("agreement_to_sign", f"협약서 서명 요청: {agreement.number}"),
        ("agreement_signed", f"협약서 서명: {agreement.number} (1차)"),
        ("agreement_signed", f"협약 체결: {agreement.number}"),
    ]


def test_the_period_starts_on_the_kst_date_of_the_second_signature(
    agreement: Agreement, v1: AgreementVersion, operator: User, applicant: User, clock: Any
) -> None:
    agreement_sign(version=v1, side=Side.COMPANY, actor=applicant, method=Method.UPLOAD, upload=signed_copy())
    # 2025-08-31 15:30 UTC is already 2025-09-01 00:30 in Korea.
    clock.move_to(dt.datetime(2025, 8, 31, 15, 30, tzinfo=dt.UTC))

    agreement_sign(version=v1, side=Side.LAB, actor=operator, method=Method.UPLOAD, upload=signed_copy())

    agreement.refresh_from_db()
    assert agreement.starts_on == dt.date(2025, 9, 1)
    assert agreement.period_starts_at == kst(2025, 9, 1, 0, 0, 0)


def test_the_agreement_is_in_force_to_the_last_second_of_its_end_date_kst(
    agreement: Agreement, v1: AgreementVersion, operator: User, applicant: User, clock: Any
) -> None:
    agreement_sign(version=v1, side=Side.LAB, actor=operator, method=Method.UPLOAD, upload=signed_copy())
    agreement_sign(version=v1, side=Side.COMPANY, actor=applicant, method=Method.UPLOAD, upload=signed_copy())
    agreement.refresh_from_db()

    assert agreement.starts_on == dt.date(2025, 8, 26)
    assert agreement_in_force(agreement, at=kst(2025, 8, 25, 23, 59, 59)) is False
    assert agreement_in_force(agreement, at=kst(2025, 8, 26, 0, 0, 0)) is True
    assert agreement_in_force(agreement, at=kst(2025, 11, 28, 23, 59, 59)) is True
    assert agreement_in_force(agreement, at=kst(2025, 11, 29, 0, 0, 0)) is False


def test_a_wrong_otp_code_is_refused_and_nothing_is_signed(
    v1: AgreementVersion, applicant: User, clock: Any
) -> None:
    device = totp_device(applicant)
    wrong = f"{(int(totp_code(device)) + 500_000) % 1_000_000:06d}"
    before = _state()

    with pytest.raises(DomainError) as error:
        agreement_sign(version=v1, side=Side.COMPANY, actor=applicant, method=Method.OTP, otp_code=wrong)

    assert (error.value.code, error.value.field) == ("otp_invalid", "otp_code")
    assert _state() == before
    # The failed try is on record (and counts towards the device's throttle).
    assert AuditEvent.objects.filter(action="accounts.second_factor_failed", actor=applicant).count() == 1


def test_an_otp_code_already_used_is_refused(
    agreement: Agreement, v1: AgreementVersion, operator: User, applicant: User, clock: Any
) -> None:
    device = totp_device(applicant)
    code = totp_code(device)
    agreement_sign(version=v1, side=Side.COMPANY, actor=applicant, method=Method.OTP, otp_code=code)
    agreement_sign(version=v1, side=Side.LAB, actor=operator, method=Method.UPLOAD, upload=signed_copy())
    # An amendment to sign within the same 30-second window, with the same code.
    v2 = pending_amendment(agreement, operator=operator)
    before = _state()

    with pytest.raises(DomainError) as error:
        agreement_sign(version=v2, side=Side.COMPANY, actor=applicant, method=Method.OTP, otp_code=code)

    assert error.value.code == "otp_invalid"
    assert _state() == before


def test_a_backup_code_signs_once(v1: AgreementVersion, applicant: User, clock: Any) -> None:
    device = backup_codes(applicant, "12345678", "87654321")

    signature = agreement_sign(
        version=v1, side=Side.COMPANY, actor=applicant, method=Method.OTP, otp_code="1234 5678"
    )

    assert signature.otp_device == device.persistent_id
    assert list(device.token_set.values_list("token", flat=True)) == ["87654321"]


def test_otp_signing_needs_an_enrolled_second_factor(
    v1: AgreementVersion, applicant: User, clock: Any
) -> None:
    before = _state()

    with pytest.raises(DomainError) as error:
        agreement_sign(version=v1, side=Side.COMPANY, actor=applicant, method=Method.OTP, otp_code="123456")

    assert error.value.code == "second_factor_required"
    assert _state() == before


@pytest.mark.parametrize(
    ("make_upload", "code"),
    [
        (docx_copy, "upload_not_pdf"),
        (lambda: signed_copy("협약서.docx"), "upload_type_mismatch"),
        (lambda: docx_copy("협약서.pdf"), "upload_type_mismatch"),
        (lambda: signed_copy("협약서.exe"), "upload_extension"),
    ],
)
def test_a_signed_copy_that_is_not_a_pdf_is_refused_and_nothing_is_stored(
    v1: AgreementVersion, operator: User, clock: Any, settings: Any, make_upload: Any, code: str
) -> None:
    before = _state()

    with pytest.raises(DomainError) as error:
        agreement_sign(version=v1, side=Side.LAB, actor=operator, method=Method.UPLOAD, upload=make_upload())

    assert error.value.code == code
    assert _state() == before
    assert _signed_files(settings) == []


def test_an_upload_signature_needs_a_file(v1: AgreementVersion, operator: User, clock: Any) -> None:
    with pytest.raises(DomainError) as error:
        agreement_sign(version=v1, side=Side.LAB, actor=operator, method=Method.UPLOAD, upload=None)

    assert (error.value.code, error.value.field) == ("upload_required", "upload")


def test_each_side_signs_a_version_once(
    v1: AgreementVersion, operator: User, clock: Any, settings: Any
) -> None:
    agreement_sign(version=v1, side=Side.LAB, actor=operator, method=Method.UPLOAD, upload=signed_copy())
    other_operator = UserFactory(organisation=operator.organisation, roles=[Role.OPERATOR])
    before = _state()

    with pytest.raises(DomainError) as error:
        agreement_sign(
            version=v1, side=Side.LAB, actor=other_operator, method=Method.UPLOAD, upload=signed_copy()
        )

    assert (error.value.code, error.value.status_code) == ("already_signed", 409)
    assert _state() == before
    assert len(_signed_files(settings)) == 1


def test_the_signature_constraint_holds_even_past_the_service(v1: AgreementVersion, operator: User) -> None:
    AgreementSignature.objects.create(
        version=v1, side=Side.LAB, method=Method.UPLOAD, signer=operator, signed_at=LAB_SIGNS_AT
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        AgreementSignature.objects.create(
            version=v1, side=Side.LAB, method=Method.OTP, signer=operator, signed_at=LAB_SIGNS_AT
        )


def test_only_the_right_people_sign_for_each_side(
    v1: AgreementVersion,
    operator: User,
    applicant: User,
    other_applicant: User,
    auditor: User,
    company: Organisation,
    clock: Any,
) -> None:
    inactive = UserFactory(organisation=company, roles=[Role.APPLICANT], is_active=False)
    reviewer_of_company = UserFactory(organisation=company, roles=[Role.REVIEWER])
    before = _state()
    refused = [
        (Side.LAB, applicant),
        (Side.LAB, auditor),
        (Side.COMPANY, operator),
        (Side.COMPANY, other_applicant),
        (Side.COMPANY, inactive),
        (Side.COMPANY, reviewer_of_company),
    ]

    codes = []
    for side, user in refused:
        with pytest.raises(PermissionDeniedError) as error:
            agreement_sign(version=v1, side=side, actor=user, method=Method.UPLOAD, upload=signed_copy())
        codes.append(error.value.code)

    assert codes == ["forbidden", "forbidden", "not_member", "not_member", "not_member", "not_member"]
    assert _state() == before


@pytest.mark.parametrize("status", [Agreement.Status.TERMINATED, Agreement.Status.ENDED])
def test_a_closed_agreement_takes_no_signature(
    agreement: Agreement, v1: AgreementVersion, operator: User, clock: Any, status: str
) -> None:
    Agreement.objects.filter(pk=agreement.pk).update(status=status)
    v1.refresh_from_db()
    before = _state()

    with pytest.raises(DomainError) as error:
        agreement_sign(version=v1, side=Side.LAB, actor=operator, method=Method.UPLOAD, upload=signed_copy())

    assert error.value.code == "agreement_closed"
    assert _state() == before


def test_no_signature_after_the_last_day(v1: AgreementVersion, operator: User, clock: Any) -> None:
    clock.move_to(kst(2025, 11, 29, 0, 0, 0))
    before = _state()

    with pytest.raises(DomainError) as error:
        agreement_sign(version=v1, side=Side.LAB, actor=operator, method=Method.UPLOAD, upload=signed_copy())

    assert error.value.code == "support_period_over"
    assert _state() == before
