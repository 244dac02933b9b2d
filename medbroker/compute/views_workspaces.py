"""Pages of workspaces: a company member's own JupyterLab (start, open, stop) and the staff's list of all.

A member starts a workspace from here only: the hub refuses a start that did not come through the platform.
What the workspace opens depends on where the request comes from (the closed learning room's networks or
anywhere else), so the page shows the plan computed for the address of this very request.

Operators stop any workspace; auditors read the list and change nothing (their POST is 403); a member stops
their own, and another company's workspace is 404.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST
from oauth2_provider.views import AuthorizationView

from medbroker.access.selectors.grants import grant_last_day
from medbroker.accounts.models import Organisation, Role, User
from medbroker.accounts.oidc import HUB_SESSION_KEY
from medbroker.accounts.permissions import STAFF_READ_ROLES, role_required
from medbroker.compute.exports import workspaces_xlsx
from medbroker.compute.models import Workspace
from medbroker.compute.selectors_workspaces import (
    workspace_for_user,
    workspace_open_of,
    workspace_plan,
    workspace_setting_for,
    workspaces_visible_to,
)
from medbroker.compute.services.hub import HUB_CLIENT_ID
from medbroker.compute.services.workspaces import (
    hub_sign_in_refusal,
    hub_workspace_url,
    workspace_start,
    workspace_stop,
)
from medbroker.core import timeutils
from medbroker.core.errors import DomainError, NotFoundError, PermissionDeniedError
from medbroker.core.excel import XLSX_CONTENT_TYPE
from medbroker.core.redirects import safe_next
from medbroker.core.tables import table_build

WORKSPACE_SORTABLE: dict[str, str | tuple[str, ...]] = {
    "requested": "requested_at",
    "company": ("agreement__company__name", "-requested_at"),
    "user": ("user__username", "-requested_at"),
    "status": ("status", "-requested_at"),
}
OPEN_STATUSES = (Workspace.Status.STARTING, Workspace.Status.RUNNING)
HISTORY_LENGTH = 10


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _client_address(request: HttpRequest) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


def _workspace(request: HttpRequest, pk: int) -> Workspace:
    try:
        return workspace_for_user(_user(request), pk)
    except NotFoundError as error:
        raise Http404(str(error.message)) from None


def _row(workspace: Workspace) -> dict[str, Any]:
    """A workspace with its times in KST, as the tables show them."""

    def kst(value: Any) -> Any:
        return None if value is None else timeutils.to_kst(value)

    return {
        "workspace": workspace,
        "requested_at": kst(workspace.requested_at),
        "started_at": kst(workspace.started_at),
        "stopped_at": kst(workspace.stopped_at),
    }


def _status_context(request: HttpRequest, workspace: Workspace) -> dict[str, Any]:
    return {
        "workspace": workspace,
        "hub_url": hub_workspace_url(workspace),
        "can_stop": workspace.is_open and workspace.user_id == _user(request).pk,
    }


# ---------------------------------------------------------------------------------------------------------
# The member's page: the open workspace or what a start would open, and their recent workspaces
# ---------------------------------------------------------------------------------------------------------


@role_required(Role.APPLICANT)
@require_GET
def workspace(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    client_address = _client_address(request)
    setting = workspace_setting_for(client_address)
    open_workspace = workspace_open_of(user)
    history = workspaces_visible_to(user).filter(user=user).order_by("-requested_at", "-pk")
    # Computed only when nothing is open: a start then returns the open workspace anyway.
    plan = None if open_workspace else workspace_plan(user, setting=setting, at=timeutils.now())
    context: dict[str, Any] = {
        "setting": setting,
        "setting_label": Workspace.Setting(setting).label,
        "client_address": client_address,
        "open_workspace": open_workspace,
        "plan": plan,
        # The last day of use, as the grant pages write it ("~ 2025-11-28 23:59:59").
        "last_days": {item.grant.pk: grant_last_day(item.grant) for item in plan.datasets} if plan else {},
        "history": [_row(item) for item in history[:HISTORY_LENGTH]],
        "idle_minutes": settings.MEDBROKER_WORKSPACE_IDLE_MINUTES,
    }
    if open_workspace is not None:
        context.update(_status_context(request, open_workspace))
    return render(request, "compute/workspace.html", context)


@role_required(Role.APPLICANT)
@require_GET
def workspace_status(request: HttpRequest, pk: int) -> HttpResponse:
    """The open workspace's block, polled every 2 s while the hub starts the server.

    Once the workspace is no longer open (the hub refused it, or it was stopped meanwhile) the page reloads
    once, so it shows the plan and the history again instead of a stale block.
    """
    found = _workspace(request, pk)
    response = render(request, "compute/_workspace_status.html", _status_context(request, found))
    if getattr(request, "htmx", False) and not found.is_open:
        response["HX-Refresh"] = "true"
    response["Cache-Control"] = "no-store"
    return response


@role_required(Role.APPLICANT)
@require_POST
def workspace_start_view(request: HttpRequest) -> HttpResponse:
    try:
        started = workspace_start(
            user=_user(request), client_address=_client_address(request), request=request
        )
    except DomainError as error:
        messages.error(request, str(error.message))
        return redirect("compute:workspace")
    # Straight into JupyterLab: while the server is still coming up, the hub shows its own progress page.
    return redirect(hub_workspace_url(started))


@role_required(Role.APPLICANT, Role.OPERATOR)
@require_POST
def workspace_stop_view(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    found = _workspace(request, pk)
    own = found.user_id == user.pk
    fallback = reverse("compute:workspace" if own else "compute:workspace_list")
    try:
        workspace_stop(workspace=found, actor=user, request=request)
    except PermissionDeniedError:
        # A colleague's workspace: visible to the company, but only its own user or an operator stops it.
        raise PermissionDenied from None
    except DomainError as error:
        messages.error(request, str(error.message))
    else:
        if own:
            messages.success(request, _("작업 공간을 중지했습니다."))
        else:
            messages.success(
                request, _("%(user)s 님의 작업 공간을 중지했습니다.") % {"user": found.user.username}
            )
    return redirect(safe_next(request, fallback))


# ---------------------------------------------------------------------------------------------------------
# The staff's list: every workspace, filtered by status and company
# ---------------------------------------------------------------------------------------------------------


def _filtered(request: HttpRequest, user: User) -> tuple[QuerySet[Workspace], str, str]:
    """The staff's workspaces under the page's filters: state (open or all) and company."""
    workspaces = workspaces_visible_to(user).select_related("stopped_by")
    state = request.GET.get("state", "open")
    if state != "all":
        state = "open"
        workspaces = workspaces.filter(status__in=OPEN_STATUSES)
    company_pk = request.GET.get("company", "")
    if company_pk.isdigit():
        workspaces = workspaces.filter(agreement__company_id=int(company_pk))
    else:
        company_pk = ""
    return workspaces, state, company_pk


@role_required(*STAFF_READ_ROLES)
@require_GET
def workspace_list(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    workspaces, state, company_pk = _filtered(request, user)
    companies = Organisation.objects.filter(agreements__workspaces__isnull=False).distinct().order_by("name")
    table = table_build(request, workspaces, sortable=WORKSPACE_SORTABLE, default_sort="-requested")
    return render(
        request,
        "compute/workspace_list.html",
        {
            "table": table,
            "rows": [_row(item) for item in table.page],
            "state": state,
            "companies": companies,
            "company_pk": company_pk,
            "can_stop": user.has_role(Role.OPERATOR),
            "idle_minutes": settings.MEDBROKER_WORKSPACE_IDLE_MINUTES,
            "export_query": request.GET.urlencode(),
        },
    )


@role_required(*STAFF_READ_ROLES)
@require_GET
def workspace_list_export(request: HttpRequest) -> HttpResponse:
    """The list under the same filters, every row (not one page), as an Excel file."""
    workspaces, _state, _company = _filtered(request, _user(request))
    response = HttpResponse(
        workspaces_xlsx(workspaces.order_by("-requested_at")), content_type=XLSX_CONTENT_TYPE
    )
    stamp = timeutils.to_kst(timeutils.now()).strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="workspaces-{stamp}.xlsx"'
    return response


# ---------------------------------------------------------------------------------------------------------
# The hub's sign-in (OpenID Connect authorisation) for the hub's client
# ---------------------------------------------------------------------------------------------------------


class HubSignInView(AuthorizationView):
    """django-oauth-toolkit's authorisation endpoint, with the workspace rules in front of the hub's client:
    no sign-in from outside the closed room while a closed-room workspace is open, and a note in the session
    so that signing out of the platform signs out of the hub too."""

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.GET.get("client_id") == HUB_CLIENT_ID:
            user = _user(request)
            refusal = hub_sign_in_refusal(user=user, client_address=_client_address(request), request=request)
            if refusal is not None:
                return render(
                    request, "compute/hub_sign_in_refused.html", {"message": refusal.message}, status=403
                )
            request.session[HUB_SESSION_KEY] = True
        response: HttpResponse = super().get(request, *args, **kwargs)
        return response
