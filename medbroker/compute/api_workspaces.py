"""API of workspaces (``/api/v1/compute/workspaces…``) and the hub's check (``/api/v1/compute/hub/authorize``).

A company member lists their company's workspaces, starts their own and stops their own; operators list and
stop any; auditors list. Other roles: 403; no credentials: 401; another company's workspace: 404.

``POST /hub/authorize`` is for the hub only (``Authorization: Bearer <platform token>``): a personal token
or a session gets 401 there, whoever holds it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Router, Schema, Status
from ninja.security import HttpBearer

from medbroker.accounts.api_auth import api_auth
from medbroker.accounts.models import Role, User
from medbroker.accounts.permissions import STAFF_READ_ROLES
from medbroker.compute.models import Workspace
from medbroker.compute.selectors_workspaces import workspace_for_user, workspaces_visible_to
from medbroker.compute.services.hub import platform_token_valid
from medbroker.compute.services.workspaces import (
    hub_workspace_url,
    workspace_authorize,
    workspace_start,
    workspace_stop,
)
from medbroker.core import timeutils
from medbroker.core.errors import PermissionDeniedError

router = Router(tags=["workspaces"])
hub_router = Router(tags=["workspaces"])


class WorkspaceDatasetOut(Schema):
    grant: int
    dataset: int
    name: str
    title: str


class WorkspaceOut(Schema):
    id: int
    user: str
    hub_user: str
    company: str
    agreement_number: str
    setting: str
    status: str
    url: str | None
    gpu: dict[str, Any]
    datasets: list[WorkspaceDatasetOut]
    requested_at: dt.datetime
    started_at: dt.datetime | None
    stopped_at: dt.datetime | None
    stop_reason: str
    stop_message: str


class AuthorizeIn(Schema):
    user: str
    server: str = ""
    user_options: dict[str, Any] = {}


def _caller(request: HttpRequest) -> User:
    user: User = request.auth  # type: ignore[attr-defined]
    if not user.has_role(Role.APPLICANT, *STAFF_READ_ROLES):
        raise PermissionDeniedError("forbidden", _("작업 공간을 볼 수 있는 역할이 아닙니다."))
    return user


def _workspace_out(workspace: Workspace) -> dict[str, Any]:
    def kst(value: dt.datetime | None) -> dt.datetime | None:
        return None if value is None else timeutils.to_kst(value)

    return {
        "id": workspace.pk,
        "user": workspace.user.username,
        "hub_user": workspace.hub_user,
        "company": workspace.agreement.company.name,
        "agreement_number": workspace.agreement.number,
        "setting": workspace.setting,
        "status": workspace.status,
        "url": hub_workspace_url(workspace) if workspace.is_open else None,
        "gpu": workspace.gpu,
        "datasets": workspace.datasets,
        "requested_at": timeutils.to_kst(workspace.requested_at),
        "started_at": kst(workspace.started_at),
        "stopped_at": kst(workspace.stopped_at),
        "stop_reason": workspace.stop_reason,
        "stop_message": workspace.stop_message,
    }


@router.get("", response=list[WorkspaceOut], auth=api_auth)
def workspaces_list(request: HttpRequest) -> list[dict[str, Any]]:
    """Workspaces the caller may see, newest first."""
    return [_workspace_out(workspace) for workspace in workspaces_visible_to(_caller(request))[:200]]


@router.post("/start", response={201: WorkspaceOut}, auth=api_auth)
def workspaces_start(request: HttpRequest) -> Status:
    """Start the caller's workspace (company members); the answer's ``url`` opens JupyterLab. Refusals come
    back as 403 with their code (``no_agreement``, ``no_gpu``, ``no_grant``, ...)."""
    user: User = request.auth  # type: ignore[attr-defined]
    if not user.has_role(Role.APPLICANT):
        raise PermissionDeniedError("forbidden", _("작업 공간은 기업 담당자만 시작할 수 있습니다."))
    workspace = workspace_start(user=user, client_address=request.META.get("REMOTE_ADDR"), request=request)
    return Status(201, _workspace_out(workspace))


@router.get("/{workspace_id}", response=WorkspaceOut, auth=api_auth)
def workspaces_detail(request: HttpRequest, workspace_id: int) -> dict[str, Any]:
    return _workspace_out(workspace_for_user(_caller(request), workspace_id))


@router.post("/{workspace_id}/stop", response=WorkspaceOut, auth=api_auth)
def workspaces_stop(request: HttpRequest, workspace_id: int) -> dict[str, Any]:
    """Stop a workspace: its own user or an operator."""
    workspace = workspace_for_user(_caller(request), workspace_id)
    return _workspace_out(workspace_stop(workspace=workspace, actor=request.auth, request=request))  # type: ignore[attr-defined]


class HubAuth(HttpBearer):
    """``Authorization: Bearer <platform token>``: the hub, and nobody else."""

    def authenticate(self, request: HttpRequest, token: str) -> str | None:
        return "hub" if platform_token_valid(token.strip()) else None


@hub_router.post("/authorize", auth=HubAuth())
def hub_authorize(request: HttpRequest, payload: AuthorizeIn) -> dict[str, Any]:
    """What the hub may start for ``user``: ``allowed`` with datasets, GPU and environment, or a refusal with
    its code and Korean message (200 either way: the hub shows the message)."""
    return workspace_authorize(
        hub_user=payload.user, server=payload.server, user_options=payload.user_options
    )
