"""The state the outcomes tests start from, made directly with the ORM: agreements of the 2025 call with
grants, a GPU node, usage records, room bookings, online sessions, test requests and reports.

The 2025 call's support period ends 2025-11-28, so a report is due on 2025-12-12 (14 days later).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from medbroker.access.models import AccessGrant, ClosedRoomBooking, OnlineAccount, OnlineSession, Seat
from medbroker.access.tests.factories import grant, rooms
from medbroker.accounts.models import Organisation, User
from medbroker.accounts.tests.factories import OrganisationFactory
from medbroker.agreements.models import Agreement, AgreementDataset, PerformanceTestRequest
from medbroker.agreements.tests.factories import active_agreement, selected_decision
from medbroker.calls.tests.factories import call_2025
from medbroker.catalog.models import Sensitivity
from medbroker.catalog.tests.factories import DatasetFactory
from medbroker.compute.models import (
    Gpu,
    GpuAllocation,
    GpuNode,
    GpuUsageRecord,
    GpuWaitlistEntry,
    UsageImport,
)
from medbroker.core.timeutils import kst
from medbroker.outcomes.models import ResultsReport

REPORT_DUE_ON = dt.date(2025, 12, 12)


def a100_node() -> GpuNode:
    node, _ = GpuNode.objects.get_or_create(
        name="a100-01",
        defaults={"gpu_model": "A100", "gpu_memory_gb": 32, "cpu_cores": 32, "memory_gb": 128},
    )
    for index in range(2):
        Gpu.objects.get_or_create(node=node, index=index)
    return node


def gpu_allocate(agreement: Agreement, index: int, *, status: str = "active") -> GpuAllocation:
    gpu = Gpu.objects.get(node=a100_node(), index=index)
    return GpuAllocation.objects.create(
        gpu=gpu,
        agreement=agreement,
        status=status,
        allocated_by=agreement.created_by,
        allocated_at=kst(2025, 9, 1, 14, 0, 0),
        released_at=kst(2025, 9, 20, 10, 0, 0) if status == "released" else None,
    )


def usage_record(agreement: Agreement, index: int, day: dt.date, hours: str) -> GpuUsageRecord:
    source, _ = UsageImport.objects.get_or_create(
        sha256="a" * 64, defaults={"original_name": "cluster.csv", "imported_by": agreement.created_by}
    )
    return GpuUsageRecord.objects.create(
        agreement=agreement,
        company=agreement.company,
        gpu=Gpu.objects.get(node=a100_node(), index=index),
        day=day,
        gpu_hours=Decimal(hours),
        source=source,
    )


def booking(
    agreement: Agreement,
    user: User,
    seat: Seat,
    starts_at: dt.datetime,
    hours: int,
    status: str = ClosedRoomBooking.Status.BOOKED,
) -> ClosedRoomBooking:
    return ClosedRoomBooking.objects.create(
        seat=seat,
        agreement=agreement,
        company=agreement.company,
        booked_by=user,
        starts_at=starts_at,
        ends_at=starts_at + dt.timedelta(hours=hours),
        status=status,
        checked_in_at=starts_at if status in ("checked_in", "checked_out") else None,
        checked_out_at=starts_at + dt.timedelta(hours=hours) if status == "checked_out" else None,
    )


def online_session(grant_: AccessGrant, user: User, started_at: dt.datetime) -> OnlineSession:
    account, _ = OnlineAccount.objects.get_or_create(
        agreement=grant_.agreement,
        user=user,
        revoked_at=None,
        defaults={"vpn_account": "vpn-01", "vdi_account": "vdi-01", "issued_by": grant_.issued_by},
    )
    return OnlineSession.objects.create(grant=grant_, account=account, user=user, started_at=started_at)


def performance_test_request(agreement: Agreement, user: User, status: str) -> PerformanceTestRequest:
    return PerformanceTestRequest.objects.create(
        agreement=agreement,
        requested_by=user,
        algorithm_name="GastroNet",
        task_description="위 내시경 영상에서 병변 위치 검출",
        status=status,
    )


def report(agreement: Agreement, **fields: object) -> ResultsReport:
    return ResultsReport.objects.create(agreement=agreement, due_on=REPORT_DUE_ON, **fields)


@dataclass
class ProgrammeScene:
    first: Agreement
    second: Agreement
    awaiting: Agreement
    first_report: ResultsReport
    second_report: ResultsReport


def programme_scene(
    *, company: Organisation, other_company: Organisation, applicant: User, other_applicant: User
) -> ProgrammeScene:
    """Two agreements of the 2025 call that have run (ended), and a third still awaiting signatures.

    first (company): two datasets (1000 + 1000 cases), a closed-room and an online grant, GPU a100-01/gpu0,
      34.50 GPU hours, bookings 3 h attended + 5 h no-show + 3 h after the period + 2 h cancelled, two online
      sessions, a report first submitted a minute after its due date;
    second (other_company): one of first's datasets (500 cases), a revoked grant, a released GPU and a place
      on the waiting list, 5.25 GPU hours, 5 h attended, a draft report never submitted.
    """
    call = call_2025()
    standard = DatasetFactory(sensitivity=Sensitivity.STANDARD, title="위 내시경 영상")
    low = DatasetFactory(sensitivity=Sensitivity.LOW, title="흉부 X-ray 공개 가능 영상")
    first = active_agreement(decision=selected_decision(company=company, call=call, datasets=[standard, low]))
    second = active_agreement(
        decision=selected_decision(company=other_company, call=call, datasets=[standard], rank=2)
    )
    AgreementDataset.objects.filter(version__agreement=second).update(amount=500)
    third = OrganisationFactory(name="부산바이오")
    awaiting = Agreement.objects.create(
        number="AWAIT-AG",
        decision=selected_decision(company=third, call=call, rank=3),
        call=call,
        company=third,
        ends_on=call.support_ends_on,
        created_by=first.created_by,
    )
    Agreement.objects.filter(pk__in=[first.pk, second.pk]).update(status=Agreement.Status.ENDED)
    first.refresh_from_db()
    second.refresh_from_db()

    grant(first, standard)
    online = grant(first, low, mode=AccessGrant.Mode.ONLINE)
    grant(second, standard, status=AccessGrant.Status.REVOKED, revoke_reason="보안 서약 위반")
    online_session(online, applicant, kst(2025, 9, 5, 10, 0, 0))
    online_session(online, applicant, kst(2025, 9, 6, 10, 0, 0))

    gpu_allocate(first, 0)
    gpu_allocate(second, 1, status="released")
    GpuWaitlistEntry.objects.create(agreement=second, gpu_model="A100", gpu_memory_gb=32, selection_rank=2)
    usage_record(first, 0, dt.date(2025, 9, 2), "10.50")
    usage_record(first, 0, dt.date(2025, 9, 3), "24.00")
    usage_record(second, 1, dt.date(2025, 9, 2), "5.25")

    rooms()
    seats = list(Seat.objects.order_by("room__order", "label"))
    booking(first, applicant, seats[0], kst(2025, 9, 10, 9), 3, "checked_out")
    booking(first, applicant, seats[0], kst(2025, 9, 11, 13), 5)
    booking(first, applicant, seats[1], kst(2025, 9, 12, 9), 2, "cancelled")
    booking(first, applicant, seats[0], kst(2025, 11, 29, 9), 3)
    booking(second, other_applicant, seats[2], kst(2025, 9, 15, 13), 5, "checked_in")

    performance_test_request(first, applicant, PerformanceTestRequest.Status.REQUESTED)
    performance_test_request(first, applicant, PerformanceTestRequest.Status.COMPLETED)
    performance_test_request(second, other_applicant, PerformanceTestRequest.Status.REJECTED)

    first_report = report(
        first,
        status=ResultsReport.Status.SUBMITTED,
        data_usage="데이터",
        compute_usage="GPU",
        model_performance="AUROC 0.91",
        summary="논문 1건",
        submitted_at=kst(2025, 12, 13, 0, 1, 0),
        submitted_by=applicant,
    )
    second_report = report(second)
    return ProgrammeScene(first, second, awaiting, first_report, second_report)
