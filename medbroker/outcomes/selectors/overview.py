""" "Where we stand after selection": one company's agreements, each with what to do next.

The page reads the records of every later step (agreement, grants, GPU, room, test requests, report) and
decides nothing: the next step is derived from the states those apps recorded.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.utils.translation import gettext as _

from medbroker.access.models import AccessGrant, ClosedRoomBooking
from medbroker.access.selectors.grants import grant_state
from medbroker.access.services.grants import grant_window_text
from medbroker.accounts.models import User
from medbroker.agreements.models import (
    Agreement,
    AgreementDataset,
    AgreementSignature,
    AgreementVersion,
    PerformanceTestRequest,
)
from medbroker.agreements.selectors import agreement_terms
from medbroker.compute.models import HOLDING_STATUSES, GpuAllocation
from medbroker.compute.selectors import NodeShare, node_share, waitlist_position
from medbroker.core import timeutils
from medbroker.outcomes.models import ResultsReport
from medbroker.outcomes.selectors.reports import report_is_late, report_is_overdue
from medbroker.outcomes.selectors.usage import (
    GrantState,
    allocation_label,
    allocations_latest,
    terms_datasets,
    upcoming_bookings,
)


class Step:
    """The call's steps after selection (announcement §4): ④ agreement, ⑤ data and GPU, ⑥ results report."""

    AGREEMENT = 4
    USE = 5
    REPORT = 6
    DONE = 7


class NextAction:
    SIGN = "sign"
    AWAIT_LAB_SIGNATURE = "await_lab_signature"
    AWAIT_GRANTS = "await_grants"
    BOOK_ROOM = "book_room"
    USE = "use"
    REPORT_OPEN = "report_open"
    REPORT_WRITE = "report_write"
    REPORT_FIX = "report_fix"
    REPORT_IN_REVIEW = "report_in_review"
    DONE = "done"
    TERMINATED = "terminated"


def _grant_state_label(state: str) -> str:
    return {
        GrantState.USABLE: _("이용 가능"),
        GrantState.NOT_STARTED: _("시작 전"),
        GrantState.EXPIRED: _("기간 만료"),
        GrantState.REVOKED: _("이용 중지"),
        GrantState.CLOSED: _("종료"),
        GrantState.AGREEMENT_NOT_IN_FORCE: _("협약 효력 없음"),
    }[state]


@dataclass(frozen=True)
class GrantLine:
    grant: AccessGrant
    state: str

    @property
    def state_label(self) -> str:
        return _grant_state_label(self.state)

    @property
    def window_text(self) -> str:
        """The window with its last day, as every grant page and notice writes it: the stored end is the
        first instant after the window, so printing it would show one day too many."""
        return grant_window_text(self.grant)

    @property
    def is_usable(self) -> bool:
        return self.state == GrantState.USABLE


@dataclass(frozen=True)
class AgreementOverview:
    agreement: Agreement
    step: int
    next_action: str
    next_text: str
    terms: AgreementVersion | None
    datasets: list[AgreementDataset]
    grants: list[GrantLine]
    allocation: GpuAllocation | None
    share: NodeShare | None
    waitlist_position: int | None
    bookings: list[ClosedRoomBooking]
    test_requests: list[PerformanceTestRequest]
    report: ResultsReport | None
    report_late: bool
    report_overdue: bool

    @property
    def gpu_label(self) -> str:
        return allocation_label(self.allocation)

    @property
    def allocation_holds(self) -> bool:
        return self.allocation is not None and self.allocation.status in HOLDING_STATUSES

    @property
    def usable_grants(self) -> int:
        return sum(1 for line in self.grants if line.is_usable)


def _company_signed_pending(agreement: Agreement) -> bool:
    return AgreementSignature.objects.filter(
        version__agreement=agreement,
        version__status=AgreementVersion.Status.PENDING,
        side=AgreementSignature.Side.COMPANY,
    ).exists()


def _report_action(report: ResultsReport | None) -> str:
    if report is None:
        return NextAction.REPORT_OPEN
    return {
        ResultsReport.Status.DRAFT: NextAction.REPORT_WRITE,
        ResultsReport.Status.RETURNED: NextAction.REPORT_FIX,
        ResultsReport.Status.SUBMITTED: NextAction.REPORT_IN_REVIEW,
        ResultsReport.Status.ACCEPTED: NextAction.DONE,
    }[ResultsReport.Status(report.status)]


def _next_action(
    agreement: Agreement,
    *,
    report: ResultsReport | None,
    grants: list[GrantLine],
    bookings: list[ClosedRoomBooking],
    today: dt.date,
) -> tuple[int, str]:
    status = agreement.status
    if status == Agreement.Status.TERMINATED:
        return Step.AGREEMENT, NextAction.TERMINATED
    if status == Agreement.Status.AWAITING_SIGNATURES:
        action = NextAction.AWAIT_LAB_SIGNATURE if _company_signed_pending(agreement) else NextAction.SIGN
        return Step.AGREEMENT, action
    if status == Agreement.Status.ENDED:
        action = _report_action(report)
        return (Step.DONE if action == NextAction.DONE else Step.REPORT), action
    # Active: the report comes to the front once it is open and needs the company, or the end is near.
    reminder_from = agreement.ends_on - dt.timedelta(days=settings.MEDBROKER_REPORT_REMINDER_DAYS)
    if report is not None and report.status != ResultsReport.Status.DRAFT:
        action = _report_action(report)
        return (Step.DONE if action == NextAction.DONE else Step.REPORT), action
    if today >= reminder_from:
        return Step.REPORT, _report_action(report)
    usable = [line for line in grants if line.is_usable]
    if not usable:
        return Step.USE, NextAction.AWAIT_GRANTS
    closed_room = any(line.grant.mode == AccessGrant.Mode.CLOSED_ROOM for line in usable)
    if closed_room and not bookings:
        return Step.USE, NextAction.BOOK_ROOM
    return Step.USE, NextAction.USE


def next_action_text(action: str, agreement: Agreement, report: ResultsReport | None) -> str:
    due = report.due_on.isoformat() if report is not None else ""
    texts = {
        NextAction.SIGN: _("협약서를 확인하고 서명해 주세요. 서명 전에는 데이터와 GPU를 이용할 수 없습니다."),
        NextAction.AWAIT_LAB_SIGNATURE: _("기업 서명을 마쳤습니다. 주관기관의 서명을 기다리고 있습니다."),
        NextAction.AWAIT_GRANTS: _(
            "협약이 체결되었습니다. 운영자가 데이터 이용 권한을 부여하면 알려 드립니다."
        ),
        NextAction.BOOK_ROOM: _("데이터는 폐쇄형 학습실에서 이용합니다. 학습실 좌석을 예약해 주세요."),
        NextAction.USE: _("데이터와 GPU를 이용할 수 있습니다. 이용 기간은 %(end)s까지입니다.")
        % {"end": agreement.ends_on.isoformat()},
        NextAction.REPORT_OPEN: _("결과보고서 작성을 시작해 주세요. 데이터·GPU 이용 내역이 미리 채워집니다."),
        NextAction.REPORT_WRITE: _("결과보고서를 작성해 제출해 주세요. 제출 기한: %(due)s") % {"due": due},
        NextAction.REPORT_FIX: _(
            "운영자가 결과보고서 보완을 요청했습니다. 의견을 반영해 다시 제출해 주세요."
        ),
        NextAction.REPORT_IN_REVIEW: _("결과보고서를 제출했습니다. 운영자가 검토하고 있습니다."),
        NextAction.DONE: _("결과보고서가 승인되었습니다. 지원사업의 모든 절차를 마쳤습니다."),
        NextAction.TERMINATED: _("협약이 해지되었습니다. 데이터와 GPU 이용 권한도 함께 종료되었습니다."),
    }
    return str(texts[action])


def agreement_overview(agreement: Agreement, *, at: dt.datetime) -> AgreementOverview:
    terms = agreement_terms(agreement)
    grants = [
        GrantLine(grant=grant, state=grant_state(grant, at=at))
        for grant in AccessGrant.objects.filter(agreement=agreement)
        .select_related("dataset", "agreement")
        .order_by("dataset__title", "pk")
    ]
    allocation = allocations_latest([agreement.pk]).get(agreement.pk)
    holds = allocation is not None and allocation.status in HOLDING_STATUSES
    bookings = upcoming_bookings(agreement, at=at)
    report = ResultsReport.objects.filter(agreement=agreement).first()
    step, action = _next_action(
        agreement, report=report, grants=grants, bookings=bookings, today=timeutils.to_kst(at).date()
    )
    return AgreementOverview(
        agreement=agreement,
        step=step,
        next_action=action,
        next_text=next_action_text(action, agreement, report),
        terms=terms,
        datasets=terms_datasets(terms),
        grants=grants,
        allocation=allocation,
        share=node_share(allocation.gpu.node) if holds and allocation is not None else None,
        waitlist_position=waitlist_position(agreement),
        bookings=bookings,
        test_requests=list(
            PerformanceTestRequest.objects.filter(agreement=agreement).order_by("-created_at", "-pk")
        ),
        report=report,
        report_late=report is not None and report_is_late(report),
        report_overdue=report is not None and report_is_overdue(report, at=at),
    )


def company_overview(user: User, *, at: dt.datetime | None = None) -> list[AgreementOverview]:
    """The user's company's agreements, newest call first."""
    if user.organisation_id is None:
        return []
    at = at or timeutils.now()
    agreements = (
        Agreement.objects.filter(company_id=user.organisation_id)
        .select_related("call", "company")
        .order_by("-call__intake_opens_at", "-pk")
    )
    return [agreement_overview(agreement, at=at) for agreement in agreements]
