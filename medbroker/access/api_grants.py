"""API of data-access grants (``/api/v1/access/…``): the same rules as the pages.

Applicants read their own company's grants, operators and auditors every grant; anyone else gets 403 and
another company's grant is 404. ``POST /grants/{id}/check`` answers whether the caller may use the data
now, for a workspace launcher to ask before it opens anything: the answer is computed at the call, so an
expired or revoked grant is refused whether or not the periodic task has run.
"""

from __future__ import annotations

import datetime as dt

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Router, Schema

from medbroker.access.models import AccessGrant
from medbroker.access.selectors.grants import (
    grant_access_check,
    grant_for_user,
    grant_is_usable,
    grants_visible_to,
)
from medbroker.accounts.api_auth import api_auth
from medbroker.accounts.models import Role, User
from medbroker.accounts.permissions import STAFF_READ_ROLES
from medbroker.core import timeutils
from medbroker.core.errors import DomainError, PermissionDeniedError

router = Router(tags=["access"])


class GrantOut(Schema):
    id: int
    agreement_id: int
    agreement_number: str
    company: str
    dataset_id: int
    dataset: str
    kind: str
    mode: str
    view_only: bool
    status: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    usable: bool


class GrantCheckOut(Schema):
    allowed: bool
    code: str | None
    message: str | None


def _caller(request: HttpRequest) -> User:
    user: User = request.auth  # type: ignore[attr-defined]
    if not user.has_role(Role.APPLICANT, *STAFF_READ_ROLES):
        raise PermissionDeniedError("forbidden", _("데이터 이용 권한을 볼 수 있는 역할이 아닙니다."))
    return user


def _grant_out(grant: AccessGrant, *, at: dt.datetime) -> dict[str, object]:
    return {
        "id": grant.pk,
        "agreement_id": grant.agreement_id,
        "agreement_number": grant.agreement.number,
        "company": grant.agreement.company.name,
        "dataset_id": grant.dataset_id,
        "dataset": grant.dataset.title,
        "kind": grant.kind,
        "mode": grant.mode,
        "view_only": grant.view_only,
        "status": grant.status,
        "starts_at": timeutils.to_kst(grant.starts_at),
        "ends_at": timeutils.to_kst(grant.ends_at),
        "usable": grant_is_usable(grant, at=at),
    }


@router.get("/grants", response=list[GrantOut], auth=api_auth)
def grants_list(request: HttpRequest) -> list[dict[str, object]]:
    """The grants the caller may see; ``usable`` says whether each works at this instant."""
    user = _caller(request)
    now = timeutils.now()
    grants = grants_visible_to(user).order_by("agreement__number", "dataset__title", "pk")
    return [_grant_out(grant, at=now) for grant in grants]


@router.get("/grants/{grant_id}", response=GrantOut, auth=api_auth)
def grants_detail(request: HttpRequest, grant_id: int) -> dict[str, object]:
    return _grant_out(grant_for_user(_caller(request), grant_id), at=timeutils.now())


@router.post("/grants/{grant_id}/check", response=GrantCheckOut, auth=api_auth)
def grants_check(request: HttpRequest, grant_id: int) -> dict[str, object]:
    """Whether the caller may use the grant's data now; refusals come back with their code, not as errors."""
    user = _caller(request)
    grant = grant_for_user(user, grant_id)
    try:
        grant_access_check(grant=grant, user=user, at=timeutils.now())
    except DomainError as refusal:
        return {"allowed": False, "code": refusal.code, "message": str(refusal.message)}
    return {"allowed": True, "code": None, "message": None}
