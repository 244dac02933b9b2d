"""What a reviewer sees: their queue, one assignment, its application's documents.

Everything here starts from :func:`~medbroker.reviews.selectors.committee.reviewer_assignments`, which
leaves out conflicted pairs, so a conflicted reviewer gets "not found" on every page and endpoint.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Prefetch
from django.http import Http404
from django.utils.translation import gettext as _

from medbroker.accounts.models import User
from medbroker.calls.models import Application, ApplicationDocument
from medbroker.calls.services.applications import PLAN_FIELDS, field_label
from medbroker.reviews.models import Assignment, Committee, CommitteeMember, ScoreSheet
from medbroker.reviews.selectors.committee import reviewer_assignments, sheet_total

# The state of an assignment's sheet as the queue, the matrix and the API name it.
SHEET_NONE = "none"


def assignment_sheet(assignment: Assignment) -> ScoreSheet | None:
    try:
        return assignment.sheet
    except ScoreSheet.DoesNotExist:  # reverse one-to-one: no sheet yet
        return None


def sheet_state(assignment: Assignment) -> str:
    sheet = assignment_sheet(assignment)
    return sheet.status if sheet is not None else SHEET_NONE


@dataclass
class QueueRow:
    assignment: Assignment
    state: str
    total: Decimal | None = None


@dataclass
class QueueCommittee:
    committee: Committee
    member: CommitteeMember
    rows: list[QueueRow] = field(default_factory=list)

    @property
    def submitted(self) -> int:
        return sum(1 for row in self.rows if row.state == ScoreSheet.Status.SUBMITTED)

    @property
    def percent(self) -> int:
        return round(100 * self.submitted / len(self.rows)) if self.rows else 0


def reviewer_queue(*, user: User) -> list[QueueCommittee]:
    """The reviewer's committees, each with its non-conflicted assignments and their progress."""
    seats = (
        CommitteeMember.objects.filter(user=user).select_related("committee__call").order_by("-committee_id")
    )
    queue = {seat.committee_id: QueueCommittee(committee=seat.committee, member=seat) for seat in seats}
    assignments = reviewer_assignments(user=user).prefetch_related("sheet__entries")
    for assignment in assignments:
        state = sheet_state(assignment)
        sheet = assignment_sheet(assignment)
        total = sheet_total(sheet) if sheet is not None else None
        queue[assignment.member.committee_id].rows.append(QueueRow(assignment, state, total))
    return list(queue.values())


def reviewer_assignment_get(*, user: User, pk: int) -> Assignment:
    """One of the reviewer's own non-conflicted assignments, with the application's documents; else 404."""
    assignment = (
        reviewer_assignments(user=user)
        .prefetch_related(
            Prefetch(
                "application__documents",
                queryset=ApplicationDocument.objects.select_related("requirement").order_by(
                    "requirement__number"
                ),
            )
        )
        .filter(pk=pk)
        .first()
    )
    if assignment is None:
        raise Http404(_("평가 배정을 찾을 수 없습니다."))
    return assignment


def reviewer_document_get(*, assignment: Assignment, pk: int) -> ApplicationDocument:
    for document in assignment.application.documents.all():
        if document.pk == pk:
            return document
    raise Http404(_("파일을 찾을 수 없습니다."))


def application_plan_sections(application: Application) -> list[tuple[str, str]]:
    """The plan as the company wrote it, section by section (label, text), in the application's order."""
    return [(field_label(name), getattr(application, name)) for name in PLAN_FIELDS]
