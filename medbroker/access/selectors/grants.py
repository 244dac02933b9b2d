"""Reads of data-access grants, online use and extra viewing requests.

Every answer about whether a grant works is computed from the instant asked about: a grant whose window has
passed is refused even while its stored status still says "active", because no job has run yet to record
the expiry. The periodic task (``grants_reconcile``) only writes down what these checks already enforce.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from medbroker.access.models import AccessGrant, OnlineAccount, OnlineSession, ViewingRequest
from medbroker.accounts.models import Role, User
from medbroker.agreements.models import Agreement, AgreementDataset, AgreementVersion
from medbroker.agreements.selectors import (
    agreement_in_force,
    agreement_member_ensure,
    agreement_terms,
    agreements_visible_to,
)
from medbroker.catalog.models import Dataset, Sensitivity
from medbroker.core import timeutils
from medbroker.core.errors import DomainError, NotFoundError, PermissionDeniedError

Status = AccessGrant.Status

# The state a page shows for a grant, computed at request time, and the badge class it wears.
STATE_LABELS = {
    "usable": gettext_lazy("이용 가능"),
    "not_started": gettext_lazy("시작 전"),
    "expired": gettext_lazy("기간 만료"),
    "revoked": gettext_lazy("이용 중지"),
    "closed": gettext_lazy("종료"),
    "agreement_not_in_force": gettext_lazy("협약 효력 없음"),
}
STATE_BADGES = {"usable": "available", "not_started": "pending"}


@dataclass(frozen=True)
class GrantRefusal:
    code: str
    message: str


def grant_last_day(grant: AccessGrant) -> dt.date:
    """The last calendar day (KST) of the grant; ``ends_at`` itself is the first instant after it."""
    return timeutils.to_kst(grant.ends_at - dt.timedelta(microseconds=1)).date()


def terms_dataset_ids(agreement_ids: Iterable[int]) -> dict[int, frozenset[int]]:
    """The datasets of each agreement's terms in force, in one query (no terms in force: an empty set)."""
    ids = set(agreement_ids)
    found: dict[int, set[int]] = {pk: set() for pk in ids}
    if ids:
        rows = AgreementDataset.objects.filter(
            version__agreement_id__in=ids, version__status=AgreementVersion.Status.EFFECTIVE
        ).values_list("version__agreement_id", "dataset_id")
        for agreement_id, dataset_id in rows:
            found[agreement_id].add(dataset_id)
    return {pk: frozenset(datasets) for pk, datasets in found.items()}


def _dataset_in_terms(grant: AccessGrant, terms_datasets: Collection[int] | None) -> bool:
    if terms_datasets is not None:
        return grant.dataset_id in terms_datasets
    return AgreementDataset.objects.filter(
        version__agreement_id=grant.agreement_id,
        version__status=AgreementVersion.Status.EFFECTIVE,
        dataset_id=grant.dataset_id,
    ).exists()


def grant_refusal(
    grant: AccessGrant, *, at: dt.datetime, terms_datasets: Collection[int] | None = None
) -> GrantRefusal | None:
    """Why the grant does not work at ``at`` (whoever asks), or None when it does.

    ``terms_datasets`` are the dataset ids of the agreement's terms in force, for callers that judge many
    grants at once (:func:`terms_dataset_ids`); without them one query asks whether the dataset is still in.
    """
    if grant.status == Status.REVOKED:
        return GrantRefusal(
            "grant_revoked",
            _("운영자가 이 데이터의 이용을 중지했습니다. 사유: %(reason)s") % {"reason": grant.revoke_reason},
        )
    if grant.status == Status.CLOSED:
        return GrantRefusal("grant_closed", _("협약 범위에서 빠져 이 데이터의 이용이 종료되었습니다."))
    if grant.status == Status.EXPIRED or at >= grant.ends_at:
        return GrantRefusal(
            "grant_expired",
            _("이용 기간이 끝났습니다 (마지막 날: %(day)s 23:59:59 KST).")
            % {"day": grant_last_day(grant).isoformat()},
        )
    if at < grant.starts_at:
        return GrantRefusal(
            "grant_not_started",
            _("이용 기간이 아직 시작되지 않았습니다 (시작: %(start)s KST).")
            % {"start": timeutils.to_kst(grant.starts_at).strftime("%Y-%m-%d %H:%M")},
        )
    if not agreement_in_force(grant.agreement, at=at):
        return GrantRefusal(
            "agreement_not_in_force", _("협약이 효력 중이 아니어서 데이터를 이용할 수 없습니다.")
        )
    # An amendment that drops the dataset ends its use at once, not when the periodic task closes the grant.
    if grant.kind == AccessGrant.Kind.AGREED and not _dataset_in_terms(grant, terms_datasets):
        return GrantRefusal("grant_closed", _("협약 범위에서 빠져 이 데이터의 이용이 종료되었습니다."))
    return None


def grant_is_usable(
    grant: AccessGrant, *, at: dt.datetime, terms_datasets: Collection[int] | None = None
) -> bool:
    """Status active, ``starts_at <= at < ends_at``, the agreement in force at ``at`` and the dataset in its
    terms (agreed data)."""
    return grant_refusal(grant, at=at, terms_datasets=terms_datasets) is None


def grant_user_refusal(grant: AccessGrant, *, user: User, at: dt.datetime) -> GrantRefusal | None:
    """Why ``user`` may not use the data of ``grant`` at ``at``, or None when they may."""
    try:
        agreement_member_ensure(grant.agreement, user)
    except PermissionDeniedError:
        return GrantRefusal("not_member", _("이 협약을 맺은 기업의 담당자만 데이터를 이용할 수 있습니다."))
    return grant_refusal(grant, at=at)


def grant_access_check(*, grant: AccessGrant, user: User, at: dt.datetime) -> None:
    """Raise DomainError (403) unless ``user`` may use the data of ``grant`` at ``at``.

    Codes: ``not_member``, ``grant_revoked``, ``grant_closed``, ``grant_expired``, ``grant_not_started``,
    ``agreement_not_in_force``.
    """
    refusal = grant_user_refusal(grant, user=user, at=at)
    if refusal is not None:
        raise DomainError(refusal.code, refusal.message, status_code=403)


def grant_online_conditions_refusal(
    grant: AccessGrant, *, terms: AgreementVersion | None
) -> GrantRefusal | None:
    """Why the grant's data may not be used online whatever the date (announcement §4 ⑤), or None.

    Online use is for low-sensitivity data only, where the terms in force allow it; extra viewing is
    outside the terms and stays in the closed room. Asked again at every session start, since a dataset's
    tier or an amendment can take the permission away after the grant went online.
    """
    if grant.dataset.sensitivity != Sensitivity.LOW:
        return GrantRefusal(
            "online_not_low_sensitivity",
            _(
                "민감도가 '%(tier)s'인 데이터는 폐쇄형 학습실에서만 이용할 수 있습니다. "
                "온라인 이용은 민감도 '낮음' 데이터에만 허용됩니다."
            )
            % {"tier": grant.dataset.get_sensitivity_display()},
        )
    if grant.kind != AccessGrant.Kind.AGREED or terms is None or not terms.allows_online:
        return GrantRefusal(
            "online_not_agreed",
            _(
                "협약에서 온라인 이용을 허용하지 않았습니다. 협약 변경으로 온라인 이용을 정한 뒤에 바꿀 수 있습니다."
            ),
        )
    return None


def grant_online_refusal(
    grant: AccessGrant,
    *,
    terms: AgreementVersion | None,
    at: dt.datetime,
    terms_datasets: Collection[int] | None = None,
) -> GrantRefusal | None:
    """Why the grant may not be switched to online use, or None when it may: the online conditions hold
    and the grant works at ``at``."""
    return grant_online_conditions_refusal(grant, terms=terms) or grant_refusal(
        grant, at=at, terms_datasets=terms_datasets
    )


def grant_remote_refusal(grant: AccessGrant, *, user: User, at: dt.datetime) -> GrantRefusal | None:
    """Why a workspace launcher must not open the grant's data for ``user`` at ``at``, or None when it may.

    Data leaves the closed room only through online use: the grant is online, its conditions still hold
    and the caller has an online session open, which they started with a fresh OTP code.
    """
    refusal = grant_user_refusal(grant, user=user, at=at)
    if refusal is not None:
        return refusal
    if grant.mode != AccessGrant.Mode.ONLINE:
        return GrantRefusal(
            "closed_room_only",
            _("이 데이터는 폐쇄형 학습실에서만 이용할 수 있습니다. 원격으로는 열 수 없습니다."),
        )
    refusal = grant_online_conditions_refusal(grant, terms=agreement_terms(grant.agreement))
    if refusal is not None:
        return refusal
    if not OnlineSession.objects.filter(
        grant=grant, user=user, started_at__lte=at, ended_at__isnull=True
    ).exists():
        return GrantRefusal(
            "online_session_required",
            _(
                "열려 있는 온라인 이용 세션이 없습니다. 데이터 이용 권한 페이지에서 "
                "OTP 인증 코드로 온라인 이용 세션을 먼저 시작하세요."
            ),
        )
    return None


def grant_state(grant: AccessGrant, *, at: dt.datetime, terms_datasets: Collection[int] | None = None) -> str:
    """The state a page shows: ``usable`` or the refusal code without its ``grant_`` prefix."""
    refusal = grant_refusal(grant, at=at, terms_datasets=terms_datasets)
    return "usable" if refusal is None else refusal.code.removeprefix("grant_")


def grants_visible_to(user: User) -> QuerySet[AccessGrant]:
    """Operators and auditors: every grant; applicants: their own company's; anyone else: none."""
    return AccessGrant.objects.filter(agreement__in=agreements_visible_to(user)).select_related(
        "agreement__company", "agreement__call", "dataset__institution__organisation", "viewing_request"
    )


def grant_for_user(user: User, pk: int) -> AccessGrant:
    grant = grants_visible_to(user).filter(pk=pk).first()
    if grant is None:
        raise NotFoundError("grant_not_found", _("데이터 이용 권한을 찾을 수 없습니다."))
    return grant


def closed_room_grants_usable(
    agreement: Agreement, *, starts_at: dt.datetime, ends_at: dt.datetime
) -> QuerySet[AccessGrant]:
    """Active closed-room grants of the agreement whose window covers ``[starts_at, ends_at)``."""
    return AccessGrant.objects.filter(
        agreement=agreement,
        status=Status.ACTIVE,
        mode=AccessGrant.Mode.CLOSED_ROOM,
        starts_at__lte=starts_at,
        ends_at__gte=ends_at,
    ).select_related("dataset")


# States the staff list filters on. "usable" and "expired" are judged by the clock, not only by the stored
# status, so a grant past its end counts as expired before the periodic task has recorded it.
GRANT_FILTER_STATES = ("usable", "not_started", "expired", "revoked", "closed")


def grants_filter(
    grants: QuerySet[AccessGrant],
    *,
    at: dt.datetime,
    call_slug: str = "",
    company_id: int | None = None,
    state: str = "",
) -> QuerySet[AccessGrant]:
    if call_slug:
        grants = grants.filter(agreement__call__slug=call_slug)
    if company_id is not None:
        grants = grants.filter(agreement__company_id=company_id)
    active = Q(status=Status.ACTIVE)
    if state == "usable":
        grants = grants.filter(active, starts_at__lte=at, ends_at__gt=at)
    elif state == "not_started":
        grants = grants.filter(active, starts_at__gt=at)
    elif state == "expired":
        grants = grants.filter(Q(status=Status.EXPIRED) | (active & Q(ends_at__lte=at)))
    elif state in (Status.REVOKED, Status.CLOSED):
        grants = grants.filter(status=state)
    return grants


@dataclass(frozen=True)
class GrantRow:
    """A grant as a page shows it at one instant."""

    grant: AccessGrant
    state: str
    last_day: dt.date
    days_left: int
    percent_left: int

    @property
    def state_label(self) -> str:
        return str(STATE_LABELS[self.state])

    @property
    def badge(self) -> str:
        return STATE_BADGES.get(self.state, "closed")

    @property
    def is_usable(self) -> bool:
        return self.state == "usable"


def grant_row(
    grant: AccessGrant, *, at: dt.datetime, terms_datasets: Collection[int] | None = None
) -> GrantRow:
    state = grant_state(grant, at=at, terms_datasets=terms_datasets)
    last_day = grant_last_day(grant)
    days_left = percent_left = 0
    if state in ("usable", "not_started"):
        # Calendar days still to use, today included: on the last day one day is left.
        days_left = (last_day - max(timeutils.to_kst(at), timeutils.to_kst(grant.starts_at)).date()).days + 1
        whole = (grant.ends_at - grant.starts_at).total_seconds()
        left = (grant.ends_at - max(at, grant.starts_at)).total_seconds()
        percent_left = min(100, math.ceil(100 * left / whole))
    return GrantRow(grant, state, last_day, days_left, percent_left)


def grant_rows(grants: QuerySet[AccessGrant] | list[AccessGrant], *, at: dt.datetime) -> list[GrantRow]:
    """The rows of a list of grants, with the terms of all their agreements read in one query."""
    grants = list(grants)
    in_terms = terms_dataset_ids(grant.agreement_id for grant in grants)
    return [grant_row(grant, at=at, terms_datasets=in_terms[grant.agreement_id]) for grant in grants]


@dataclass(frozen=True)
class TermsDatasetRow:
    """One dataset of the terms in force with its grants, the current one first."""

    dataset: Dataset
    amount: int
    grants: list[GrantRow]
    # Why the current grant cannot go online ("" when it can, or when there is no current grant).
    online_refusal: str = ""

    @property
    def active(self) -> GrantRow | None:
        return next((row for row in self.grants if row.grant.status == Status.ACTIVE), None)

    @property
    def history(self) -> list[GrantRow]:
        return [row for row in self.grants if row.grant.status != Status.ACTIVE]


@dataclass(frozen=True)
class AgreementGrants:
    agreement: Agreement
    in_force: bool
    allows_online: bool
    terms: list[TermsDatasetRow]
    # Grants outside the terms in force: extra viewing, and datasets an amendment removed.
    others: list[GrantRow]
    accounts: list[OnlineAccount]
    sessions: list[OnlineSession]

    @property
    def datasets_to_issue(self) -> int:
        return sum(1 for row in self.terms if row.active is None)


def agreement_grants_overview(
    agreement: Agreement, *, at: dt.datetime, sessions: int = 20
) -> AgreementGrants:
    """The agreement's terms, their grants (with history), online accounts and the latest online sessions."""
    terms = agreement_terms(agreement)
    grants = list(
        AccessGrant.objects.filter(agreement=agreement)
        .select_related("agreement", "dataset", "issued_by", "revoked_by", "viewing_request")
        .order_by("dataset_id", "-created_at", "-pk")
    )
    by_dataset: dict[int, list[AccessGrant]] = {}
    for grant in grants:
        by_dataset.setdefault(grant.dataset_id, []).append(grant)
    items = list(terms.datasets.select_related("dataset").order_by("pk")) if terms is not None else []
    in_terms = frozenset(item.dataset_id for item in items)
    rows = []
    for item in items:
        history = sorted(
            by_dataset.get(item.dataset_id, []), key=lambda g: (g.status != Status.ACTIVE, -g.pk)
        )
        current = next((g for g in history if g.status == Status.ACTIVE), None)
        refusal = (
            grant_online_refusal(current, terms=terms, at=at, terms_datasets=in_terms)
            if current is not None
            else None
        )
        history_rows = [grant_row(g, at=at, terms_datasets=in_terms) for g in history]
        rows.append(
            TermsDatasetRow(item.dataset, item.amount, history_rows, refusal.message if refusal else "")
        )
    others = [grant for grant in grants if grant.dataset_id not in in_terms]
    return AgreementGrants(
        agreement=agreement,
        in_force=agreement_in_force(agreement, at=at),
        allows_online=bool(terms and terms.allows_online),
        terms=rows,
        others=[grant_row(g, at=at, terms_datasets=in_terms) for g in others],
        accounts=list(
            OnlineAccount.objects.filter(agreement=agreement)
            .select_related("user", "issued_by")
            .order_by("revoked_at", "-created_at")
        ),
        sessions=list(
            OnlineSession.objects.filter(grant__agreement=agreement)
            .select_related("grant__dataset", "account", "user")
            .order_by("-started_at", "-pk")[:sessions]
        ),
    )


def online_account_live(agreement: Agreement, user: User) -> OnlineAccount | None:
    """The user's SSL-VPN/VDI account for the agreement that the lab has not taken back."""
    return OnlineAccount.objects.filter(agreement=agreement, user=user, revoked_at__isnull=True).first()


def online_account_for_user(user: User, pk: int) -> OnlineAccount:
    account = (
        OnlineAccount.objects.select_related("agreement", "user")
        .filter(pk=pk, agreement__in=agreements_visible_to(user))
        .first()
    )
    if account is None:
        raise NotFoundError("online_account_not_found", _("온라인 이용 계정을 찾을 수 없습니다."))
    return account


def online_accounts_live_by_agreement(user: User) -> dict[int, OnlineAccount]:
    """The user's live online accounts keyed by agreement id (the company's grant page)."""
    accounts = OnlineAccount.objects.filter(user=user, revoked_at__isnull=True)
    return {account.agreement_id: account for account in accounts}


def online_sessions_open(user: User) -> QuerySet[OnlineSession]:
    return OnlineSession.objects.filter(user=user, ended_at__isnull=True).select_related(
        "grant__dataset", "account"
    )


def online_session_for_user(user: User, pk: int) -> OnlineSession:
    """A session its own user may end, or any session for an operator; others are not found."""
    sessions = OnlineSession.objects.select_related("grant__agreement", "account", "user")
    if not user.has_role(Role.OPERATOR):
        sessions = sessions.filter(user=user)
    session = sessions.filter(pk=pk).first()
    if session is None:
        raise NotFoundError("session_not_found", _("온라인 이용 세션을 찾을 수 없습니다."))
    return session


# ---------------------------------------------------------------------------------------------------------
# Extra viewing requests (announcement §4 ⑤)
# ---------------------------------------------------------------------------------------------------------


def viewing_requests_visible_to(user: User) -> QuerySet[ViewingRequest]:
    return ViewingRequest.objects.filter(agreement__in=agreements_visible_to(user)).select_related(
        "agreement__company",
        "agreement__call",
        "dataset__institution__organisation",
        "requested_by",
        "decided_by",
    )


def viewing_request_for_user(user: User, pk: int) -> ViewingRequest:
    viewing_request = viewing_requests_visible_to(user).filter(pk=pk).first()
    if viewing_request is None:
        raise NotFoundError("viewing_request_not_found", _("추가 열람 요청을 찾을 수 없습니다."))
    return viewing_request


def viewing_datasets_available(agreement: Agreement, *, search: str = "") -> QuerySet[Dataset]:
    """Published datasets the company may still ask to view: not in its terms and not granted already."""
    terms = agreement_terms(agreement)
    in_terms = terms.datasets.values_list("dataset_id", flat=True) if terms is not None else []
    granted = AccessGrant.objects.filter(agreement=agreement, status=Status.ACTIVE).values_list(
        "dataset_id", flat=True
    )
    datasets = (
        Dataset.objects.filter(publication=Dataset.Publication.PUBLISHED)
        .exclude(pk__in=in_terms)
        .exclude(pk__in=granted)
        .select_related("institution__organisation")
        .order_by("title", "pk")
    )
    if search:
        datasets = datasets.filter(search_document__contains=search.strip().lower())
    return datasets


def agreements_for_viewing(user: User, *, at: dt.datetime) -> list[Agreement]:
    """The user's company agreements in force at ``at``: the ones a viewing request can be made under."""
    return [
        a for a in agreements_visible_to(user).order_by("-starts_on", "pk") if agreement_in_force(a, at=at)
    ]
