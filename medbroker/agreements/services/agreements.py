"""The agreement's life (step ④): drafted from a selection decision, amended, terminated, ended by the clock.

Drafting creates version 1 with the support scale fixed by the decision; nothing is granted until both
sides have signed it (``services.signatures``). An amendment is a new version signed again by both sides;
until then the earlier terms stay in force. The period always ends with the call's support period, end of
that day KST (announcement §1: "from the agreement date to 2025-11-28").
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.http import HttpRequest
from django.urls import reverse
from django.utils.translation import gettext as _

from medbroker.accounts.models import User
from medbroker.accounts.permissions import operator_ensure
from medbroker.accounts.services.notifications import notification_send, organisation_recipients
from medbroker.agreements.models import Agreement, AgreementDataset, AgreementVersion
from medbroker.agreements.services.documents import agreement_document_store, period_end_display
from medbroker.audit.services import audit_record
from medbroker.calls.models import ComputeOption
from medbroker.catalog.models import Dataset, Sensitivity
from medbroker.core import timeutils
from medbroker.core.errors import DomainError
from medbroker.reviews.models import Decision

# (dataset, number of cases, annotated data wanted): one line of an agreement's data terms.
DatasetTerm = tuple[Dataset, int, bool]

OPEN_STATUSES = (Agreement.Status.AWAITING_SIGNATURES, Agreement.Status.ACTIVE)


def agreement_link(agreement: Agreement) -> str:
    return reverse("agreements:agreement_detail", args=[agreement.pk])


def _reason_ensure(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise DomainError("reason_required", _("사유를 입력해 주세요."), field="reason")
    return reason


def _online_ensure(allows_online: bool, datasets: Iterable[Dataset]) -> None:
    # Online use (SSL-VPN, VDI, OTP) may be agreed for low-sensitivity data only (announcement §4 ⑤);
    # terms that allow it without any such dataset would promise something no grant can deliver.
    if allows_online and not any(d.sensitivity == Sensitivity.LOW for d in datasets):
        raise DomainError(
            "online_not_allowed",
            _("온라인 이용은 민감도가 '낮음'인 데이터가 협약에 있을 때만 허용할 수 있습니다."),
            field="allows_online",
        )


def _terms_validate(
    agreement: Agreement, datasets: Sequence[DatasetTerm], compute_option: ComputeOption | None
) -> None:
    if not datasets:
        raise DomainError("datasets_required", _("지원 데이터를 하나 이상 정해 주세요."), field="datasets")
    seen: set[int] = set()
    for dataset, amount, _annotated in datasets:
        if dataset.pk in seen:
            raise DomainError(
                "dataset_duplicate",
                _("같은 데이터셋이 두 번 들어 있습니다: %(title)s") % {"title": dataset.title},
                field="datasets",
            )
        seen.add(dataset.pk)
        if amount < 1:
            raise DomainError(
                "amount_invalid",
                _("지원 건수는 1건 이상이어야 합니다: %(title)s") % {"title": dataset.title},
                field="datasets",
            )
    if compute_option is not None and compute_option.call_id != agreement.call_id:
        raise DomainError(
            "compute_not_in_call",
            _("이 공모의 GPU 규격이 아닙니다: %(option)s") % {"option": compute_option},
            field="compute_option",
        )


def _notify_company(agreement: Agreement, *, kind: str, title: str, body: str) -> None:
    notification_send(
        users=organisation_recipients(agreement.company),
        kind=kind,
        title=title,
        body=body,
        link=agreement_link(agreement),
    )


def _version_create(
    agreement: Agreement,
    *,
    number: int,
    datasets: Sequence[DatasetTerm],
    compute_option: ComputeOption | None,
    allows_online: bool,
    reason: str,
    actor: User,
) -> AgreementVersion:
    version = AgreementVersion.objects.create(
        agreement=agreement,
        number=number,
        status=AgreementVersion.Status.PENDING,
        compute_option=compute_option,
        allows_online=allows_online,
        reason=reason,
        created_by=actor,
    )
    AgreementDataset.objects.bulk_create(
        AgreementDataset(version=version, dataset=dataset, amount=amount, needs_annotated=annotated)
        for dataset, amount, annotated in datasets
    )
    return version


def _version_data(version: AgreementVersion, datasets: Sequence[DatasetTerm]) -> dict[str, object]:
    return {
        "version": version.number,
        "datasets": [
            {"dataset_id": d.pk, "amount": amount, "needs_annotated": annotated}
            for d, amount, annotated in datasets
        ],
        "compute_option": version.compute_option.code if version.compute_option else None,
        "allows_online": version.allows_online,
        "document_sha256": version.document_sha256,
    }


def agreement_create_from_decision(
    *,
    decision: Decision,
    actor: User,
    allows_online: bool = False,
    request: HttpRequest | None = None,
) -> Agreement:
    """Draft the agreement of a published selection: version 1 with the decision's support scale.

    One agreement per decision. The period ends with the decision's support end (else the call's).
    """
    operator_ensure(actor, _("협약 작성"))
    stored: list[str] = []
    try:
        with transaction.atomic():
            # Only the decision's row is locked: PostgreSQL refuses FOR UPDATE on the nullable side of an
            # outer join (the granted GPU type), and the joined rows need no lock.
            decision = (
                Decision.objects.select_for_update(of=("self",))
                .select_related("application__call", "application__company", "granted_compute")
                .get(pk=decision.pk)
            )
            if decision.outcome != Decision.Outcome.SELECTED or decision.published_at is None:
                raise DomainError(
                    "decision_not_selected",
                    _("공개된 선정 결과에 대해서만 협약을 작성할 수 있습니다."),
                    status_code=409,
                )
            if Agreement.objects.filter(decision=decision).exists():
                raise DomainError(
                    "agreement_exists", _("이 선정 결과의 협약이 이미 있습니다."), status_code=409
                )
            application = decision.application
            call = application.call
            ends_on = decision.support_ends_on or call.support_ends_on
            if timeutils.today_kst() > ends_on:
                raise DomainError(
                    "support_period_over",
                    _("지원기간(%(ends_on)s까지)이 이미 끝나 협약을 맺을 수 없습니다.")
                    % {"ends_on": f"{ends_on:%Y-%m-%d}"},
                    status_code=409,
                )
            datasets = [
                (row.dataset, row.amount, row.needs_annotated)
                for row in decision.granted_datasets.select_related("dataset").order_by("pk")
            ]
            _online_ensure(allows_online, [d for d, _amount, _annotated in datasets])
            try:
                with transaction.atomic():
                    agreement = Agreement.objects.create(
                        number=f"{application.receipt_number}-AG",
                        decision=decision,
                        call=call,
                        company=application.company,
                        status=Agreement.Status.AWAITING_SIGNATURES,
                        ends_on=ends_on,
                        created_by=actor,
                    )
            except IntegrityError:
                # Another request drafted it between the check and the insert (the decision is unique).
                raise DomainError(
                    "agreement_exists", _("이 선정 결과의 협약이 이미 있습니다."), status_code=409
                ) from None
            version = _version_create(
                agreement,
                number=1,
                datasets=datasets,
                compute_option=decision.granted_compute,
                allows_online=allows_online,
                reason="",
                actor=actor,
            )
            stored.append(agreement_document_store(version))
            audit_record(
                action="agreements.agreement_created",
                actor=actor,
                target=agreement,
                summary=f"{agreement.number}: {agreement.company.name}, ~{ends_on:%Y-%m-%d}",
                data={
                    "decision_id": decision.pk,
                    "company_id": agreement.company_id,
                    "ends_on": f"{ends_on:%Y-%m-%d}",
                    **_version_data(version, datasets),
                },
                request=request,
            )
            _notify_company(
                agreement,
                kind="agreement_to_sign",
                title=_("협약서 서명 요청: %(number)s") % {"number": agreement.number},
                body=_(
                    "%(call)s 선정에 따른 협약서가 준비되었습니다. 협약서를 확인하고 서명해 주세요. "
                    "협약 기간은 서명일부터 %(end)s까지입니다."
                )
                % {"call": call.title, "end": period_end_display(version.agreement)},
            )
    except BaseException:
        for name in stored:
            default_storage.delete(name)
        raise
    return agreement


def _lock(agreement: Agreement) -> Agreement:
    return (
        Agreement.objects.select_for_update(of=("self",))
        .select_related("call", "company")
        .get(pk=agreement.pk)
    )


def agreement_amend(
    *,
    agreement: Agreement,
    actor: User,
    datasets: list[DatasetTerm],
    compute_option: ComputeOption | None,
    allows_online: bool,
    reason: str,
    request: HttpRequest | None = None,
) -> AgreementVersion:
    """Propose new terms (another dataset, another GPU): a new version, in force once both sides sign it.

    The terms in force stay as they are until then; at most one amendment is open at a time.
    """
    operator_ensure(actor, _("협약 변경"))
    reason = _reason_ensure(reason)
    stored: list[str] = []
    try:
        with transaction.atomic():
            agreement = _lock(agreement)
            if agreement.status != Agreement.Status.ACTIVE:
                raise DomainError(
                    "agreement_not_active", _("체결된 협약만 변경할 수 있습니다."), status_code=409
                )
            if agreement.versions.filter(status=AgreementVersion.Status.PENDING).exists():
                raise DomainError(
                    "amendment_pending",
                    _("서명 중인 변경 협약이 있습니다. 서명을 마치거나 취소한 뒤에 다시 변경해 주세요."),
                    status_code=409,
                )
            _terms_validate(agreement, datasets, compute_option)
            _online_ensure(allows_online, [d for d, _amount, _annotated in datasets])
            last = agreement.versions.aggregate(last=Max("number"))["last"] or 0
            version = _version_create(
                agreement,
                number=last + 1,
                datasets=datasets,
                compute_option=compute_option,
                allows_online=allows_online,
                reason=reason,
                actor=actor,
            )
            stored.append(agreement_document_store(version))
            audit_record(
                action="agreements.amendment_created",
                actor=actor,
                target=agreement,
                summary=f"{agreement.number} v{version.number}: {reason[:200]}",
                data={"reason": reason, **_version_data(version, datasets)},
                request=request,
            )
            _notify_company(
                agreement,
                kind="agreement_to_sign",
                title=_("변경 협약서 서명 요청: %(number)s (%(version)s차)")
                % {"number": agreement.number, "version": version.number},
                body=_("협약 내용이 변경되었습니다(사유: %(reason)s). 변경 협약서를 확인하고 서명해 주세요.")
                % {"reason": reason},
            )
    except BaseException:
        for name in stored:
            default_storage.delete(name)
        raise
    return version


def agreement_amendment_cancel(
    *, version: AgreementVersion, actor: User, reason: str, request: HttpRequest | None = None
) -> AgreementVersion:
    """Withdraw an amendment before it takes effect; it stays in the history as cancelled."""
    operator_ensure(actor, _("변경 협약 취소"))
    reason = _reason_ensure(reason)
    with transaction.atomic():
        _lock(version.agreement)
        version = (
            AgreementVersion.objects.select_for_update(of=("self",))
            .select_related("agreement")
            .get(pk=version.pk)
        )
        if version.number == 1:
            raise DomainError(
                "not_an_amendment",
                _("최초 협약은 취소할 수 없습니다. 협약을 해지해 주세요."),
                status_code=409,
            )
        if version.status != AgreementVersion.Status.PENDING:
            raise DomainError(
                "version_not_pending", _("서명 중인 변경 협약만 취소할 수 있습니다."), status_code=409
            )
        version.status = AgreementVersion.Status.CANCELLED
        version.save(update_fields=["status"])
        audit_record(
            action="agreements.amendment_cancelled",
            actor=actor,
            target=version.agreement,
            summary=f"{version.agreement.number} v{version.number}: {reason[:200]}",
            data={"version": version.number, "reason": reason},
            request=request,
        )
    return version


def _pending_cancel(agreement: Agreement) -> list[int]:
    pending = list(
        agreement.versions.filter(status=AgreementVersion.Status.PENDING).values_list("number", flat=True)
    )
    agreement.versions.filter(status=AgreementVersion.Status.PENDING).update(
        status=AgreementVersion.Status.CANCELLED
    )
    return pending


def agreement_terminate(
    *, agreement: Agreement, actor: User, reason: str, request: HttpRequest | None = None
) -> Agreement:
    """End the agreement at once, with a reason; everything it granted stops with it."""
    operator_ensure(actor, _("협약 해지"))
    reason = _reason_ensure(reason)
    with transaction.atomic():
        agreement = _lock(agreement)
        if agreement.status not in OPEN_STATUSES:
            raise DomainError("agreement_closed", _("이미 종료되었거나 해지된 협약입니다."), status_code=409)
        previous = agreement.status
        agreement.status = Agreement.Status.TERMINATED
        agreement.terminated_at = timeutils.now()
        agreement.termination_reason = reason
        agreement.save(update_fields=["status", "terminated_at", "termination_reason", "updated_at"])
        cancelled = _pending_cancel(agreement)
        audit_record(
            action="agreements.agreement_terminated",
            actor=actor,
            target=agreement,
            summary=f"{agreement.number}: {reason[:200]}",
            data={"previous_status": previous, "reason": reason, "cancelled_versions": cancelled},
            request=request,
        )
        _notify_company(
            agreement,
            kind="agreement_terminated",
            title=_("협약 해지: %(number)s") % {"number": agreement.number},
            body=_("협약이 해지되었습니다(사유: %(reason)s). 데이터 이용과 GPU 자원도 함께 중지됩니다.")
            % {"reason": reason},
        )
    return agreement


def agreements_close_ended(*, now: dt.datetime) -> int:
    """Mark ended every active agreement whose period is over (``period_ends_at <= now``); return how many.

    Idempotent: a second run finds nothing left to close. Nothing downstream waits for this: every access
    check compares the clock with the period itself.
    """
    # period_ends_at is 00:00:00 KST of the day after ends_on, so it has passed exactly when the KST
    # date of ``now`` is later than ends_on.
    today = timeutils.to_kst(now).date()
    ids = list(
        Agreement.objects.filter(status=Agreement.Status.ACTIVE, ends_on__lt=today).values_list(
            "pk", flat=True
        )
    )
    closed = 0
    for pk in ids:
        with transaction.atomic():
            agreement = Agreement.objects.select_for_update().get(pk=pk)
            if agreement.status != Agreement.Status.ACTIVE or agreement.period_ends_at > now:
                continue
            agreement.status = Agreement.Status.ENDED
            agreement.save(update_fields=["status", "updated_at"])
            cancelled = _pending_cancel(agreement)
            audit_record(
                action="agreements.agreement_ended",
                target=agreement,
                summary=f"{agreement.number}: {agreement.ends_on:%Y-%m-%d} 23:59:59 KST",
                data={"ends_on": f"{agreement.ends_on:%Y-%m-%d}", "cancelled_versions": cancelled},
            )
            closed += 1
    return closed
