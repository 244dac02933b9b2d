"""Exports of a committee's work: score sheets and ranking to Excel, the minutes as a PDF.

Every export carries scores and company names outside the platform, so each one is a sensitive read and
writes an audit event naming who took what. Scores are read only through ``submitted_sheets``, so a sheet
of a conflicted pair never reaches a file.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext as _
from openpyxl import Workbook

from medbroker.accounts.models import User
from medbroker.audit.services import audit_record
from medbroker.core import timeutils
from medbroker.core.excel import (
    DATETIME_FORMAT,
    kst_naive,
    sheet_write,
    workbook_bytes,
)
from medbroker.core.pdf import pdf_render
from medbroker.reviews.models import Committee, CommitteeMember, Conflict, ScoreSheet
from medbroker.reviews.selectors.committee import sheet_total, submitted_sheets
from medbroker.reviews.selectors.ranking import (
    decisions_by_application,
    ranking_for_committee,
    rubric_items,
    tie_break_labels,
)

MINUTES_TEMPLATE = "reviews/ranking/minutes_pdf.html"
# Excel refuses these in a sheet title, and a title is at most 31 characters.
_SHEET_TITLE_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")


def _sheet_title(member: CommitteeMember, number: int, used: set[str]) -> str:
    title = _SHEET_TITLE_FORBIDDEN.sub("_", f"{number}. {member.user}")[:31]
    while title in used:
        title = f"{title[:28]}_{number}"
    used.add(title)
    return title


# ---------------------------------------------------------------------------------------------------------
# Score sheets, one worksheet per reviewer
# ---------------------------------------------------------------------------------------------------------


def score_sheet_headers(committee: Committee) -> list[str]:
    headers = [_("접수번호"), _("기업명"), _("과제명")]
    for item in rubric_items(committee):
        headers += [f"{item.indicator}({item.max_points})", _("%(item)s 의견") % {"item": item.indicator}]
    return [*headers, _("합계"), _("종합 의견"), _("제출 시각(KST)")]


def _score_sheet_row(sheet: ScoreSheet, codes: Sequence[str]) -> list[Any]:
    application = sheet.assignment.application
    entries = {entry.rubric_item.code: entry for entry in sheet.entries.all()}
    row: list[Any] = [application.receipt_number or "", application.company.name, application.project_title]
    for code in codes:
        entry = entries.get(code)
        row += [entry.points if entry else None, entry.comment if entry else ""]
    return [*row, sheet_total(sheet), sheet.overall_comment, kst_naive(sheet.submitted_at)]


def score_sheets_workbook(committee: Committee, *, actor: User, request: HttpRequest | None = None) -> bytes:
    """One worksheet per reviewer (seat order) with each submitted sheet: points and comment per item.

    Only submitted sheets of non-conflicted pairs: a draft is not a score, and a conflicted pair's sheet
    must not exist anywhere outside the audit log.
    """
    codes = [item.code for item in rubric_items(committee)]
    headers = score_sheet_headers(committee)
    by_member: dict[CommitteeMember, list[ScoreSheet]] = defaultdict(list)
    for sheet in submitted_sheets(committee):
        by_member[sheet.assignment.member].append(sheet)

    workbook = Workbook()
    workbook.remove(workbook.active)
    used: set[str] = set()
    counts: dict[str, int] = {}
    for number, member in enumerate(sorted(by_member, key=lambda m: m.pk), start=1):
        sheets = sorted(
            by_member[member], key=lambda s: (s.assignment.application.receipt_number or "", s.pk)
        )
        worksheet = workbook.create_sheet(_sheet_title(member, number, used))
        sheet_write(worksheet, headers, [_score_sheet_row(sheet, codes) for sheet in sheets])
        for (cell,) in worksheet.iter_rows(min_row=2, min_col=len(headers), max_col=len(headers)):
            cell.number_format = DATETIME_FORMAT
        counts[member.user.username] = len(sheets)
    if not by_member:
        worksheet = workbook.create_sheet(_("평가표"))
        sheet_write(worksheet, headers, [])
        worksheet.append([_("제출된 평가표가 없습니다.")])
    content = workbook_bytes(workbook)
    audit_record(
        action="reviews.score_sheets_exported",
        actor=actor,
        target=committee,
        summary=f"exported {sum(counts.values())} score sheets of {committee.call.slug}",
        data={"call": committee.call.slug, "sheets": sum(counts.values()), "sheets_by_reviewer": counts},
        request=request,
    )
    return content


# ---------------------------------------------------------------------------------------------------------
# Ranking
# ---------------------------------------------------------------------------------------------------------


def ranking_headers(committee: Committee) -> list[str]:
    return [
        _("순위"),
        _("접수번호"),
        _("기업명"),
        _("과제명"),
        _("평가위원 수"),
        _("서면평가 점수"),
        _("제외 전 평균"),
        _("제외한 최고점"),
        _("제외한 최저점"),
        _("우대사항 점수(확인분)"),
        _("최종 점수"),
        _("기준 점수"),
        _("동점 처리"),
        *[_("%(item)s 평균") % {"item": item.indicator} for item in rubric_items(committee)],
        _("선정 결과"),
    ]


def committee_settings_rows(committee: Committee) -> list[tuple[str, str]]:
    """The scoring method as (label, value) lines, shared by the ranking workbook and the minutes."""
    aggregation = str(committee.get_aggregation_display())
    if committee.aggregation == Committee.Aggregation.TRIMMED_MEAN:
        aggregation += _(" (평가위원 %(n)s명 이상일 때)") % {"n": committee.trim_min_reviewers}
    return [
        (_("채점 방식"), str(committee.get_scale_display())),
        (_("점수 집계"), aggregation),
        (_("선정 기준 점수"), f"{committee.cutoff_score:.2f}"),
        (_("기준 점수 적용 대상"), str(committee.get_cutoff_basis_display())),
        (_("동점 처리 순서"), " → ".join([_("최종 점수"), *tie_break_labels(committee)])),
        (_("편차 경고 기준(점)"), f"{committee.outlier_threshold:.2f}"),
    ]


def ranking_workbook(committee: Committee, *, actor: User, request: HttpRequest | None = None) -> bytes:
    """The ranking table as on the ranking page, with the decisions so far; a second sheet states the method."""
    codes = [item.code for item in rubric_items(committee)]
    decisions = decisions_by_application(committee)
    rows = []
    ranked = ranking_for_committee(committee)
    for row in ranked:
        application = row.subject
        decision = decisions.get(application.pk)
        rows.append(
            [
                row.rank,
                application.receipt_number or "",
                application.company.name,
                application.project_title,
                row.aggregate.n,
                row.review_score,
                row.aggregate.untrimmed_mean,
                row.aggregate.dropped_high,
                row.aggregate.dropped_low,
                row.bonus_score,
                row.final_score,
                row.status_label,
                row.tie_note,
                *[row.item_means.get(code) for code in codes],
                str(decision.get_outcome_display()) if decision else "",
            ]
        )
    workbook = Workbook()
    sheet_write(workbook.active, ranking_headers(committee), rows)
    workbook.active.title = _("순위")
    method = workbook.create_sheet(_("평가 방식"))
    sheet_write(
        method,
        [_("항목"), _("내용")],
        [
            (_("공모"), committee.call.title),
            (_("평가위원회"), committee.name),
            *committee_settings_rows(committee),
            (_("출력 시각(KST)"), timeutils.to_kst(timeutils.now()).strftime("%Y-%m-%d %H:%M:%S")),
        ],
    )
    content = workbook_bytes(workbook)
    audit_record(
        action="reviews.ranking_exported",
        actor=actor,
        target=committee,
        summary=f"exported the ranking of {committee.call.slug}",
        data={"call": committee.call.slug, "applications": len(ranked)},
        request=request,
    )
    return content


# ---------------------------------------------------------------------------------------------------------
# Minutes (PDF)
# ---------------------------------------------------------------------------------------------------------


def minutes_context(committee: Committee) -> dict[str, Any]:
    """Everything the minutes print: the call, the date, members present, conflicts and their decisions,
    the scoring method, the ranking with each outcome, and a signature line per member (chair first)."""
    members = list(
        CommitteeMember.objects.filter(committee=committee)
        .select_related("user", "organisation")
        .order_by("-is_chair", "pk")
    )
    conflicts = list(
        Conflict.objects.filter(member__committee=committee)
        .select_related("member__user", "application__company", "decided_by")
        .order_by("application__receipt_number", "member_id", "kind")
    )
    decisions = decisions_by_application(committee)
    rows = [(row, decisions.get(row.subject.pk)) for row in ranking_for_committee(committee)]
    held_on = timeutils.to_kst(committee.closed_at or timeutils.now()).date()
    return {
        "committee": committee,
        "call": committee.call,
        "held_on": held_on,
        "members": members,
        "chair": next((m for m in members if m.is_chair), None),
        "conflicts": conflicts,
        "settings_rows": committee_settings_rows(committee),
        "rows": rows,
        "cutoff": committee.cutoff_score,
        "printed_at": timeutils.to_kst(timeutils.now()),
    }


def minutes_pdf(committee: Committee, *, actor: User, request: HttpRequest | None = None) -> bytes:
    context = minutes_context(committee)
    content = pdf_render(MINUTES_TEMPLATE, context)
    audit_record(
        action="reviews.minutes_exported",
        actor=actor,
        target=committee,
        summary=f"exported the minutes of {committee.call.slug}",
        data={
            "call": committee.call.slug,
            "applications": len(context["rows"]),
            "conflicts": len(context["conflicts"]),
        },
        request=request,
    )
    return content
