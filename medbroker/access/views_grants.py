"""Pages of data-access grants, online sessions and extra viewing requests (announcement §4 ⑤).

A company reads its own grants, starts online sessions with a fresh OTP code and asks to view more data;
operators issue, switch, revoke and decide; auditors read the same staff pages and change nothing (every
POST is 403 for them). Another company's grant or request is 404; roles without business here get 403.
Every state shown is computed at request time, so an expired grant reads as expired before any job ran.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from medbroker.access.forms_grants import (
    GrantFilterForm,
    GrantIssueForm,
    GrantModeForm,
    GrantRevokeForm,
    OnlineAccountForm,
    OnlineSessionStartForm,
    ViewingDecideForm,
    ViewingRequestForm,
)
from medbroker.access.models import AccessGrant, ViewingRequest
from medbroker.access.selectors.grants import (
    agreement_grants_overview,
    agreements_for_viewing,
    grant_for_user,
    grant_rows,
    grants_filter,
    grants_visible_to,
    online_account_for_user,
    online_accounts_live_by_agreement,
    online_session_for_user,
    online_sessions_open,
    viewing_datasets_available,
    viewing_request_for_user,
    viewing_requests_visible_to,
)
from medbroker.access.services.grants import grant_mode_set, grant_revoke, grants_issue
from medbroker.access.services.online import (
    online_account_issue,
    online_account_revoke,
    online_session_end,
    online_session_start,
)
from medbroker.access.services.viewing import viewing_request_create, viewing_request_decide
from medbroker.accounts.models import Role, User
from medbroker.accounts.permissions import STAFF_READ_ROLES, role_required
from medbroker.agreements.models import Agreement
from medbroker.agreements.selectors import agreement_for_user
from medbroker.catalog.models import Dataset
from medbroker.core import timeutils
from medbroker.core.errors import DomainError, NotFoundError
from medbroker.core.tables import table_build

Found = TypeVar("Found")

GRANT_SORTABLE: dict[str, str | tuple[str, ...]] = {
    "company": ("agreement__company__name", "agreement__number", "dataset__title"),
    "agreement": "agreement__number",
    "dataset": "dataset__title",
    "mode": "mode",
    "starts": "starts_at",
    "ends": "ends_at",
    "status": "status",
}


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _found(getter: Callable[[User, int], Found], request: HttpRequest, pk: int) -> Found:
    """Another company's record answers 404, as if it did not exist."""
    try:
        return getter(_user(request), pk)
    except NotFoundError as error:
        raise Http404(str(error)) from None


def _form_error(form: Any) -> str:
    for field, errors in form.errors.items():
        label = form.fields[field].label if field in form.fields else ""
        return f"{label}: {errors[0]}" if label else str(errors[0])
    return _("입력 내용을 확인해 주세요.")


# ---------------------------------------------------------------------------------------------------------
# Grants: the company's list, the staff list, one agreement's grants
# ---------------------------------------------------------------------------------------------------------


@role_required(Role.APPLICANT, *STAFF_READ_ROLES)
def grant_list(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    now = timeutils.now()
    if user.has_role(*STAFF_READ_ROLES):
        filter_form = GrantFilterForm(request.GET)
        grants = grants_filter(grants_visible_to(user), at=now, **filter_form.filters())
        table = table_build(request, grants, sortable=GRANT_SORTABLE, default_sort="company")
        return render(
            request,
            "access/grants/list_staff.html",
            {"table": table, "rows": grant_rows(list(table.page), at=now), "filter_form": filter_form},
        )
    grants = grants_visible_to(user).order_by("status", "-ends_at", "dataset__title", "pk")
    return render(
        request,
        "access/grants/list_company.html",
        {
            "rows": grant_rows(grants, at=now),
            "accounts": online_accounts_live_by_agreement(user),
            "open_sessions": list(online_sessions_open(user)),
            "session_form": OnlineSessionStartForm(),
            "can_request_viewing": bool(agreements_for_viewing(user, at=now)),
        },
    )


@role_required(Role.APPLICANT, *STAFF_READ_ROLES)
def agreement_grants(request: HttpRequest, pk: int) -> HttpResponse:
    """One agreement's terms and grants: the company reads its own, operators act, auditors read."""
    return _agreement_page(request, _found(agreement_for_user, request, pk))


def _agreement_page(
    request: HttpRequest, agreement: Agreement, *, status: int = 200, **forms: Any
) -> HttpResponse:
    can_write = _user(request).has_role(Role.OPERATOR)
    context: dict[str, Any] = {
        "overview": agreement_grants_overview(agreement, at=timeutils.now()),
        "agreement": agreement,
        "can_write": can_write,
    }
    if can_write:
        context.update(
            issue_form=forms.get("issue_form") or GrantIssueForm(),
            revoke_form=GrantRevokeForm(),
            account_form=forms.get("account_form") or OnlineAccountForm(agreement=agreement),
        )
    return render(request, "access/grants/agreement.html", context, status=status)


def _back_to_agreement(request: HttpRequest, agreement_id: int, *, anchor: str = "") -> HttpResponse:
    response = redirect("access:agreement_grants", pk=agreement_id)
    if anchor:
        response["Location"] += f"#{anchor}"
    return response


def _refused(request: HttpRequest, agreement_id: int, error: DomainError) -> HttpResponse:
    messages.error(request, str(error.message))
    return _back_to_agreement(request, agreement_id)


@role_required(Role.OPERATOR)
@require_POST
def grants_issue_view(request: HttpRequest, pk: int) -> HttpResponse:
    agreement = _found(agreement_for_user, request, pk)
    form = GrantIssueForm(request.POST)
    if not form.is_valid():
        return _agreement_page(request, agreement, status=400, issue_form=form)
    try:
        issued = grants_issue(
            agreement=agreement,
            actor=_user(request),
            starts_on=form.cleaned_data["starts_on"],
            request=request,
        )
    except DomainError as error:
        return _refused(request, agreement.pk, error)
    if issued:
        messages.success(request, _("데이터 이용 권한 %(count)d건을 부여했습니다.") % {"count": len(issued)})
    else:
        messages.info(request, _("협약 데이터 모두에 이미 이용 권한이 있습니다."))
    return _back_to_agreement(request, agreement.pk, anchor="grants")


def _staff_grant(request: HttpRequest, pk: int) -> AccessGrant:
    return _found(grant_for_user, request, pk)


@role_required(Role.OPERATOR)
@require_POST
def grant_revoke_view(request: HttpRequest, pk: int) -> HttpResponse:
    grant = _staff_grant(request, pk)
    form = GrantRevokeForm(request.POST)
    if not form.is_valid():
        messages.error(request, _form_error(form))
        return _back_to_agreement(request, grant.agreement_id)
    try:
        grant_revoke(grant=grant, actor=_user(request), reason=form.cleaned_data["reason"], request=request)
    except DomainError as error:
        return _refused(request, grant.agreement_id, error)
    messages.success(request, _("%(dataset)s 이용을 중지했습니다.") % {"dataset": grant.dataset.title})
    return _back_to_agreement(request, grant.agreement_id, anchor="grants")


@role_required(Role.OPERATOR)
@require_POST
def grant_mode_view(request: HttpRequest, pk: int) -> HttpResponse:
    grant = _staff_grant(request, pk)
    form = GrantModeForm(request.POST)
    if not form.is_valid():
        messages.error(request, _form_error(form))
        return _back_to_agreement(request, grant.agreement_id)
    try:
        grant = grant_mode_set(
            grant=grant, mode=form.cleaned_data["mode"], actor=_user(request), request=request
        )
    except DomainError as error:
        return _refused(request, grant.agreement_id, error)
    messages.success(
        request,
        _("%(dataset)s 이용 방식: %(mode)s")
        % {"dataset": grant.dataset.title, "mode": grant.get_mode_display()},
    )
    return _back_to_agreement(request, grant.agreement_id, anchor="grants")


# ---------------------------------------------------------------------------------------------------------
# Online use: accounts (operator) and sessions (company member, with a fresh OTP code)
# ---------------------------------------------------------------------------------------------------------


@role_required(Role.OPERATOR)
@require_POST
def online_account_issue_view(request: HttpRequest, pk: int) -> HttpResponse:
    agreement = _found(agreement_for_user, request, pk)
    form = OnlineAccountForm(request.POST, agreement=agreement)
    if not form.is_valid():
        return _agreement_page(request, agreement, status=400, account_form=form)
    try:
        account = online_account_issue(
            agreement=agreement,
            user=form.cleaned_data["user"],
            vpn_account=form.cleaned_data["vpn_account"],
            vdi_account=form.cleaned_data["vdi_account"],
            actor=_user(request),
            request=request,
        )
    except DomainError as error:
        return _refused(request, agreement.pk, error)
    messages.success(request, _("%(user)s 님의 온라인 이용 계정을 등록했습니다.") % {"user": account.user})
    return _back_to_agreement(request, agreement.pk, anchor="online")


@role_required(Role.OPERATOR)
@require_POST
def online_account_revoke_view(request: HttpRequest, pk: int) -> HttpResponse:
    account = _found(online_account_for_user, request, pk)
    online_account_revoke(account=account, actor=_user(request), request=request)
    messages.success(request, _("%(user)s 님의 온라인 이용 계정을 회수했습니다.") % {"user": account.user})
    return _back_to_agreement(request, account.agreement_id, anchor="online")


@role_required(Role.APPLICANT)
@require_POST
def online_session_start_view(request: HttpRequest, pk: int) -> HttpResponse:
    grant = _found(grant_for_user, request, pk)
    form = OnlineSessionStartForm(request.POST)
    if not form.is_valid():
        messages.error(request, _form_error(form))
        return redirect("access:grant_list")
    try:
        session = online_session_start(
            grant=grant,
            user=_user(request),
            otp_code=form.cleaned_data["otp_code"],
            client_address=request.META.get("REMOTE_ADDR") or None,
            request=request,
        )
    except DomainError as error:
        messages.error(request, str(error.message))
        return redirect("access:grant_list")
    messages.success(
        request,
        _(
            "온라인 이용 세션을 시작했습니다. SSL-VPN 계정 %(vpn)s로 접속한 뒤 VDI 계정 %(vdi)s로 로그인하세요."
        )
        % {"vpn": session.account.vpn_account, "vdi": session.account.vdi_account},
    )
    return redirect("access:grant_list")


@role_required(Role.APPLICANT, Role.OPERATOR)
@require_POST
def online_session_end_view(request: HttpRequest, pk: int) -> HttpResponse:
    session = _found(online_session_for_user, request, pk)
    user = _user(request)
    online_session_end(session=session, actor=user, request=request)
    messages.success(request, _("온라인 이용 세션을 종료했습니다."))
    if session.user_id == user.pk:
        return redirect("access:grant_list")
    return _back_to_agreement(request, session.grant.agreement_id, anchor="online")


# ---------------------------------------------------------------------------------------------------------
# Extra viewing requests
# ---------------------------------------------------------------------------------------------------------


def _viewing_form(user: User, data: Any = None) -> ViewingRequestForm | None:
    agreements = agreements_for_viewing(user, at=timeutils.now())
    if not agreements:
        return None
    # The list offered first is the first agreement's; any published dataset validates, and the service
    # refuses one that is already in the terms or granted, with its reason.
    datasets = (
        Dataset.objects.filter(publication=Dataset.Publication.PUBLISHED)
        if data is not None
        else viewing_datasets_available(agreements[0])
    )
    return ViewingRequestForm(data, agreements=agreements, datasets=datasets)


@role_required(Role.APPLICANT, *STAFF_READ_ROLES)
def viewing_request_list(request: HttpRequest) -> HttpResponse:
    return _viewing_list_page(request)


def _viewing_list_page(
    request: HttpRequest, *, form: ViewingRequestForm | None = None, status: int = 200
) -> HttpResponse:
    user = _user(request)
    requests = viewing_requests_visible_to(user)
    is_staff = user.has_role(*STAFF_READ_ROLES)
    context: dict[str, Any] = {"is_staff": is_staff, "can_write": user.has_role(Role.OPERATOR)}
    if is_staff:
        context.update(
            pending=list(requests.filter(status=ViewingRequest.Status.PENDING).order_by("created_at", "pk")),
            decided=list(
                requests.exclude(status=ViewingRequest.Status.PENDING).order_by("-decided_at", "-pk")[:50]
            ),
            decide_form=ViewingDecideForm(),
        )
    else:
        context.update(
            requests=list(requests.order_by("-created_at", "-pk")), form=form or _viewing_form(user)
        )
    return render(request, "access/viewing/list.html", context, status=status)


@role_required(Role.APPLICANT)
@require_POST
def viewing_request_new(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    form = _viewing_form(user, request.POST)
    if form is None:
        messages.error(request, _("효력 중인 협약이 있어야 추가 열람을 요청할 수 있습니다."))
        return redirect("access:viewing_request_list")
    if not form.is_valid():
        return _viewing_list_page(request, form=form, status=400)
    try:
        viewing_request = viewing_request_create(
            agreement=form.cleaned_data["agreement"],
            dataset=form.cleaned_data["dataset"],
            actor=user,
            reason=form.cleaned_data["reason"],
            request=request,
        )
    except DomainError as error:
        if error.field in form.fields:
            form.add_error(error.field, str(error.message))
        else:
            form.add_error(None, str(error.message))
        return _viewing_list_page(request, form=form, status=400)
    messages.success(request, _("추가 열람을 요청했습니다. 운영자가 승인하면 알림으로 알려 드립니다."))
    return redirect("access:viewing_request_detail", pk=viewing_request.pk)


@role_required(Role.APPLICANT)
@require_GET
def viewing_dataset_options(request: HttpRequest) -> HttpResponse:
    """The dataset options of the request form, narrowed as the company types (htmx)."""
    try:
        agreement = agreement_for_user(_user(request), int(request.GET.get("agreement", "")))
    except (NotFoundError, ValueError):
        raise Http404(_("협약을 찾을 수 없습니다.")) from None
    datasets = viewing_datasets_available(agreement, search=request.GET.get("q", ""))[:200]
    return render(request, "access/viewing/_dataset_options.html", {"datasets": datasets})


@role_required(Role.APPLICANT, *STAFF_READ_ROLES)
def viewing_request_detail(request: HttpRequest, pk: int) -> HttpResponse:
    viewing_request = _found(viewing_request_for_user, request, pk)
    can_decide = (
        _user(request).has_role(Role.OPERATOR) and viewing_request.status == ViewingRequest.Status.PENDING
    )
    grant = AccessGrant.objects.filter(viewing_request=viewing_request).first()
    return render(
        request,
        "access/viewing/detail.html",
        {
            "viewing_request": viewing_request,
            "grant_row": grant_rows([grant], at=timeutils.now())[0] if grant else None,
            "decide_form": ViewingDecideForm() if can_decide else None,
        },
    )


@role_required(Role.OPERATOR)
@require_POST
def viewing_request_decide_view(request: HttpRequest, pk: int) -> HttpResponse:
    viewing_request = _found(viewing_request_for_user, request, pk)
    form = ViewingDecideForm(request.POST)
    if not form.is_valid():
        messages.error(request, _form_error(form))
        return redirect("access:viewing_request_detail", pk=pk)
    try:
        viewing_request = viewing_request_decide(
            viewing_request=viewing_request,
            actor=_user(request),
            approve=form.cleaned_data["decision"] == "approve",
            note=form.cleaned_data["note"],
            request=request,
        )
    except DomainError as error:
        messages.error(request, str(error.message))
        return redirect("access:viewing_request_detail", pk=pk)
    messages.success(
        request, _("추가 열람 요청을 %(status)s했습니다.") % {"status": viewing_request.get_status_display()}
    )
    return redirect("access:viewing_request_list")
