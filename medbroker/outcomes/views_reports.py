"""The results report pages (step ⑥): the list, the report with its editing and review, attachments, PDF.

Operators and auditors read every report; an applicant reads its company's (another company's is 404).
Only the company's members write a report and only operators review one; an auditor changes nothing.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.db.models import QuerySet
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from medbroker.accounts.models import Role
from medbroker.accounts.permissions import STAFF_READ_ROLES, role_required
from medbroker.agreements.models import Agreement
from medbroker.agreements.selectors import agreement_for_user, agreements_visible_to, user_is_company_member
from medbroker.calls.models import Call
from medbroker.calls.services.documents import CONTENT_TYPES
from medbroker.core import timeutils
from medbroker.core.errors import DomainError, NotFoundError
from medbroker.core.tables import table_build
from medbroker.outcomes.forms import (
    OUTCOME_PREFIX,
    AttachmentForm,
    ReportFilterForm,
    ReportForm,
    ReviewForm,
    outcome_empty_row,
    outcome_formset,
)
from medbroker.outcomes.models import ResultsReport
from medbroker.outcomes.selectors.reports import (
    REPORTABLE_AGREEMENT_STATUSES,
    report_attachment_for_user,
    report_deadline,
    report_for_user,
    report_history,
    report_is_editable,
    report_is_late,
    report_is_overdue,
    report_missing_sections,
    reports_filter,
    reports_visible_to,
    section_label,
)
from medbroker.outcomes.services.exports import report_pdf
from medbroker.outcomes.services.reports import (
    report_attachment_add,
    report_attachment_open,
    report_attachment_remove,
    report_open,
    report_review,
    report_submit,
    report_update,
)
from medbroker.outcomes.views_common import download, found_or_404, link, request_user, stamp

REPORT_READ_ROLES = (*STAFF_READ_ROLES, Role.APPLICANT)
SORTABLE: dict[str, str | tuple[str, ...]] = {
    "agreement": "agreement__number",
    "company": "agreement__company__name",
    "status": "status",
    "due": "due_on",
    "submitted": "submitted_at",
}


def _report(request: HttpRequest, pk: int) -> ResultsReport:
    try:
        return report_for_user(request_user(request), pk)
    except NotFoundError as error:
        raise found_or_404(error) from None


# ---------------------------------------------------------------------------------------------------------
# List
# ---------------------------------------------------------------------------------------------------------


def _filtered(reports: QuerySet[ResultsReport], form: ReportFilterForm) -> QuerySet[ResultsReport]:
    if not form.is_valid():
        return reports
    data = form.cleaned_data
    return reports_filter(
        reports, call_slug=data.get("call") or "", status=data.get("status") or "", due=data.get("due") or ""
    )


def _unopened(request: HttpRequest) -> list[Agreement]:
    """Agreements that owe a report and have none yet, each with an "open" button for who may open it."""
    user = request_user(request)
    if not user.has_role(Role.OPERATOR, Role.APPLICANT):
        return []
    agreements = agreements_visible_to(user).filter(
        status__in=REPORTABLE_AGREEMENT_STATUSES, results_report__isnull=True
    )
    if not user.has_role(Role.OPERATOR):
        return [a for a in agreements.order_by("number") if user_is_company_member(a, user)]
    return list(agreements.order_by("number"))


@role_required(*REPORT_READ_ROLES)
def report_list(request: HttpRequest) -> HttpResponse:
    user = request_user(request)
    calls = [
        (call.slug, call.title)
        for call in Call.objects.filter(agreements__results_report__isnull=False)
        .distinct()
        .order_by("-intake_opens_at")
    ]
    filter_form = ReportFilterForm(request.GET or None, calls=calls)
    reports = _filtered(reports_visible_to(user), filter_form)
    table = table_build(request, reports, sortable=SORTABLE, default_sort="due")
    now = timeutils.now()
    rows = [
        {
            "report": report,
            "late": report_is_late(report),
            "overdue": report_is_overdue(report, at=now),
        }
        for report in table.page.object_list
    ]
    return render(
        request,
        "outcomes/reports/list.html",
        {
            "table": table,
            "rows": rows,
            "filter_form": filter_form,
            "is_staff": user.has_role(*STAFF_READ_ROLES),
            "unopened": _unopened(request),
        },
    )


@role_required(Role.OPERATOR, Role.APPLICANT)
@require_POST
def report_open_view(request: HttpRequest, pk: int) -> HttpResponse:
    user = request_user(request)
    try:
        agreement = agreement_for_user(user, pk)
    except NotFoundError as error:
        raise found_or_404(error) from None
    try:
        report = report_open(agreement=agreement, actor=user, request=request)
    except DomainError as error:
        if error.status_code == 403:
            raise
        messages.error(request, str(error.message))
        return redirect("outcomes:report_list")
    return redirect("outcomes:report_detail", pk=report.pk)


# ---------------------------------------------------------------------------------------------------------
# One report
# ---------------------------------------------------------------------------------------------------------


def _detail_context(request: HttpRequest, report: ResultsReport, **forms: Any) -> dict[str, Any]:
    user = request_user(request)
    agreement = report.agreement
    can_edit = user_is_company_member(agreement, user) and report_is_editable(report)
    can_review = user.has_role(Role.OPERATOR) and report.status == ResultsReport.Status.SUBMITTED
    missing = report_missing_sections(report)
    context: dict[str, Any] = {
        "report": report,
        "agreement": agreement,
        "can_edit": can_edit,
        "can_review": can_review,
        "is_member": user_is_company_member(agreement, user),
        "missing": [section_label(name) for name in missing],
        "is_late": report_is_late(report),
        "is_overdue": report_is_overdue(report, at=timeutils.now()),
        "deadline": report_deadline(report),
        "outcomes": list(report.outcomes.all()),
        "attachments": list(report.attachments.select_related("uploaded_by")),
        "reviews": list(report.reviews.select_related("reviewed_by")),
        "history": report_history(report),
        "agreement_url": link("agreements:agreement_detail", agreement.pk),
        "prefix": OUTCOME_PREFIX,
    }
    if can_edit:
        context["form"] = forms.get("form") or ReportForm(instance=report)
        context["formset"] = forms.get("formset") or outcome_formset(report)
        context["attachment_form"] = forms.get("attachment_form") or AttachmentForm()
    if can_review:
        context["review_form"] = forms.get("review_form") or ReviewForm()
    return context


def _detail_or_back(
    request: HttpRequest, report: ResultsReport, form_name: str, **forms: Any
) -> HttpResponse:
    """The page again with the refused form and its errors (400); when the report can no longer take that
    form (submitted meanwhile, reviewed by someone else), back to the page with the reason as a message."""
    report.refresh_from_db()
    context = _detail_context(request, report, **forms)
    if form_name not in context:
        form = forms[form_name]
        messages.error(request, " ".join(str(e) for errors in form.errors.values() for e in errors))
        return redirect("outcomes:report_detail", pk=report.pk)
    return render(request, "outcomes/reports/detail.html", context, status=400)


@role_required(*REPORT_READ_ROLES)
def report_detail(request: HttpRequest, pk: int) -> HttpResponse:
    report = _report(request, pk)
    return render(request, "outcomes/reports/detail.html", _detail_context(request, report))


@role_required(Role.APPLICANT)
@require_POST
def report_save(request: HttpRequest, pk: int) -> HttpResponse:
    report = _report(request, pk)
    form = ReportForm(request.POST, instance=ResultsReport.objects.get(pk=report.pk))
    formset = outcome_formset(report, request.POST)
    if form.is_valid() and formset.is_valid():
        fields = {name: form.cleaned_data.get(name) for name in form.fields}
        try:
            report_update(
                report=report,
                actor=request_user(request),
                fields=fields,
                outcomes=formset.rows(),  # type: ignore[attr-defined]
                request=request,
            )
        except DomainError as error:
            if error.status_code == 403:
                raise
            form.add_error(error.field if error.field in form.fields else None, str(error.message))
        else:
            messages.success(request, _("결과보고서를 저장했습니다."))
            return redirect("outcomes:report_detail", pk=report.pk)
    return _detail_or_back(request, report, "form", form=form, formset=formset)


@role_required(Role.APPLICANT)
def report_outcome_row(request: HttpRequest, pk: int) -> HttpResponse:
    """One blank outcome row for the "행 추가" button (htmx), with the formset's new total."""
    _report(request, pk)
    try:
        index = max(0, min(int(request.GET.get(f"{OUTCOME_PREFIX}-TOTAL_FORMS", "0")), 99))
    except ValueError:
        index = 0
    return render(
        request,
        "outcomes/reports/_outcome_row.html",
        {"form": outcome_empty_row(index), "prefix": OUTCOME_PREFIX, "total": index + 1, "oob": True},
    )


@role_required(Role.APPLICANT)
@require_POST
def report_submit_view(request: HttpRequest, pk: int) -> HttpResponse:
    report = _report(request, pk)
    try:
        report = report_submit(report=report, actor=request_user(request), request=request)
    except DomainError as error:
        if error.status_code == 403:
            raise
        messages.error(request, str(error.message))
    else:
        if report_is_late(report):
            messages.warning(
                request,
                _("결과보고서를 제출했습니다. 제출 기한(%(due)s)이 지나 기한 후 제출로 기록됩니다.")
                % {"due": report.due_on.isoformat()},
            )
        else:
            messages.success(request, _("결과보고서를 제출했습니다. 운영자가 검토합니다."))
    return redirect("outcomes:report_detail", pk=report.pk)


@role_required(Role.OPERATOR)
@require_POST
def report_review_view(request: HttpRequest, pk: int) -> HttpResponse:
    report = _report(request, pk)
    form = ReviewForm(request.POST)
    if form.is_valid():
        try:
            report_review(
                report=report,
                actor=request_user(request),
                verdict=form.cleaned_data["verdict"],
                comment=form.cleaned_data["comment"],
                request=request,
            )
        except DomainError as error:
            if error.status_code == 403:
                raise
            form.add_error(error.field if error.field in form.fields else None, str(error.message))
        else:
            verdict = form.cleaned_data["verdict"]
            messages.success(
                request,
                _("결과보고서를 승인했습니다.") if verdict == "accepted" else _("보완 요청을 보냈습니다."),
            )
            return redirect("outcomes:report_detail", pk=report.pk)
    return _detail_or_back(request, report, "review_form", review_form=form)


# ---------------------------------------------------------------------------------------------------------
# Attachments and the PDF
# ---------------------------------------------------------------------------------------------------------


@role_required(Role.APPLICANT)
@require_POST
def report_attachment_add_view(request: HttpRequest, pk: int) -> HttpResponse:
    report = _report(request, pk)
    form = AttachmentForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            attachment = report_attachment_add(
                report=report, upload=form.cleaned_data["file"], actor=request_user(request), request=request
            )
        except DomainError as error:
            if error.status_code == 403:
                raise
            form.add_error("file", str(error.message))
        else:
            messages.success(
                request, _("'%(name)s' 파일을 첨부했습니다.") % {"name": attachment.original_name}
            )
            return redirect("outcomes:report_detail", pk=report.pk)
    return _detail_or_back(request, report, "attachment_form", attachment_form=form)


@role_required(Role.APPLICANT)
@require_POST
def report_attachment_remove_view(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        attachment = report_attachment_for_user(request_user(request), pk)
    except NotFoundError as error:
        raise found_or_404(error) from None
    report_pk = attachment.report_id
    try:
        report_attachment_remove(attachment=attachment, actor=request_user(request), request=request)
    except DomainError as error:
        if error.status_code == 403:
            raise
        messages.error(request, str(error.message))
    else:
        messages.success(request, _("'%(name)s' 파일을 삭제했습니다.") % {"name": attachment.original_name})
    return redirect("outcomes:report_detail", pk=report_pk)


@role_required(*REPORT_READ_ROLES)
def report_attachment(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        attachment = report_attachment_for_user(request_user(request), pk)
    except NotFoundError as error:
        raise found_or_404(error) from None
    stream = report_attachment_open(attachment=attachment, actor=request_user(request), request=request)
    response = FileResponse(
        stream,
        as_attachment=True,
        filename=attachment.original_name,
        content_type=CONTENT_TYPES.get(attachment.detected_type, "application/octet-stream"),
    )
    response["Cache-Control"] = "private, no-store"
    # A streaming response; role_required only passes it on.
    return response  # type: ignore[return-value]


@role_required(*REPORT_READ_ROLES)
def report_pdf_view(request: HttpRequest, pk: int) -> HttpResponse:
    report = _report(request, pk)
    content = report_pdf(report, actor=request_user(request), request=request)
    return download(
        content,
        content_type="application/pdf",
        filename=f"results-report-{report.agreement.number}-{stamp()}.pdf",
        inline=True,
    )
