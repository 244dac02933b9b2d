"""Agreement pages (step ④): the operators' queue of selections to draft, the list, the detail with its
version history and the signing, amending and terminating forms, and the documents.

Operators write; auditors read everything without forms; a company's applicants read and sign their own
company's agreements (another company's is 404). Thin: selectors decide visibility, services decide rules.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from medbroker.accounts.models import Role, User
from medbroker.accounts.permissions import STAFF_READ_ROLES, role_required
from medbroker.agreements.forms import (
    AgreementCreateForm,
    AmendDatasetFormSet,
    AmendForm,
    ReasonForm,
    SignOtpForm,
    SignUploadForm,
    amend_dataset_initial,
)
from medbroker.agreements.models import Agreement, AgreementSignature, AgreementVersion
from medbroker.agreements.selectors import (
    agreement_for_user,
    agreement_in_force,
    agreement_pending_version,
    agreement_terms,
    agreement_with_history,
    agreements_visible_to,
    decisions_awaiting_agreement,
    signature_for_user,
    signing_side_for_user,
    test_requests_visible_to,
    version_for_user,
)
from medbroker.agreements.services.agreements import (
    agreement_amend,
    agreement_amendment_cancel,
    agreement_create_from_decision,
    agreement_terminate,
)
from medbroker.agreements.services.documents import period_end_display
from medbroker.agreements.services.signatures import agreement_sign, signature_file_open
from medbroker.calls.models import Call
from medbroker.core import timeutils
from medbroker.core.errors import DomainError, NotFoundError
from medbroker.core.tables import table_build
from medbroker.reviews.models import Decision

AGREEMENT_ROLES = (*STAFF_READ_ROLES, Role.APPLICANT)


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _agreement_or_404(request: HttpRequest, pk: int) -> Agreement:
    try:
        return agreement_for_user(_user(request), pk)
    except NotFoundError as error:
        raise Http404(str(error.message)) from None


# ---------------------------------------------------------------------------------------------------------
# The operators' queue: published selections without an agreement
# ---------------------------------------------------------------------------------------------------------


def _queue_page(request: HttpRequest, *, status: int = 200) -> HttpResponse:
    calls = Call.objects.filter(
        applications__decision__outcome=Decision.Outcome.SELECTED,
        applications__decision__published_at__isnull=False,
    ).distinct()
    call = calls.filter(slug=request.GET.get("call", "")).first()
    decisions = list(decisions_awaiting_agreement(call))
    groups: dict[int, dict[str, Any]] = {}
    for decision in decisions:
        group = groups.setdefault(
            decision.application.call_id, {"call": decision.application.call, "decisions": []}
        )
        group["decisions"].append(decision)
    return render(
        request,
        "agreements/decision_queue.html",
        {
            "groups": list(groups.values()),
            "calls": calls,
            "call": call,
            "can_create": _user(request).has_role(Role.OPERATOR),
            "create_form": AgreementCreateForm(),
        },
        status=status,
    )


@role_required(*STAFF_READ_ROLES)
@require_GET
def decision_queue(request: HttpRequest) -> HttpResponse:
    return _queue_page(request)


@role_required(Role.OPERATOR)
@require_POST
def agreement_create(request: HttpRequest, decision_pk: int) -> HttpResponse:
    decision = get_object_or_404(Decision, pk=decision_pk)
    form = AgreementCreateForm(request.POST)
    form.is_valid()
    try:
        agreement = agreement_create_from_decision(
            decision=decision,
            actor=_user(request),
            allows_online=bool(form.cleaned_data.get("allows_online")),
            request=request,
        )
    except DomainError as error:
        messages.error(request, str(error.message))
        return _queue_page(request, status=error.status_code)
    messages.success(
        request,
        _("%(number)s 협약서를 만들고 기업에 서명을 요청했습니다.") % {"number": agreement.number},
    )
    return redirect("agreements:agreement_detail", pk=agreement.pk)


# ---------------------------------------------------------------------------------------------------------
# List and detail
# ---------------------------------------------------------------------------------------------------------


@role_required(*AGREEMENT_ROLES)
@require_GET
def agreement_list(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    agreements = agreements_visible_to(user)
    calls = Call.objects.filter(pk__in=agreements.values("call_id"))
    status = request.GET.get("status", "")
    if status in Agreement.Status.values:
        agreements = agreements.filter(status=status)
    call_slug = request.GET.get("call", "")
    if call_slug:
        agreements = agreements.filter(call__slug=call_slug)
    table = table_build(
        request,
        agreements,
        sortable={
            "number": "number",
            "company": "company__name",
            "call": "call__slug",
            "status": "status",
            "starts_on": "starts_on",
            "ends_on": "ends_on",
        },
        default_sort="number",
    )
    return render(
        request,
        "agreements/list.html",
        {
            "table": table,
            "statuses": Agreement.Status.choices,
            "status": status,
            "calls": calls,
            "call_slug": call_slug,
            "is_staff": user.has_role(*STAFF_READ_ROLES),
            "is_operator": user.has_role(Role.OPERATOR),
        },
    )


def _version_rows(agreement: Agreement, side: str | None) -> list[dict[str, Any]]:
    rows = []
    for version in agreement.versions.all():
        signatures = {s.side: s for s in version.signatures.all()}
        rows.append(
            {
                "version": version,
                "lab": signatures.get(AgreementSignature.Side.LAB),
                "company": signatures.get(AgreementSignature.Side.COMPANY),
                "signed_by_viewer": side is not None and side in signatures,
            }
        )
    return rows


def _detail_page(
    request: HttpRequest,
    agreement: Agreement,
    *,
    status: int = 200,
    bound: dict[str, Any] | None = None,
) -> HttpResponse:
    user = _user(request)
    agreement = agreement_with_history(agreement)
    terms = agreement_terms(agreement)
    pending = agreement_pending_version(agreement)
    side = signing_side_for_user(agreement, user)
    is_operator = user.has_role(Role.OPERATOR)
    is_open = agreement.status in (Agreement.Status.AWAITING_SIGNATURES, Agreement.Status.ACTIVE)
    signed_pending = pending is not None and any(s.side == side for s in pending.signatures.all())
    can_sign = pending is not None and side is not None and is_open and not signed_pending
    can_amend = is_operator and agreement.status == Agreement.Status.ACTIVE and pending is None
    bound = bound or {}
    context: dict[str, Any] = {
        "agreement": agreement,
        "terms": terms,
        "pending": pending,
        "versions": _version_rows(agreement, side),
        "side": side,
        "side_label": AgreementSignature.Side(side).label if side else "",
        "in_force": agreement_in_force(agreement, at=timeutils.now()),
        "period_end": period_end_display(agreement),
        "is_operator": is_operator,
        "is_member": side == AgreementSignature.Side.COMPANY,
        "can_sign": can_sign,
        "upload_form": bound.get("upload_form") or SignUploadForm(),
        "otp_form": bound.get("otp_form") or SignOtpForm(),
        "can_amend": can_amend,
        "can_terminate": is_operator and is_open,
        "can_cancel_amendment": is_operator and pending is not None and pending.number > 1,
        "terminate_form": bound.get("terminate_form") or ReasonForm(prefix="terminate"),
        "cancel_form": bound.get("cancel_form") or ReasonForm(prefix="cancel"),
        "test_requests": test_requests_visible_to(user).filter(agreement=agreement),
    }
    if can_amend:
        context["amend_form"] = bound.get("amend_form") or AmendForm(
            agreement=agreement,
            initial={
                "compute_option": terms.compute_option_id if terms else None,
                "allows_online": terms.allows_online if terms else False,
            },
        )
        current_ids = [row.dataset_id for row in terms.datasets.all()] if terms else []
        context["amend_formset"] = bound.get("amend_formset") or AmendDatasetFormSet(
            prefix="datasets",
            initial=amend_dataset_initial(terms),
            form_kwargs={"dataset_ids": current_ids},
        )
    return render(request, "agreements/detail.html", context, status=status)


@role_required(*AGREEMENT_ROLES)
@require_GET
def agreement_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _detail_page(request, _agreement_or_404(request, pk))


# ---------------------------------------------------------------------------------------------------------
# Signing, amending, terminating
# ---------------------------------------------------------------------------------------------------------


@role_required(Role.OPERATOR, Role.APPLICANT)
@require_POST
def agreement_sign_view(request: HttpRequest, version_pk: int) -> HttpResponse:
    user = _user(request)
    try:
        version = version_for_user(user, version_pk)
    except NotFoundError as error:
        raise Http404(str(error.message)) from None
    agreement = version.agreement
    side = signing_side_for_user(agreement, user)
    if side is None:
        raise PermissionDenied
    method = request.POST.get("method", "")
    bound: dict[str, Any] = {}
    if method == AgreementSignature.Method.UPLOAD:
        form: SignUploadForm | SignOtpForm = SignUploadForm(request.POST, request.FILES)
        bound["upload_form"] = form
    else:
        form = SignOtpForm(request.POST)
        bound["otp_form"] = form
    if not form.is_valid():
        return _detail_page(request, agreement, status=400, bound=bound)
    try:
        agreement_sign(
            version=version,
            side=side,
            actor=user,
            method=method,
            upload=form.cleaned_data.get("upload"),
            otp_code=form.cleaned_data.get("otp_code", ""),
            request=request,
        )
    except DomainError as error:
        field = error.field if error.field in form.fields else None
        form.add_error(field, str(error.message))
        return _detail_page(request, agreement, status=error.status_code, bound=bound)
    messages.success(request, _("협약서 %(version)s차에 서명했습니다.") % {"version": version.number})
    return redirect("agreements:agreement_detail", pk=agreement.pk)


def _amend_terms(formset: Any) -> list[tuple[Any, int, bool]]:
    return [
        (data["dataset"], data["amount"], bool(data.get("needs_annotated")))
        for data in formset.cleaned_data
        if data and data.get("dataset") is not None
    ]


@role_required(Role.OPERATOR)
@require_POST
def agreement_amend_view(request: HttpRequest, pk: int) -> HttpResponse:
    agreement = _agreement_or_404(request, pk)
    terms = agreement_terms(agreement)
    current_ids = [row.dataset_id for row in terms.datasets.all()] if terms else []
    form = AmendForm(request.POST, agreement=agreement)
    formset = AmendDatasetFormSet(request.POST, prefix="datasets", form_kwargs={"dataset_ids": current_ids})
    bound = {"amend_form": form, "amend_formset": formset}
    if not (form.is_valid() and formset.is_valid()):
        return _detail_page(request, agreement, status=400, bound=bound)
    try:
        version = agreement_amend(
            agreement=agreement,
            actor=_user(request),
            datasets=_amend_terms(formset),
            compute_option=form.cleaned_data["compute_option"],
            allows_online=form.cleaned_data["allows_online"],
            reason=form.cleaned_data["reason"],
            request=request,
        )
    except DomainError as error:
        form.add_error(error.field if error.field in form.fields else None, str(error.message))
        return _detail_page(request, agreement, status=error.status_code, bound=bound)
    messages.success(
        request,
        _("변경 협약서(%(version)s차)를 만들고 기업에 서명을 요청했습니다.") % {"version": version.number},
    )
    return redirect("agreements:agreement_detail", pk=agreement.pk)


@role_required(Role.OPERATOR)
@require_POST
def amendment_cancel_view(request: HttpRequest, version_pk: int) -> HttpResponse:
    try:
        version = version_for_user(_user(request), version_pk)
    except NotFoundError as error:
        raise Http404(str(error.message)) from None
    form = ReasonForm(request.POST, prefix="cancel")
    if not form.is_valid():
        return _detail_page(request, version.agreement, status=400, bound={"cancel_form": form})
    try:
        agreement_amendment_cancel(
            version=version, actor=_user(request), reason=form.cleaned_data["reason"], request=request
        )
    except DomainError as error:
        form.add_error(None, str(error.message))
        return _detail_page(request, version.agreement, status=error.status_code, bound={"cancel_form": form})
    messages.success(request, _("변경 협약(%(version)s차)을 취소했습니다.") % {"version": version.number})
    return redirect("agreements:agreement_detail", pk=version.agreement_id)


@role_required(Role.OPERATOR)
@require_POST
def agreement_terminate_view(request: HttpRequest, pk: int) -> HttpResponse:
    agreement = _agreement_or_404(request, pk)
    form = ReasonForm(request.POST, prefix="terminate")
    if not form.is_valid():
        return _detail_page(request, agreement, status=400, bound={"terminate_form": form})
    try:
        agreement_terminate(
            agreement=agreement, actor=_user(request), reason=form.cleaned_data["reason"], request=request
        )
    except DomainError as error:
        form.add_error(None, str(error.message))
        return _detail_page(request, agreement, status=error.status_code, bound={"terminate_form": form})
    messages.success(request, _("%(number)s 협약을 해지했습니다.") % {"number": agreement.number})
    return redirect("agreements:agreement_detail", pk=agreement.pk)


# ---------------------------------------------------------------------------------------------------------
# Documents
# ---------------------------------------------------------------------------------------------------------


def _private(response: FileResponse) -> HttpResponse:
    response["Cache-Control"] = "private, no-store"
    # A streaming response; role_required only passes it on.
    return response  # type: ignore[return-value]


@role_required(*AGREEMENT_ROLES)
@require_GET
def agreement_document(request: HttpRequest, version_pk: int) -> HttpResponse:
    try:
        version: AgreementVersion = version_for_user(_user(request), version_pk)
    except NotFoundError as error:
        raise Http404(str(error.message)) from None
    if not version.document:
        raise Http404(_("이 차수의 협약서 파일이 없습니다."))
    return _private(
        FileResponse(
            version.document.open("rb"),
            filename=f"{version.agreement.number}-v{version.number}.pdf",
            content_type="application/pdf",
        )
    )


@role_required(*AGREEMENT_ROLES)
@require_GET
def signature_file(request: HttpRequest, signature_pk: int) -> HttpResponse:
    try:
        signature = signature_for_user(_user(request), signature_pk)
    except NotFoundError as error:
        raise Http404(str(error.message)) from None
    if not signature.file:
        raise Http404(_("이 서명에는 올린 파일이 없습니다."))
    return _private(
        FileResponse(
            signature_file_open(signature=signature, actor=_user(request), request=request),
            as_attachment=True,
            filename=signature.original_name or f"{signature.version.agreement.number}-signed.pdf",
            content_type="application/pdf",
        )
    )
