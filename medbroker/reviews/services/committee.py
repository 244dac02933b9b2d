"""The committee of a call: its settings, its members, and closing it."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.http import HttpRequest
from django.utils.translation import gettext as _

from medbroker.accounts.models import Organisation, Role, User
from medbroker.accounts.permissions import operator_ensure
from medbroker.audit.services import audit_record
from medbroker.calls.models import Call
from medbroker.core import timeutils
from medbroker.core.errors import DomainError
from medbroker.reviews.models import Committee, CommitteeMember, ScoreEntry, ScoreSheet
from medbroker.reviews.services.assignments import committee_ensure_open

# The settings an operator may change while the committee is open.
SETTING_FIELDS = (
    "name",
    "scale",
    "aggregation",
    "trim_min_reviewers",
    "cutoff_score",
    "cutoff_basis",
    "tie_breaks",
    "outlier_threshold",
)


def _json_value(value: Any) -> Any:
    return str(value) if isinstance(value, Decimal) else value


@transaction.atomic
def committee_create(
    *, call: Call, name: str, actor: User, request: HttpRequest | None = None, **settings: Any
) -> Committee:
    operator_ensure(actor)
    unknown = set(settings) - set(SETTING_FIELDS)
    if unknown:
        raise DomainError(
            "unknown_setting", _("알 수 없는 설정입니다: %(names)s") % {"names": ", ".join(sorted(unknown))}
        )
    name = (name or "").strip()
    if not name:
        raise DomainError("name_required", _("위원회 이름을 입력하세요."), field="name")
    if Committee.objects.filter(call=call).exists():
        raise DomainError(
            "committee_exists", _("이 공모에는 이미 평가위원회가 있습니다."), field="call", status_code=409
        )
    committee = Committee.objects.create(call=call, name=name, **settings)
    committee.refresh_from_db()  # defaults as stored (60 → Decimal('60.00')), for the audit event
    audit_record(
        action="reviews.committee_created",
        actor=actor,
        target=committee,
        summary=name,
        data={"call": call.slug, **{f: _json_value(getattr(committee, f)) for f in SETTING_FIELDS}},
        request=request,
    )
    return committee


@transaction.atomic
def committee_update(
    *, committee: Committee, actor: User, request: HttpRequest | None = None, **changes: Any
) -> Committee:
    """Change settings; the audit event lists each changed setting as [before, after]."""
    operator_ensure(actor)
    committee = Committee.objects.select_for_update().get(pk=committee.pk)
    committee_ensure_open(committee)
    unknown = set(changes) - set(SETTING_FIELDS)
    if unknown:
        raise DomainError(
            "unknown_setting", _("알 수 없는 설정입니다: %(names)s") % {"names": ", ".join(sorted(unknown))}
        )
    changed = {
        name: [_json_value(getattr(committee, name)), _json_value(value)]
        for name, value in changes.items()
        if getattr(committee, name) != value
    }
    if (
        "scale" in changed
        and ScoreEntry.objects.filter(sheet__assignment__member__committee=committee).exists()
    ):
        # Points typed on one scale mean something else on the other; switching mid-way would mix both.
        raise DomainError(
            "scale_in_use",
            _("채점이 시작된 뒤에는 채점 방식을 바꿀 수 없습니다."),
            field="scale",
            status_code=409,
        )
    if not changed:
        return committee
    for name in changed:
        setattr(committee, name, changes[name])
    try:
        committee.full_clean(exclude=["call"])
    except ValidationError as error:
        field, messages = next(iter(error.message_dict.items()))
        raise DomainError("invalid_setting", messages[0], field=field) from None
    committee.save(update_fields=[*changed, "updated_at"])
    audit_record(
        action="reviews.committee_updated",
        actor=actor,
        target=committee,
        summary=committee.name,
        data={"changed": changed},
        request=request,
    )
    return committee


@transaction.atomic
def member_add(
    *,
    committee: Committee,
    user: User,
    actor: User,
    organisation: Organisation | None = None,
    expertise: str = "",
    is_chair: bool = False,
    declared_relations: list[Organisation] | None = None,
    request: HttpRequest | None = None,
) -> CommitteeMember:
    """Seat a reviewer. Their organisation defaults to the user's own; the declared relations are what
    the member reported (employment, advice, shares…) and exclude them (제척) from those companies."""
    operator_ensure(actor)
    committee_ensure_open(committee)
    if not user.has_role(Role.REVIEWER):
        raise DomainError(
            "not_a_reviewer", _("평가위원 역할이 있는 사용자만 위원으로 위촉할 수 있습니다."), field="user"
        )
    organisation = organisation if organisation is not None else user.organisation
    try:
        with transaction.atomic():
            member = CommitteeMember.objects.create(
                committee=committee,
                user=user,
                organisation=organisation,
                expertise=(expertise or "").strip(),
                is_chair=is_chair,
            )
    except IntegrityError:
        raise DomainError(
            "already_member", _("이미 위촉된 위원입니다."), field="user", status_code=409
        ) from None
    relations = list(declared_relations or [])
    member.declared_relations.set(relations)
    audit_record(
        action="reviews.member_added",
        actor=actor,
        target=member,
        summary=f"{committee.name} · {user}",
        data={
            "committee_id": committee.pk,
            "user_id": user.pk,
            "organisation_id": organisation.pk if organisation else None,
            "is_chair": is_chair,
            "declared_relations": sorted(org.pk for org in relations),
        },
        request=request,
    )
    return member


@transaction.atomic
def member_remove(*, member: CommitteeMember, actor: User, request: HttpRequest | None = None) -> None:
    """Unseat a member with their assignments and draft sheets. A member who submitted a sheet stays:
    removing them would erase scores already given; reopen the sheets first if that is really meant."""
    operator_ensure(actor)
    committee_ensure_open(member.committee)
    submitted = ScoreSheet.objects.filter(
        assignment__member=member, status=ScoreSheet.Status.SUBMITTED
    ).count()
    if submitted:
        raise DomainError(
            "member_has_submitted",
            _("제출된 평가표가 %(count)d건 있는 위원은 해촉할 수 없습니다.") % {"count": submitted},
            status_code=409,
        )
    audit_record(
        action="reviews.member_removed",
        actor=actor,
        target=member,
        summary=f"{member.committee.name} · {member.user}",
        data={
            "committee_id": member.committee_id,
            "user_id": member.user_id,
            "assignments": member.assignments.count(),
        },
        request=request,
    )
    member.delete()


@transaction.atomic
def committee_close(*, committee: Committee, actor: User, request: HttpRequest | None = None) -> Committee:
    """Close the review: every sheet is locked from now on (submitted ones count, drafts never will)."""
    operator_ensure(actor)
    committee = Committee.objects.select_for_update().get(pk=committee.pk)
    committee_ensure_open(committee)
    counts = ScoreSheet.objects.filter(assignment__member__committee=committee).aggregate(
        submitted=Count("pk", filter=Q(status=ScoreSheet.Status.SUBMITTED)),
        draft=Count("pk", filter=Q(status=ScoreSheet.Status.DRAFT)),
    )
    committee.status = Committee.Status.CLOSED
    committee.closed_at = timeutils.now()
    committee.save(update_fields=["status", "closed_at", "updated_at"])
    audit_record(
        action="reviews.committee_closed",
        actor=actor,
        target=committee,
        summary=committee.name,
        data={"submitted_sheets": counts["submitted"], "draft_sheets": counts["draft"]},
        request=request,
    )
    return committee
