"""Test reports: issued from a succeeded run only, numbered per KST year, stored, hashed, signed, audited and
announced to the company; verified by their bytes. The PDF carries aggregates only. Also the SVG curves."""

from __future__ import annotations

import hashlib
import hmac
import re
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.template.loader import render_to_string
from django.utils import translation

from medbroker.accounts.models import Notification, Organisation, User
from medbroker.audit.models import AuditEvent
from medbroker.core.errors import DomainError, PermissionDeniedError
from medbroker.core.timeutils import kst
from medbroker.evaluations import models
from medbroker.evaluations.charts import results_curve_svg, svg_froc, svg_roc
from medbroker.evaluations.services import reports
from medbroker.evaluations.services.reports import (
    REPORT_TEMPLATE,
    report_context,
    report_file_read,
    report_issue,
    report_verify,
)
from medbroker.evaluations.tests.factories import EvaluationFactory
from medbroker.evaluations.tests.test_selectors import binary_results, finished_run, null_results

pytestmark = pytest.mark.django_db
ISSUED_AT = kst(2025, 9, 22, 9, 0)
SIGNING_KEY = "lab-signing-key-for-tests"


@pytest.fixture(autouse=True)
def _signing_key(settings: Any) -> None:
    settings.MEDBROKER_REPORT_SIGNING_KEY = SIGNING_KEY


@pytest.fixture
def run(company: Organisation, applicant: User) -> models.EvaluationRun:
    return finished_run(EvaluationFactory(company=company, locked=True))


def _root(settings: Any) -> Path:
    return Path(settings.MEDBROKER_EVALUATION_ROOT)


def _state(settings: Any) -> dict[str, Any]:
    folder = _root(settings) / "reports"
    return {
        "reports": list(models.TestReport.objects.values_list("number", flat=True)),
        "files": sorted(path.name for path in folder.iterdir()) if folder.exists() else [],
        "audit": AuditEvent.objects.count(),
        "notifications": Notification.objects.count(),
    }


def test_an_operator_issues_a_signed_report_of_a_succeeded_run(
    run: models.EvaluationRun, operator: User, applicant: User, settings: Any
) -> None:
    with time_machine.travel(ISSUED_AT, tick=False):
        report = report_issue(actor=operator, run=run, language="ko")

    assert (report.number, report.language, report.file, report.issued_by, report.run) == (
        "PT-2025-0001",
        "ko",
        "reports/PT-2025-0001.pdf",
        operator,
        run,
    )
    content = (_root(settings) / "reports" / "PT-2025-0001.pdf").read_bytes()
    assert content.startswith(b"%PDF")
    assert report.pdf_sha256 == hashlib.sha256(content).hexdigest()
    expected = hmac.new(
        SIGNING_KEY.encode(), f"PT-2025-0001:{report.pdf_sha256}".encode(), hashlib.sha256
    ).hexdigest()
    assert report.signature == expected
    event = AuditEvent.objects.get(action="evaluations.report_issued")
    assert (event.actor, event.object_id, event.data) == (
        operator,
        str(report.pk),
        {
            "run": run.pk,
            "evaluation": run.submission.evaluation_id,
            "number": "PT-2025-0001",
            "language": "ko",
            "pdf_sha256": report.pdf_sha256,
            "verdict": "fail",
        },
    )
    notice = Notification.objects.get(user=applicant)
    assert (notice.kind, notice.title, notice.link) == (
        "evaluation_report_issued",
        "성능시험 성적서 발급: PT-2025-0001",
        f"/evaluations/runs/{run.pk}/",
    )


def test_numbers_follow_the_kst_year(run: models.EvaluationRun, operator: User) -> None:
    with time_machine.travel(kst(2025, 12, 31, 23, 0), tick=False):
        first = report_issue(actor=operator, run=run)
        second = report_issue(actor=operator, run=run, language="en")
    # 00:30 KST on New Year's Day is still 2025 in UTC: the number takes the Korean year.
    with time_machine.travel(kst(2026, 1, 1, 0, 30), tick=False):
        third = report_issue(actor=operator, run=run)

    assert [first.number, second.number, third.number] == ["PT-2025-0001", "PT-2025-0002", "PT-2026-0001"]
    assert second.language == "en"


def test_a_number_taken_meanwhile_moves_to_the_next_and_keeps_the_other_file(
    run: models.EvaluationRun, operator: User, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    with time_machine.travel(ISSUED_AT, tick=False):
        taken = report_issue(actor=operator, run=run)
        taken_bytes = report_file_read(report=taken)
        offered = iter(["PT-2025-0001", "PT-2025-0002"])
        # The race: the next free number was read before the other operator's report was saved.
        monkeypatch.setattr(reports, "report_number_next", lambda *, year: next(offered))

        report = report_issue(actor=operator, run=run)

    assert report.number == "PT-2025-0002"
    assert report_file_read(report=taken) == taken_bytes
    assert sorted(path.name for path in (_root(settings) / "reports").iterdir()) == [
        "PT-2025-0001.pdf",
        "PT-2025-0002.pdf",
    ]


def test_the_secret_key_signs_when_no_signing_key_is_set(
    run: models.EvaluationRun, operator: User, settings: Any
) -> None:
    settings.MEDBROKER_REPORT_SIGNING_KEY = ""

    report = report_issue(actor=operator, run=run)

    expected = hmac.new(
        settings.SECRET_KEY.encode(), f"{report.number}:{report.pdf_sha256}".encode(), hashlib.sha256
    ).hexdigest()
    assert report.signature == expected


@pytest.mark.parametrize("role", ["applicant", "auditor"])
def test_only_operators_issue_reports(
    role: str, run: models.EvaluationRun, users_by_role: dict[str, User | None], settings: Any
) -> None:
    before = _state(settings)

    with pytest.raises(PermissionDeniedError):
        report_issue(actor=users_by_role[role], run=run)  # type: ignore[arg-type]

    assert _state(settings) == before


@pytest.mark.parametrize(
    "status",
    [
        models.EvaluationRun.Status.QUEUED,
        models.EvaluationRun.Status.RUNNING,
        models.EvaluationRun.Status.FAILED,
    ],
)
def test_a_run_that_did_not_succeed_gets_no_report(
    status: str, run: models.EvaluationRun, operator: User, settings: Any
) -> None:
    models.EvaluationRun.objects.filter(pk=run.pk).update(status=status)
    before = _state(settings)

    with pytest.raises(DomainError) as raised:
        report_issue(actor=operator, run=run)

    assert (raised.value.code, raised.value.status_code) == ("run_not_succeeded", 409)
    assert _state(settings) == before


def test_a_language_other_than_korean_or_english_is_refused(
    run: models.EvaluationRun, operator: User, settings: Any
) -> None:
    before = _state(settings)

    with pytest.raises(DomainError) as raised:
        report_issue(actor=operator, run=run, language="ja")

    assert (raised.value.code, raised.value.field) == ("language_invalid", "language")
    assert _state(settings) == before


def test_verification_knows_the_issued_bytes_only(run: models.EvaluationRun, operator: User) -> None:
    report = report_issue(actor=operator, run=run)
    content = report_file_read(report=report)

    assert report_verify(pdf=content) == report
    assert report_verify(pdf=content[:-1] + bytes([content[-1] ^ 1])) is None
    assert report_verify(pdf=b"%PDF-1.7 something else") is None


def test_a_report_whose_row_was_tampered_with_does_not_verify(
    run: models.EvaluationRun, operator: User
) -> None:
    report = report_issue(actor=operator, run=run)
    content = report_file_read(report=report)
    # Someone renumbers the report in the database: the signature no longer holds.
    models.TestReport.objects.filter(pk=report.pk).update(number="PT-2025-0999")

    assert report_verify(pdf=content) is None


def test_a_changed_or_missing_file_is_never_served(
    run: models.EvaluationRun, operator: User, settings: Any
) -> None:
    report = report_issue(actor=operator, run=run)
    path = _root(settings) / report.file
    path.write_bytes(path.read_bytes() + b"\n")

    with pytest.raises(DomainError) as changed:
        report_file_read(report=report)
    path.unlink()
    with pytest.raises(DomainError) as missing:
        report_file_read(report=report)

    assert (changed.value.code, missing.value.code) == ("report_file_changed", "report_file_missing")


def _html(run: models.EvaluationRun, operator: User, language: str = "ko") -> str:
    with translation.override(language):
        context = report_context(
            run=run, number="PT-2025-0007", issued_at=ISSUED_AT, issued_by=operator, language=language
        )
        return render_to_string(REPORT_TEMPLATE, context)


def test_the_report_carries_the_plan_the_results_and_the_hashes(
    run: models.EvaluationRun, operator: User
) -> None:
    evaluation = run.submission.evaluation
    html = _html(run, operator)

    for text in (
        "AI 알고리즘 성능시험 성적서",
        "PT-2025-0007",
        "2025-09-22",
        evaluation.company.name,
        evaluation.test_request.algorithm_name,
        evaluation.test_set.name,
        "종합 판정: 부적합",
        "미충족",
        "0.699 – 0.972",
        "TP 18",
        "비공개",
        "개인 식별 보호를 위해 공개하지 않음",
        "실패 1: 시간 초과",
        "증례 3건을 두 번 실행",
        run.plan_sha256,
        run.test_set_sha256,
        run.submission.file_sha256,
        "<svg",
        str(operator),
    ):
        assert text in html, text


def test_the_report_never_names_a_case_or_a_case_s_output(run: models.EvaluationRun, operator: User) -> None:
    html = _html(run, operator)

    for secret in ("C0040", "C0001", "0.9132", "30초 안에 끝나지 않았습니다"):
        assert secret not in html


@pytest.mark.parametrize("language", ["ko", "en"])
def test_the_report_explains_what_could_not_be_computed(
    run: models.EvaluationRun, operator: User, language: str
) -> None:
    models.EvaluationRun.objects.filter(pk=run.pk).update(
        results=null_results(), environment={"runner": None}
    )
    run.refresh_from_db()

    html = _html(run, operator, language=language)

    assert re.findall(r"\bNone\b|\b(?:nan|NaN)\b", html) == []
    if language == "ko":
        for text in (
            "신뢰구간을 계산할 수 없어(완전 분리 등) 기준을 충족한 것으로 볼 수 없음",
            "지표 값을 계산할 수 없어(해당하는 참조 표준 증례가 없는 등) 기준을 충족한 것으로 볼 수 없음",
            "기준이 신뢰구간의 유리한 쪽을 보도록 되어 있어(예: 민감도 상한 ≥ 기준값) 기준을 충족한 것으로 볼 수 없음",
            '<td class="num">1.000</td><td class="num">계산 불가</td>',
            "1.000 (구간 계산 불가)",
            "두 실행의 AUROC 차이에 분산이 없어(예: 두 실행 모두 완전 분리) 신뢰구간과 z·p 값을 계산할 수 없습니다.",
            '<td class="num">- · -</td>',
            "모든 하위군을 공개하지 않은 속성: 성별",
        ):
            assert text in html, text
        # The comparison's earlier run is unknown here: a dash, not "#None".
        assert '<th class="label">비교 대상</th><td>-</td>' in html
    withheld = {"ko": "비공개", "en": "Withheld"}[language]
    assert html.count(f'<td class="num">{withheld}</td>') == 2


def test_a_report_with_nulls_is_issued_as_a_pdf(run: models.EvaluationRun, operator: User) -> None:
    models.EvaluationRun.objects.filter(pk=run.pk).update(results=null_results(run.pk))

    report = report_issue(actor=operator, run=run)

    assert report_file_read(report=report).startswith(b"%PDF")
    assert report_verify(pdf=report_file_read(report=report)) == report


def test_points_the_results_could_not_give_are_not_drawn() -> None:
    svg = str(
        svg_roc([[0, 0], [None, 0.5], [0.5, None], [0.5, 1], [1, 1]], title="ROC", x_label="", y_label="")
    )

    assert '<polyline points="46.0,300.0 197.0,26.0 348.0,26.0"' in svg


def test_the_english_report_is_rendered_in_english(run: models.EvaluationRun, operator: User) -> None:
    html = _html(run, operator, language="en")

    assert '<html lang="en">' in html
    assert "PT-2025-0007" in html


def test_a_report_without_a_curve_has_no_chart(run: models.EvaluationRun, operator: User) -> None:
    models.EvaluationRun.objects.filter(pk=run.pk).update(results=binary_results(curves={}))
    run.refresh_from_db()

    assert "<svg" not in _html(run, operator)


def test_the_roc_chart_draws_the_curve_and_the_chance_diagonal() -> None:
    svg = str(svg_roc([[0, 0], [0.5, 1], [1, 1]], title="ROC <곡선>", x_label="FPR", y_label="TPR"))

    # The plot spans x 46…348 and y 26…300 of a 360 × 340 drawing.
    assert '<polyline points="46.0,300.0 197.0,26.0 348.0,26.0"' in svg
    assert (
        'x1="46.0" y1="300.0" x2="348.0" y2="26.0" stroke="#58616a" stroke-width="1" stroke-dasharray' in svg
    )
    assert "ROC &lt;곡선&gt;" in svg


def test_the_froc_chart_puts_one_false_positive_per_image_in_the_middle() -> None:
    svg = str(
        svg_froc([[0.125, 0.5], [1, 0.8], [8, 0.9], [50, 1.0]], title="FROC", x_label="FPPI", y_label="S")
    )

    # x spans 46…408 on log2 from 1/8 to 8: 1 is the middle, 50 is drawn at the right edge.
    assert '<polyline points="46.0,163.0 227.0,80.8 408.0,53.4 408.0,26.0"' in svg


def test_the_results_curve_follows_the_task() -> None:
    assert "ROC 곡선" in str(results_curve_svg("roc", [[0, 0], [1, 1]]))
    assert "FROC 곡선" in str(results_curve_svg("froc", [[1, 0.5]]))
    assert str(results_curve_svg("", [])) == ""
    assert str(results_curve_svg("roc", [])) == ""
