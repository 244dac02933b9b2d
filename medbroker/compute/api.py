"""API of the compute app (``/api/v1/compute/…``): the same rules as the pages.

Operators and auditors read the inventory; a company reads its own agreement's GPU, share, waiting position
and hours (another company's is 404); only operators allocate. Other roles: 403; no credentials: 401.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Router, Schema

from medbroker.accounts.api_auth import api_auth
from medbroker.accounts.models import Role, User
from medbroker.accounts.permissions import STAFF_READ_ROLES
from medbroker.agreements.models import Agreement
from medbroker.agreements.selectors import agreement_for_user, agreement_in_force
from medbroker.compute.models import GpuAllocation
from medbroker.compute.selectors import (
    NodeShare,
    allocation_for_agreement,
    gpu_hours_by_agreement,
    gpu_hours_by_day,
    granted_gpu_type,
    inventory_overview,
    node_share,
    offer_deadline,
    waitlist_position,
)
from medbroker.compute.services.allocations import gpu_allocate
from medbroker.core import timeutils
from medbroker.core.errors import PermissionDeniedError

router = Router(tags=["compute"])


class GpuOut(Schema):
    index: int
    is_active: bool
    status: str  # "free" | "offered" | "active" | "inactive"
    agreement: str | None
    company: str | None


class NodeOut(Schema):
    name: str
    gpu_model: str
    gpu_memory_gb: int
    cpu_cores: int
    memory_gb: int
    storage_per_company: str
    is_active: bool
    companies: int
    cpu_cores_share: Decimal
    memory_gb_share: Decimal
    gpus: list[GpuOut]


class WaitingOut(Schema):
    position: int
    agreement: str
    company: str
    selection_rank: int | None
    since: dt.datetime


class TypeOut(Schema):
    gpu_model: str
    gpu_memory_gb: int
    total: int
    free: int
    waiting: list[WaitingOut]


class InventoryOut(Schema):
    nodes: list[NodeOut]
    types: list[TypeOut]


class AllocationOut(Schema):
    id: int
    status: str
    node: str
    gpu_index: int
    gpu_model: str
    gpu_memory_gb: int
    storage: str
    allocated_at: dt.datetime
    accepted_at: dt.datetime | None
    offer_deadline: dt.datetime | None


class ShareOut(Schema):
    companies: int
    cpu_cores: int
    memory_gb: int
    cpu_cores_share: Decimal
    memory_gb_share: Decimal


class DayHoursOut(Schema):
    day: dt.date
    gpu_hours: Decimal


class AgreementComputeOut(Schema):
    agreement_id: int
    number: str
    company: str
    granted_gpu: str | None
    in_force: bool
    allocation: AllocationOut | None
    share: ShareOut | None
    waitlist_position: int | None
    gpu_hours_total: Decimal
    gpu_hours_by_day: list[DayHoursOut]


class AllocateOut(Schema):
    result: str  # "allocated" | "waitlisted"
    allocation: AllocationOut | None
    waitlist_position: int | None


def _user(request: HttpRequest, *roles: str) -> User:
    user: User = request.auth  # type: ignore[attr-defined]
    if not user.has_role(*roles):
        raise PermissionDeniedError("forbidden", _("이 기능을 사용할 권한이 없습니다."))
    return user


def _allocation(allocation: GpuAllocation | None) -> dict[str, object] | None:
    if allocation is None:
        return None
    node = allocation.gpu.node
    return {
        "id": allocation.pk,
        "status": allocation.status,
        "node": node.name,
        "gpu_index": allocation.gpu.index,
        "gpu_model": node.gpu_model,
        "gpu_memory_gb": node.gpu_memory_gb,
        "storage": node.storage_per_company,
        "allocated_at": timeutils.to_kst(allocation.allocated_at),
        "accepted_at": timeutils.to_kst(allocation.accepted_at) if allocation.accepted_at else None,
        "offer_deadline": timeutils.to_kst(offer_deadline(allocation))
        if allocation.status == GpuAllocation.Status.OFFERED
        else None,
    }


def _share(share: NodeShare) -> dict[str, object]:
    return {
        "companies": share.companies,
        "cpu_cores": share.cpu_cores,
        "memory_gb": share.memory_gb,
        "cpu_cores_share": share.cpu_cores_share,
        "memory_gb_share": share.memory_gb_share,
    }


@router.get("/inventory", response=InventoryOut, auth=api_auth)
def inventory_get(request: HttpRequest) -> dict[str, object]:
    _user(request, *STAFF_READ_ROLES)
    overview = inventory_overview()
    nodes = []
    for row in overview.nodes:
        gpus = []
        for line in row.gpus:
            allocation = line.allocation
            if allocation is not None:
                status = allocation.status
            else:
                status = "free" if line.gpu.is_active else "inactive"
            gpus.append(
                {
                    "index": line.gpu.index,
                    "is_active": line.gpu.is_active,
                    "status": status,
                    "agreement": allocation.agreement.number if allocation else None,
                    "company": allocation.agreement.company.name if allocation else None,
                }
            )
        node = row.node
        nodes.append(
            {
                "name": node.name,
                "gpu_model": node.gpu_model,
                "gpu_memory_gb": node.gpu_memory_gb,
                "cpu_cores": node.cpu_cores,
                "memory_gb": node.memory_gb,
                "storage_per_company": node.storage_per_company,
                "is_active": node.is_active,
                "companies": row.share.companies,
                "cpu_cores_share": row.share.cpu_cores_share,
                "memory_gb_share": row.share.memory_gb_share,
                "gpus": gpus,
            }
        )
    types = [
        {
            "gpu_model": row.gpu_type.gpu_model,
            "gpu_memory_gb": row.gpu_type.gpu_memory_gb,
            "total": row.total,
            "free": row.free,
            "waiting": [
                {
                    "position": position,
                    "agreement": entry.agreement.number,
                    "company": entry.agreement.company.name,
                    "selection_rank": entry.selection_rank,
                    "since": timeutils.to_kst(entry.created_at),
                }
                for position, entry in enumerate(row.waiting, start=1)
            ],
        }
        for row in overview.types
    ]
    return {"nodes": nodes, "types": types}


def _agreement(request: HttpRequest, agreement_id: int, *roles: str) -> tuple[User, Agreement]:
    user = _user(request, *roles)
    return user, agreement_for_user(user, agreement_id)


@router.get("/agreements/{agreement_id}", response=AgreementComputeOut, auth=api_auth)
def agreement_compute_get(request: HttpRequest, agreement_id: int) -> dict[str, object]:
    _caller, agreement = _agreement(request, agreement_id, *STAFF_READ_ROLES, Role.APPLICANT)
    allocation = allocation_for_agreement(agreement)
    gpu_type = granted_gpu_type(agreement)
    return {
        "agreement_id": agreement.pk,
        "number": agreement.number,
        "company": agreement.company.name,
        "granted_gpu": str(gpu_type) if gpu_type else None,
        "in_force": agreement_in_force(agreement, at=timeutils.now()),
        "allocation": _allocation(allocation),
        "share": _share(node_share(allocation.gpu.node)) if allocation else None,
        "waitlist_position": waitlist_position(agreement),
        "gpu_hours_total": gpu_hours_by_agreement([agreement.pk])[agreement.pk],
        "gpu_hours_by_day": [{"day": day, "gpu_hours": hours} for day, hours in gpu_hours_by_day(agreement)],
    }


@router.post("/agreements/{agreement_id}/allocate", response=AllocateOut, auth=api_auth)
def agreement_allocate(request: HttpRequest, agreement_id: int) -> dict[str, object]:
    user, agreement = _agreement(request, agreement_id, Role.OPERATOR)
    result = gpu_allocate(agreement=agreement, actor=user, request=request)
    if isinstance(result, GpuAllocation):
        return {"result": "allocated", "allocation": _allocation(result), "waitlist_position": None}
    return {"result": "waitlisted", "allocation": None, "waitlist_position": waitlist_position(agreement)}
