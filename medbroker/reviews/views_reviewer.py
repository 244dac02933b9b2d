"""The reviewer's pages: the queue, the score sheet with the application to read, documents, recusal.

Every page finds the assignment through ``selectors.reviewer.reviewer_assignment_get``: another
reviewer's assignment, or one the reviewer is conflicted on, is "not found" (404), never "forbidden",
so not even the existence of the application shows.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from medbroker.accounts.models import Role, User
from medbroker.accounts.permissions import role_required
from medbroker.calls.services.documents import CONTENT_TYPES, size_display
from medbroker.core.errors import DomainError
from medbroker.reviews.forms_committee import ReasonForm
from medbroker.reviews.models import Assignment, Committee, ScoreSheet
from medbroker.reviews.selectors.committee import sheet_total
from medbroker.reviews.selectors.reviewer import (
    application_plan_sections,
    assignment_sheet,
    reviewer_assignment_get,
    reviewer_document_get,
    reviewer_queue,
)
from medbroker.reviews.services.assignments import reviewer_document_open
from medbroker.reviews.services.conflicts import conflict_recuse
from medbroker.reviews.services.scoring import (
    GRADE_PERCENT,
    grade_points,
    rubric_items,
    score_sheet_for,
    score_sheet_save,
    score_sheet_submit,
)


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


@role_required(Role.REVIEWER)
def reviewer_queue_view(request: HttpRequest) -> HttpResponse:
    return render(request, "reviews/reviewer/queue.html", {"queue": reviewer_queue(user=_user(request))})


def _entries_from_post(request: HttpRequest, assignment: Assignment) -> dict[str, dict[str, str]]:
    entries = {}
    for item in rubric_items(assignment.member.committee):
        entries[item.code] = {
            "points": request.POST.get(f"points_{item.code}", ""),
            "grade": request.POST.get(f"grade_{item.code}", ""),
            "comment": request.POST.get(f"comment_{item.code}", ""),
        }
    return entries


def _sheet_page(
    request: HttpRequest,
    assignment: Assignment,
    *,
    typed: dict[str, dict[str, str]] | None = None,
    overall_comment: str | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> HttpResponse:
    committee = assignment.member.committee
    sheet = assignment_sheet(assignment)
    saved = {entry.rubric_item_id: entry for entry in sheet.entries.all()} if sheet else {}
    errors = errors or {}
    rows: list[dict[str, Any]] = []
    for item in rubric_items(committee):
        entry = saved.get(item.pk)
        value = {
            "points": "" if entry is None or entry.points is None else str(entry.points),
            "grade": entry.grade if entry else "",
            "comment": entry.comment if entry else "",
        }
        if typed is not None:
            value = typed[item.code]
        rows.append(
            {
                "item": item,
                "value": value,
                "error": errors.get(item.code, ""),
                "grades": [
                    (grade, percent, grade_points(grade, item.max_points))
                    for grade, percent in GRADE_PERCENT.items()
                ],
            }
        )
    locked = committee.status == Committee.Status.CLOSED or (
        sheet is not None and sheet.status == ScoreSheet.Status.SUBMITTED
    )
    documents = [
        {"document": document, "size": size_display(document.size)}
        for document in assignment.application.documents.all()
    ]
    context = {
        "assignment": assignment,
        "application": assignment.application,
        "committee": committee,
        "sheet": sheet,
        "sheet_total": sheet_total(sheet) if sheet else None,
        "rows": rows,
        "total_max": sum(row["item"].max_points for row in rows),
        "overall_comment": overall_comment
        if overall_comment is not None
        else (sheet.overall_comment if sheet else ""),
        "locked": locked,
        "five_grades": committee.scale == Committee.Scale.FIVE_GRADES,
        "plan": application_plan_sections(assignment.application),
        "documents": documents,
        "recuse_form": ReasonForm(),
    }
    return render(request, "reviews/reviewer/sheet.html", context, status=status)


@role_required(Role.REVIEWER)
@require_http_methods(["GET", "POST"])
def score_sheet_view(request: HttpRequest, assignment_pk: int) -> HttpResponse:
    assignment = reviewer_assignment_get(user=_user(request), pk=assignment_pk)
    if request.method == "GET":
        return _sheet_page(request, assignment)
    typed = _entries_from_post(request, assignment)
    overall_comment = request.POST.get("overall_comment", "")
    try:
        sheet = score_sheet_save(
            score_sheet_for(assignment, actor=_user(request)),
            entries=typed,
            overall_comment=overall_comment,
            actor=_user(request),
            request=request,
        )
    except DomainError as error:
        if error.status_code == 404:
            raise Http404(str(error.message)) from None
        messages.error(request, str(error.message))
        if error.status_code != 400:  # locked: closed committee or submitted sheet
            return redirect("reviews:score_sheet", assignment_pk=assignment.pk)
        # Shown again with what was typed, so nothing the reviewer wrote is lost.
        return _sheet_page(
            request,
            assignment,
            typed=typed,
            overall_comment=overall_comment,
            errors=error.details.get("errors", {}),
            status=400,
        )
    if request.POST.get("action") != "submit":
        messages.success(request, _("임시 저장했습니다."))
        return redirect("reviews:score_sheet", assignment_pk=assignment.pk)
    try:
        score_sheet_submit(sheet, actor=_user(request), request=request)
    except DomainError as error:
        if error.status_code == 404:
            raise Http404(str(error.message)) from None
        # The draft above is kept: the reviewer completes it and submits again.
        messages.error(request, str(error.message))
        return redirect("reviews:score_sheet", assignment_pk=assignment.pk)
    messages.success(request, _("평가표를 제출했습니다."))
    return redirect("reviews:reviewer_queue")


@role_required(Role.REVIEWER)
def reviewer_document(request: HttpRequest, assignment_pk: int, document_pk: int) -> HttpResponse:
    assignment = reviewer_assignment_get(user=_user(request), pk=assignment_pk)
    document = reviewer_document_get(assignment=assignment, pk=document_pk)
    try:
        stream = reviewer_document_open(
            assignment=assignment, document=document, actor=_user(request), request=request
        )
    except DomainError as error:
        raise Http404(str(error.message)) from None
    response = FileResponse(
        stream,
        as_attachment=True,
        filename=document.original_name,
        content_type=CONTENT_TYPES.get(document.detected_type, "application/octet-stream"),
    )
    response["Cache-Control"] = "private, no-store"
    return response  # type: ignore[return-value]


@role_required(Role.REVIEWER)
@require_POST
def recuse(request: HttpRequest, assignment_pk: int) -> HttpResponse:
    assignment = reviewer_assignment_get(user=_user(request), pk=assignment_pk)
    form = ReasonForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("회피 사유를 입력하세요."))
        return redirect("reviews:score_sheet", assignment_pk=assignment.pk)
    try:
        conflict_recuse(
            assignment.member, assignment.application, form.cleaned_data["reason"], request=request
        )
    except DomainError as error:
        messages.error(request, str(error.message))
        return redirect("reviews:score_sheet", assignment_pk=assignment.pk)
    messages.success(request, _("회피 신청했습니다. 이 신청서는 더 이상 배정되지 않습니다."))
    return redirect("reviews:reviewer_queue")
