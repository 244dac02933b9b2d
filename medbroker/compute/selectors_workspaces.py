"""What a person may have in a workspace, now: the agreement, the GPU and the granted datasets.

The rules (asked again at every start, at the hub's check and by the reconciler):

- a member (applicant) of a company whose agreement is in force, with a GPU allocated and accepted;
- online (from anywhere but the closed learning room's networks): only online grants that the access rules
  let out of the closed room now (``grant_remote_refusal``: low sensitivity, the terms allow it, an online
  session opened with a fresh OTP code);
- in the closed learning room (``MEDBROKER_CLOSED_ROOM_NETWORKS``): every grant the member may use now;
- a dataset shows only when it has a server folder (``ScanProfile.source_path``) inside the data roots
  (``MEDBROKER_SCAN_ROOTS``); at least one must.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from dataclasses import dataclass, field

from django.conf import settings
from django.db.models import QuerySet
from django.utils.translation import gettext as _

from medbroker.access.models import AccessGrant
from medbroker.access.selectors.grants import grant_remote_refusal, grant_user_refusal
from medbroker.accounts.models import Organisation, Role, User
from medbroker.accounts.permissions import STAFF_READ_ROLES
from medbroker.agreements.models import Agreement
from medbroker.agreements.selectors import agreement_in_force
from medbroker.compute.models import GpuAllocation, Workspace
from medbroker.compute.selectors import allocation_for_agreement
from medbroker.core.errors import NotFoundError
from medbroker.ingest.selectors import dataset_folders
from medbroker.ingest.services.profiles import inside_scan_roots

Setting = Workspace.Setting


@dataclass(frozen=True)
class WorkspaceRefusal:
    code: str
    message: str


@dataclass(frozen=True)
class WorkspaceDataset:
    grant: AccessGrant
    name: str
    path: str

    def as_record(self) -> dict[str, object]:
        dataset = self.grant.dataset
        return {"grant": self.grant.pk, "dataset": dataset.pk, "name": self.name, "title": dataset.title}


@dataclass
class WorkspacePlan:
    """What a start would open; ``refusal`` says why nothing would."""

    setting: str
    agreement: Agreement | None = None
    allocation: GpuAllocation | None = None
    datasets: list[WorkspaceDataset] = field(default_factory=list)
    # Grants of the agreement left out, with the reason shown to the person (refusal message).
    left_out: list[tuple[AccessGrant, str]] = field(default_factory=list)
    refusal: WorkspaceRefusal | None = None


def gpu_profile(allocation: GpuAllocation) -> str:
    """The GPU type as a profile name (``a100-80gb``): the ``user_options`` the platform starts with, and the
    Kubernetes profile's slug."""
    node = allocation.gpu.node
    return f"{re.sub(r'[^a-z0-9]+', '-', node.gpu_model.lower()).strip('-')}-{node.gpu_memory_gb}gb"


def gpu_record(allocation: GpuAllocation) -> dict[str, object]:
    node = allocation.gpu.node
    return {
        "allocation": allocation.pk,
        "profile": gpu_profile(allocation),
        "model": node.gpu_model,
        "memory_gb": node.gpu_memory_gb,
        "node": node.name,
        "index": allocation.gpu.index,
    }


def dataset_folder_name(grant: AccessGrant) -> str:
    """``<dataset id>-<English title as a slug>`` (``12-chest-ct``): stable, unique, safe in a path."""
    dataset = grant.dataset
    slug = re.sub(r"[^a-z0-9]+", "-", (dataset.title_en or "").lower()).strip("-")[:40].strip("-")
    return f"{dataset.pk}-{slug}" if slug else f"dataset-{dataset.pk}"


def workspace_setting_for(client_address: str | None) -> str:
    """``closed_room`` when the address lies in one of the closed learning room's networks, else ``online``."""
    if not client_address:
        return Setting.ONLINE
    try:
        address = ipaddress.ip_address(client_address)
    except ValueError:
        return Setting.ONLINE
    # A dual-stack server reports an IPv4 client as ::ffff:a.b.c.d.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    for network in settings.MEDBROKER_CLOSED_ROOM_NETWORKS:
        if address in ipaddress.ip_network(network, strict=False):
            return Setting.CLOSED_ROOM
    return Setting.ONLINE


def _company_agreements(user: User, *, at: dt.datetime) -> list[Agreement]:
    agreements = Agreement.objects.filter(company_id=user.organisation_id, status=Agreement.Status.ACTIVE)
    return [agreement for agreement in agreements.order_by("pk") if agreement_in_force(agreement, at=at)]


def _active_allocation(agreement: Agreement) -> GpuAllocation | None:
    """The agreement's GPU once accepted: an offer still waiting for the company gives no workspace."""
    allocation = allocation_for_agreement(agreement)
    return allocation if allocation is not None and allocation.status == GpuAllocation.Status.ACTIVE else None


def grant_refusal_message(grant: AccessGrant, *, user: User, setting: str, at: dt.datetime) -> str | None:
    """Why ``user`` may not open the grant's data in a workspace in ``setting`` at ``at``, or None."""
    if setting == Setting.CLOSED_ROOM:
        refusal = grant_user_refusal(grant, user=user, at=at)
    else:
        refusal = grant_remote_refusal(grant, user=user, at=at)
    return None if refusal is None else str(refusal.message)


def workspace_plan(user: User, *, setting: str, at: dt.datetime) -> WorkspacePlan:
    """What ``user`` may open in a workspace in ``setting`` at ``at``."""
    plan = WorkspacePlan(setting=setting)
    organisation = user.organisation
    if (
        organisation is None
        or organisation.kind != Organisation.Kind.COMPANY
        or not user.has_role(Role.APPLICANT)
    ):
        plan.refusal = WorkspaceRefusal(
            "not_member", _("작업 공간은 협약을 맺은 기업의 담당자만 쓸 수 있습니다.")
        )
        return plan
    agreements = _company_agreements(user, at=at)
    if not agreements:
        plan.refusal = WorkspaceRefusal(
            "no_agreement", _("효력 중인 협약이 없어 작업 공간을 열 수 없습니다.")
        )
        return plan
    with_gpu = [(agreement, _active_allocation(agreement)) for agreement in agreements]
    plan.agreement, plan.allocation = next(
        ((agreement, allocation) for agreement, allocation in with_gpu if allocation is not None), with_gpu[0]
    )
    if plan.allocation is None:
        plan.refusal = WorkspaceRefusal(
            "no_gpu",
            _("배정된 GPU가 없습니다. GPU 배정(또는 배정 제안의 수락)을 마친 뒤에 시작할 수 있습니다."),
        )
        return plan
    grants = list(
        AccessGrant.objects.filter(agreement=plan.agreement, status=AccessGrant.Status.ACTIVE)
        .select_related("agreement", "dataset")
        .order_by("dataset__title", "pk")
    )
    folders = dataset_folders([grant.dataset_id for grant in grants])
    for grant in grants:
        message = grant_refusal_message(grant, user=user, setting=setting, at=at)
        if message is None and grant.dataset_id not in folders:
            message = _("서버에 데이터 폴더가 등록되지 않아 작업 공간에 연결할 수 없습니다.")
        elif message is None and not inside_scan_roots(folders[grant.dataset_id]):
            message = _(
                "데이터 폴더가 허용된 데이터 보관 위치 밖에 있어 작업 공간에 연결할 수 없습니다. 운영자에게 문의하세요."
            )
        if message is None:
            plan.datasets.append(
                WorkspaceDataset(grant, dataset_folder_name(grant), folders[grant.dataset_id])
            )
        else:
            plan.left_out.append((grant, message))
    if not plan.datasets:
        if setting == Setting.ONLINE:
            message = _(
                "원격으로 열 수 있는 데이터가 없습니다. 온라인 이용 데이터는 데이터 이용 권한 페이지에서 "
                "OTP 인증 코드로 온라인 이용 세션을 먼저 시작하세요. 폐쇄형 학습실 데이터는 학습실에서만 열립니다."
            )
        else:
            message = _("지금 이용할 수 있는 데이터 이용 권한이 없습니다.")
        plan.refusal = WorkspaceRefusal("no_grant", message)
    return plan


def workspaces_visible_to(user: User) -> QuerySet[Workspace]:
    """Operators and auditors: every workspace; a company member: their company's; anyone else: none."""
    workspaces = Workspace.objects.select_related("user", "agreement__company", "allocation__gpu__node")
    if user.has_role(*STAFF_READ_ROLES):
        return workspaces
    if user.has_role(Role.APPLICANT) and user.organisation_id is not None:
        return workspaces.filter(agreement__company_id=user.organisation_id)
    return workspaces.none()


def workspace_for_user(user: User, pk: int) -> Workspace:
    workspace = workspaces_visible_to(user).filter(pk=pk).first()
    if workspace is None:
        raise NotFoundError("workspace_not_found", _("작업 공간을 찾을 수 없습니다."))
    return workspace


def workspace_open_of(user: User) -> Workspace | None:
    return (
        Workspace.objects.filter(user=user, status__in=(Workspace.Status.STARTING, Workspace.Status.RUNNING))
        .select_related("allocation__gpu__node")
        .first()
    )
