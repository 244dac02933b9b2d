"""Conflicts of interest in the three Korean forms.

- 제척 (exclusion): by rule, when the member belongs to the company or declared a relation with it;
  :func:`conflicts_detect` records it, but the selectors apply the rule even before it is recorded.
- 회피 (recusal): the member steps aside from an application, with a reason.
- 기피 (challenge): the company asks for a member's exclusion, with a reason; an operator decides.
  While it waits, the member does not see the application (see ``selectors.committee.HIDING_STATUSES``).

When a conflict stands, the pair's assignment and score sheet are removed (and audited with what the sheet
held): a conflicted member's score never counts and is never shown.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils.translation import gettext as _

from medbroker.accounts.models import Role, User
from medbroker.audit.services import audit_record
from medbroker.calls.models import Application
from medbroker.core import timeutils
from medbroker.core.errors import DomainError, PermissionDeniedError
from medbroker.reviews.models import Committee, CommitteeMember, Conflict
from medbroker.reviews.selectors.committee import (
    REVIEWABLE_STATUSES,
    automatic_exclusion_reason,
    member_is_conflicted,
)
from medbroker.reviews.services.assignments import (
    assignment_withdraw_for_conflict,
    committee_ensure_open,
    operator_ensure,
)


def _reason_ensure(reason: str, *, field: str = "reason") -> str:
    reason = (reason or "").strip()
    if not reason:
        raise DomainError("reason_required", _("사유를 입력하세요."), field=field)
    return reason


def _conflict_data(conflict: Conflict) -> dict[str, object]:
    return {
        "conflict_id": conflict.pk,
        "kind": conflict.kind,
        "status": conflict.status,
        "member_id": conflict.member_id,
        "application_id": conflict.application_id,
        "reason": conflict.reason,
    }


def _summary(conflict: Conflict) -> str:
    receipt = conflict.application.receipt_number or conflict.application_id
    return f"{conflict.get_kind_display()} · {conflict.member.user} · {receipt}"


@transaction.atomic
def conflicts_detect(
    committee: Committee, *, actor: User | None = None, request: HttpRequest | None = None
) -> list[Conflict]:
    """Record a 제척 for every member × submitted application of the call that the rules exclude, and
    withdraw any assignment of those pairs. Idempotent: returns only the conflicts recorded now."""
    committee_ensure_open(committee)
    applications = list(
        Application.objects.filter(call_id=committee.call_id, status__in=REVIEWABLE_STATUSES)
        .select_related("company")
        .order_by("receipt_number", "pk")
    )
    members = list(committee.members.select_related("user", "organisation").order_by("pk"))
    already = set(
        Conflict.objects.filter(member__committee=committee, kind=Conflict.Kind.EXCLUSION).values_list(
            "member_id", "application_id"
        )
    )
    created: list[Conflict] = []
    for member in members:
        for application in applications:
            if (member.pk, application.pk) in already:
                continue
            reason = automatic_exclusion_reason(member, application)
            if not reason:
                continue
            conflict = Conflict.objects.create(
                member=member,
                application=application,
                kind=Conflict.Kind.EXCLUSION,
                status=Conflict.Status.UPHELD,
                reason=reason,
                decided_at=timeutils.now(),
            )
            audit_record(
                action="reviews.conflict_detected",
                actor=actor,
                target=conflict,
                summary=_summary(conflict),
                data=_conflict_data(conflict),
                request=request,
            )
            assignment_withdraw_for_conflict(conflict=conflict, actor=actor, request=request)
            created.append(conflict)
    return created


@transaction.atomic
def conflict_recuse(
    member: CommitteeMember, application: Application, reason: str, *, request: HttpRequest | None = None
) -> Conflict:
    """The member steps aside (회피) from the application: recorded as upheld at once, nobody decides it."""
    committee_ensure_open(member.committee)
    reason = _reason_ensure(reason)
    if application.call_id != member.committee.call_id:
        raise DomainError("not_found", _("신청서를 찾을 수 없습니다."), status_code=404)
    if Conflict.objects.filter(member=member, application=application, kind=Conflict.Kind.RECUSAL).exists():
        raise DomainError("already_recused", _("이미 회피 신청한 신청서입니다."), status_code=409)
    conflict = Conflict.objects.create(
        member=member,
        application=application,
        kind=Conflict.Kind.RECUSAL,
        status=Conflict.Status.UPHELD,
        reason=reason,
        requested_by=member.user,
        decided_at=timeutils.now(),
    )
    audit_record(
        action="reviews.conflict_recused",
        actor=member.user,
        target=conflict,
        summary=_summary(conflict),
        data=_conflict_data(conflict),
        request=request,
    )
    assignment_withdraw_for_conflict(conflict=conflict, actor=member.user, request=request)
    return conflict


@transaction.atomic
def conflict_challenge_request(
    application: Application,
    member: CommitteeMember,
    reason: str,
    actor: User,
    *,
    request: HttpRequest | None = None,
) -> Conflict:
    """The company of the application asks that a member be excluded from it (기피)."""
    if not actor.has_role(Role.APPLICANT) or actor.organisation_id != application.company_id:
        raise PermissionDeniedError("forbidden", _("신청 기업만 기피를 신청할 수 있습니다."))
    committee_ensure_open(member.committee)
    if member.committee.call_id != application.call_id:
        raise DomainError("wrong_member", _("이 공모의 평가위원이 아닙니다."), field="member")
    if application.status not in REVIEWABLE_STATUSES:
        raise DomainError("not_reviewable", _("제출된 신청서에 대해서만 기피를 신청할 수 있습니다."))
    reason = _reason_ensure(reason)
    existing = Conflict.objects.filter(
        member=member, application=application, kind=Conflict.Kind.CHALLENGE
    ).first()
    if existing is not None:
        raise DomainError(
            "already_challenged",
            _("이 위원에 대한 기피 신청이 이미 있습니다(%(status)s).")
            % {"status": existing.get_status_display()},
            field="member",
            status_code=409,
        )
    if member_is_conflicted(member, application):
        raise DomainError(
            "already_excluded",
            _("이 위원은 이미 이 신청서의 평가에서 제외되었습니다."),
            field="member",
            status_code=409,
        )
    try:
        with transaction.atomic():
            conflict = Conflict.objects.create(
                member=member,
                application=application,
                kind=Conflict.Kind.CHALLENGE,
                status=Conflict.Status.PENDING,
                reason=reason,
                requested_by=actor,
            )
    except IntegrityError:  # a double click: the first request won
        raise DomainError(
            "already_challenged", _("이 위원에 대한 기피 신청이 이미 있습니다."), status_code=409
        ) from None
    audit_record(
        action="reviews.conflict_challenge_requested",
        actor=actor,
        target=conflict,
        summary=_summary(conflict),
        data=_conflict_data(conflict),
        request=request,
    )
    return conflict


@transaction.atomic
def conflict_challenge_decide(
    conflict: Conflict, upheld: bool, reason: str, actor: User, *, request: HttpRequest | None = None
) -> Conflict:
    """An operator upholds or rejects a pending 기피, with a reason. Upheld: the member's assignment and
    sheet for the application go. Rejected: the application shows again to the member."""
    operator_ensure(actor)
    conflict = (
        Conflict.objects.select_for_update()
        .select_related("member__committee", "member__user", "application")
        .get(pk=conflict.pk)
    )
    committee_ensure_open(conflict.member.committee)
    if conflict.kind != Conflict.Kind.CHALLENGE:
        raise DomainError("not_a_challenge", _("기피 신청만 결정할 수 있습니다."))
    if conflict.status != Conflict.Status.PENDING:
        raise DomainError("already_decided", _("이미 결정된 기피 신청입니다."), status_code=409)
    reason = _reason_ensure(reason, field="decision_reason")
    conflict.status = Conflict.Status.UPHELD if upheld else Conflict.Status.REJECTED
    conflict.decided_by = actor
    conflict.decision_reason = reason
    conflict.decided_at = timeutils.now()
    conflict.save(update_fields=["status", "decided_by", "decision_reason", "decided_at"])
    audit_record(
        action="reviews.conflict_challenge_decided",
        actor=actor,
        target=conflict,
        summary=f"{_summary(conflict)} · {conflict.get_status_display()}",
        data={**_conflict_data(conflict), "decision_reason": reason},
        request=request,
    )
    if upheld:
        assignment_withdraw_for_conflict(conflict=conflict, actor=actor, request=request)
    return conflict
