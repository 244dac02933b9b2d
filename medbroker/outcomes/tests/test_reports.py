"""The results report's life: opened with the facts of use, edited, submitted (late or not), returned with
a comment, resubmitted, accepted; attachments checked by content. Refusals change nothing."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import time_machine

from medbroker.access.models import ClosedRoomBooking, Seat
from medbroker.access.tests.factories import grant, rooms
from medbroker.accounts.models import Notification, Organisation, User
from medbroker.agreements.models import Agreement
from medbroker.agreements.tests.factories import active_agreement, selected_decision
from medbroker.audit.models import AuditEvent
from medbroker.calls.tests.factories import call_2025
from medbroker.calls.tests.factories_applications import sample_exe, sample_pdf, upload
from medbroker.catalog.models import Sensitivity
from medbroker.catalog.tests.factories import DatasetFactory
from medbroker.core.errors import DomainError, PermissionDeniedError
from medbroker.core.timeutils import kst
from medbroker.outcomes.models import ReportAttachment, ReportReview, ResultsReport
from medbroker.outcomes.services.reports import (
    report_attachment_add,
    report_attachment_remove,
    report_open,
    report_review,
    report_submit,
    report_update,
)
from medbroker.outcomes.tests.scene import booking, gpu_allocate, usage_record

pytestmark = pytest.mark.django_db
NEAR_END = kst(2025, 11, 25, 10, 0, 0)
FILLED = {
    "model_performance": "AUROC 0.91 (95% CI 0.89–0.93)",
    "summary": "SCI 논문 1건 투고, 특허 1건 출원",
}


@pytest.fixture(autouse=True)
def _frozen_clock() -> Iterator[None]:
    with time_machine.travel(NEAR_END, tick=False):
        yield


@pytest.fixture
def agreement(company: Organisation, applicant: User, operator: User) -> Agreement:
    standard = DatasetFactory(sensitivity=Sensitivity.STANDARD, title="위 내시경 영상")
    low = DatasetFactory(sensitivity=Sensitivity.LOW, title="흉부 X-ray 공개 가능 영상")
    return active_agreement(
        decision=selected_decision(company=company, call=call_2025(), datasets=[standard, low])
    )


def _state() -> list[tuple[Any, ...]]:
    return list(
        ResultsReport.objects.order_by("pk").values_list(
            "pk", "status", "submitted_at", "data_usage", "model_performance", "summary"
        )
    )


def _filled(report: ResultsReport, applicant: User) -> ResultsReport:
    return report_update(report=report, actor=applicant, fields=FILLED, outcomes=[])


def test_open_prefills_the_facts_of_use_and_the_due_date(agreement: Agreement, applicant: User) -> None:
    grant(agreement)
    gpu_allocate(agreement, 0)
    usage_record(agreement, 0, dt.date(2025, 9, 2), "10.50")
    usage_record(agreement, 0, dt.date(2025, 9, 4), "3.25")
    rooms()
    seat = Seat.objects.order_by("room__order", "label").first()
    assert seat is not None
    booking(agreement, applicant, seat, kst(2025, 9, 10, 9), 3, ClosedRoomBooking.Status.CHECKED_OUT)
    booking(agreement, applicant, seat, kst(2025, 9, 11, 13), 5)

    report = report_open(agreement=agreement, actor=applicant)

    assert (report.status, report.due_on) == ("draft", dt.date(2025, 12, 12))
    rows = list(agreement.versions.get().datasets.select_related("dataset__institution").order_by("pk"))
    assert report.data_usage.splitlines() == [
        "■ 협약 데이터 (협약 KHD2025-0001-AG)",
        f"- 위 내시경 영상 ({rows[0].dataset.institution.name}): 1,000건, Annotation 데이터",
        f"- 흉부 X-ray 공개 가능 영상 ({rows[1].dataset.institution.name}): 1,000건, Annotation 데이터",
        "■ 데이터 이용 권한: 폐쇄형 학습실 1건, 온라인 0건",
        "■ 폐쇄형 학습실: 예약 8.00시간, 이용(입실 기록) 3.00시간",
        "■ 온라인 이용 세션: 0회",
    ]
    assert report.compute_usage.splitlines() == [
        "■ 배정 GPU: A100 32GB · a100-01/gpu0",
        "■ GPU 사용 시간: 13.75시간 (클러스터 사용 기록 2025-09-02 ~ 2025-09-04)",
        "■ CPU와 메모리는 같은 노드의 기업들이 함께 쓰는 공유 자원입니다.",
    ]
    assert (report.model_performance, report.summary) == ("", "")
    event = AuditEvent.objects.get(action="outcomes.report_opened")
    assert (event.actor, event.object_id, event.data) == (
        applicant,
        str(report.pk),
        {"agreement": "KHD2025-0001-AG", "due_on": "2025-12-12"},
    )


def test_open_twice_gives_the_same_report(agreement: Agreement, applicant: User, operator: User) -> None:
    first = report_open(agreement=agreement, actor=operator)

    again = report_open(agreement=agreement, actor=applicant)

    assert again.pk == first.pk
    assert ResultsReport.objects.count() == 1
    assert AuditEvent.objects.filter(action="outcomes.report_opened").count() == 1
    assert "협약 GPU: A100 32GB (배정 기록 없음)" in first.compute_usage


def test_open_is_refused_to_others_and_before_signing(
    agreement: Agreement, auditor: User, other_applicant: User, applicant: User
) -> None:
    for actor in (auditor, other_applicant):
        with pytest.raises(PermissionDeniedError):
            report_open(agreement=agreement, actor=actor)
    Agreement.objects.filter(pk=agreement.pk).update(status=Agreement.Status.AWAITING_SIGNATURES)
    agreement.refresh_from_db()
    with pytest.raises(DomainError) as refused:
        report_open(agreement=agreement, actor=applicant)

    assert (refused.value.code, refused.value.status_code) == ("agreement_not_reportable", 409)
    assert ResultsReport.objects.count() == 0
    assert not AuditEvent.objects.filter(action="outcomes.report_opened").exists()


def test_update_saves_sections_and_replaces_outcome_rows(agreement: Agreement, applicant: User) -> None:
    report = report_open(agreement=agreement, actor=applicant)

    report_update(
        report=report,
        actor=applicant,
        fields={**FILLED, "revenue_krw": "120000000", "jobs_created": 2},
        outcomes=[
            {"kind": "paper", "title": "Deep learning for gastric lesions", "reference": "Sci Rep 15:1"},
            {
                "kind": "patent",
                "title": "병변 검출 방법",
                "reference": "10-2025-0001234",
                "achieved_on": "2025-10-01",
            },
        ],
    )
    report_update(
        report=report,
        actor=applicant,
        fields={"jobs_created": 3},
        outcomes=[{"kind": "certification", "title": "GMP 적합인정", "note": "식약처"}],
    )

    report.refresh_from_db()
    assert (report.model_performance, report.revenue_krw, report.jobs_created) == (
        FILLED["model_performance"],
        120000000,
        3,
    )
    assert list(report.outcomes.values_list("kind", "title", "reference", "achieved_on", "note")) == [
        ("certification", "GMP 적합인정", "", None, "식약처")
    ]
    assert list(
        AuditEvent.objects.filter(action="outcomes.report_updated")
        .order_by("sequence")
        .values_list("data", flat=True)
    ) == [
        {"changed": ["model_performance", "summary", "revenue_krw", "jobs_created"], "outcomes": 2},
        {"changed": ["jobs_created"], "outcomes": 1},
    ]


def test_update_is_refused_to_non_members_and_for_bad_rows(
    agreement: Agreement, applicant: User, operator: User, auditor: User
) -> None:
    report = report_open(agreement=agreement, actor=applicant)
    before = _state()

    for actor in (operator, auditor):
        with pytest.raises(PermissionDeniedError):
            report_update(report=report, actor=actor, fields=FILLED, outcomes=[])
    with pytest.raises(DomainError) as bad_kind:
        report_update(
            report=report, actor=applicant, fields=FILLED, outcomes=[{"kind": "award", "title": "상"}]
        )
    with pytest.raises(DomainError) as unknown:
        report_update(report=report, actor=applicant, fields={"status": "accepted"}, outcomes=[])

    assert bad_kind.value.code == "outcome_kind"
    assert str(bad_kind.value) == "1번째 성과 항목의 구분이 올바르지 않습니다: award"
    assert unknown.value.code == "unknown_field"
    assert _state() == before
    assert not report.outcomes.exists()


def test_submit_names_the_missing_sections(agreement: Agreement, applicant: User) -> None:
    report = report_open(agreement=agreement, actor=applicant)
    report_update(report=report, actor=applicant, fields={"data_usage": "  "}, outcomes=[])
    before = _state()

    with pytest.raises(DomainError) as refused:
        report_submit(report=report, actor=applicant)

    assert refused.value.code == "report_incomplete"
    assert refused.value.details == {"missing": ["data_usage", "model_performance", "summary"]}
    assert str(refused.value) == "다음 항목을 채운 뒤 제출하세요: 데이터 활용 내역, AI 모델 성능, 성과 요약"
    assert _state() == before
    assert not AuditEvent.objects.filter(action="outcomes.report_submitted").exists()


def test_lifecycle_submit_return_with_comment_resubmit_accept(
    agreement: Agreement, applicant: User, operator: User
) -> None:
    report = _filled(report_open(agreement=agreement, actor=applicant), applicant)

    with time_machine.travel(kst(2025, 12, 1, 9, 0, 0), tick=False):
        report = report_submit(report=report, actor=applicant)
    assert (report.status, report.submitted_at, report.submitted_by) == (
        "submitted",
        kst(2025, 12, 1, 9, 0, 0),
        applicant,
    )

    # A return without a comment tells the company nothing: refused, nothing changes.
    with pytest.raises(DomainError) as refused:
        report_review(report=report, actor=operator, verdict="returned", comment="  ")
    assert refused.value.code == "comment_required"
    assert ResultsReport.objects.get(pk=report.pk).status == "submitted"
    assert not ReportReview.objects.exists()

    with time_machine.travel(kst(2025, 12, 3, 14, 0, 0), tick=False):
        report_review(
            report=report, actor=operator, verdict="returned", comment="성능 지표의 신뢰구간을 적어 주세요."
        )
    report.refresh_from_db()
    assert report.status == "returned"
    notice = Notification.objects.get(kind="report_returned")
    assert (notice.user, notice.title, notice.link) == (
        applicant,
        "결과보고서 보완 요청",
        f"/outcomes/reports/{report.pk}/",
    )
    assert "성능 지표의 신뢰구간을 적어 주세요." in notice.body

    report_update(
        report=report, actor=applicant, fields={"model_performance": "AUROC 0.91 (0.89–0.93)"}, outcomes=[]
    )
    # Resubmitted after the due date, yet not late: the first submission met the deadline.
    with time_machine.travel(kst(2025, 12, 15, 9, 0, 0), tick=False):
        report = report_submit(report=report, actor=applicant)
    assert (report.status, report.submitted_at) == ("submitted", kst(2025, 12, 1, 9, 0, 0))
    resubmitted = AuditEvent.objects.filter(action="outcomes.report_submitted").order_by("sequence").last()
    assert resubmitted is not None
    assert (resubmitted.data["resubmission"], resubmitted.data["late"]) == (True, False)

    with time_machine.travel(kst(2025, 12, 16, 10, 0, 0), tick=False):
        report_review(report=report, actor=operator, verdict="accepted")
    report.refresh_from_db()
    assert report.status == "accepted"
    assert list(ReportReview.objects.order_by("reviewed_at").values_list("verdict", "comment")) == [
        ("returned", "성능 지표의 신뢰구간을 적어 주세요."),
        ("accepted", ""),
    ]
    assert Notification.objects.filter(kind="report_accepted", user=applicant).count() == 1
    assert list(
        AuditEvent.objects.filter(action__startswith="outcomes.report_")
        .exclude(action="outcomes.report_updated")
        .order_by("sequence")
        .values_list("action", flat=True)
    ) == [
        "outcomes.report_opened",
        "outcomes.report_submitted",
        "outcomes.report_returned",
        "outcomes.report_submitted",
        "outcomes.report_accepted",
    ]

    # Accepted is final: no edit, no new submission, no second review.
    before = _state()
    with pytest.raises(DomainError) as final:
        report_update(report=report, actor=applicant, fields={"summary": "변경"}, outcomes=[])
    assert final.value.code == "report_not_editable"
    with pytest.raises(DomainError):
        report_submit(report=report, actor=applicant)
    with pytest.raises(DomainError) as again:
        report_review(report=report, actor=operator, verdict="returned", comment="다시")
    assert again.value.code == "report_not_submitted"
    assert _state() == before


@pytest.mark.parametrize(
    ("submitted_at", "late"),
    [(kst(2025, 12, 12, 23, 59, 59), False), (kst(2025, 12, 13, 0, 0, 0), True)],
)
def test_submission_after_the_due_date_is_accepted_and_recorded_late(
    agreement: Agreement, applicant: User, submitted_at: dt.datetime, late: bool
) -> None:
    report = _filled(report_open(agreement=agreement, actor=applicant), applicant)

    with time_machine.travel(submitted_at, tick=False):
        report = report_submit(report=report, actor=applicant)

    assert report.status == "submitted"
    event = AuditEvent.objects.get(action="outcomes.report_submitted")
    assert (event.data["late"], event.data["due_on"]) == (late, "2025-12-12")


def test_review_is_for_operators_only(agreement: Agreement, applicant: User, auditor: User) -> None:
    report = report_submit(
        report=_filled(report_open(agreement=agreement, actor=applicant), applicant), actor=applicant
    )

    for actor in (auditor, applicant):
        with pytest.raises(PermissionDeniedError):
            report_review(report=report, actor=actor, verdict="accepted")

    assert ResultsReport.objects.get(pk=report.pk).status == "submitted"
    assert not ReportReview.objects.exists()


def _stored_files(settings: Any) -> list[Path]:
    root = Path(settings.MEDIA_ROOT)
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def test_attachment_is_checked_by_content_and_stored_with_its_hash(
    agreement: Agreement, applicant: User, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    report = report_open(agreement=agreement, actor=applicant)
    content = sample_pdf("논문 게재 증명")

    attachment = report_attachment_add(
        report=report, upload=upload("게재증명서.pdf", content), actor=applicant
    )

    assert (attachment.original_name, attachment.detected_type, attachment.size, attachment.sha256) == (
        "게재증명서.pdf",
        "pdf",
        len(content),
        hashlib.sha256(content).hexdigest(),
    )
    files = _stored_files(settings)
    assert len(files) == 1 and files[0].read_bytes() == content
    assert files[0].name != "게재증명서.pdf"

    with django_capture_on_commit_callbacks(execute=True):
        report_attachment_remove(attachment=attachment, actor=applicant)
    assert not ReportAttachment.objects.exists()
    assert _stored_files(settings) == []
    assert [
        e.action for e in AuditEvent.objects.filter(action__contains="attachment").order_by("sequence")
    ] == [
        "outcomes.report_attachment_added",
        "outcomes.report_attachment_removed",
    ]


def test_bad_attachment_is_refused_and_nothing_is_stored(
    agreement: Agreement, applicant: User, settings: Any
) -> None:
    report = report_open(agreement=agreement, actor=applicant)

    with pytest.raises(DomainError) as refused:
        report_attachment_add(report=report, upload=upload("성능시험.pdf", sample_exe()), actor=applicant)

    assert refused.value.code == "upload_content"
    assert "'성능시험.pdf' 파일의 내용이 PDF 형식이 아닙니다." in str(refused.value)
    assert not ReportAttachment.objects.exists()
    assert _stored_files(settings) == []
    assert not AuditEvent.objects.filter(action="outcomes.report_attachment_added").exists()
