"""Signing a version of the agreement: the lab (an operator) and the company (one of its applicant members).

Each side signs once per version, either by uploading the signed PDF or by confirming in the platform with
the signer's current second-factor code. When the second side signs, the version takes effect: the earlier
terms are superseded and, for version 1, the agreement is concluded and its period starts that KST day.
"""

from __future__ import annotations

import datetime as dt

from django.core.files import File
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils.translation import gettext as _

from medbroker.accounts.models import Role, User
from medbroker.accounts.selectors import user_has_second_factor
from medbroker.accounts.services.notifications import (
    notification_send,
    operator_recipients,
    organisation_recipients,
)
from medbroker.accounts.services.second_factor import second_factor_verify
from medbroker.agreements.models import Agreement, AgreementSignature, AgreementVersion
from medbroker.agreements.selectors import agreement_member_ensure
from medbroker.agreements.services.agreements import agreement_link
from medbroker.agreements.services.documents import period_end_display
from medbroker.audit.services import audit_record
from medbroker.calls.services.documents import CheckedDocument, document_check
from medbroker.core import timeutils
from medbroker.core.errors import DomainError, PermissionDeniedError

Side = AgreementSignature.Side
Method = AgreementSignature.Method


def _side_ensure(agreement: Agreement, side: str, actor: User) -> None:
    if side == Side.LAB:
        if not actor.has_role(Role.OPERATOR):
            raise PermissionDeniedError(
                "forbidden", _("주관기관 서명은 운영자만 할 수 있습니다."), status_code=403
            )
    elif side == Side.COMPANY:
        agreement_member_ensure(agreement, actor)
    else:
        raise DomainError("side_invalid", _("서명 주체가 올바르지 않습니다."), field="side")


def _signable_ensure(version: AgreementVersion, agreement: Agreement, side: str) -> None:
    if agreement.status not in (Agreement.Status.AWAITING_SIGNATURES, Agreement.Status.ACTIVE):
        raise DomainError(
            "agreement_closed", _("종료되었거나 해지된 협약에는 서명할 수 없습니다."), status_code=409
        )
    if timeutils.now() >= agreement.period_ends_at:
        # A signature after the last day would open a period that is already over.
        raise DomainError(
            "support_period_over",
            _("지원기간(%(end)s)이 끝나 서명할 수 없습니다.")
            % {"end": period_end_display(version.agreement)},
            status_code=409,
        )
    if version.status != AgreementVersion.Status.PENDING:
        raise DomainError("version_not_pending", _("서명을 기다리는 협약서가 아닙니다."), status_code=409)
    if version.signatures.filter(side=side).exists():
        raise DomainError("already_signed", _("이 협약서에는 이미 서명했습니다."), status_code=409)


def _signed_copy_check(upload: UploadedFile | None) -> CheckedDocument:
    if upload is None:
        raise DomainError("upload_required", _("서명한 협약서 PDF 파일을 올려 주세요."), field="upload")
    checked = document_check(upload, field="upload")
    if checked.detected_type != "pdf":
        raise DomainError(
            "upload_not_pdf",
            _("'%(name)s' 파일은 PDF가 아닙니다. 서명한 협약서는 PDF로만 올릴 수 있습니다.")
            % {"name": checked.display_name},
            field="upload",
        )
    return checked


def _otp_confirm(actor: User, code: str, request: HttpRequest | None) -> str:
    """Check the signer's current code; return the persistent id of the device that accepted it.

    Runs before the signature's transaction, so a wrong code still counts towards django-otp's throttle.
    """
    if not user_has_second_factor(actor):
        raise DomainError(
            "second_factor_required",
            _("전자 확인으로 서명하려면 먼저 2단계 인증(인증 앱 또는 백업 코드)을 등록해야 합니다."),
            field="otp_code",
        )
    try:
        device = second_factor_verify(user=actor, code=code or "", request=request)
    except DomainError as error:
        raise DomainError("otp_invalid", error.message, field="otp_code") from None
    return str(device.persistent_id)


def _effect_apply(version: AgreementVersion, agreement: Agreement, at: dt.datetime) -> list[int]:
    """Put the version in force; return the numbers of the versions it supersedes."""
    earlier = agreement.versions.filter(status=AgreementVersion.Status.EFFECTIVE).exclude(pk=version.pk)
    superseded = list(earlier.values_list("number", flat=True))
    # The earlier terms leave first: at most one effective version per agreement (database constraint).
    earlier.update(status=AgreementVersion.Status.SUPERSEDED)
    version.status = AgreementVersion.Status.EFFECTIVE
    version.effective_at = at
    version.save(update_fields=["status", "effective_at"])
    if agreement.status == Agreement.Status.AWAITING_SIGNATURES:
        agreement.status = Agreement.Status.ACTIVE
        agreement.starts_on = timeutils.to_kst(at).date()
        agreement.signed_at = at
        agreement.save(update_fields=["status", "starts_on", "signed_at", "updated_at"])
    return superseded


def _notify_signed(agreement: Agreement, version: AgreementVersion, side: str, *, effective: bool) -> None:
    link = agreement_link(agreement)
    if effective:
        if version.number == 1:
            title = _("협약 체결: %(number)s") % {"number": agreement.number}
            body = _("양측 서명으로 협약이 체결되었습니다. 협약 기간: %(start)s ~ %(end)s") % {
                "start": f"{agreement.starts_on:%Y-%m-%d}",
                "end": period_end_display(version.agreement),
            }
        else:
            title = _("변경 협약 발효: %(number)s (%(version)s차)") % {
                "number": agreement.number,
                "version": version.number,
            }
            body = _("양측 서명으로 변경된 협약 내용이 적용되었습니다.")
        users = [*organisation_recipients(agreement.company), *operator_recipients()]
        notification_send(users=users, kind="agreement_signed", title=title, body=body, link=link)
        return
    if side == Side.LAB:
        users = list(organisation_recipients(agreement.company))
        body = _("주관기관이 협약서에 서명했습니다. 기업 측 서명을 기다립니다.")
    else:
        users = list(operator_recipients())
        body = _("%(company)s이(가) 협약서에 서명했습니다. 주관기관 서명을 기다립니다.") % {
            "company": agreement.company.name
        }
    title = _("협약서 서명: %(number)s (%(version)s차)") % {
        "number": agreement.number,
        "version": version.number,
    }
    notification_send(users=users, kind="agreement_signed", title=title, body=body, link=link)


def agreement_sign(
    *,
    version: AgreementVersion,
    side: str,
    actor: User,
    method: str,
    upload: UploadedFile | None = None,
    otp_code: str = "",
    request: HttpRequest | None = None,
) -> AgreementSignature:
    """Record one side's signature of a pending version; with both sides signed, the version takes effect."""
    agreement = version.agreement
    _side_ensure(agreement, side, actor)
    # State first, then the file or the code: a late signer is told why, and no OTP code is used up by a
    # signature that could not be recorded anyway. Checked again under the lock below.
    _signable_ensure(version, agreement, side)
    checked: CheckedDocument | None = None
    device_id = ""
    if method == Method.UPLOAD:
        checked = _signed_copy_check(upload)
    elif method == Method.OTP:
        device_id = _otp_confirm(actor, otp_code, request)
    else:
        raise DomainError("method_invalid", _("서명 방법이 올바르지 않습니다."), field="method")

    stored: list[str] = []
    try:
        with transaction.atomic():
            agreement = (
                Agreement.objects.select_for_update(of=("self",))
                .select_related("company")
                .get(pk=agreement.pk)
            )
            version = AgreementVersion.objects.select_for_update().get(pk=version.pk)
            _signable_ensure(version, agreement, side)
            signature = AgreementSignature(
                version=version,
                side=side,
                method=method,
                signer=actor,
                signed_at=timeutils.now(),
                otp_device=device_id,
            )
            if checked is not None and upload is not None:
                upload.seek(0)
                signature.file.save(checked.stored_name, upload, save=False)
                stored.append(str(signature.file.name))
                signature.original_name = checked.display_name
                signature.file_sha256 = checked.sha256
            try:
                with transaction.atomic():
                    signature.save()
            except IntegrityError:
                raise DomainError(
                    "already_signed", _("이 협약서에는 이미 서명했습니다."), status_code=409
                ) from None
            audit_record(
                action="agreements.agreement_signed",
                actor=actor,
                target=agreement,
                summary=f"{agreement.number} v{version.number}: {side} ({method})",
                data={
                    "version": version.number,
                    "side": side,
                    "method": method,
                    "signature_id": signature.pk,
                    "file_sha256": signature.file_sha256,
                    "original_name": signature.original_name,
                    "otp_device": device_id,
                },
                request=request,
            )
            sides = set(version.signatures.values_list("side", flat=True))
            effective = sides == {Side.LAB, Side.COMPANY}
            if effective:
                first = agreement.status == Agreement.Status.AWAITING_SIGNATURES
                superseded = _effect_apply(version, agreement, signature.signed_at)
                audit_record(
                    action="agreements.agreement_concluded" if first else "agreements.amendment_applied",
                    actor=actor,
                    target=agreement,
                    summary=f"{agreement.number} v{version.number} in force"
                    + (f" from {agreement.starts_on:%Y-%m-%d}" if first else ""),
                    data={
                        "version": version.number,
                        "superseded_versions": superseded,
                        "starts_on": f"{agreement.starts_on:%Y-%m-%d}" if agreement.starts_on else None,
                        "ends_on": f"{agreement.ends_on:%Y-%m-%d}",
                    },
                    request=request,
                )
            _notify_signed(agreement, version, side, effective=effective)
    except BaseException:
        for name in stored:
            default_storage.delete(name)
        raise
    return signature


def signature_file_open(
    *, signature: AgreementSignature, actor: User, request: HttpRequest | None = None
) -> File:
    """Open a signed copy for ``actor``, who may see it (checked by the caller).

    Staff reading a company's signed copy is recorded, as for application documents; the company reading
    its own agreement is not.
    """
    agreement = signature.version.agreement
    if actor.organisation_id != agreement.company_id:
        audit_record(
            action="agreements.signature_file_downloaded",
            actor=actor,
            target=agreement,
            summary=f"{agreement.number} v{signature.version.number} {signature.get_side_display()}: "
            f"{signature.original_name}",
            data={"signature_id": signature.pk, "sha256": signature.file_sha256},
            request=request,
        )
    return signature.file.open("rb")
