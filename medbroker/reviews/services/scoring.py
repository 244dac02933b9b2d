"""Score sheets: a reviewer scores each rubric item of the call, saves drafts, submits.

Points are decimals with at most two places, from 0 to the item's maximum. Two places because that is
what the sheet stores and what the ranking averages: a value with more places would have to be rounded
silently, and a reviewer must find on the sheet exactly what they typed. Half points (7.5) are therefore
allowed, as are 7.25; the call does not forbid them, and refusing them would be a rule of our own.

On the five-grade scale (a call setting) the reviewer picks A–E and the points are derived:
A 100 %, B 80 %, C 60 %, D 40 %, E 20 % of the item's maximum, to two places.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction
from django.http import HttpRequest
from django.utils.translation import gettext as _

from medbroker.accounts.models import User
from medbroker.accounts.permissions import operator_ensure
from medbroker.audit.services import audit_record
from medbroker.calls.models import RubricItem
from medbroker.core import timeutils
from medbroker.core.errors import DomainError, NotFoundError
from medbroker.reviews.models import Assignment, Committee, ScoreEntry, ScoreSheet
from medbroker.reviews.selectors.committee import member_is_conflicted, sheet_total
from medbroker.reviews.services.assignments import committee_ensure_open

GRADE_PERCENT: dict[str, int] = {"A": 100, "B": 80, "C": 60, "D": 40, "E": 20}
_TWO_PLACES = Decimal("0.01")


def grade_points(grade: str, max_points: int) -> Decimal:
    """The points a grade is worth on an item: 'B' on a 15-point item is 12.00."""
    return (Decimal(max_points) * GRADE_PERCENT[grade] / 100).quantize(_TWO_PLACES)


@dataclass(frozen=True)
class _Entry:
    item: RubricItem
    points: Decimal | None
    grade: str
    comment: str


def rubric_items(committee: Committee) -> list[RubricItem]:
    return list(RubricItem.objects.filter(call_id=committee.call_id).order_by("order"))


def _points_parse(raw: Any, item: RubricItem) -> Decimal | None:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    try:
        # Through str: a float from JSON becomes its shortest decimal (7.5 → '7.5'), never 7.4999…
        points = Decimal(str(raw).strip())
    except (InvalidOperation, ValueError):
        raise ValueError(_("숫자로 입력하세요.")) from None
    if not points.is_finite():
        raise ValueError(_("숫자로 입력하세요."))
    if points < 0 or points > item.max_points:
        raise ValueError(_("0점부터 %(max)d점 사이로 입력하세요.") % {"max": item.max_points})
    if points != points.quantize(_TWO_PLACES):
        raise ValueError(_("소수점 둘째 자리까지만 입력할 수 있습니다."))
    return points.quantize(_TWO_PLACES)


def _entries_validate(committee: Committee, entries: dict[str, dict[str, Any]]) -> list[_Entry]:
    """All entries or none: every error is collected, keyed by rubric code, before anything is written."""
    items = {item.code: item for item in rubric_items(committee)}
    errors: dict[str, str] = {}
    parsed: list[_Entry] = []
    for code, values in entries.items():
        item = items.get(code)
        if item is None:
            errors[code] = _("이 공모의 평가 항목이 아닙니다.")
            continue
        values = values or {}
        comment = str(values.get("comment") or "").strip()
        if committee.scale == Committee.Scale.FIVE_GRADES:
            grade = str(values.get("grade") or "").strip().upper()
            if grade and grade not in GRADE_PERCENT:
                errors[code] = _("A~E 중 하나를 선택하세요.")
                continue
            points = grade_points(grade, item.max_points) if grade else None
            parsed.append(_Entry(item, points, grade, comment))
            continue
        try:
            points = _points_parse(values.get("points"), item)
        except ValueError as error:
            errors[code] = str(error)
            continue
        parsed.append(_Entry(item, points, "", comment))
    if errors:
        raise DomainError(
            "invalid_scores",
            _("점수를 확인하세요: %(items)s")
            % {"items": ", ".join(f"{items[c].item if c in items else c} – {m}" for c, m in errors.items())},
            details={"errors": errors},
        )
    return parsed


def _sheet_writable(sheet: ScoreSheet, actor: User) -> ScoreSheet:
    """Lock the sheet and refuse anyone but its non-conflicted member, a closed committee, a submitted sheet."""
    sheet = (
        ScoreSheet.objects.select_for_update()
        .select_related(
            "assignment__member__committee", "assignment__member__user", "assignment__application"
        )
        .get(pk=sheet.pk)
    )
    member = sheet.assignment.member
    # "Not found" rather than "forbidden": to anyone else the sheet does not exist (no hint of who scores what).
    if member.user_id != actor.pk or member_is_conflicted(member, sheet.assignment.application):
        raise NotFoundError("sheet_not_found", _("평가표를 찾을 수 없습니다."))
    committee_ensure_open(member.committee)
    if sheet.status == ScoreSheet.Status.SUBMITTED:
        raise DomainError("sheet_submitted", _("제출한 평가표는 수정할 수 없습니다."), status_code=409)
    return sheet


def score_sheet_for(assignment: Assignment, *, actor: User) -> ScoreSheet:
    """The assignment's sheet, created empty (draft) on the reviewer's first save. Refused like a write,
    before anything is created: a refused save must leave no empty sheet behind."""
    member = assignment.member
    if member.user_id != actor.pk or member_is_conflicted(member, assignment.application):
        raise NotFoundError("sheet_not_found", _("평가표를 찾을 수 없습니다."))
    committee_ensure_open(member.committee)
    sheet, _created = ScoreSheet.objects.get_or_create(assignment=assignment)
    return sheet


def _points_data(sheet: ScoreSheet) -> dict[str, object]:
    entries = sheet.entries.select_related("rubric_item").order_by("rubric_item__order")
    return {
        "points": {e.rubric_item.code: str(e.points) if e.points is not None else None for e in entries},
        "grades": {e.rubric_item.code: e.grade for e in entries if e.grade},
        "total": str(sheet_total(sheet)),
    }


@transaction.atomic
def score_sheet_save(
    sheet: ScoreSheet,
    *,
    entries: dict[str, dict[str, Any]],
    overall_comment: str | None = None,
    actor: User,
    request: HttpRequest | None = None,
) -> ScoreSheet:
    """Save a draft: only the items given change (an item given with empty points is cleared)."""
    sheet = _sheet_writable(sheet, actor)
    parsed = _entries_validate(sheet.assignment.member.committee, entries)
    for entry in parsed:
        ScoreEntry.objects.update_or_create(
            sheet=sheet,
            rubric_item=entry.item,
            defaults={"points": entry.points, "grade": entry.grade, "comment": entry.comment},
        )
    if overall_comment is not None:
        sheet.overall_comment = overall_comment.strip()
    sheet.save(update_fields=["overall_comment", "updated_at"])
    audit_record(
        action="reviews.score_sheet_saved",
        actor=actor,
        target=sheet,
        summary=str(sheet.assignment),
        data={"assignment_id": sheet.assignment_id, **_points_data(sheet)},
        request=request,
    )
    return sheet


@transaction.atomic
def score_sheet_submit(sheet: ScoreSheet, *, actor: User, request: HttpRequest | None = None) -> ScoreSheet:
    """Submit: every rubric item must carry points. From now on only an operator can reopen it."""
    sheet = _sheet_writable(sheet, actor)
    scored = set(sheet.entries.filter(points__isnull=False).values_list("rubric_item__code", flat=True))
    missing = [item for item in rubric_items(sheet.assignment.member.committee) if item.code not in scored]
    if missing:
        raise DomainError(
            "items_missing",
            _("채점하지 않은 항목이 있습니다: %(items)s")
            % {"items": ", ".join(f"{item.item}({item.indicator})" for item in missing)},
            details={"missing": [item.code for item in missing]},
        )
    sheet.status = ScoreSheet.Status.SUBMITTED
    sheet.submitted_at = timeutils.now()
    sheet.save(update_fields=["status", "submitted_at", "updated_at"])
    audit_record(
        action="reviews.score_sheet_submitted",
        actor=actor,
        target=sheet,
        summary=str(sheet.assignment),
        data={"assignment_id": sheet.assignment_id, **_points_data(sheet)},
        request=request,
    )
    return sheet


@transaction.atomic
def score_sheet_reopen(
    sheet: ScoreSheet, *, actor: User, reason: str, request: HttpRequest | None = None
) -> ScoreSheet:
    """An operator sends a submitted sheet back to draft (a reviewer's mistake), before the committee closes."""
    operator_ensure(actor)
    sheet = (
        ScoreSheet.objects.select_for_update()
        .select_related(
            "assignment__member__committee", "assignment__member__user", "assignment__application"
        )
        .get(pk=sheet.pk)
    )
    committee_ensure_open(sheet.assignment.member.committee)
    if sheet.status != ScoreSheet.Status.SUBMITTED:
        raise DomainError(
            "sheet_not_submitted", _("제출된 평가표만 재작성 상태로 되돌릴 수 있습니다."), status_code=409
        )
    reason = (reason or "").strip()
    if not reason:
        raise DomainError("reason_required", _("사유를 입력하세요."), field="reason")
    submitted_at = sheet.submitted_at
    sheet.status = ScoreSheet.Status.DRAFT
    sheet.submitted_at = None
    sheet.save(update_fields=["status", "submitted_at", "updated_at"])
    audit_record(
        action="reviews.score_sheet_reopened",
        actor=actor,
        target=sheet,
        summary=str(sheet.assignment),
        data={
            "assignment_id": sheet.assignment_id,
            "reason": reason,
            "submitted_at": submitted_at.isoformat() if submitted_at else None,
            **_points_data(sheet),
        },
        request=request,
    )
    return sheet
