"""Demo data of steps ④–⑥ (agreements, data access, the closed room, GPUs, reports) on the practice call.

The 2025 call's support period ended on 2025-11-28, so the steps after selection are shown on the practice
call, whose period runs from now. Four of the 2025 demo companies are selected there:

- 메디비전랩 (company2343): agreement signed, grants issued (the low-sensitivity chest X-ray dataset online),
  an online account, an A100, two bookings and a draft results report — it can book, start an online
  session with its OTP (backup codes below) and submit its report;
- 헬스로직 (company4322): agreement signed by the lab, waiting for the company's signature (OTP or PDF);
- 뉴로웨이브 (company2451): signed, holds the second A100;
- 코어메디텍 (company2817): signed, waiting for an A100 (the pool has two).

Everything goes through the services, so the audit log and the notices are those of real use. Idempotent: a
second run finds each step done and changes nothing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken

from medbroker.access.models import AccessGrant, ClosedRoomBooking, OnlineAccount, Seat
from medbroker.access.selectors.rooms import room_slots
from medbroker.access.services.grants import grant_mode_set, grants_issue
from medbroker.access.services.online import online_account_issue
from medbroker.access.services.rooms import booking_create, rooms_configure
from medbroker.accounts.models import Organisation, User
from medbroker.agreements.models import Agreement, AgreementSignature, AgreementVersion
from medbroker.agreements.services.agreements import agreement_create_from_decision
from medbroker.agreements.services.signatures import agreement_sign
from medbroker.calls.demo import PRACTICE_SLUG
from medbroker.calls.models import Application, ApplicationDataset, Call, ComputeOption
from medbroker.catalog.models import Dataset, Sensitivity
from medbroker.compute.inventory import INVENTORY_2025
from medbroker.compute.models import GpuAllocation, GpuWaitlistEntry, UsageImport
from medbroker.compute.services.allocations import gpu_allocate
from medbroker.compute.services.inventory import inventory_load
from medbroker.compute.services.usage import usage_import
from medbroker.core import timeutils
from medbroker.outcomes.services.reports import report_open
from medbroker.reviews.models import Decision

ROOM_LAYOUT = [
    ("폐쇄형 학습실 1", "KTL 대구의료인공지능개발지원센터 3층", 4),
    ("폐쇄형 학습실 2", "KTL 대구의료인공지능개발지원센터 3층", 4),
]
# Backup codes of the demo company members who sign and start online sessions (each works once).
COMPANY_BACKUP_CODES = (
    "21111111",
    "22222222",
    "23333333",
    "24444444",
    "25555555",
    "26666666",
    "27777777",
    "28888888",
    "29999999",
    "20000000",
)


@dataclass(frozen=True)
class _Selected:
    brn: str
    rank: int
    compute: str
    datasets: tuple[tuple[str, str, int], ...]  # (body part code, modality code, amount)
    allows_online: bool
    signed: bool


_SELECTED = (
    _Selected(
        "5038112343", 1, "a100-32", (("stomach", "endoscopy", 8000), ("chest", "xray", 2000)), True, True
    ),
    _Selected("6178154322", 2, "v100-32", (("breast", "mammography", 6000),), False, False),
    _Selected("1058132451", 3, "a100-32", (("colon", "endoscopy", 9000),), False, True),
    _Selected("2148702817", 4, "a100-32", (("emergency-abdomen", "ct", 1000),), False, True),
)


@dataclass
class SupportDemo:
    summary_lines: list[str] = field(default_factory=list)


def _dataset(body_part: str, modality: str) -> Dataset | None:
    # The chest X-ray of the demo hospital is the catalogue's low-sensitivity example.
    return (
        Dataset.objects.filter(body_part__code=body_part, modality__code=modality)
        .order_by("-sensitivity", "pk")
        .first()
    )


def _practice_application(call: Call, company: Organisation, spec: _Selected, user: User) -> Application:
    existing = Application.objects.filter(call=call, company=company).exclude(status="withdrawn").first()
    if existing is not None:
        return existing
    submitted_at = call.intake_opens_at + dt.timedelta(days=1, hours=spec.rank)
    template = Application.objects.filter(company=company).exclude(call=call).order_by("pk").first()
    application = Application.objects.create(
        call=call,
        company=company,
        created_by=user,
        status=Application.Status.SUBMITTED,
        # Numbered apart from the practice receipts, so a demo user's own submission keeps "-0001".
        receipt_number=f"{call.receipt_prefix or 'PRACTICE'}-S{spec.rank:03d}",
        submitted_at=submitted_at,
        last_submitted_at=submitted_at,
        company_address_at_submission=company.address,
        project_title=template.project_title if template else "의료영상 AI",
        summary=template.summary if template else "",
        compute_option=ComputeOption.objects.get(call=call, code=spec.compute),
        compute_intended_use="학습과 검증",
    )
    for body_part, modality, amount in spec.datasets:
        dataset = _dataset(body_part, modality)
        if dataset is not None:
            ApplicationDataset.objects.create(
                application=application,
                dataset=dataset,
                amount=min(amount, dataset.total_count),
                needs_annotated=True,
            )
    return application


def _decision(application: Application, spec: _Selected, operator: User) -> Decision:
    existing = Decision.objects.filter(application=application).first()
    if existing is not None:
        return existing
    now = timeutils.now()
    decision = Decision.objects.create(
        application=application,
        outcome=Decision.Outcome.SELECTED,
        rank=spec.rank,
        granted_compute=application.compute_option,
        support_ends_on=application.call.support_ends_on,
        note="연습용 공모의 선정 예시입니다.",
        decided_by=operator,
        decided_at=now,
        published_at=now,
    )
    decision.granted_datasets.set(application.requested_datasets.all())
    return decision


def _backup_codes(user: User) -> None:
    # Reset on every run, like the staff accounts' codes: signing in, signing the agreement and each online
    # session start each use one.
    device, _ = StaticDevice.objects.get_or_create(
        user=user, name="데모 백업 코드", defaults={"confirmed": True}
    )
    device.token_set.all().delete()
    for code in COMPANY_BACKUP_CODES:
        StaticToken.objects.create(device=device, token=code)


def _signed_copy(version: AgreementVersion) -> SimpleUploadedFile:
    # The generated agreement stands in for the scan of the signed paper copy.
    version.document.open("rb")
    try:
        content = version.document.read()
    finally:
        version.document.close()
    return SimpleUploadedFile("서명본.pdf", content, content_type="application/pdf")


def _sign(version: AgreementVersion, side: str, signer: User) -> None:
    if version.signatures.filter(side=side).exists():
        return
    agreement_sign(
        version=version,
        side=side,
        actor=signer,
        method=AgreementSignature.Method.UPLOAD,
        upload=_signed_copy(version),
    )


def _bookings(agreement: Agreement, user: User) -> int:
    if ClosedRoomBooking.objects.filter(agreement=agreement).exists():
        return 0
    seats = list(Seat.objects.filter(is_active=True, room__is_active=True).order_by("room__order", "label"))
    made = 0
    day = timeutils.today_kst() + dt.timedelta(days=1)
    while made < 2 and seats:
        if day.weekday() < 5:
            starts_at = room_slots(day)[0][0]
            booking_create(agreement=agreement, seat=seats[made], starts_at=starts_at, actor=user)
            made += 1
        day += dt.timedelta(days=1)
    return made


def _usage(agreement: Agreement, operator: User) -> None:
    allocation = (
        GpuAllocation.objects.filter(agreement=agreement, status="active").select_related("gpu__node").first()
    )
    if allocation is None:
        return
    today = timeutils.today_kst()
    csv = f"date,node,gpu,agreement,gpu_hours\n{today:%Y-%m-%d},{allocation.gpu.node.name},{allocation.gpu.index},{agreement.number},6.5\n"
    name = f"gpu-usage-demo-{today:%Y%m%d}-{agreement.number}.csv"
    if UsageImport.objects.filter(original_name=name).exists():
        return
    usage_import(upload=SimpleUploadedFile(name, csv.encode()), actor=operator)


@transaction.atomic
def support_demo_load() -> SupportDemo:
    call = Call.objects.filter(slug=PRACTICE_SLUG).first()
    operator = User.objects.filter(username="operator").first()
    if call is None or operator is None:
        return SupportDemo(["연습용 공모나 운영자 계정이 없어 협약·이용 데모를 건너뛰었습니다."])
    inventory_load(definition=INVENTORY_2025, actor=operator)
    rooms_configure(layout=ROOM_LAYOUT, actor=operator)
    lines = []
    for spec in _SELECTED:
        company = Organisation.objects.filter(business_registration_number=spec.brn).first()
        user = User.objects.filter(organisation=company, username=f"company{spec.brn[-4:]}").first()
        if company is None or user is None:
            continue
        _backup_codes(user)
        application = _practice_application(call, company, spec, user)
        decision = _decision(application, spec, operator)
        agreement = Agreement.objects.filter(decision=decision).first() or agreement_create_from_decision(
            decision=decision, actor=operator, allows_online=spec.allows_online
        )
        version = agreement.versions.order_by("number").first()
        assert version is not None
        _sign(version, AgreementSignature.Side.LAB, operator)
        if not spec.signed:
            lines.append(f"{company.name}: 협약 {agreement.number} — 기업 서명 대기 (company{spec.brn[-4:]})")
            continue
        _sign(version, AgreementSignature.Side.COMPANY, user)
        agreement.refresh_from_db()
        if not AccessGrant.objects.filter(agreement=agreement).exists():
            grants_issue(agreement=agreement, actor=operator)
        if spec.allows_online:
            for grant in AccessGrant.objects.filter(
                agreement=agreement, dataset__sensitivity=Sensitivity.LOW, mode=AccessGrant.Mode.CLOSED_ROOM
            ):
                grant_mode_set(grant=grant, mode=AccessGrant.Mode.ONLINE, actor=operator)
            if not OnlineAccount.objects.filter(agreement=agreement, user=user, revoked_at=None).exists():
                online_account_issue(
                    agreement=agreement,
                    user=user,
                    vpn_account=f"vpn-{spec.brn[-4:]}",
                    vdi_account=f"vdi-{spec.brn[-4:]}",
                    actor=operator,
                )
        holding = GpuAllocation.objects.filter(agreement=agreement, status__in=["offered", "active"]).exists()
        waiting = GpuWaitlistEntry.objects.filter(agreement=agreement, status="waiting").exists()
        if not holding and not waiting:
            gpu_allocate(agreement=agreement, actor=operator)
        if spec.rank == 1:
            _bookings(agreement, user)
            _usage(agreement, operator)
            report_open(agreement=agreement, actor=user)
        lines.append(f"{company.name}: 협약 {agreement.number} 체결 (company{spec.brn[-4:]})")
    lines.append(
        "선정 기업 로그인: company2343 · company4322 · company2451 · company2817 / demo-company-2025, "
        f"2단계 인증 백업 코드(각 1회): {', '.join(COMPANY_BACKUP_CODES[:2])}, … {COMPANY_BACKUP_CODES[-1]}"
    )
    return SupportDemo(lines)
