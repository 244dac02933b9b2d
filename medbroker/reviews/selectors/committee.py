"""Who may see what in a committee: conflicts of interest, assignments and submitted score sheets.

Every read of an application, a document or a score by a reviewer goes through these functions, so the
rule "a conflicted reviewer never sees the application" lives in one place: :func:`hiding_conflicts`.
Other parts of step ③ (ranking, exports) read scores through :func:`submitted_sheets`, which applies it too.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Case, Count, Exists, OuterRef, Q, QuerySet, When
from django.http import Http404
from django.utils.translation import gettext as _

from medbroker.accounts.models import User
from medbroker.calls.models import Application, Call
from medbroker.calls.selectors.applications import applications_with_relations
from medbroker.calls.services.eligibility import eligibility_is_met
from medbroker.reviews.models import Assignment, Committee, CommitteeMember, Conflict, ScoreSheet

# Statuses of a Conflict row that keep the application from the member. A pending 기피 hides too: the
# company has named a reviewer it fears is biased, and letting that reviewer read (and score) the
# application while the operator decides would make the decision moot; if it is rejected, the
# application comes back. A rejected 기피 is the only row that hides nothing.
HIDING_STATUSES = (Conflict.Status.UPHELD, Conflict.Status.PENDING)

# Applications a committee reviews: submitted, or resubmitted after a request for completion.
REVIEWABLE_STATUSES = (Application.Status.SUBMITTED, Application.Status.RESUBMITTED)

_TWO_PLACES = Decimal("0.01")


def hiding_conflicts() -> QuerySet[Conflict]:
    return Conflict.objects.filter(status__in=HIDING_STATUSES)


def _declared_relation_exists(*, member_ref: str, company_ref: str) -> Exists:
    relations = CommitteeMember.declared_relations.through.objects.filter(
        committeemember_id=OuterRef(member_ref), organisation_id=OuterRef(company_ref)
    )
    return Exists(relations)


def _pair_conflicted(*, member_ref: str, application_ref: str, company_ref: str) -> Q:
    """A condition over rows that reference a (member, application) pair: true when the pair conflicts.

    Built from EXISTS clauses only, so a member without an organisation (NULL) is simply not excluded by
    the organisation rule, instead of the three-valued logic of ``NOT (NULL = x)`` dropping the row.
    """
    same_organisation = Exists(
        CommitteeMember.objects.filter(pk=OuterRef(member_ref), organisation_id=OuterRef(company_ref))
    )
    declared = _declared_relation_exists(member_ref=member_ref, company_ref=company_ref)
    recorded = Exists(
        hiding_conflicts().filter(member_id=OuterRef(member_ref), application_id=OuterRef(application_ref))
    )
    return Q(same_organisation) | Q(declared) | Q(recorded)


def assignments_not_conflicted(assignments: QuerySet[Assignment] | None = None) -> QuerySet[Assignment]:
    """Assignments whose pair does not conflict. An assignment is removed when a conflict is upheld, but
    one that slipped through (a relation declared later, a pending 기피) is still filtered out here."""
    assignments = Assignment.objects.all() if assignments is None else assignments
    return assignments.exclude(
        _pair_conflicted(
            member_ref="member_id", application_ref="application_id", company_ref="application__company_id"
        )
    )


def automatic_exclusion_reason(member: CommitteeMember, application: Application) -> str:
    """Why the member is excluded (제척) by rule, or "" when no rule applies."""
    if member.organisation_id is not None and member.organisation_id == application.company_id:
        return _("위원 소속 기관이 신청 기업과 같음")
    if member.declared_relations.filter(pk=application.company_id).exists():
        return _("위원이 신청 기업과의 이해관계를 신고함")
    return ""


def member_is_conflicted(member: CommitteeMember, application: Application) -> bool:
    """True when the member must not see the application: an automatic 제척 (same organisation, or a
    declared relation with the company), any upheld Conflict, or a 기피 still waiting for a decision."""
    if automatic_exclusion_reason(member, application):
        return True
    return hiding_conflicts().filter(member=member, application=application).exists()


def members_visible_for(application: Application) -> QuerySet[CommitteeMember]:
    """The members of the application's committee who may see it (and whose scores count for it)."""
    return (
        CommitteeMember.objects.filter(committee__call_id=application.call_id)
        .exclude(organisation_id=application.company_id)
        .exclude(declared_relations=application.company_id)
        .exclude(Exists(hiding_conflicts().filter(member_id=OuterRef("pk"), application=application)))
        .select_related("user", "organisation")
        .order_by("pk")
    )


def member_for_user(*, user: User, committee: Committee) -> CommitteeMember | None:
    if not user.is_authenticated:
        return None
    return CommitteeMember.objects.filter(committee=committee, user=user).first()


def reviewer_assignments(*, user: User, committee: Committee | None = None) -> QuerySet[Assignment]:
    """The signed-in reviewer's own assignments that do not conflict, over one committee or all."""
    if not user.is_authenticated:
        return Assignment.objects.none()
    assignments = Assignment.objects.filter(member__user=user)
    if committee is not None:
        assignments = assignments.filter(member__committee=committee)
    return (
        assignments_not_conflicted(assignments)
        .select_related("member__committee__call", "application__company", "application__call", "sheet")
        .order_by("member__committee_id", "application__receipt_number", "pk")
    )


def applications_for_reviewer(*, user: User, committee: Committee) -> QuerySet[Application]:
    """The applications the user is assigned in the committee and not conflicted on. Nothing else: not
    the other applications of the call, not those of a conflict recorded after the assignment."""
    assigned = reviewer_assignments(user=user, committee=committee).values("application_id")
    return Application.objects.filter(pk__in=assigned).select_related("company").order_by("receipt_number")


def submitted_sheets(committee: Committee) -> QuerySet[ScoreSheet]:
    """The submitted score sheets of the committee whose assignment does not conflict: the only scores
    that count and the only ones anyone downstream (ranking, exports, results) may read."""
    assignments = assignments_not_conflicted(Assignment.objects.filter(member__committee=committee))
    return (
        ScoreSheet.objects.filter(status=ScoreSheet.Status.SUBMITTED, assignment__in=assignments)
        .select_related("assignment__member__user", "assignment__application__company")
        .prefetch_related("entries__rubric_item")
        .order_by("assignment__application_id", "assignment__member_id")
    )


def sheet_total(sheet: ScoreSheet) -> Decimal:
    """Sum of the sheet's item points, to two places; an item not yet scored counts 0."""
    total = sum((entry.points for entry in sheet.entries.all() if entry.points is not None), Decimal("0"))
    return total.quantize(_TWO_PLACES)


def committee_for_call(call: Call) -> Committee:
    committee = Committee.objects.filter(call=call).select_related("call").first()
    if committee is None:
        raise Http404(_("이 공모의 평가위원회가 없습니다."))
    return committee


def eligible_applications(committee: Committee) -> list[Application]:
    """Applications the committee reviews: submitted or resubmitted, and meeting the call's eligibility."""
    candidates = applications_with_relations(
        Application.objects.filter(call_id=committee.call_id, status__in=REVIEWABLE_STATUSES)
    ).order_by("receipt_number", "pk")
    return [application for application in candidates if eligibility_is_met(application)]


# ---------------------------------------------------------------------------------------------------------
# The operator's view of a committee
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CommitteeRow:
    committee: Committee
    members: int
    assignments: int
    submitted: int


def committees_list() -> list[CommitteeRow]:
    committees = (
        Committee.objects.select_related("call")
        .annotate(
            member_count=Count("members", distinct=True),
        )
        .order_by("-call__intake_opens_at", "pk")
    )
    assignments = dict(
        Assignment.objects.values("member__committee_id")
        .annotate(n=Count("pk"))
        .values_list("member__committee_id", "n")
    )
    submitted = dict(
        ScoreSheet.objects.filter(status=ScoreSheet.Status.SUBMITTED)
        .values("assignment__member__committee_id")
        .annotate(n=Count("pk"))
        .values_list("assignment__member__committee_id", "n")
    )
    return [
        CommitteeRow(c, c.member_count, assignments.get(c.pk, 0), submitted.get(c.pk, 0))  # type: ignore[attr-defined]
        for c in committees
    ]


def committee_get(pk: int) -> Committee:
    committee = Committee.objects.select_related("call").filter(pk=pk).first()
    if committee is None:
        raise Http404(_("평가위원회를 찾을 수 없습니다."))
    return committee


def committee_members(committee: Committee) -> QuerySet[CommitteeMember]:
    return (
        committee.members.select_related("user", "organisation")
        .prefetch_related("declared_relations")
        .order_by("-is_chair", "pk")
    )


def committee_conflicts(committee: Committee) -> QuerySet[Conflict]:
    """Pending 기피 first (they wait for a decision), then the rest, newest first."""
    return (
        Conflict.objects.filter(member__committee=committee)
        .select_related(
            "member__user", "member__organisation", "application__company", "requested_by", "decided_by"
        )
        .annotate(pending_first=Case(When(status=Conflict.Status.PENDING, then=0), default=1))
        .order_by("pending_first", "-created_at", "-pk")
    )


# The cell states of the assignment matrix, besides the sheet statuses "draft" and "submitted".
CELL_UNASSIGNED = "unassigned"
CELL_ASSIGNED = "none"  # assigned, no sheet opened yet
CELL_CONFLICT = "conflict"


@dataclass(frozen=True)
class MatrixCell:
    state: str
    label: str
    assignment: Assignment | None = None


@dataclass(frozen=True)
class MatrixRow:
    member: CommitteeMember
    cells: list[MatrixCell]
    submitted: int
    assigned: int


@dataclass(frozen=True)
class MatrixColumn:
    application: Application
    eligible: bool


@dataclass(frozen=True)
class AssignmentMatrix:
    columns: list[MatrixColumn]
    rows: list[MatrixRow]


def _conflict_label(kinds: dict[str, str]) -> str:
    # The strongest form names the cell: 제척 by rule before 회피 before 기피; a 기피 waiting says so.
    for kind in (Conflict.Kind.EXCLUSION, Conflict.Kind.RECUSAL, Conflict.Kind.CHALLENGE):
        if kind in kinds:
            label = str(Conflict.Kind(kind).label)
            return f"{label}({_('결정 대기')})" if kinds[kind] == Conflict.Status.PENDING else label
    return str(Conflict.Kind.EXCLUSION.label)


def assignment_matrix(committee: Committee) -> AssignmentMatrix:
    """Members × submitted applications with each pair's state, for the operator (who sees conflicts)."""
    eligible_ids = {application.pk for application in eligible_applications(committee)}
    applications = list(
        Application.objects.filter(call_id=committee.call_id, status__in=REVIEWABLE_STATUSES)
        .select_related("company")
        .order_by("receipt_number", "pk")
    )
    members = list(committee_members(committee))
    assignments = {
        (a.member_id, a.application_id): a
        for a in Assignment.objects.filter(member__committee=committee).select_related("sheet")
    }
    conflicts: dict[tuple[int, int], dict[str, str]] = {}
    for conflict in hiding_conflicts().filter(member__committee=committee):
        conflicts.setdefault((conflict.member_id, conflict.application_id), {})[conflict.kind] = (
            conflict.status
        )
    rows = []
    for member in members:
        related = {org.pk for org in member.declared_relations.all()}
        cells = []
        for application in applications:
            pair = (member.pk, application.pk)
            automatic = application.company_id == member.organisation_id or application.company_id in related
            if automatic or pair in conflicts:
                kinds = conflicts.get(pair, {})
                if automatic:
                    kinds = {Conflict.Kind.EXCLUSION: Conflict.Status.UPHELD, **kinds}
                cells.append(MatrixCell(CELL_CONFLICT, _conflict_label(kinds)))
                continue
            assignment = assignments.get(pair)
            if assignment is None:
                cells.append(MatrixCell(CELL_UNASSIGNED, "–"))
                continue
            try:
                sheet = assignment.sheet
            except ScoreSheet.DoesNotExist:
                cells.append(MatrixCell(CELL_ASSIGNED, _("미작성"), assignment))
                continue
            cells.append(MatrixCell(sheet.status, str(sheet.get_status_display()), assignment))
        rows.append(
            MatrixRow(
                member=member,
                cells=cells,
                submitted=sum(1 for c in cells if c.state == ScoreSheet.Status.SUBMITTED),
                assigned=sum(1 for c in cells if c.assignment is not None),
            )
        )
    return AssignmentMatrix(
        columns=[MatrixColumn(a, a.pk in eligible_ids) for a in applications],
        rows=rows,
    )
