"""API of data-access grants (``/api/v1/access/…``): the same rules as the pages.

Applicants read their own company's grants, operators and auditors every grant; anyone else gets 403 and
another company's grant is 404. ``POST /grants/{id}/check`` answers whether the caller may open the data
remotely now, for a workspace launcher to ask before it opens anything: only an online grant whose
conditions hold, for a member with an online session open (started with a fresh OTP code); closed-room
data is never opened remotely. The answer is computed at the call, so an expired or revoked grant is
refused whether or not the periodic task has run, and every answer is written to the audit log.
"""

from __future__ import annotations

import datetime as dt

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Router, Schema

from medbroker.access.models import AccessGrant
from medbroker.access.selectors.grants import (
    grant_for_user,
    grant_is_usable,
    grants_visible_to,
    terms_dataset_ids,
)
from medbroker.access.services.grants import grant_remote_check
from medbroker.accounts.api_auth import api_auth
from medbroker.accounts.models import Role, User
from medbroker.accounts.permissions import STAFF_READ_ROLES
from medbroker.core import timeutils
from medbroker.core.errors import PermissionDeniedError

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
    mode: str


def _caller(request: HttpRequest) -> User:
    user: User = request.auth  # type: ignore[attr-defined]
    if not user.has_role(Role.APPLICANT, *STAFF_READ_ROLES):
        raise PermissionDeniedError("forbidden", _("데이터 이용 권한을 볼 수 있는 역할이 아닙니다."))
    return user


def _grant_out(
    grant: AccessGrant, *, at: dt.datetime, terms_datasets: frozenset[int] | None = None
) -> dict[str, object]:
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
        "usable": grant_is_usable(grant, at=at, terms_datasets=terms_datasets),
    }


@router.get("/grants", response=list[GrantOut], auth=api_auth)
def grants_list(request: HttpRequest) -> list[dict[str, object]]:
    """The grants the caller may see; ``usable`` says whether each works at this instant."""
    user = _caller(request)
    now = timeutils.now()
    grants = list(grants_visible_to(user).order_by("agreement__number", "dataset__title", "pk"))
    in_terms = terms_dataset_ids(grant.agreement_id for grant in grants)
    return [_grant_out(grant, at=now, terms_datasets=in_terms[grant.agreement_id]) for grant in grants]


@router.get("/grants/{grant_id}", response=GrantOut, auth=api_auth)
def grants_detail(request: HttpRequest, grant_id: int) -> dict[str, object]:
    return _grant_out(grant_for_user(_caller(request), grant_id), at=timeutils.now())


@router.post("/grants/{grant_id}/check", response=GrantCheckOut, auth=api_auth)
def grants_check(request: HttpRequest, grant_id: int) -> dict[str, object]:
    """Whether the caller may open the grant's data remotely now; refusals come back with their code, not
    as errors (``closed_room_only``, ``online_session_required``, ``not_member``, ``grant_expired``, …)."""
    user = _caller(request)
    grant = grant_for_user(user, grant_id)
    refusal = grant_remote_check(grant=grant, user=user, request=request)
    if refusal is not None:
        return {"allowed": False, "code": refusal.code, "message": str(refusal.message), "mode": grant.mode}
    return {"allowed": True, "code": None, "message": None, "mode": grant.mode}
