"""The ranking page, the operator's decisions, publication and the exports.

Operators and auditors read everything; only operators decide and publish (an auditor's POST is 403). The
committee chair reads the ranking and the reviewer statistics without buttons, and without the
applications the chair is conflicted on. Exports are for operators and auditors, each one audit-logged.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from medbroker.accounts.models import Role, User
from medbroker.accounts.permissions import STAFF_READ_ROLES, role_required
from medbroker.calls.models import Application
from medbroker.core import timeutils
from medbroker.core.errors import DomainError
from medbroker.core.excel import XLSX_CONTENT_TYPE
from medbroker.reviews.forms_decisions import DecisionForm
from medbroker.reviews.models import Committee, Decision
from medbroker.reviews.selectors.ranking import (
    RankingAccess,
    decisions_by_application,
    ranking_access,
    ranking_for_committee,
    reviewer_statistics_for_committee,
    rubric_items,
)
from medbroker.reviews.services.decisions import decision_record, decisions_publish
from medbroker.reviews.services.exports import (
    committee_settings_rows,
    minutes_pdf,
    ranking_workbook,
    score_sheets_workbook,
)
from medbroker.reviews.services.ranking import RankedRow


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _chart_data(rows: list[RankedRow], committee: Committee) -> dict[str, Any]:
    scored = [row for row in rows if row.final_score is not None]
    return {
        "labels": [row.subject.receipt_number or str(row.subject.pk) for row in scored],
        "companies": [row.subject.company.name for row in scored],
        "review": [float(row.review_score or 0) for row in scored],
        "bonus": [float(row.bonus_score) for row in scored],
        "passing": [row.passes_cutoff for row in scored],
        "cutoff": float(committee.cutoff_score),
        "review_label": _("서면평가 점수"),
        "bonus_label": _("우대사항 점수"),
        "cutoff_label": _("선정 기준 점수"),
    }


def _ranking_context(access: RankingAccess, user: User) -> dict[str, Any]:
    committee = access.committee
    rows = [
        row for row in ranking_for_committee(committee) if row.subject.pk not in access.hidden_application_ids
    ]
    decisions = decisions_by_application(committee)
    lines = []
    below_seen = False
    for row in rows:
        first_below = not row.passes_cutoff and not below_seen
        below_seen = below_seen or first_below
        lines.append({"row": row, "decision": decisions.get(row.subject.pk), "first_below": first_below})
    undecided = sum(1 for line in lines if line["decision"] is None)
    published = any(d.published_at for d in decisions.values())
    return {
        "committee": committee,
        "call": committee.call,
        "access": access,
        "lines": lines,
        "items": rubric_items(committee),
        "settings_rows": committee_settings_rows(committee),
        "statistics": reviewer_statistics_for_committee(
            committee, hidden_application_ids=access.hidden_application_ids
        ),
        "chart": _chart_data(rows, committee),
        "hidden_count": len(access.hidden_application_ids),
        "undecided": undecided,
        "published": published,
        "can_decide": access.is_staff and committee.status == Committee.Status.CLOSED and not published,
        "is_closed": committee.status == Committee.Status.CLOSED,
        "is_operator": access.is_staff and user.has_role(Role.OPERATOR),
    }


@role_required(*STAFF_READ_ROLES, Role.REVIEWER)
def ranking(request: HttpRequest, pk: int) -> HttpResponse:
    access = ranking_access(user=_user(request), pk=pk)
    return render(request, "reviews/ranking/ranking.html", _ranking_context(access, _user(request)))


def _committee_application(committee: Committee, application_pk: int) -> Application:
    return get_object_or_404(
        Application.objects.select_related("company", "call", "compute_option"),
        pk=application_pk,
        call_id=committee.call_id,
    )


@role_required(Role.OPERATOR)
@require_http_methods(["GET", "POST"])
def decision_edit(request: HttpRequest, pk: int, application_pk: int) -> HttpResponse:
    committee = get_object_or_404(Committee.objects.select_related("call"), pk=pk)
    application = _committee_application(committee, application_pk)
    row = next((r for r in ranking_for_committee(committee) if r.subject.pk == application.pk), None)
    if row is None:
        raise Http404(_("평가 대상이 아닌 신청서입니다."))
    decision = Decision.objects.filter(application=application).first()
    status = 200
    if request.method == "POST":
        form = DecisionForm(request.POST, application=application)
        if form.is_valid():
            try:
                decision_record(
                    application=application, actor=_user(request), request=request, **form.cleaned_data
                )
            except DomainError as error:
                form.add_error(error.field if error.field in form.fields else None, str(error.message))
            else:
                messages.success(
                    request,
                    _("%(receipt)s 선정 결과를 저장했습니다.") % {"receipt": application.receipt_number},
                )
                return redirect("reviews:ranking", pk=committee.pk)
        status = 400
    else:
        form = DecisionForm(application=application, decision=decision)
    return render(
        request,
        "reviews/ranking/decision_edit.html",
        {
            "committee": committee,
            "application": application,
            "row": row,
            "decision": decision,
            "form": form,
            "call": committee.call,
        },
        status=status,
    )


@role_required(Role.OPERATOR)
@require_POST
def decisions_publish_view(request: HttpRequest, pk: int) -> HttpResponse:
    committee = get_object_or_404(Committee.objects.select_related("call"), pk=pk)
    try:
        count = decisions_publish(committee=committee, actor=_user(request), request=request)
    except DomainError as error:
        messages.error(request, str(error.message))
    else:
        messages.success(request, _("선정 결과 %(n)s건을 기업에 공개했습니다.") % {"n": count})
    return redirect("reviews:ranking", pk=committee.pk)


def _download(content: bytes, *, content_type: str, filename: str, inline: bool = False) -> HttpResponse:
    response = HttpResponse(content, content_type=content_type)
    disposition = "inline" if inline else "attachment"
    response["Content-Disposition"] = f'{disposition}; filename="{filename}"'
    response["Cache-Control"] = "private, no-store"
    return response


def _stamp() -> str:
    return timeutils.to_kst(timeutils.now()).strftime("%Y%m%d-%H%M")


@role_required(*STAFF_READ_ROLES)
def export_sheets(request: HttpRequest, pk: int) -> HttpResponse:
    committee = get_object_or_404(Committee.objects.select_related("call"), pk=pk)
    content = score_sheets_workbook(committee, actor=_user(request), request=request)
    return _download(
        content,
        content_type=XLSX_CONTENT_TYPE,
        filename=f"score-sheets-{committee.call.slug}-{_stamp()}.xlsx",
    )


@role_required(*STAFF_READ_ROLES)
def export_ranking(request: HttpRequest, pk: int) -> HttpResponse:
    committee = get_object_or_404(Committee.objects.select_related("call"), pk=pk)
    content = ranking_workbook(committee, actor=_user(request), request=request)
    return _download(
        content, content_type=XLSX_CONTENT_TYPE, filename=f"ranking-{committee.call.slug}-{_stamp()}.xlsx"
    )


@role_required(*STAFF_READ_ROLES)
def minutes_pdf_view(request: HttpRequest, pk: int) -> HttpResponse:
    committee = get_object_or_404(Committee.objects.select_related("call"), pk=pk)
    content = minutes_pdf(committee, actor=_user(request), request=request)
    return _download(
        content,
        content_type="application/pdf",
        filename=f"minutes-{committee.call.slug}-{_stamp()}.pdf",
        inline=True,
    )
