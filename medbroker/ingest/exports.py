"""The de-identification report as an Excel workbook, for the institution's own follow-up of the findings.

Two sheets: a summary (dataset, state, the options of PS3.15 Annex E in force) and one row per finding with
up to five example files. Only paths and finding codes go in, never the identifying values themselves.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext as _
from openpyxl import Workbook
from openpyxl.styles import Alignment

from medbroker.audit.services import audit_record
from medbroker.catalog.models import Dataset
from medbroker.core import timeutils
from medbroker.core.excel import DATETIME_FORMAT, kst_naive, sheet_write, workbook_bytes
from medbroker.ingest.selectors import DeidentificationReport


def _yes_no(value: bool) -> str:
    return _("예") if value else _("아니요")


def deidentification_summary_rows(*, dataset: Dataset, report: DeidentificationReport) -> list[list[Any]]:
    policy = report.policy
    return [
        [_("데이터셋"), dataset.title],
        [_("보유기관"), dataset.institution.name],
        [_("비식별 점검 상태"), str(dataset.get_deidentification_display())],
        [_("마지막 스캔 시각(KST)"), kst_naive(dataset.scanned_at)],
        [_("점검한 파일 수"), report.files_scanned],
        [_("발견 사항이 있는 파일 수"), report.files_with_findings],
        [_("기관 정보 유지 옵션"), _yes_no(policy.retain_institution_identity)],
        [_("장비 정보 유지 옵션"), _yes_no(policy.retain_device_identity)],
        [_("허용 비공개 태그"), ", ".join(sorted(policy.private_safe_list))],
        [_("가명 ID 형식(정규식)"), policy.pseudonym_pattern],
        [_("내려받은 시각(KST)"), kst_naive(timeutils.now())],
    ]


def deidentification_finding_headers() -> list[str]:
    return [_("항목"), _("코드"), _("파일 수"), _("예시 파일")]


def deidentification_finding_rows(report: DeidentificationReport) -> list[list[Any]]:
    return [[row.label, row.code, row.files, "\n".join(row.examples)] for row in report.rows]


def deidentification_workbook(
    *, dataset: Dataset, report: DeidentificationReport, actor: Any, request: HttpRequest | None = None
) -> bytes:
    """The report of ``dataset`` as .xlsx bytes; the export is recorded in the audit log."""
    workbook = Workbook()
    summary = workbook.active
    summary.title = _("요약")
    sheet_write(summary, [_("구분"), _("값")], deidentification_summary_rows(dataset=dataset, report=report))
    for (cell,) in summary.iter_rows(min_row=2, min_col=2, max_col=2):
        if hasattr(cell.value, "strftime"):
            cell.number_format = DATETIME_FORMAT
    findings = workbook.create_sheet(_("발견 사항"))
    sheet_write(findings, deidentification_finding_headers(), deidentification_finding_rows(report))
    for (cell,) in findings.iter_rows(min_row=2, min_col=4, max_col=4):
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    content = workbook_bytes(workbook)
    audit_record(
        action="ingest.deidentification_exported",
        actor=actor,
        target=dataset,
        summary=f"비식별 점검 결과 내려받기: {dataset.title}",
        data={
            "dataset": dataset.pk,
            "format": "xlsx",
            "files_with_findings": report.files_with_findings,
            "files_scanned": report.files_scanned,
        },
        request=request,
    )
    return content
