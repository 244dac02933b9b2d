"""Data-access grants: one per dataset of the agreement's terms in force (announcement §4 ⑤).

Data is used offline in the closed learning room unless the operator switches a grant to online use, which
the call allows only for low-sensitivity data and only where the agreement says so. A grant runs from its
start to the end of the agreement's period; an operator can stop it at once, with a reason. Every change is
written to the audit log in the same transaction, and the company is told.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.http import HttpRequest
from django.urls import reverse
from django.utils.translation import gettext as _

from medbroker.access.models import AccessGrant
from medbroker.access.selectors.grants import (
    GrantRefusal,
    grant_last_day,
    grant_online_conditions_refusal,
    grant_refusal,
    grant_remote_refusal,
)
from medbroker.access.services.online import online_sessions_end
from medbroker.accounts.models import User
from medbroker.accounts.permissions import operator_ensure
from medbroker.accounts.services.notifications import notification_send, organisation_recipients
from medbroker.agreements.models import Agreement, AgreementDataset, AgreementVersion
from medbroker.agreements.selectors import agreement_in_force, agreement_terms
from medbroker.audit.services import audit_record
from medbroker.catalog.models import Sensitivity
from medbroker.core import timeutils
from medbroker.core.errors import DomainError

Mode = AccessGrant.Mode
Status = AccessGrant.Status


def grant_window_text(grant: AccessGrant) -> str:
    starts = timeutils.to_kst(grant.starts_at).strftime("%Y-%m-%d %H:%M")
    return f"{starts} ~ {grant_last_day(grant).isoformat()} 23:59:59 (KST)"


def grant_notify(grant: AccessGrant, *, kind: str, title: str, body: str, occasion: str = "") -> int:
    """Tell the company's members about one grant, once per grant and kind (the key dedupes reruns).

    ``occasion`` tells apart events that can happen to one grant more than once (a mode change).
    """
    dedupe_key = f"access.{kind}:{grant.pk}" + (f":{occasion}" if occasion else "")
    sent = notification_send(
        users=organisation_recipients(grant.agreement.company),
        kind=kind,
        title=title,
        body=body,
        link=reverse("access:grant_list"),
        dedupe_key=dedupe_key,
    )
    return len(sent)


def _started_notify(grant: AccessGrant, *, at: dt.datetime) -> None:
    grant_notify(
        grant,
        kind="grant_started",
        title=_("데이터 이용을 시작할 수 있습니다: %(dataset)s") % {"dataset": grant.dataset.title},
        body=_("이용 기간: %(window)s\n이용 방식: %(mode)s")
        % {"window": grant_window_text(grant), "mode": grant.get_mode_display()},
    )
    grant.notified_start_at = at
    grant.save(update_fields=["notified_start_at", "updated_at"])


def _grant_audit(
    grant: AccessGrant,
    *,
    action: str,
    actor: User | None,
    summary: str,
    request: HttpRequest | None = None,
    **data: object,
) -> None:
    audit_record(
        action=action,
        actor=actor,
        target=grant,
        summary=f"{summary}: {grant.agreement.number} · {grant.dataset.title}",
        data={
            "agreement": grant.agreement.number,
            "company": grant.agreement.company_id,
            "dataset": grant.dataset_id,
            "kind": grant.kind,
            "mode": grant.mode,
            "status": grant.status,
            "starts_at": grant.starts_at.isoformat(),
            "ends_at": grant.ends_at.isoformat(),
            **data,
        },
        request=request,
    )


@transaction.atomic
def grants_issue(
    *,
    agreement: Agreement,
    actor: User,
    starts_on: dt.date | None = None,
    request: HttpRequest | None = None,
) -> list[AccessGrant]:
    """Grant every dataset of the terms in force that has no active grant yet (operator).

    Closed room by default; from 00:00 KST of ``starts_on`` (or now), never before the period starts, to
    the end of the period. An agreement that is not signed and in force grants nothing.
    """
    operator_ensure(actor)
    agreement = Agreement.objects.select_for_update().get(pk=agreement.pk)
    now = timeutils.now()
    terms = agreement_terms(agreement)
    if terms is None or not agreement_in_force(agreement, at=now):
        raise DomainError(
            "agreement_not_in_force",
            _("양측 서명이 끝나 효력 중인 협약에만 데이터 이용 권한을 부여할 수 있습니다."),
            status_code=409,
        )
    starts_at = now if starts_on is None else timeutils.kst(starts_on.year, starts_on.month, starts_on.day)
    assert agreement.period_starts_at is not None  # in force implies signed
    starts_at = max(starts_at, agreement.period_starts_at)
    ends_at = agreement.period_ends_at
    if starts_at >= ends_at:
        raise DomainError(
            "grant_start_after_end",
            _("이용 시작일이 협약 종료일(%(day)s) 뒤입니다.") % {"day": agreement.ends_on.isoformat()},
            field="starts_on",
        )
    granted = set(
        AccessGrant.objects.filter(agreement=agreement, status=Status.ACTIVE).values_list(
            "dataset_id", flat=True
        )
    )
    issued = []
    for item in terms.datasets.select_related("dataset").order_by("pk"):
        if item.dataset_id in granted:
            continue
        grant = AccessGrant.objects.create(
            agreement=agreement,
            dataset=item.dataset,
            kind=AccessGrant.Kind.AGREED,
            mode=Mode.CLOSED_ROOM,
            starts_at=starts_at,
            ends_at=ends_at,
            issued_by=actor,
        )
        _grant_audit(
            grant, action="access.grant_issued", actor=actor, summary="데이터 이용 권한 부여", request=request
        )
        # A grant that starts later is announced by the periodic task on its first day.
        if starts_at <= now:
            _started_notify(grant, at=now)
        issued.append(grant)
    return issued


@transaction.atomic
def grant_mode_set(
    *, grant: AccessGrant, mode: str, actor: User, request: HttpRequest | None = None
) -> AccessGrant:
    """Switch a grant between the closed room and online use (operator), only while the grant works now.

    Online only for low-sensitivity data, where the terms in force allow it (announcement §4 ⑤). Back to the
    closed room is always allowed on a working grant and ends any open online session.
    """
    operator_ensure(actor)
    if mode not in Mode.values:
        raise DomainError("mode_invalid", _("이용 방식을 다시 선택하세요."), field="mode")
    grant = AccessGrant.objects.select_for_update().get(pk=grant.pk)
    now = timeutils.now()
    # A grant that no longer works is not switched: the log would show a change of access to data that is
    # no longer accessible. What is left of it (open sessions) the revocation or the periodic task ends.
    refusal = grant_refusal(grant, at=now)
    if refusal is not None:
        raise DomainError(refusal.code, refusal.message, status_code=409, field="mode")
    if grant.mode == mode:
        return grant
    if mode == Mode.ONLINE:
        refusal = grant_online_conditions_refusal(grant, terms=agreement_terms(grant.agreement))
        if refusal is not None:
            raise DomainError(refusal.code, refusal.message, status_code=409, field="mode")
    previous = grant.mode
    grant.mode = mode
    grant.save(update_fields=["mode", "updated_at"])
    ended = 0
    if mode == Mode.CLOSED_ROOM:
        ended = online_sessions_end(sessions=grant.online_sessions.all(), at=now)
    _grant_audit(
        grant,
        action="access.grant_mode_changed",
        actor=actor,
        summary=f"이용 방식 변경 ({previous} → {mode})",
        previous_mode=previous,
        sessions_ended=ended,
        request=request,
    )
    return grant


@transaction.atomic
def grant_revoke(
    *, grant: AccessGrant, actor: User, reason: str, request: HttpRequest | None = None
) -> AccessGrant:
    """Stop a grant at once (operator, with a reason): every later check refuses it, open sessions end."""
    operator_ensure(actor)
    reason = reason.strip()
    if not reason:
        raise DomainError("reason_required", _("이용 중지 사유를 입력하세요."), field="reason")
    grant = AccessGrant.objects.select_for_update().get(pk=grant.pk)
    if grant.status != Status.ACTIVE:
        raise DomainError(
            "grant_not_active",
            _("이미 '%(status)s' 상태인 권한입니다.") % {"status": grant.get_status_display()},
            status_code=409,
        )
    now = timeutils.now()
    grant.status = Status.REVOKED
    grant.revoked_at = now
    grant.revoked_by = actor
    grant.revoke_reason = reason
    grant.save(update_fields=["status", "revoked_at", "revoked_by", "revoke_reason", "updated_at"])
    ended = online_sessions_end(sessions=grant.online_sessions.all(), at=now)
    grant_notify(
        grant,
        kind="grant_revoked",
        title=_("데이터 이용이 중지되었습니다: %(dataset)s") % {"dataset": grant.dataset.title},
        body=_("사유: %(reason)s") % {"reason": reason},
    )
    _grant_audit(
        grant,
        action="access.grant_revoked",
        actor=actor,
        summary="데이터 이용 중지",
        reason=reason,
        sessions_ended=ended,
        request=request,
    )
    return grant


def grant_remote_check(
    *, grant: AccessGrant, user: User, request: HttpRequest | None = None
) -> GrantRefusal | None:
    """Answer a workspace launcher asking whether it may open the grant's data for ``user`` now.

    None when it may (:func:`~medbroker.access.selectors.grants.grant_remote_refusal`), else the refusal.
    Every answer, yes or no, is written to the audit log: it is the record of who opened which data.
    """
    refusal = grant_remote_refusal(grant, user=user, at=timeutils.now())
    code = refusal.code if refusal is not None else None
    audit_record(
        action="access.grant_checked",
        actor=user,
        target=grant,
        summary=f"원격 이용 확인 ({'허용' if refusal is None else code}): "
        f"{grant.agreement.number} · {grant.dataset.title}",
        data={
            "allowed": refusal is None,
            "code": code,
            "grant": grant.pk,
            "dataset": grant.dataset_id,
            "mode": grant.mode,
            "caller": user.username,
        },
        request=request,
    )
    return refusal


# ---------------------------------------------------------------------------------------------------------
# The reconciler: expiry by the clock has no event, so a periodic task records it and tells the company
# ---------------------------------------------------------------------------------------------------------


def _locked_if(pk: int, condition: Q) -> AccessGrant | None:
    """The grant under a row lock if it still meets ``condition`` (another run may have handled it)."""
    return AccessGrant.objects.select_for_update().filter(condition, pk=pk).first()


def _grant_end(grant: AccessGrant, *, status: str, at: dt.datetime) -> int:
    grant.status = status
    grant.closed_at = at
    grant.save(update_fields=["status", "closed_at", "updated_at"])
    return online_sessions_end(sessions=grant.online_sessions.all(), at=at)


def _expire(pk: int, *, now: dt.datetime) -> bool:
    with transaction.atomic():
        grant = _locked_if(pk, Q(status=Status.ACTIVE, ends_at__lte=now))
        if grant is None:
            return False
        ended = _grant_end(grant, status=Status.EXPIRED, at=now)
        grant_notify(
            grant,
            kind="grant_expired",
            title=_("데이터 이용 기간이 끝났습니다: %(dataset)s") % {"dataset": grant.dataset.title},
            body=_("이용 기간: %(window)s") % {"window": grant_window_text(grant)},
        )
        _grant_audit(
            grant, action="access.grant_expired", actor=None, summary="이용 기간 만료", sessions_ended=ended
        )
    return True


def _close(pk: int, *, now: dt.datetime, uncovered: Q) -> bool:
    with transaction.atomic():
        grant = _locked_if(pk, Q(status=Status.ACTIVE) & uncovered)
        if grant is None:
            return False
        reason = (
            "agreement_ended" if grant.agreement.status != Agreement.Status.ACTIVE else "dataset_left_terms"
        )
        ended = _grant_end(grant, status=Status.CLOSED, at=now)
        grant_notify(
            grant,
            kind="grant_closed",
            title=_("데이터 이용이 종료되었습니다: %(dataset)s") % {"dataset": grant.dataset.title},
            body=(
                _("협약이 종료되어 이 데이터의 이용도 함께 종료되었습니다.")
                if reason == "agreement_ended"
                else _("협약 변경으로 이 데이터가 협약 범위에서 빠져 이용이 종료되었습니다.")
            ),
        )
        _grant_audit(
            grant,
            action="access.grant_closed",
            actor=None,
            summary="협약 범위 밖이 되어 이용 종료",
            reason=reason,
            sessions_ended=ended,
        )
    return True


def _online_lapse(pk: int, *, now: dt.datetime, lapsed: Q) -> bool:
    with transaction.atomic():
        grant = _locked_if(pk, Q(status=Status.ACTIVE, mode=Mode.ONLINE) & lapsed)
        if grant is None:
            return False
        refusal = grant_online_conditions_refusal(grant, terms=agreement_terms(grant.agreement))
        grant.mode = Mode.CLOSED_ROOM
        grant.save(update_fields=["mode", "updated_at"])
        ended = online_sessions_end(sessions=grant.online_sessions.all(), at=now)
        changed = _(
            "온라인 이용 조건을 더 이상 충족하지 않아 이용 방식이 폐쇄형 학습실로 바뀌었고, "
            "열려 있던 온라인 이용 세션은 종료되었습니다."
        )
        grant_notify(
            grant,
            kind="grant_mode_changed",
            title=_("폐쇄형 학습실에서만 이용할 수 있게 되었습니다: %(dataset)s")
            % {"dataset": grant.dataset.title},
            body=f"{refusal.message}\n{changed}" if refusal is not None else changed,
            # A grant can go online again after a new amendment and lapse again: each lapse is its own notice.
            occasion=timeutils.to_kst(now).isoformat(),
        )
        _grant_audit(
            grant,
            action="access.grant_mode_changed",
            actor=None,
            summary=f"온라인 이용 조건 소멸 ({Mode.ONLINE} → {Mode.CLOSED_ROOM})",
            previous_mode=Mode.ONLINE,
            reason="conditions_lapsed",
            condition=refusal.code if refusal is not None else "",
            sessions_ended=ended,
        )
    return True


def _notice_start(pk: int, *, now: dt.datetime) -> bool:
    with transaction.atomic():
        grant = _locked_if(pk, Q(status=Status.ACTIVE, notified_start_at__isnull=True, starts_at__lte=now))
        if grant is None:
            return False
        _started_notify(grant, at=now)
    return True


def _notice_expiring(pk: int, *, now: dt.datetime) -> bool:
    with transaction.atomic():
        grant = _locked_if(pk, Q(status=Status.ACTIVE, notified_expiring_at__isnull=True))
        if grant is None:
            return False
        days_left = (grant_last_day(grant) - timeutils.to_kst(now).date()).days + 1
        grant_notify(
            grant,
            kind="grant_expiring",
            title=_("데이터 이용 기간이 %(days)d일 남았습니다: %(dataset)s")
            % {"days": days_left, "dataset": grant.dataset.title},
            body=_("마지막 날: %(day)s 23:59:59 (KST). 이후에는 데이터를 이용할 수 없습니다.")
            % {"day": grant_last_day(grant).isoformat()},
        )
        grant.notified_expiring_at = now
        grant.save(update_fields=["notified_expiring_at", "updated_at"])
    return True


def grants_reconcile(*, now: dt.datetime) -> dict[str, int]:
    """Record what the access checks already enforce at ``now`` and send the notices that are due.

    Active grants past their end become expired; active grants the agreement no longer covers (agreement
    ended or terminated, or an amendment removed the dataset) become closed; online grants whose online
    conditions no longer hold (the dataset is no longer low sensitivity, the terms in force no longer allow
    online use) go back to the closed room, their open sessions ended. The company is told of each. The
    start notice and the notice ``MEDBROKER_GRANT_EXPIRY_NOTICE_DAYS`` days before the end go out once.
    Each grant is handled in its own transaction under a row lock, so a second run, even a concurrent
    one, changes nothing and sends nothing.
    """
    active = AccessGrant.objects.filter(status=Status.ACTIVE)
    in_terms = AgreementDataset.objects.filter(
        version__agreement=OuterRef("agreement"),
        version__status=AgreementVersion.Status.EFFECTIVE,
        dataset=OuterRef("dataset"),
    )
    uncovered = Q(agreement__status__in=[Agreement.Status.ENDED, Agreement.Status.TERMINATED]) | (
        Q(kind=AccessGrant.Kind.AGREED) & ~Q(Exists(in_terms))
    )
    online_allowed = AgreementVersion.objects.filter(
        agreement=OuterRef("agreement"), status=AgreementVersion.Status.EFFECTIVE, allows_online=True
    )
    # The conditions of grant_online_conditions_refusal, as a query.
    lapsed = (
        ~Q(dataset__sensitivity=Sensitivity.LOW)
        | ~Q(kind=AccessGrant.Kind.AGREED)
        | ~Q(Exists(online_allowed))
    )
    notice_from = now + dt.timedelta(days=settings.MEDBROKER_GRANT_EXPIRY_NOTICE_DAYS)

    result = dict.fromkeys(("expired", "closed", "online_lapsed", "start_notices", "expiring_notices"), 0)
    for pk in list(active.filter(ends_at__lte=now).values_list("pk", flat=True)):
        result["expired"] += _expire(pk, now=now)
    for pk in list(active.filter(uncovered).values_list("pk", flat=True)):
        result["closed"] += _close(pk, now=now, uncovered=uncovered)
    for pk in list(active.filter(lapsed, mode=Mode.ONLINE).values_list("pk", flat=True)):
        result["online_lapsed"] += _online_lapse(pk, now=now, lapsed=lapsed)
    usable_now = active.filter(starts_at__lte=now, ends_at__gt=now, agreement__status=Agreement.Status.ACTIVE)
    for pk in list(usable_now.filter(notified_start_at__isnull=True).values_list("pk", flat=True)):
        result["start_notices"] += _notice_start(pk, now=now)
    expiring = usable_now.filter(notified_expiring_at__isnull=True, ends_at__lte=notice_from)
    for pk in list(expiring.values_list("pk", flat=True)):
        result["expiring_notices"] += _notice_expiring(pk, now=now)
    return result
