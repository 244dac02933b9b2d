"""The company's application pages (step ②). Thin: read through selectors, change through services.

Only applicants reach the company pages, and only for their own company's applications (another company's
is 404). Operators and auditors may also open the receipt and download documents; they work from the console.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from medbroker.accounts.models import Role, User
from medbroker.accounts.permissions import STAFF_READ_ROLES, role_required
from medbroker.calls.forms_applications import (
    FORMSETS,
    ApplicationEditForms,
    UploadForm,
    WithdrawForm,
    formset_empty_row,
)
from medbroker.calls.models import Application
from medbroker.calls.selectors.applications import (
    application_document_get,
    application_get_for_company,
    application_get_for_user,
    applications_of_company,
    calls_for_application,
)
from medbroker.calls.selectors.calls import call_get_public, call_summary
from medbroker.calls.selectors.consultations import consultation_items_for_application
from medbroker.calls.services.applications import (
    EDITABLE_STATUSES,
    PLAN_FIELDS,
    application_checklist,
    application_company_actions,
    application_create,
    application_document_attach,
    application_document_open,
    application_live_for,
    application_resubmit,
    application_submit,
    application_update,
    application_withdraw,
    field_label,
)
from medbroker.calls.services.documents import CONTENT_TYPES, size_display
from medbroker.calls.services.eligibility import (
    company_address_in_daegu,
    documents_required,
    eligibility_evaluate,
    eligibility_is_met,
)
from medbroker.calls.services.receipts import receipt_context, receipt_pdf_render
from medbroker.core import timeutils
from medbroker.core.errors import DomainError

APPLICATION_VIEW_ROLES = (Role.APPLICANT, *STAFF_READ_ROLES)


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def application_overview(application: Application, *, for_company: bool) -> dict[str, object]:
    """The read-only parts shared by the company's pages and the operators' view."""
    results = eligibility_evaluate(application)
    checklist = application_checklist(application)
    requirements = sorted(application.call.required_documents.all(), key=lambda r: r.number)
    changes = list(application.status_changes.all())
    actions = application_company_actions(application)
    return {
        "application": application,
        "call": application.call,
        "call_summary": call_summary(application.call, when=timeutils.now()),
        "eligibility_results": results,
        "eligibility_by_criterion": {r.criterion.pk: r for r in results},
        "eligible": eligibility_is_met(application, results),
        "address_in_daegu": company_address_in_daegu(application.company.address),
        "checklist": checklist,
        "missing_count": sum(not item.done for item in checklist),
        "requirements": requirements,
        "requirements_by_code": {r.code: r for r in requirements},
        "required_codes": {r.code for r in documents_required(application)},
        "documents_by_requirement": {d.requirement_id: d for d in application.documents.all()},
        "plan_sections": [(field_label(name), getattr(application, name)) for name in PLAN_FIELDS],
        "status_changes": changes,
        "status_labels": dict(Application.Status.choices),
        "last_return": next(
            (c for c in reversed(changes) if c.to_status == Application.Status.RETURNED), None
        ),
        "can_edit": for_company and actions.edit,
        "can_upload": for_company and actions.edit,
        "can_submit": for_company and actions.submit,
        "can_resubmit": for_company and actions.resubmit,
        "can_withdraw": for_company and actions.withdraw,
        "upload_limit": size_display(settings.MEDBROKER_UPLOAD_MAX_BYTES),
    }


@role_required(Role.APPLICANT)
def application_list(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    return render(
        request,
        "calls/applications/list.html",
        {
            "applications": applications_of_company(user=user).order_by("-created_at"),
            "calls": calls_for_application(user=user),
        },
    )


@role_required(Role.APPLICANT)
@require_http_methods(["GET", "POST"])
def application_new(request: HttpRequest, slug: str) -> HttpResponse:
    user = _user(request)
    if user.organisation is None:
        raise PermissionDenied
    call = call_get_public(slug=slug)
    existing = application_live_for(call=call, company=user.organisation)
    if existing is not None:
        messages.info(request, _("이 공모에는 이미 신청서가 있습니다. 기존 신청서를 이어서 작성하세요."))
        return redirect("calls:application_detail", pk=existing.pk)
    if request.method == "POST":
        try:
            application = application_create(
                call=call, company=user.organisation, actor=user, request=request
            )
        except DomainError as error:
            messages.error(request, str(error.message))
        else:
            messages.success(request, _("신청서 작성을 시작했습니다. 항목을 채우고 저장하세요."))
            return redirect("calls:application_edit", pk=application.pk)
    return render(
        request,
        "calls/applications/new.html",
        {
            "call": call,
            "call_summary": call_summary(call, when=timeutils.now()),
            "consulted": consultation_items_for_application(company=user.organisation, call=call),
        },
    )


@role_required(Role.APPLICANT)
@require_http_methods(["GET", "POST"])
def application_edit(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    application = application_get_for_company(user=user, pk=pk)
    if application.status not in EDITABLE_STATUSES:
        messages.error(
            request,
            _("'%(status)s' 상태의 신청서는 수정할 수 없습니다.")
            % {"status": application.get_status_display()},
        )
        return redirect("calls:application_detail", pk=application.pk)
    # Read before the forms are bound: the plan form copies what was typed onto the instance.
    overview = application_overview(application, for_company=True)
    required_codes = {r.code for r in documents_required(application)}
    if request.method == "POST":
        forms = ApplicationEditForms(
            application, required_codes=required_codes, data=request.POST, files=request.FILES
        )
        if forms.is_valid():
            try:
                application_update(
                    application=application, actor=user, request=request, **forms.update_arguments()
                )
            except DomainError as error:
                forms.add_domain_error(error)
            else:
                messages.success(request, _("저장했습니다."))
                if "review" in request.POST:
                    return redirect("calls:application_detail", pk=application.pk)
                return redirect("calls:application_edit", pk=application.pk)
        status = 400
    else:
        forms = ApplicationEditForms(application, required_codes=required_codes)
        status = 200
    context = {
        **overview,
        "forms": forms,
        "files_lost": request.method == "POST" and bool(request.FILES),
    }
    return render(request, "calls/applications/edit.html", context, status=status)


@role_required(Role.APPLICANT)
def application_formset_row(request: HttpRequest, pk: int, prefix: str) -> HttpResponse:
    """One blank formset row for the "행 추가" button (htmx), with the formset's new total."""
    application = application_get_for_company(user=_user(request), pk=pk)
    if prefix not in FORMSETS:
        raise Http404
    try:
        index = max(0, min(int(request.GET.get(f"{prefix}-TOTAL_FORMS", "0")), 999))
    except ValueError:
        index = 0
    return render(
        request,
        "calls/applications/_formset_row.html",
        {
            "form": formset_empty_row(prefix, application, index),
            "prefix": prefix,
            "total": index + 1,
            "oob": True,
        },
    )


@role_required(Role.APPLICANT)
def application_detail(request: HttpRequest, pk: int) -> HttpResponse:
    application = application_get_for_company(user=_user(request), pk=pk)
    return render(
        request, "calls/applications/detail.html", application_overview(application, for_company=True)
    )


@role_required(Role.APPLICANT)
@require_POST
def application_submit_view(request: HttpRequest, pk: int) -> HttpResponse:
    application = application_get_for_company(user=_user(request), pk=pk)
    try:
        application = application_submit(application=application, actor=_user(request), request=request)
    except DomainError as error:
        messages.error(request, str(error.message))
        return redirect("calls:application_detail", pk=application.pk)
    messages.success(
        request, _("제출했습니다. 접수번호는 %(number)s입니다.") % {"number": application.receipt_number}
    )
    return redirect("calls:application_receipt", pk=application.pk)


@role_required(Role.APPLICANT)
@require_POST
def application_resubmit_view(request: HttpRequest, pk: int) -> HttpResponse:
    application = application_get_for_company(user=_user(request), pk=pk)
    try:
        application_resubmit(application=application, actor=_user(request), request=request)
    except DomainError as error:
        messages.error(request, str(error.message))
    else:
        messages.success(request, _("보완 제출했습니다."))
    return redirect("calls:application_detail", pk=application.pk)


@role_required(Role.APPLICANT)
@require_http_methods(["GET", "POST"])
def application_withdraw_view(request: HttpRequest, pk: int) -> HttpResponse:
    application = application_get_for_company(user=_user(request), pk=pk)
    form = WithdrawForm(request.POST or None)
    error_message = ""
    if request.method == "POST" and form.is_valid():
        try:
            application_withdraw(
                application=application,
                actor=_user(request),
                confirmed=form.cleaned_data["confirm"],
                reason=form.cleaned_data["reason"],
                request=request,
            )
        except DomainError as error:
            error_message = str(error.message)
            if error.field in form.fields:
                form.add_error(error.field, error_message)
                error_message = ""
        else:
            messages.success(request, _("신청을 철회했습니다."))
            return redirect("calls:application_detail", pk=application.pk)
    return render(
        request,
        "calls/applications/withdraw.html",
        {"application": application, "form": form, "error_message": error_message},
        status=400 if request.method == "POST" else 200,
    )


@role_required(Role.APPLICANT)
@require_http_methods(["GET", "POST"])
def application_document_upload(request: HttpRequest, pk: int, code: str) -> HttpResponse:
    application = application_get_for_company(user=_user(request), pk=pk)
    requirement = next((r for r in application.call.required_documents.all() if r.code == code), None)
    if requirement is None:
        raise Http404
    form = UploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            document = application_document_attach(
                application=application,
                requirement=requirement,
                upload=form.cleaned_data["file"],
                actor=_user(request),
                request=request,
            )
        except DomainError as error:
            form.add_error("file", str(error.message))
        else:
            messages.success(
                request,
                _("'%(name)s' 파일을 %(title)s(으)로 올렸습니다.")
                % {"name": document.original_name, "title": requirement.title},
            )
            return redirect("calls:application_detail", pk=application.pk)
    current = next((d for d in application.documents.all() if d.requirement_id == requirement.pk), None)
    return render(
        request,
        "calls/applications/upload.html",
        {"application": application, "requirement": requirement, "current": current, "form": form},
        status=400 if request.method == "POST" else 200,
    )


@role_required(*APPLICATION_VIEW_ROLES)
def application_document_download(request: HttpRequest, pk: int, document_pk: int) -> HttpResponse:
    application = application_get_for_user(user=_user(request), pk=pk)
    document = application_document_get(application=application, pk=document_pk)
    stream = application_document_open(
        application=application, document=document, actor=_user(request), request=request
    )
    response = FileResponse(
        stream,
        as_attachment=True,
        filename=document.original_name,
        content_type=CONTENT_TYPES.get(document.detected_type, "application/octet-stream"),
    )
    response["Cache-Control"] = "private, no-store"
    # A streaming response; role_required only passes it on.
    return response  # type: ignore[return-value]


def _submitted_for_user(request: HttpRequest, pk: int) -> Application:
    application = application_get_for_user(user=_user(request), pk=pk)
    if not application.receipt_number:
        raise Http404(_("제출하지 않은 신청서에는 접수증이 없습니다."))
    return application


@role_required(*APPLICATION_VIEW_ROLES)
def application_receipt(request: HttpRequest, pk: int) -> HttpResponse:
    application = _submitted_for_user(request, pk)
    return render(request, "calls/applications/receipt.html", receipt_context(application))


@role_required(*APPLICATION_VIEW_ROLES)
def application_receipt_pdf(request: HttpRequest, pk: int) -> HttpResponse:
    application = _submitted_for_user(request, pk)
    response = HttpResponse(receipt_pdf_render(application), content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="receipt-{application.receipt_number}.pdf"'
    response["Cache-Control"] = "private, no-store"
    return response
