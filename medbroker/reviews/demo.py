"""Demo data of step ③ for ``medbroker demo``: the 2025 call's committee with real work to do.

The 2025 intake closed on 2025-07-21 16:00:00 KST, so its applications cannot be submitted through the
services today; they are loaded here as the historical records they would be (submitted in July 2025,
receipt numbers KHD2025-0001…), with their documents and bonus evidence. The committee is then run
through the review services like an operator would: members, conflicts (제척 detected, a 회피 and a
pending 기피), assignments, score sheets (most submitted, one in draft) and part of the evidence verified.
Idempotent: a second run finds the committee and leaves it as it is.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from dataclasses import dataclass, field
from decimal import Decimal

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction

from medbroker.accounts.models import Organisation, Role, RoleAssignment, User
from medbroker.audit.services import audit_record
from medbroker.calls.definitions import CALL_2025_SLUG
from medbroker.calls.models import (
    Application,
    ApplicationDataset,
    ApplicationDocument,
    ApplicationStatusChange,
    Call,
    Certification,
    CertificationHeld,
    ComputeOption,
    EligibilityCriterion,
    EligibilityDeclaration,
    GovernmentProject,
    IntellectualProperty,
    RequiredDocument,
    RevenueRecord,
)
from medbroker.catalog.models import Dataset
from medbroker.core.timeutils import kst
from medbroker.reviews.models import Committee, CommitteeMember, ScoreSheet
from medbroker.reviews.services.assignments import assignments_generate
from medbroker.reviews.services.committee import committee_create, member_add
from medbroker.reviews.services.conflicts import conflict_challenge_request, conflict_recuse, conflicts_detect
from medbroker.reviews.services.evidence import evidence_verify
from medbroker.reviews.services.scoring import (
    rubric_items,
    score_sheet_for,
    score_sheet_save,
    score_sheet_submit,
)

DEMO_PASSWORD = "demo-reviewer-2025"  # noqa: S105 (printed demo login)
COMMITTEE_NAME = "2025 K-Health 대구 서면평가위원회"


@dataclass
class ReviewsDemo:
    committee: Committee | None = None
    summary_lines: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Company:
    name: str
    brn: str
    title: str
    revenue: dict[int, int]
    projects: int
    certifications: tuple[str, ...]
    patents: int
    compute: str
    datasets: tuple[tuple[str, str, int], ...]  # (body part code, modality code, amount)
    strength: int  # how the demo reviewers tend to score it, 0..100


# Fictional companies (business registration numbers with valid check digits).
_COMPANIES = (
    _Company(
        "메디비전랩 주식회사",
        "5038112343",
        "위 내시경 조기위암 실시간 검출 AI",
        {2021: 800, 2022: 950, 2023: 1100, 2024: 1400},
        5,
        ("GS", "ISO 9001", "ISMS-P", "InnoBiz", "의료기기 인·허가"),
        5,
        "a100-32",
        (("stomach", "endoscopy", 8000),),
        88,
    ),
    _Company(
        "헬스로직 주식회사",
        "6178154322",
        "유방 촬영술 병변 분류 보조 AI",
        {2021: 500, 2022: 520, 2023: 540, 2024: 520},
        3,
        ("GS", "IOS9001", "CE인증"),
        3,
        "v100-32",
        (("breast", "mammography", 6000),),
        81,
    ),
    _Company(
        "대구AI메드 주식회사",
        "1348100016",
        "요로결석 CT 자동 검출 및 크기 측정",
        {2022: 300, 2023: 300, 2024: 300},
        4,
        ("KC인증", "InnoBiz"),
        2,
        "v100-16",
        (("urinary-stone", "ct", 2000),),
        74,
    ),
    _Company(
        "코어메디텍 주식회사",
        "2148702817",
        "응급 복부 CT 중증도 분류 AI",
        {2021: 1200, 2022: 1100, 2023: 1000, 2024: 900},
        2,
        ("GS",),
        1,
        "a100-32",
        (("emergency-abdomen", "ct", 1000),),
        69,
    ),
    _Company(
        "뉴로웨이브 주식회사",
        "1058132451",
        "대장 내시경 용종 분할 AI",
        {2023: 150, 2024: 210},
        6,
        ("TTA마크", "GS", "ISO/IEC 27001", "MainBiz"),
        4,
        "a100-32",
        (("colon", "endoscopy", 9000), ("colon", "ct", 1500)),
        79,
    ),
    _Company(
        "바이오픽셀 주식회사",
        "3128176547",
        "담관결석 CT 판독 보조 AI",
        {},
        1,
        (),
        0,
        "v100-16",
        (("bile-duct-stone", "ct", 600),),
        58,
    ),
)

_MINIMAL_PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
)


def _company(spec: _Company) -> tuple[Organisation, User]:
    company, _ = Organisation.objects.update_or_create(
        business_registration_number=spec.brn,
        defaults={
            "kind": Organisation.Kind.COMPANY,
            "name": spec.name,
            "address": "대구광역시 동구 첨단로 " + str(int(spec.brn[-3:]) % 90 + 1),
            "representative": "대표자",
            "contact_name": "담당자",
            "contact_email": f"contact-{spec.brn}@demo.medbroker.local",
            "contact_phone": "053-000-0000",
        },
    )
    user, created = User.objects.get_or_create(
        username=f"company{spec.brn[-4:]}",
        defaults={"organisation": company, "display_name": f"{spec.name} 담당자"},
    )
    if created:
        user.set_password("demo-company-2025")
        user.save()
        RoleAssignment.objects.get_or_create(user=user, role=Role.APPLICANT)
    return company, user


def _historical_application(call: Call, spec: _Company, number: int) -> Application:
    company, user = _company(spec)
    existing = Application.objects.filter(call=call, company=company).exclude(status="withdrawn").first()
    if existing is not None:
        return existing
    submitted_at = kst(2025, 7, 14, 9, 0, 0) + dt.timedelta(days=number % 6, hours=number)
    application = Application.objects.create(
        call=call,
        company=company,
        created_by=user,
        status=Application.Status.SUBMITTED,
        receipt_number=f"{call.receipt_prefix or 'KHD2025'}-{number:04d}",
        submitted_at=submitted_at,
        last_submitted_at=submitted_at,
        company_address_at_submission=company.address,
        project_title=spec.title,
        summary=f"{spec.title}: 의료 현장의 판독 부담을 줄이고 진단 정확도를 높이는 소프트웨어 의료기기를 개발합니다.",
        organisation_plan="의료 AI 연구 경력 10년 이상의 총괄책임자와 임상 자문단으로 추진 조직을 구성합니다.",
        staffing_plan="전담인력 5명(데이터 2, 모델 2, 인허가 1)으로 역할을 나눕니다.",
        objectives="1단계 학습 데이터 정제와 기준 모델, 2단계 외부 검증과 식약처 인허가 준비가 목표입니다.",
        contents_strategy="폐쇄학습실에서 데이터를 활용하고 GPU로 학습·검증하며 월별 산출물을 냅니다.",
        technology="자체 개발한 경량 분할 모델과 불확실성 추정 기술로 기존 제품과 차별화합니다.",
        expected_effects="대구 지역 의료기관과 실증하여 판독 시간을 줄이고 지역 의료산업에 기여합니다.",
        compute_option=ComputeOption.objects.get(call=call, code=spec.compute),
        compute_intended_use="학습과 하이퍼파라미터 탐색",
    )
    ApplicationStatusChange.objects.create(
        application=application,
        from_status="draft",
        to_status="submitted",
        changed_by=user,
        changed_at=submitted_at,
    )
    EligibilityDeclaration.objects.create(
        application=application,
        criterion=EligibilityCriterion.objects.get(call=call, code="daegu_company"),
        declared=True,
    )
    for body_part, modality, amount in spec.datasets:
        dataset = Dataset.objects.filter(
            body_part__code=body_part, modality__code=modality, is_illustrative=False
        ).first()
        if dataset is not None:
            ApplicationDataset.objects.create(
                application=application,
                dataset=dataset,
                amount=min(amount, dataset.total_count),
                needs_annotated=True,
            )
    for requirement in RequiredDocument.objects.filter(
        call=call, condition=RequiredDocument.Condition.ALWAYS
    ):
        name = default_storage.save(f"applications/2025/07/{uuid.uuid4().hex}.pdf", ContentFile(_MINIMAL_PDF))
        ApplicationDocument.objects.create(
            application=application,
            requirement=requirement,
            file=name,
            original_name=f"{requirement.title}.pdf",
            detected_type="pdf",
            size=len(_MINIMAL_PDF),
            sha256=hashlib.sha256(_MINIMAL_PDF).hexdigest(),
            uploaded_by=user,
        )
    for year, millions in spec.revenue.items():
        RevenueRecord.objects.create(
            application=application, year=year, amount_krw=millions * 1_000_000, provisional=year == 2024
        )
    for n in range(spec.projects):
        GovernmentProject.objects.create(
            application=application,
            project_id=f"RS-2023-{spec.brn[-4:]}{n:02d}",
            title=f"의료영상 AI 고도화 과제 {n + 1}",
            agency="한국보건산업진흥원",
            started_on=dt.date(2023, 4, 1) + dt.timedelta(days=30 * n),
            ended_on=dt.date(2024, 12, 31),
        )
    for name in spec.certifications:
        certification = Certification.objects.filter(call=call, name=name).first() or next(
            (c for c in Certification.objects.filter(call=call) if name in c.aliases), None
        )
        if certification is not None:
            CertificationHeld.objects.create(
                application=application,
                certification=certification,
                certificate_number=f"C-{spec.brn[-4:]}-{certification.pk}",
                valid_from=dt.date(2023, 1, 1),
                valid_until=dt.date(2026, 12, 31),
            )
    for n in range(spec.patents):
        IntellectualProperty.objects.create(
            application=application,
            registration_number=f"10-2024-{spec.brn[-4:]}{n:03d}",
            title=f"의료영상 분석 방법 {n + 1}",
            registered_on=dt.date(2024, 3, 1) + dt.timedelta(days=20 * n),
        )
    audit_record(
        action="demo.historical_application_loaded",
        target=application,
        summary=f"{application.receipt_number} loaded as a 2025 intake record",
        data={"receipt_number": application.receipt_number, "submitted_at": submitted_at.isoformat()},
    )
    return application


def _points(max_points: int, strength: int, reviewer_bias: int, item_index: int) -> Decimal:
    # A deterministic spread: each company has a level, each reviewer a slight bias, each item a wobble.
    percent = max(0, min(100, strength + reviewer_bias + ((item_index * 7) % 9) - 4))
    return (Decimal(max_points) * Decimal(percent) / Decimal(100)).quantize(Decimal("0.5"))


_MEMBERS = (
    # (username, display name, organisation name, expertise, chair)
    ("reviewer", "정평가", None, "의료영상 AI", True),
    ("reviewer2", "김영상", "경북대학교 의과대학", "영상의학", False),
    ("reviewer3", "이임상", "대구가톨릭대학교병원", "소화기내과", False),
    ("reviewer4", "박기술", "헬스로직 주식회사", "의료기기 인허가", False),  # same organisation: 제척
    ("reviewer5", "최산업", "대구테크노파크", "의료산업·사업화", False),
)


def _member_user(username: str, display_name: str, organisation_name: str | None) -> User:
    user = User.objects.filter(username=username).first()
    if user is not None:
        return user
    organisation = Organisation.objects.filter(name=organisation_name).first() or Organisation.objects.create(
        kind=Organisation.Kind.INSTITUTION, name=organisation_name or ""
    )
    user = User.objects.create(username=username, display_name=display_name, organisation=organisation)
    user.set_password(DEMO_PASSWORD)
    user.save()
    RoleAssignment.objects.get_or_create(user=user, role=Role.REVIEWER)
    return user


def _run_committee(call: Call, applications: list[Application], operator: User) -> Committee:
    committee = committee_create(
        call=call,
        name=COMMITTEE_NAME,
        actor=operator,
        tie_breaks=["item_mean:technical_merit", "untrimmed_total"],
    )
    by_company = {a.company.name: a for a in applications}
    members: dict[str, CommitteeMember] = {}
    for username, display_name, organisation_name, expertise, chair in _MEMBERS:
        user = _member_user(username, display_name, organisation_name)
        relations = [by_company["메디비전랩 주식회사"].company] if username == "reviewer5" else []
        members[username] = member_add(
            committee=committee,
            user=user,
            actor=operator,
            organisation=user.organisation,
            expertise=expertise,
            is_chair=chair,
            declared_relations=relations,
        )
    conflicts_detect(committee, actor=operator)
    conflict_recuse(
        members["reviewer3"],
        by_company["대구AI메드 주식회사"],
        "최근 2년 내 해당 기업의 임상 자문을 맡았습니다.",
    )
    challenger = User.objects.filter(organisation=by_company["뉴로웨이브 주식회사"].company).first()
    if challenger is not None:
        conflict_challenge_request(
            by_company["뉴로웨이브 주식회사"],
            members["reviewer2"],
            "같은 연구과제에서 경쟁 관계에 있던 기관의 위원입니다.",
            challenger,
        )
    assignments_generate(committee, actor=operator)

    items = rubric_items(committee)
    strength = {spec.name: spec.strength for spec in _COMPANIES}
    bias = {"reviewer": 0, "reviewer2": 3, "reviewer3": -2, "reviewer4": 1, "reviewer5": -22}
    for username, member in members.items():
        for assignment in member.assignments.select_related("application__company").order_by(
            "application_id"
        ):
            sheet = score_sheet_for(assignment, actor=member.user)
            level = strength[assignment.application.company.name]
            entries = {
                item.code: {
                    "points": _points(item.max_points, level, bias[username], index),
                    "comment": "계획이 구체적이며 근거가 충분합니다."
                    if level >= 75
                    else "목표 근거를 보완할 필요가 있습니다.",
                }
                for index, item in enumerate(items)
            }
            score_sheet_save(sheet, entries=entries, overall_comment="", actor=member.user)
            # One sheet stays a draft, so the committee page shows work in progress.
            if not (username == "reviewer2" and assignment.application.company.name == "바이오픽셀 주식회사"):
                score_sheet_submit(sheet, actor=member.user)

    for application in applications[:4]:
        for kind, rows in (
            ("revenue", application.revenues.all()),
            ("project", application.projects.all()),
            ("certification", application.certifications.all()),
            ("intellectual_property", application.intellectual_property.all()),
        ):
            for row in rows:
                rejected = isinstance(row, CertificationHeld) and row.certification.name == "CE인증"
                evidence_verify(
                    application=application,
                    kind=kind,
                    evidence_id=row.pk,
                    status="rejected" if rejected else "verified",
                    reason="인증서 사본의 유효기간이 확인되지 않습니다." if rejected else "",
                    actor=operator,
                )
    return committee


@transaction.atomic
def reviews_demo_load() -> ReviewsDemo:
    call = Call.objects.filter(slug=CALL_2025_SLUG).first()
    operator = User.objects.filter(username="operator").first()
    if call is None or operator is None:
        return ReviewsDemo(
            summary_lines=["2025년 공모나 운영자 계정이 없어 평가위원회 데모를 건너뛰었습니다."]
        )
    applications = [_historical_application(call, spec, n) for n, spec in enumerate(_COMPANIES, start=1)]
    committee = Committee.objects.filter(call=call).first()
    if committee is None:
        committee = _run_committee(call, applications, operator)
    submitted = ScoreSheet.objects.filter(
        assignment__member__committee=committee, status=ScoreSheet.Status.SUBMITTED
    ).count()
    return ReviewsDemo(
        committee=committee,
        summary_lines=[
            f"2025년 공모 신청 {len(applications)}건(접수번호 {applications[0].receipt_number} …)",
            f"{committee.name}: 위원 {committee.members.count()}명, 이해충돌 {sum(m.conflicts.count() for m in committee.members.all())}건, "
            f"제출된 평가표 {submitted}장 — 평가위원 로그인: reviewer2~reviewer5 / {DEMO_PASSWORD}",
            "2025년 신청기업 로그인: "
            + ", ".join(f"company{spec.brn[-4:]}({spec.name})" for spec in _COMPANIES[:2])
            + " … / demo-company-2025",
        ],
    )
