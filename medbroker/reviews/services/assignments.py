"""Who reviews what: the default assignment (every member × every eligible application), changes by hand,
and the withdrawal of an assignment when a conflict of interest stands."""

from __future__ import annotations

from django.core.files import File
from django.db import transaction
from django.http import HttpRequest
from django.utils.translation import gettext as _

from medbroker.accounts.models import User
from medbroker.accounts.permissions import operator_ensure
from medbroker.audit.services import audit_record
from medbroker.calls.models import Application, ApplicationDocument
from medbroker.core.errors import DomainError
from medbroker.reviews.models import Assignment, Committee, CommitteeMember, Conflict, ScoreSheet
from medbroker.reviews.selectors.committee import (
    REVIEWABLE_STATUSES,
    eligible_applications,
    hiding_conflicts,
    member_is_conflicted,
)


def committee_ensure_open(committee: Committee) -> None:
    """Nothing about the review changes once the committee has closed: its records are what was decided.

    Reads the status from the database, not from ``committee``: callers reach the committee through a
    member or a sheet loaded earlier, and a close in between must still lock them out.
    """
    status = Committee.objects.filter(pk=committee.pk).values_list("status", flat=True).first()
    committee.status = status or committee.status
    if committee.status == Committee.Status.CLOSED:
        raise DomainError(
            "committee_closed", _("평가가 종료된 위원회입니다. 변경할 수 없습니다."), status_code=409
        )


def sheet_snapshot(sheet: ScoreSheet | None) -> dict[str, object] | None:
    """What a sheet held, for the audit event of its removal: its scores must stay explainable."""
    if sheet is None:
        return None
    entries = sheet.entries.select_related("rubric_item").order_by("rubric_item__order")
    return {
        "sheet_id": sheet.pk,
        "status": sheet.status,
        "points": {
            entry.rubric_item.code: str(entry.points) if entry.points is not None else None
            for entry in entries
        },
        "grades": {entry.rubric_item.code: entry.grade for entry in entries if entry.grade},
    }


def _pair_label(member: CommitteeMember, application: Application) -> str:
    return f"{member.user} → {application.receipt_number or application.pk}"


@transaction.atomic
def assignment_withdraw_for_conflict(
    *, conflict: Conflict, actor: User | None, request: HttpRequest | None = None
) -> bool:
    """Remove the assignment (and its score sheet) of a conflicted pair; True if there was one.

    Removed, not hidden: a score of a conflicted reviewer must never count, and a row that exists can
    always be read by mistake somewhere. The audit event keeps what the sheet held.
    """
    assignment = (
        Assignment.objects.select_for_update()
        .filter(member_id=conflict.member_id, application_id=conflict.application_id)
        .first()
    )
    if assignment is None:
        return False
    sheet = ScoreSheet.objects.filter(assignment=assignment).first()
    snapshot = sheet_snapshot(sheet)
    audit_record(
        action="reviews.assignment_withdrawn",
        actor=actor,
        target=assignment,
        summary=_pair_label(conflict.member, conflict.application),
        data={
            "member_id": conflict.member_id,
            "application_id": conflict.application_id,
            "conflict_id": conflict.pk,
            "conflict_kind": conflict.kind,
            "sheet": snapshot,
        },
        request=request,
    )
    assignment.delete()
    return True


@transaction.atomic
def assignments_generate(
    committee: Committee, *, actor: User, request: HttpRequest | None = None
) -> list[Assignment]:
    """Assign every non-conflicted member to every eligible application; returns the new assignments.

    Idempotent: pairs already assigned are left as they are (with their sheets), so a second run, or a
    run after a late member or application, only adds what is missing. Pairs an operator removed by hand
    come back: the call's rule is that every member reviews every application, unless conflicted.
    """
    operator_ensure(actor)
    committee = Committee.objects.select_for_update().get(pk=committee.pk)
    committee_ensure_open(committee)
    applications = eligible_applications(committee)
    members = list(committee.members.select_related("user").prefetch_related("declared_relations"))
    existing = set(
        Assignment.objects.filter(member__committee=committee).values_list("member_id", "application_id")
    )
    recorded = set(
        hiding_conflicts().filter(member__committee=committee).values_list("member_id", "application_id")
    )
    created: list[Assignment] = []
    for application in applications:
        for member in members:
            pair = (member.pk, application.pk)
            if pair in existing or pair in recorded or _automatic_exclusion(member, application):
                continue
            created.append(Assignment(member=member, application=application, assigned_by=actor))
    Assignment.objects.bulk_create(created)
    if created:
        audit_record(
            action="reviews.assignments_generated",
            actor=actor,
            target=committee,
            summary=_("평가 배정 %(count)d건 생성") % {"count": len(created)},
            data={
                "created": len(created),
                "pairs": sorted([a.member_id, a.application_id] for a in created),
            },
            request=request,
        )
    return created


def _automatic_exclusion(member: CommitteeMember, application: Application) -> bool:
    # Reads the prefetched declared relations: one query for the whole matrix instead of one per pair.
    if member.organisation_id is not None and member.organisation_id == application.company_id:
        return True
    return any(org.pk == application.company_id for org in member.declared_relations.all())


@transaction.atomic
def assignment_add(
    *, member: CommitteeMember, application: Application, actor: User, request: HttpRequest | None = None
) -> Assignment:
    """An operator assigns a member by hand; a conflicted pair is refused, whatever the operator intends."""
    operator_ensure(actor)
    committee_ensure_open(member.committee)
    if application.call_id != member.committee.call_id:
        raise DomainError(
            "wrong_call", _("이 위원회의 공모에 접수된 신청서가 아닙니다."), field="application"
        )
    if application.status not in REVIEWABLE_STATUSES:
        raise DomainError("not_reviewable", _("제출된 신청서만 배정할 수 있습니다."), field="application")
    if member_is_conflicted(member, application):
        raise DomainError(
            "conflicted",
            _("이해충돌(제척·회피·기피)이 있는 위원에게는 이 신청서를 배정할 수 없습니다."),
            field="member",
            status_code=409,
        )
    if Assignment.objects.filter(member=member, application=application).exists():
        raise DomainError("already_assigned", _("이미 배정되어 있습니다."), status_code=409)
    assignment = Assignment.objects.create(member=member, application=application, assigned_by=actor)
    audit_record(
        action="reviews.assignment_added",
        actor=actor,
        target=assignment,
        summary=_pair_label(member, application),
        data={"member_id": member.pk, "application_id": application.pk},
        request=request,
    )
    return assignment


@transaction.atomic
def assignment_remove(*, assignment: Assignment, actor: User, request: HttpRequest | None = None) -> None:
    """An operator takes an assignment back. A submitted sheet is refused: its scores would vanish without
    a trace of why, so the operator reopens it first (which is audited with a reason)."""
    operator_ensure(actor)
    committee_ensure_open(assignment.member.committee)
    sheet = ScoreSheet.objects.filter(assignment=assignment).first()
    if sheet is not None and sheet.status == ScoreSheet.Status.SUBMITTED:
        raise DomainError(
            "sheet_submitted",
            _("제출된 평가표가 있는 배정은 취소할 수 없습니다. 먼저 평가표를 재작성 상태로 되돌리세요."),
            status_code=409,
        )
    audit_record(
        action="reviews.assignment_removed",
        actor=actor,
        target=assignment,
        summary=_pair_label(assignment.member, assignment.application),
        data={
            "member_id": assignment.member_id,
            "application_id": assignment.application_id,
            "sheet": sheet_snapshot(sheet),
        },
        request=request,
    )
    assignment.delete()


def reviewer_document_open(
    *,
    assignment: Assignment,
    document: ApplicationDocument,
    actor: User,
    request: HttpRequest | None = None,
) -> File:
    """Open an application's document for its assigned reviewer (the caller found the assignment through
    :func:`~medbroker.reviews.selectors.reviewer.reviewer_assignment_get`). A reviewer reading a company's
    file is a sensitive read: audited, with the assignment it was read under."""
    if document.application_id != assignment.application_id or assignment.member.user_id != actor.pk:
        raise DomainError("not_found", _("파일을 찾을 수 없습니다."), status_code=404)
    # Checked again here, not only by the selector: the conflict may have been recorded a moment ago.
    if member_is_conflicted(assignment.member, assignment.application):
        raise DomainError("not_found", _("파일을 찾을 수 없습니다."), status_code=404)
    audit_record(
        action="reviews.reviewer_document_downloaded",
        actor=actor,
        target=assignment.application,
        summary=f"{document.requirement.code}: {document.original_name}",
        data={
            "assignment_id": assignment.pk,
            "member_id": assignment.member_id,
            "document_id": document.pk,
            "requirement": document.requirement.code,
            "sha256": document.sha256,
            "receipt_number": assignment.application.receipt_number,
        },
        request=request,
    )
    return document.file.open("rb")
