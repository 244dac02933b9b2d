"""Workspaces: a company member's JupyterLab on the hub, started by the platform, checked by the hub with the
platform, and stopped by the platform the moment what it shows is no longer allowed.

1. ``workspace_start`` (the member's button): the rules of ``selectors_workspaces.workspace_plan`` hold, so a
   row is written with a one-time launch token (only its hash is kept) and the hub is asked through its
   REST API to start the member's server with ``user_options = {"launch": token, "profile": GPU profile}``.
2. ``workspace_authorize`` (the hub, before the server starts): the token must be this hub user's, unused
   and fresh, the profile the allocated one, no other option given, and the rules must still hold; the
   answer names the datasets (folders, read-only), the GPU (``CUDA_VISIBLE_DEVICES``) and the grant's end.
   Anything else is refused, and nothing starts: a forged option, a start from the hub's own page, a token
   of another person.
3. ``workspaces_reconcile`` (every 30 s): a workspace whose grants, agreement or GPU no longer allow what it
   shows is stopped through the hub; a server the hub stopped (the idle culler) is recorded as stopped; a
   server the platform did not start is stopped.

Every start, stop and refusal is written to the audit log.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import logging
import re
import secrets
from typing import Any

from django.conf import settings
from django.db import DatabaseError, IntegrityError, transaction
from django.http import HttpRequest
from django.utils.translation import gettext as _

from medbroker.access.models import AccessGrant
from medbroker.accounts.models import Role, User
from medbroker.accounts.oidc import hub_username
from medbroker.audit.services import audit_record
from medbroker.compute.models import Workspace
from medbroker.compute.selectors_workspaces import (
    WorkspacePlan,
    WorkspaceRefusal,
    gpu_profile,
    gpu_record,
    grant_refusal_message,
    workspace_open_of,
    workspace_plan,
    workspace_setting_for,
)
from medbroker.compute.services.hub import HubClient, HubError, hub_client
from medbroker.core import timeutils
from medbroker.core.errors import DomainError, PermissionDeniedError

Status = Workspace.Status
Setting = Workspace.Setting
logger = logging.getLogger(__name__)
ALLOWED_OPTIONS = frozenset({"launch", "profile"})


def _sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def hub_workspace_url(workspace: Workspace) -> str:
    return f"{settings.MEDBROKER_HUB_URL.rstrip('/')}/user/{workspace.hub_user}/lab"


def _audit(
    workspace: Workspace | None,
    *,
    action: str,
    actor: User | None,
    summary: str,
    request: HttpRequest | None = None,
    **data: Any,
) -> None:
    if workspace is not None:
        data = {
            "workspace": workspace.pk,
            "hub_user": workspace.hub_user,
            "agreement": workspace.agreement.number,
            "setting": workspace.setting,
            **data,
        }
    audit_record(action=action, actor=actor, target=workspace, summary=summary, data=data, request=request)


def _refused(
    *, user: User | None, code: str, message: str, workspace: Workspace | None = None, **data: Any
) -> WorkspaceRefusal:
    _audit(
        workspace,
        action="compute.workspace_refused",
        actor=user,
        summary=f"작업 공간 시작 거부 ({code})",
        code=code,
        message=message,
        **data,
    )
    return WorkspaceRefusal(code, message)


def _stopped(
    workspace: Workspace,
    *,
    status: str,
    reason: str,
    message: str,
    actor: User | None,
    at: dt.datetime,
    request: HttpRequest | None = None,
) -> None:
    workspace.status = status
    workspace.stopped_at = at
    workspace.stop_reason = reason
    workspace.stop_message = message[:300]
    workspace.stopped_by = actor
    workspace.save(
        update_fields=["status", "stopped_at", "stop_reason", "stop_message", "stopped_by", "updated_at"]
    )
    action = "compute.workspace_failed" if status == Status.FAILED else "compute.workspace_stopped"
    summary = "작업 공간 시작 실패" if status == Status.FAILED else "작업 공간 중지"
    _audit(
        workspace,
        action=action,
        actor=actor,
        summary=f"{summary} ({reason})",
        request=request,
        reason=reason,
        message=message,
    )


# ---------------------------------------------------------------------------------------------------------
# Start (the member) and authorise (the hub)
# ---------------------------------------------------------------------------------------------------------


def _workspace_create(
    *,
    user: User,
    plan: WorkspacePlan,
    setting: str,
    token: str,
    now: dt.datetime,
    client_address: str | None,
    request: HttpRequest | None,
) -> Workspace:
    assert plan.agreement is not None and plan.allocation is not None
    with transaction.atomic():
        workspace = Workspace.objects.create(
            user=user,
            agreement=plan.agreement,
            allocation=plan.allocation,
            hub_user=hub_username(user),
            setting=setting,
            launch_token_sha256=_sha256(token),
            launch_expires_at=now + dt.timedelta(seconds=settings.MEDBROKER_WORKSPACE_LAUNCH_SECONDS),
            datasets=[dataset.as_record() for dataset in plan.datasets],
            gpu=gpu_record(plan.allocation),
            client_address=client_address,
            requested_at=now,
        )
        _audit(
            workspace,
            action="compute.workspace_start_requested",
            actor=user,
            summary="작업 공간 시작 요청",
            request=request,
            datasets=workspace.datasets,
            gpu=workspace.gpu,
        )
    return workspace


def _on_hub(client: HubClient, workspace: Workspace) -> bool:
    """Whether the hub has ``workspace``'s server; when the hub cannot say, it is taken to be there (the
    reconciler decides later) rather than start a second one."""
    try:
        return client.server_present(workspace.hub_user)
    except HubError:
        return True


def workspace_start(
    *,
    user: User,
    client_address: str | None,
    request: HttpRequest | None = None,
    client: HubClient | None = None,
) -> Workspace:
    """Start ``user``'s workspace (or return the one already open); raises DomainError with the reason."""
    now = timeutils.now()
    client = client or hub_client()
    open_workspace = workspace_open_of(user)
    if open_workspace is not None:
        if open_workspace.status == Status.STARTING and open_workspace.launch_expires_at > now:
            return open_workspace
        if open_workspace.status == Status.RUNNING and _on_hub(client, open_workspace):
            return open_workspace
        # A start the hub never confirmed, or a server gone without the reconciler noticing yet (none runs,
        # or not yet): recorded as ended, so that the person is not sent to a server that is not there.
        if open_workspace.status == Status.STARTING:
            status, reason = Status.FAILED, "launch_expired"
            message = _("허브가 시작을 확인하지 않은 채 시작 토큰이 만료되었습니다.")
        else:
            status, reason = Status.STOPPED, "hub_stopped"
            message = _("허브에서 서버가 멈췄습니다(유휴 시간 초과 포함).")
        _close_unchanged(open_workspace, status=status, reason=reason, message=message, at=now)
    setting = workspace_setting_for(client_address)
    plan = workspace_plan(user, setting=setting, at=now)
    if plan.refusal is not None:
        with transaction.atomic():
            _refused(
                user=user,
                code=plan.refusal.code,
                message=plan.refusal.message,
                setting=setting,
                client_address=client_address,
            )
        raise DomainError(plan.refusal.code, plan.refusal.message, status_code=403)
    assert plan.agreement is not None and plan.allocation is not None
    token = secrets.token_urlsafe(32)
    try:
        workspace = _workspace_create(
            user=user,
            plan=plan,
            setting=setting,
            token=token,
            now=now,
            client_address=client_address,
            request=request,
        )
    except IntegrityError:
        # Started twice at once (two tabs): the other start won; this one shows it.
        existing = workspace_open_of(user)
        if existing is None:
            raise
        return existing
    # Outside any transaction: the hub calls back (workspace_authorize) before it answers, and must find the
    # row committed.
    try:
        client.user_ensure(workspace.hub_user)
        client.server_start(workspace.hub_user, {"launch": token, "profile": gpu_profile(plan.allocation)})
    except HubError as error:
        workspace.refresh_from_db()
        if workspace.is_open:
            # The hub may have let its check pass and then failed to start the server: nothing must be left
            # half-started on either side.
            with contextlib.suppress(HubError):
                client.server_stop(workspace.hub_user)
            with transaction.atomic():
                _stopped(
                    workspace,
                    status=Status.FAILED,
                    reason="hub_error",
                    message=error.message,
                    actor=None,
                    at=timeutils.now(),
                )
        raise DomainError("hub_error", error.message, status_code=503) from None
    workspace.refresh_from_db()
    return workspace


def _answer(workspace: Workspace, plan: WorkspacePlan) -> dict[str, Any]:
    assert plan.allocation is not None
    ends = min(dataset.grant.ends_at for dataset in plan.datasets)
    return {
        "allowed": True,
        "code": None,
        "message": None,
        "workspace": workspace.pk,
        "user": workspace.hub_user,
        "setting": workspace.setting,
        # One home per agreement, person and setting: closed-room work stays out of an online workspace.
        "home": f"{re.sub(r'[^A-Za-z0-9_.-]', '-', workspace.agreement.number)}/{workspace.user_id}/{workspace.setting}",
        "company": workspace.agreement.company.name,
        "agreement": workspace.agreement.number,
        "datasets": [
            {
                "name": dataset.name,
                "title": dataset.grant.dataset.title,
                "path": dataset.path,
                "grant": dataset.grant.pk,
            }
            for dataset in plan.datasets
        ],
        "gpu": gpu_record(plan.allocation),
        "ends_at": timeutils.to_kst(ends).isoformat(),
        "environment": {
            "CUDA_VISIBLE_DEVICES": str(plan.allocation.gpu.index),
            "MEDBROKER_AGREEMENT": workspace.agreement.number,
            "MEDBROKER_GRANT_ENDS_AT": timeutils.to_kst(ends).isoformat(),
        },
    }


def _refusal_answer(refusal: WorkspaceRefusal) -> dict[str, Any]:
    return {"allowed": False, "code": refusal.code, "message": refusal.message}


def workspace_authorize(*, hub_user: str, server: str, user_options: dict[str, Any]) -> dict[str, Any]:
    """The hub's check before a server starts; the answer it applies, or a refusal with its message."""
    now = timeutils.now()
    token = user_options.get("launch") if isinstance(user_options, dict) else None
    with transaction.atomic():
        workspace = None
        if isinstance(token, str) and token:
            workspace = (
                Workspace.objects.select_for_update()
                .select_related("user", "agreement__company", "allocation__gpu__node")
                .filter(launch_token_sha256=_sha256(token))
                .first()
            )
        if workspace is None:
            return _refusal_answer(
                _refused(
                    user=None,
                    code="launch_unknown",
                    hub_user=hub_user,
                    server=server,
                    message=_(
                        "작업 공간은 플랫폼의 '작업 공간' 페이지에서 시작하세요. 허브에서 직접 시작할 수 없습니다."
                    ),
                )
            )
        if server:
            return _refusal_answer(
                _refused(
                    user=None,
                    workspace=workspace,
                    code="named_server",
                    hub_user=hub_user,
                    server=server,
                    message=_("작업 공간은 사람마다 하나입니다. 이름을 붙인 서버는 시작할 수 없습니다."),
                )
            )
        if workspace.hub_user != hub_user:
            return _refusal_answer(
                _refused(
                    user=None,
                    workspace=workspace,
                    code="launch_other_user",
                    hub_user=hub_user,
                    server=server,
                    message=_("다른 사용자의 작업 공간 시작 요청입니다."),
                )
            )
        if workspace.status != Status.STARTING or workspace.launch_expires_at <= now:
            return _refusal_answer(
                _refused(
                    user=workspace.user,
                    workspace=workspace,
                    code="launch_used",
                    message=_("이미 사용했거나 만료된 시작 요청입니다. 플랫폼에서 다시 시작하세요."),
                )
            )
        refusal = _authorize_refusal(workspace, user_options, now=now)
        if refusal is not None:
            _stopped(
                workspace,
                status=Status.FAILED,
                reason=refusal.code,
                message=refusal.message,
                actor=None,
                at=now,
            )
            return _refusal_answer(
                _refused(
                    user=workspace.user,
                    workspace=workspace,
                    code=refusal.code,
                    message=refusal.message,
                    user_options=_shown(user_options),
                )
            )
        plan = workspace_plan(workspace.user, setting=workspace.setting, at=now)
        assert plan.refusal is None
        workspace.status = Status.RUNNING
        workspace.started_at = now
        workspace.datasets = [dataset.as_record() for dataset in plan.datasets]
        workspace.save(update_fields=["status", "started_at", "datasets", "updated_at"])
        answer = _answer(workspace, plan)
        _audit(
            workspace,
            action="compute.workspace_started",
            actor=workspace.user,
            summary="작업 공간 시작",
            datasets=workspace.datasets,
            gpu=workspace.gpu,
        )
    return answer


def _shown(user_options: dict[str, Any]) -> dict[str, Any]:
    """The options as the log keeps them: everything but the token."""
    return {key: value for key, value in user_options.items() if key != "launch"}


def _authorize_refusal(
    workspace: Workspace, user_options: dict[str, Any], *, now: dt.datetime
) -> WorkspaceRefusal | None:
    unknown = sorted(set(user_options) - ALLOWED_OPTIONS)
    if unknown:
        return WorkspaceRefusal(
            "option_unknown", _("허용되지 않은 시작 옵션입니다: %(keys)s") % {"keys": ", ".join(unknown)}
        )
    plan = workspace_plan(workspace.user, setting=workspace.setting, at=now)
    if plan.refusal is not None:
        return plan.refusal
    assert plan.allocation is not None
    if plan.allocation.pk != workspace.allocation_id:
        return WorkspaceRefusal(
            "gpu_changed", _("시작을 요청한 뒤 GPU 배정이 바뀌었습니다. 다시 시작하세요.")
        )
    profile = gpu_profile(plan.allocation)
    if user_options.get("profile") != profile:
        return WorkspaceRefusal(
            "gpu_option_forged",
            _("요청한 GPU(%(asked)s)는 배정된 GPU(%(granted)s)가 아닙니다.")
            % {"asked": str(user_options.get("profile"))[:40], "granted": profile},
        )
    return None


def hub_sign_in_refusal(
    *, user: User, client_address: str | None, request: HttpRequest | None = None
) -> WorkspaceRefusal | None:
    """Why ``user`` may not sign in to the hub from ``client_address`` now, or None.

    A closed-room workspace shows closed-room data: while one is open, the hub's sign-in (the way into it
    from a browser that has not been there yet) is refused from outside the closed room's networks. The
    refusal is audited."""
    if workspace_setting_for(client_address) == Setting.CLOSED_ROOM:
        return None
    workspace = workspace_open_of(user)
    if workspace is None or workspace.setting != Setting.CLOSED_ROOM:
        return None
    refusal = WorkspaceRefusal(
        "closed_room_network",
        _(
            "폐쇄형 학습실 작업 공간이 열려 있습니다. 이 작업 공간에는 폐쇄형 학습실의 네트워크에서만 접속할 수 있습니다."
        ),
    )
    with transaction.atomic():
        _refused(
            user=user,
            workspace=workspace,
            code=refusal.code,
            message=refusal.message,
            client_address=client_address,
        )
    return refusal


# ---------------------------------------------------------------------------------------------------------
# Stop (the member, an operator, the reconciler)
# ---------------------------------------------------------------------------------------------------------


def workspace_stop(
    *, workspace: Workspace, actor: User, request: HttpRequest | None = None, client: HubClient | None = None
) -> Workspace:
    """Stop a workspace: its own user or an operator."""
    if actor.pk != workspace.user_id and not actor.has_role(Role.OPERATOR):
        raise PermissionDeniedError("forbidden", _("이 작업 공간을 중지할 수 없습니다."))
    if not workspace.is_open:
        raise DomainError("workspace_not_open", _("이미 중지된 작업 공간입니다."))
    try:
        (client or hub_client()).server_stop(workspace.hub_user)
    except HubError as error:
        raise DomainError("hub_error", error.message, status_code=503) from None
    with transaction.atomic():
        workspace = Workspace.objects.select_for_update().get(pk=workspace.pk)
        if workspace.is_open:
            reason = "stopped_by_user" if actor.pk == workspace.user_id else "stopped_by_operator"
            _stopped(
                workspace,
                status=Status.STOPPED,
                reason=reason,
                message=_("사용자가 중지했습니다.")
                if reason == "stopped_by_user"
                else _("운영자가 중지했습니다."),
                actor=actor,
                at=timeutils.now(),
                request=request,
            )
    return workspace


def _still_allowed(workspace: Workspace, *, at: dt.datetime) -> WorkspaceRefusal | None:
    """Why what ``workspace`` shows is no longer allowed, or None. A grant that ended is named first with its
    own reason (revoked, expired, the online session closed): it tells the company more than "nothing left";
    then what the whole workspace lost (the agreement, the GPU); then a dataset left out for another reason
    (its folder is gone)."""
    plan = workspace_plan(workspace.user, setting=workspace.setting, at=at)
    allowed = {dataset.grant.pk for dataset in plan.datasets}
    gone = [record for record in workspace.datasets if record["grant"] not in allowed]
    for record in gone:
        grant = AccessGrant.objects.select_related("agreement", "dataset").filter(pk=record["grant"]).first()
        if grant is None:
            reason: str | None = _("이용 권한이 없어졌습니다.")
        else:
            reason = grant_refusal_message(grant, user=workspace.user, setting=workspace.setting, at=at)
        if reason is not None:
            return WorkspaceRefusal(
                "grant_ended", _("%(title)s: %(reason)s") % {"title": record["title"], "reason": reason}
            )
    if plan.refusal is not None:
        return plan.refusal
    assert plan.allocation is not None
    if plan.allocation.pk != workspace.allocation_id:
        return WorkspaceRefusal("gpu_changed", _("GPU 배정이 바뀌어 작업 공간을 중지했습니다."))
    if gone:
        left_out = {grant.pk: message for grant, message in plan.left_out}
        record = gone[0]
        return WorkspaceRefusal(
            "grant_ended",
            _("%(title)s: %(reason)s")
            % {
                "title": record["title"],
                "reason": left_out.get(record["grant"], _("이용 권한이 끝났습니다.")),
            },
        )
    return None


def _close_unchanged(
    workspace: Workspace, *, status: str, reason: str, message: str, at: dt.datetime
) -> bool:
    """Record the end of ``workspace`` unless someone (its user, an operator, the hub's check) changed it
    since it was read: under the row's lock, so an end is recorded, and audited, once."""
    with transaction.atomic():
        current = (
            Workspace.objects.select_for_update()
            .filter(pk=workspace.pk, status=workspace.status)
            .select_related("agreement")
            .first()
        )
        if current is None:
            return False
        _stopped(current, status=status, reason=reason, message=message, actor=None, at=at)
    return True


def _reconcile_one(client: HubClient, workspace: Workspace, *, on_hub: bool, at: dt.datetime) -> str | None:
    """Settle one open workspace; the count it adds to, or None when it may go on."""
    if workspace.status == Status.STARTING and not on_hub and workspace.launch_expires_at <= at:
        message = _("허브가 시작을 확인하지 않은 채 시작 토큰이 만료되었습니다.")
        closed = _close_unchanged(
            workspace, status=Status.FAILED, reason="launch_expired", message=message, at=at
        )
        return "expired" if closed else None
    if workspace.status == Status.RUNNING and not on_hub:
        message = _("허브에서 서버가 멈췄습니다(유휴 시간 초과 포함).")
        closed = _close_unchanged(
            workspace, status=Status.STOPPED, reason="hub_stopped", message=message, at=at
        )
        return "ended" if closed else None
    refusal = _still_allowed(workspace, at=at)
    if refusal is None:
        return None
    if on_hub:
        client.server_stop(workspace.hub_user)
    closed = _close_unchanged(
        workspace, status=Status.STOPPED, reason=refusal.code, message=refusal.message, at=at
    )
    return "stopped" if closed else None


def workspaces_reconcile(*, client: HubClient | None = None) -> dict[str, int]:
    """Compare what runs on the hub with what is allowed, and act; counts of what was done.

    The open workspaces are read before the hub's list: a workspace that starts in between is then either
    not read at all, or read and found on the hub; it is never taken for a server that stopped. A server
    on the hub without a workspace is asked about again before it is stopped, for the same reason.
    """
    client = client or hub_client()
    now = timeutils.now()
    counts = {"stopped": 0, "ended": 0, "expired": 0, "unknown": 0}
    open_statuses = (Status.STARTING, Status.RUNNING)
    open_workspaces = list(
        Workspace.objects.filter(status__in=open_statuses).select_related(
            "user__organisation", "agreement__company", "allocation__gpu__node"
        )
    )
    running = client.servers()
    for workspace in open_workspaces:
        try:
            done = _reconcile_one(client, workspace, on_hub=workspace.hub_user in running, at=now)
        except (HubError, DatabaseError):
            # One workspace the hub or the database could not settle now must not leave the others (some
            # perhaps revoked) running: it is tried again at the next round.
            logger.exception("workspace %s: reconciliation failed", workspace.pk)
            continue
        if done is not None:
            counts[done] += 1
    known = {workspace.hub_user for workspace in open_workspaces}
    for name in sorted(set(running) - known):
        if Workspace.objects.filter(hub_user=name, status__in=open_statuses).exists():
            continue
        try:
            client.server_stop(name)
        except HubError:
            logger.exception("hub user %s: the unknown server could not be stopped", name)
            continue
        with transaction.atomic():
            audit_record(
                action="compute.workspace_stopped",
                summary=f"플랫폼이 시작하지 않은 서버 중지: {name}",
                object_type="compute.workspace",
                data={"hub_user": name, "reason": "unknown_server"},
            )
        counts["unknown"] += 1
    return counts
