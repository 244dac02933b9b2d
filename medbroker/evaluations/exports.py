"""A run's aggregate results as an Excel workbook, for the company's and the lab's own records.

Sheets: a summary (evaluation, test set, hashes, verdict), the metrics with their intervals, the acceptance
check, per class or structure, subgroups (small cells suppressed) and failures counted by reason. The same
workbook for every reader: aggregates only, never a case id or a case's output.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext as _
from openpyxl import Workbook

from medbroker.audit.services import audit_record
from medbroker.core import timeutils
from medbroker.core.excel import DATETIME_FORMAT, kst_naive, sheet_write, workbook_bytes
from medbroker.evaluations.models import EvaluationRun
from medbroker.evaluations.selectors import INTERVAL_NOT_COMPUTED, MetricRow, RunResultView, run_result_view


def _passed_label(passed: bool | None) -> str:
    if passed is None:
        return "-"
    return _("충족") if passed else _("미충족")


def run_summary_rows(*, run: EvaluationRun, view: RunResultView) -> list[list[Any]]:
    submission = run.submission
    evaluation = submission.evaluation
    test_set = evaluation.test_set
    verdict = (
        str(EvaluationRun.Verdict(view.verdict).label)
        if view.verdict in EvaluationRun.Verdict.values
        else "-"
    )
    return [
        [_("시험 번호"), evaluation.number],
        [_("기업"), evaluation.company.name],
        [
            _("알고리즘"),
            f"{evaluation.test_request.algorithm_name} {evaluation.test_request.algorithm_version}".strip(),
        ],
        [_("시험 실행"), f"#{run.pk}"],
        [_("제출물"), f"{submission.get_kind_display()} · {submission.label or submission.file_name}"],
        [_("상태"), str(run.get_status_display())],
        [_("시험셋"), f"{test_set.name} v{run.test_set_version or test_set.version}"],
        [_("과제 유형"), str(test_set.get_task_type_display())],
        [_("분석 증례 수"), view.n],
        [_("실패 증례 수"), view.failed],
        [_("신뢰수준"), view.confidence_percent],
        [_("종합 판정"), verdict],
        [_("시험셋 해시(SHA-256)"), run.test_set_sha256 or test_set.content_sha256],
        [_("분석계획 해시(SHA-256)"), run.plan_sha256 or evaluation.plan_sha256],
        [_("제출 파일 해시(SHA-256)"), run.model_sha256 or submission.file_sha256],
        [_("시작 시각(KST)"), kst_naive(run.started_at)],
        [_("종료 시각(KST)"), kst_naive(run.finished_at)],
        [_("내려받은 시각(KST)"), kst_naive(timeutils.now())],
    ]


def _number(value: float | None) -> float | str:
    return value if value is not None else "-"


def _bound(row: MetricRow, value: float | None) -> float | str:
    # A computed value whose interval could not be computed says so, rather than looking like a gap.
    if value is None and row.raw is not None:
        return str(INTERVAL_NOT_COMPUTED)
    return _number(value)


def run_results_workbook(*, run: EvaluationRun, actor: Any, request: HttpRequest | None = None) -> bytes:
    """The aggregate results of ``run`` as .xlsx bytes; the export is recorded in the audit log."""
    view = run_result_view(run, staff=False)
    workbook = Workbook()
    summary = workbook.active
    summary.title = _("요약")
    sheet_write(summary, [_("구분"), _("값")], run_summary_rows(run=run, view=view))
    for (cell,) in summary.iter_rows(min_row=2, min_col=2, max_col=2):
        if hasattr(cell.value, "strftime"):
            cell.number_format = DATETIME_FORMAT

    metrics = workbook.create_sheet(_("평가지표"))
    sheet_write(
        metrics,
        [
            _("평가지표"),
            _("코드"),
            _("값"),
            _("신뢰구간 하한"),
            _("신뢰구간 상한"),
            _("구간 방법"),
            _("주 지표"),
        ],
        [
            [
                row.label,
                row.name,
                _number(row.raw),
                _bound(row, row.low),
                _bound(row, row.high),
                row.method,
                "●" if row.primary else "",
            ]
            for row in view.metrics
        ],
    )
    for row in metrics.iter_rows(min_row=2, min_col=3, max_col=5):
        for cell in row:
            if isinstance(cell.value, float):
                cell.number_format = "0.0000"

    acceptance = workbook.create_sheet(_("판정 기준"))
    sheet_write(
        acceptance,
        [_("평가지표"), _("비교 값"), _("조건"), _("기준값"), _("관측값"), _("결과"), _("판정 불가 사유")],
        [
            [
                row.metric,
                row.bound,
                row.operator,
                row.target,
                row.observed,
                _passed_label(row.passed),
                row.reason,
            ]
            for row in view.acceptance
        ],
    )

    if view.counts:
        counts = workbook.create_sheet(_("혼동 행렬"))
        sheet_write(
            counts,
            [_("구분"), _("건수")],
            [
                [_("참양성(TP)"), view.counts["tp"]],
                [_("위양성(FP)"), view.counts["fp"]],
                [_("참음성(TN)"), view.counts["tn"]],
                [_("위음성(FN)"), view.counts["fn"]],
            ],
        )

    if view.class_rows:
        per_class = workbook.create_sheet(_("클래스·구조별"))
        sheet_write(
            per_class,
            [_("클래스·구조"), *view.class_columns],
            [[row.name, *row.cells] for row in view.class_rows],
        )

    subgroups = workbook.create_sheet(_("하위군"))
    sheet_write(
        subgroups,
        [_("속성"), _("값"), "n", *view.subgroup_columns],
        [
            [row.attribute, row.value, _("비공개") if row.suppressed else row.n, *row.cells]
            for row in view.subgroups
        ],
    )

    failures = workbook.create_sheet(_("실패 증례"))
    sheet_write(
        failures, [_("사유"), _("건수")], [[reason, count] for reason, count in view.failures_by_reason]
    )

    content = workbook_bytes(workbook)
    evaluation = run.submission.evaluation
    audit_record(
        action="evaluations.results_exported",
        actor=actor,
        target=run,
        summary=f"{evaluation.number}: 시험 실행 #{run.pk} 결과 내려받기",
        data={"run": run.pk, "evaluation": evaluation.pk, "format": "xlsx", "status": run.status},
        request=request,
    )
    return content
