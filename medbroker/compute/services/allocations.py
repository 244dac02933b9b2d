"""One GPU per selected company (announcement §3.2), the waiting list, and the hand-over when a GPU is freed.

The rules that matter are database constraints, not checks: an agreement holds at most one GPU and a GPU has
at most one holder (``gpu_allocation_one_per_agreement``, ``gpu_allocation_one_holder_per_gpu``). Two operators
allocating at once can both see the same GPU free; the second insert fails on the constraint inside a
savepoint and the next free GPU is tried, so the race ends in a clean answer, never in a 500.

Whenever a GPU is freed (release, declined or lapsed offer, inventory growth) it is offered straight away to
the first company waiting for that type: the call whose support ends first, then selection rank within that
call, then arrival (``waiting_entries``). A free GPU and a waiting
company of the same type therefore never coexist for long, which is why ``gpu_allocate`` may take any free GPU.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.urls import reverse
from django.utils.translation import gettext as _

from medbroker.accounts.models import Role, User
from medbroker.accounts.services.notifications import notification_send, organisation_recipients
from medbroker.agreements.models import Agreement
from medbroker.agreements.selectors import agreement_in_force, agreement_member_ensure
from medbroker.audit.services import audit_record
from medbroker.compute.models import HOLDING_STATUSES, Gpu, GpuAllocation, GpuWaitlistEntry
from medbroker.compute.selectors import (
    GpuType,
    free_gpus,
    gpu_type_of,
    granted_gpu_type,
    holdings,
    offer_deadline,
    waiting_entries,
)
from medbroker.core import timeutils
from medbroker.core.errors import DomainError, PermissionDeniedError

AllocationStatus = GpuAllocation.Status
WaitStatus = GpuWaitlistEntry.Status


# ---------------------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------------------


def _operator_ensure(actor: User) -> None:
    if not actor.has_role(Role.OPERATOR):
        raise PermissionDeniedError("forbidden", _("GPU 배정과 반납은 운영자만 할 수 있습니다."))


def _already_allocated(agreement: Agreement) -> DomainError:
    return DomainError(
        "gpu_already_allocated",
        _("협약 %(number)s에는 이미 GPU가 배정되어 있습니다. 기업당 GPU는 1개입니다.")
        % {"number": agreement.number},
        status_code=409,
    )


def _company_link(agreement: Agreement) -> str:
    return reverse("compute:agreement_compute", args=[agreement.pk])


def _allocatable_type(agreement: Agreement, *, at: dt.datetime) -> GpuType:
    if not agreement_in_force(agreement, at=at):
        raise DomainError(
            "agreement_not_in_force",
            _("협약 %(number)s이(가) 효력 기간이 아닙니다. 체결된 협약의 기간에만 GPU를 배정할 수 있습니다.")
            % {"number": agreement.number},
            status_code=409,
        )
    gpu_type = granted_gpu_type(agreement)
    if gpu_type is None:
        raise DomainError(
            "no_compute_granted",
            _("협약 %(number)s의 조건에 GPU 지원이 없습니다.") % {"number": agreement.number},
            status_code=409,
        )
    return gpu_type


class _GpuOutOfService(Exception):
    """The GPU read as free was taken out of service by an inventory load that committed since."""


def _holding_create(*, gpu: Gpu, **fields: object) -> GpuAllocation:
    """Insert a holding of ``gpu`` in a savepoint, or raise and leave nothing.

    ``IntegrityError`` when another transaction gave the GPU (or the agreement) a holding first;
    ``_GpuOutOfService`` when an inventory load retired the GPU after it was read as free. The insert waits
    for a load holding the GPU's lock, and the check after it reads what that load committed.
    """
    with transaction.atomic():
        allocation = GpuAllocation.objects.create(gpu=gpu, **fields)
        if not Gpu.objects.filter(pk=gpu.pk, is_active=True, node__is_active=True).exists():
            raise _GpuOutOfService
    return allocation


def _notify_allocated(allocation: GpuAllocation) -> None:
    agreement = allocation.agreement
    notification_send(
        users=organisation_recipients(agreement.company),
        kind="gpu_allocated",
        title=_("GPU가 배정되었습니다"),
        body=_(
            "협약 %(number)s: %(gpu)s (%(type)s)를 사용할 수 있습니다. CPU와 메모리는 노드를 함께 쓰는 기업과 공유합니다."
        )
        % {"number": agreement.number, "gpu": allocation.gpu, "type": gpu_type_of(allocation.gpu)},
        link=_company_link(agreement),
        dedupe_key=f"gpu_allocated:{allocation.pk}",
    )


# ---------------------------------------------------------------------------------------------------------
# The waiting list
# ---------------------------------------------------------------------------------------------------------


def _entry_withdraw(
    entry: GpuWaitlistEntry, *, reason: str, actor: User | None, request: HttpRequest | None = None
) -> None:
    """Take the entry off the list; ``entry`` must be a row this transaction locked, read after the lock."""
    entry.status = WaitStatus.WITHDRAWN
    entry.save(update_fields=["status", "updated_at"])
    audit_record(
        action="compute.gpu_waitlist_withdrawn",
        actor=actor,
        target=entry,
        summary=f"{entry.agreement.number} left the {entry.gpu_model} {entry.gpu_memory_gb}GB waiting list",
        data={"agreement": entry.agreement.number, "reason": reason},
        request=request,
    )


def _entry_problem(entry: GpuWaitlistEntry, *, at: dt.datetime) -> str:
    """Why the entry may no longer be served ('' when it may)."""
    agreement = entry.agreement
    if not agreement_in_force(agreement, at=at):
        return _("협약이 효력 기간이 아님")
    if granted_gpu_type(agreement) != GpuType(entry.gpu_model, entry.gpu_memory_gb):
        return _("협약의 GPU 유형이 바뀜")
    if holdings().filter(agreement=agreement).exists():
        return _("이미 GPU를 보유함")
    return ""


def waitlist_serve(
    *, gpu_model: str, gpu_memory_gb: int, at: dt.datetime, actor: User | None = None
) -> list[GpuAllocation]:
    """Offer every free GPU of the type to the companies waiting for it, first in line first.

    An entry whose agreement can no longer receive the GPU is withdrawn on the way. Call inside a transaction.
    """
    gpu_type = GpuType(gpu_model, gpu_memory_gb)
    offered: list[GpuAllocation] = []
    # Each failed insert means another transaction took that GPU or served that company, so every turn
    # makes progress; the bound only guards against an unexpected constraint failing over and over.
    for _turn in range(2 * (Gpu.objects.count() + GpuWaitlistEntry.objects.count()) + 1):
        gpu = free_gpus(gpu_type).first()
        if gpu is None:
            break
        entry = waiting_entries(gpu_type).select_for_update(of=("self",)).select_related("agreement").first()
        if entry is None:
            break
        problem = _entry_problem(entry, at=at)
        if problem:
            _entry_withdraw(entry, reason=problem, actor=actor)
            continue
        try:
            allocation = _holding_create(
                gpu=gpu,
                agreement=entry.agreement,
                status=AllocationStatus.OFFERED,
                # The offer is the waiting list's doing; it names an operator only when one freed the GPU.
                allocated_by=actor if actor is not None and actor.has_role(Role.OPERATOR) else None,
                allocated_at=at,
            )
        except (IntegrityError, _GpuOutOfService):
            continue
        entry.status = WaitStatus.OFFERED
        entry.offered_at = at
        entry.save(update_fields=["status", "offered_at", "updated_at"])
        agreement = entry.agreement
        deadline = timeutils.to_kst(offer_deadline(allocation))
        notification_send(
            users=organisation_recipients(agreement.company),
            kind="gpu_offered",
            title=_("대기 중이던 GPU 배정 제안이 도착했습니다"),
            body=_(
                "협약 %(number)s: %(gpu)s (%(type)s). %(deadline)s까지 수락하지 않으면 다음 대기 기업에 넘어갑니다."
            )
            % {
                "number": agreement.number,
                "gpu": gpu,
                "type": gpu_type,
                "deadline": deadline.strftime("%Y-%m-%d %H:%M KST"),
            },
            link=_company_link(agreement),
            dedupe_key=f"gpu_offered:{allocation.pk}",
        )
        audit_record(
            action="compute.gpu_offered",
            actor=actor,
            target=allocation,
            summary=f"{gpu} offered to {agreement.number} from the waiting list",
            data={
                "agreement": agreement.number,
                "gpu": str(gpu),
                "selection_rank": entry.selection_rank,
                "deadline": deadline.isoformat(),
            },
        )
        offered.append(allocation)
    return offered


# ---------------------------------------------------------------------------------------------------------
# Allocating
# ---------------------------------------------------------------------------------------------------------


@transaction.atomic
def gpu_allocate(
    *, agreement: Agreement, actor: User, request: HttpRequest | None = None
) -> GpuAllocation | GpuWaitlistEntry:
    """Give the agreement a free GPU of the type its terms grant, or put it on that type's waiting list."""
    _operator_ensure(actor)
    now = timeutils.now()
    # Two allocations for the same agreement at once queue here; the second then sees the first's GPU.
    # Only the agreement row is locked: the company and the decision are read, never written, here.
    agreement = (
        Agreement.objects.select_for_update(of=("self",))
        .select_related("company", "decision")
        .get(pk=agreement.pk)
    )
    gpu_type = _allocatable_type(agreement, at=now)
    if holdings().filter(agreement=agreement).exists():
        raise _already_allocated(agreement)
    if GpuWaitlistEntry.objects.filter(agreement=agreement, status=WaitStatus.WAITING).exists():
        raise DomainError(
            "gpu_already_waitlisted",
            _("협약 %(number)s은(는) 이미 %(type)s 대기 목록에 있습니다.")
            % {"number": agreement.number, "type": gpu_type},
            status_code=409,
        )
    for _attempt in range(Gpu.objects.count() + 1):
        gpu = free_gpus(gpu_type).first()
        if gpu is None:
            break
        try:
            allocation = _holding_create(
                gpu=gpu,
                agreement=agreement,
                status=AllocationStatus.ACTIVE,
                allocated_by=actor,
                allocated_at=now,
                accepted_at=now,
            )
        except IntegrityError:
            # Another transaction committed first: either this agreement now holds a GPU, or this GPU
            # has another holder and the next free one is tried.
            if holdings().filter(agreement=agreement).exists():
                raise _already_allocated(agreement) from None
            continue
        except _GpuOutOfService:
            continue
        _notify_allocated(allocation)
        audit_record(
            action="compute.gpu_allocated",
            actor=actor,
            target=allocation,
            summary=f"{gpu} allocated to {agreement.number}",
            data={"agreement": agreement.number, "gpu": str(gpu), "type": str(gpu_type)},
            request=request,
        )
        return allocation
    try:
        with transaction.atomic():
            entry = GpuWaitlistEntry.objects.create(
                agreement=agreement,
                gpu_model=gpu_type.gpu_model,
                gpu_memory_gb=gpu_type.gpu_memory_gb,
                selection_rank=agreement.decision.rank,
            )
    except IntegrityError:
        raise DomainError(
            "gpu_already_waitlisted",
            _("협약 %(number)s은(는) 이미 %(type)s 대기 목록에 있습니다.")
            % {"number": agreement.number, "type": gpu_type},
            status_code=409,
        ) from None
    audit_record(
        action="compute.gpu_waitlisted",
        actor=actor,
        target=entry,
        summary=f"no free {gpu_type}: {agreement.number} waits (rank {entry.selection_rank})",
        data={"agreement": agreement.number, "type": str(gpu_type), "selection_rank": entry.selection_rank},
        request=request,
    )
    return entry


# ---------------------------------------------------------------------------------------------------------
# Releasing, offers, and the reconciler
# ---------------------------------------------------------------------------------------------------------


def _release(
    allocation: GpuAllocation,
    *,
    at: dt.datetime,
    reason: str,
    action: str,
    actor: User | None,
    request: HttpRequest | None = None,
) -> list[GpuAllocation]:
    """Free the GPU, record why, and offer it to the next company waiting; return the offers made."""
    was_offer = allocation.status == AllocationStatus.OFFERED
    allocation.status = AllocationStatus.RELEASED
    allocation.released_at = at
    allocation.release_reason = reason[:300]
    allocation.save(update_fields=["status", "released_at", "release_reason", "updated_at"])
    audit_record(
        action=action,
        actor=actor,
        target=allocation,
        summary=f"{allocation.gpu} released by {allocation.agreement.number}: {reason}"[:500],
        data={"agreement": allocation.agreement.number, "gpu": str(allocation.gpu), "reason": reason},
        request=request,
    )
    if was_offer:
        # The company's place on the waiting list ended with the offer made from it.
        offered_entries = (
            GpuWaitlistEntry.objects.select_for_update(of=("self",))
            .select_related("agreement")
            .filter(agreement=allocation.agreement, status=WaitStatus.OFFERED)
            .order_by("pk")
        )
        for entry in offered_entries:
            _entry_withdraw(entry, reason=reason, actor=actor, request=request)
    gpu_type = gpu_type_of(allocation.gpu)
    return waitlist_serve(
        gpu_model=gpu_type.gpu_model, gpu_memory_gb=gpu_type.gpu_memory_gb, at=at, actor=actor
    )


def _locked(allocation: GpuAllocation) -> GpuAllocation:
    return (
        GpuAllocation.objects.select_for_update(of=("self",))
        .select_related("gpu__node", "agreement__company")
        .get(pk=allocation.pk)
    )


@transaction.atomic
def gpu_release(
    *,
    allocation: GpuAllocation,
    actor: User | None = None,
    reason: str,
    request: HttpRequest | None = None,
) -> GpuAllocation:
    """Release a held GPU now (an operator, or the reconciler with ``actor=None``); offer it to the next."""
    if actor is not None:
        _operator_ensure(actor)
    reason = (reason or "").strip()
    if not reason:
        raise DomainError("release_reason_required", _("반납 사유를 입력해 주세요."), field="reason")
    allocation = _locked(allocation)
    if allocation.status not in HOLDING_STATUSES:
        raise DomainError("gpu_not_held", _("이미 반납된 GPU 배정입니다."), status_code=409)
    _release(
        allocation,
        at=timeutils.now(),
        reason=reason,
        action="compute.gpu_released",
        actor=actor,
        request=request,
    )
    return allocation


def _open_offer(allocation: GpuAllocation, actor: User) -> GpuAllocation:
    agreement_member_ensure(allocation.agreement, actor)
    allocation = _locked(allocation)
    if allocation.status != AllocationStatus.OFFERED:
        raise DomainError(
            "gpu_offer_not_open", _("응답할 수 있는 GPU 배정 제안이 없습니다."), status_code=409
        )
    return allocation


def _offer_refusal(allocation: GpuAllocation, *, problem: str, at: dt.datetime) -> DomainError:
    if not agreement_in_force(allocation.agreement, at=at):
        return DomainError(
            "agreement_not_in_force",
            _("협약이 효력 기간이 아니어서 GPU를 받을 수 없습니다. 제안은 다음 대기 기업에 넘어갑니다."),
            status_code=409,
        )
    return DomainError(
        "gpu_offer_not_granted",
        _(
            "협약 %(number)s의 조건이 이 GPU(%(type)s)를 지원하지 않아 받을 수 없습니다(%(problem)s). "
            "제안은 다음 대기 기업에 넘어갑니다."
        )
        % {"number": allocation.agreement.number, "type": gpu_type_of(allocation.gpu), "problem": problem},
        status_code=409,
    )


def gpu_offer_accept(
    *, allocation: GpuAllocation, actor: User, request: HttpRequest | None = None
) -> GpuAllocation:
    """The company takes the GPU offered to it from the waiting list: the allocation becomes active.

    The offer was made when the agreement could take that GPU; if it no longer can (not in force, or its terms
    now grant another type or none), accepting is refused and the offer goes to the next company waiting at
    once. That release is committed before the refusal is raised, so the GPU does not sit idle until the
    reconciler runs.
    """
    with transaction.atomic():
        allocation = _open_offer(allocation, actor)
        now = timeutils.now()
        if now >= offer_deadline(allocation):
            raise DomainError(
                "gpu_offer_lapsed",
                _("수락 기한이 지난 제안입니다. GPU는 다음 대기 기업에 넘어갑니다."),
                status_code=409,
            )
        problem = _holding_problem(allocation, at=now)
        if not problem:
            allocation.status = AllocationStatus.ACTIVE
            allocation.accepted_at = now
            allocation.save(update_fields=["status", "accepted_at", "updated_at"])
            _notify_allocated(allocation)
            audit_record(
                action="compute.gpu_offer_accepted",
                actor=actor,
                target=allocation,
                summary=f"{allocation.agreement.number} accepted {allocation.gpu}",
                data={"agreement": allocation.agreement.number, "gpu": str(allocation.gpu)},
                request=request,
            )
            return allocation
        refusal = _offer_refusal(allocation, problem=problem, at=now)
        _release(
            allocation, at=now, reason=problem, action="compute.gpu_released", actor=actor, request=request
        )
    raise refusal


@transaction.atomic
def gpu_offer_decline(
    *, allocation: GpuAllocation, actor: User, request: HttpRequest | None = None
) -> GpuAllocation:
    """The company turns the offer down: the GPU goes to the next company waiting."""
    allocation = _open_offer(allocation, actor)
    _release(
        allocation,
        at=timeutils.now(),
        reason=_("기업이 배정 제안을 사양함"),
        action="compute.gpu_offer_declined",
        actor=actor,
        request=request,
    )
    return allocation


def _holding_problem(allocation: GpuAllocation, *, at: dt.datetime) -> str:
    """Why a holding must end now ('' when it may stay)."""
    agreement = allocation.agreement
    if agreement.status == Agreement.Status.TERMINATED:
        return _("협약 해지")
    if not agreement_in_force(agreement, at=at):
        if at >= agreement.period_ends_at or agreement.status == Agreement.Status.ENDED:
            return _("협약 기간 종료")
        return _("협약 효력 없음")
    granted = granted_gpu_type(agreement)
    if granted is None:
        return _("협약 변경: GPU 지원 없음")
    if granted != gpu_type_of(allocation.gpu):
        return _("협약 변경: 지원 GPU 유형이 %(type)s(으)로 바뀜") % {"type": granted}
    return ""


def allocations_reconcile(*, now: dt.datetime) -> dict[str, int]:
    """Compare what is held with what the agreements allow, and act. Idempotent; run by Celery beat.

    An agreement's end by the clock has no event, so this is what frees its GPU: holdings whose agreement
    is no longer in force (ended, terminated) or whose terms no longer grant that GPU are released and
    handed to the waiting list; offers not accepted in time lapse to the next company; waiting entries of
    agreements that can no longer receive a GPU are withdrawn.
    """
    counts = {"released": 0, "lapsed": 0, "withdrawn": 0, "offered": 0}
    # Withdraw first, so a GPU freed below is never offered to a company that can no longer take it.
    waiting = GpuWaitlistEntry.objects.filter(status=WaitStatus.WAITING).select_related("agreement")
    for entry in waiting.order_by("pk"):
        reason = _entry_problem(entry, at=now)
        if not reason:
            continue
        with transaction.atomic():
            # waitlist_serve may have offered this company a GPU since the read above: re-read the entry
            # under its lock and withdraw it only if it still waits, or an open offer would lose its entry.
            locked = (
                GpuWaitlistEntry.objects.select_for_update(of=("self",))
                .select_related("agreement")
                .filter(pk=entry.pk, status=WaitStatus.WAITING)
                .first()
            )
            if locked is None:
                continue
            reason = _entry_problem(locked, at=now)
            if reason:
                _entry_withdraw(locked, reason=reason, actor=None)
                counts["withdrawn"] += 1
    for pk in holdings().order_by("pk").values_list("pk", flat=True):
        with transaction.atomic():
            allocation = _locked(GpuAllocation(pk=pk))
            if allocation.status not in HOLDING_STATUSES:
                continue
            reason = _holding_problem(allocation, at=now)
            if reason:
                offered = _release(
                    allocation, at=now, reason=reason, action="compute.gpu_released", actor=None
                )
                counts["released"] += 1
                counts["offered"] += len(offered)
    lapse_before = now - dt.timedelta(days=settings.MEDBROKER_GPU_OFFER_DAYS)
    stale = GpuAllocation.objects.filter(status=AllocationStatus.OFFERED, allocated_at__lte=lapse_before)
    for pk in stale.order_by("allocated_at", "pk").values_list("pk", flat=True):
        with transaction.atomic():
            allocation = _locked(GpuAllocation(pk=pk))
            if allocation.status != AllocationStatus.OFFERED:
                continue
            reason = _("수락 기한(%(days)s일) 경과") % {"days": settings.MEDBROKER_GPU_OFFER_DAYS}
            offered = _release(
                allocation, at=now, reason=reason, action="compute.gpu_offer_lapsed", actor=None
            )
            counts["lapsed"] += 1
            counts["offered"] += len(offered)
    types = (
        GpuWaitlistEntry.objects.filter(status=WaitStatus.WAITING)
        .values_list("gpu_model", "gpu_memory_gb")
        .distinct()
        .order_by("gpu_model", "gpu_memory_gb")
    )
    for gpu_model, gpu_memory_gb in list(types):
        with transaction.atomic():
            offered = waitlist_serve(gpu_model=gpu_model, gpu_memory_gb=gpu_memory_gb, at=now, actor=None)
            counts["offered"] += len(offered)
    return counts
