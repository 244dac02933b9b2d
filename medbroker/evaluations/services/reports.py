"""Test reports: the PDF issued from a succeeded run, its integrity hash and the lab's signature.

A report is numbered ``PT-<year in KST>-<4-digit sequence>``, stored under ``reports/<number>.pdf`` in the
evaluations storage, and signed with an HMAC-SHA256 of ``"<number>:<pdf_sha256>"`` under the lab's signing
key (``MEDBROKER_REPORT_SIGNING_KEY``, else ``SECRET_KEY``). Anyone holding a PDF can ask the lab whether
it is one it issued (``report_verify``): the bytes must hash to a stored report whose signature still holds.

The PDF carries aggregates only (the company receives it): metrics with intervals, the acceptance check,
subgroups with small cells suppressed, failures counted by reason and listed by ordinal, never a case id.
"""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _

from medbroker.accounts.models import Organisation, User
from medbroker.accounts.permissions import operator_ensure
from medbroker.accounts.services.notifications import notification_send, organisation_recipients
from medbroker.audit.services import audit_record
from medbroker.core import timeutils
from medbroker.core.errors import DomainError
from medbroker.core.pdf import pdf_render
from medbroker.evaluations.charts import results_curve_svg
from medbroker.evaluations.models import EvaluationRun, TestReport
from medbroker.evaluations.selectors import plan_view, run_result_view

REPORT_TEMPLATE = "evaluations/report_pdf.html"
REPORTS_FOLDER = "reports"
# Two operators issuing at the same moment may pick the same number; the unique constraint refuses the
# second, which takes the next number. A few tries are plenty for a lab's pace.
NUMBER_ATTEMPTS = 5
# Largest file a verification reads; an issued report is far smaller.
REPORT_VERIFY_MAX_BYTES = 20 * 1024 * 1024


def _storage_root() -> Path:
    return Path(settings.MEDBROKER_EVALUATION_ROOT)


def report_signature(*, number: str, pdf_sha256: str) -> str:
    key = settings.MEDBROKER_REPORT_SIGNING_KEY or settings.SECRET_KEY
    return hmac.new(key.encode(), f"{number}:{pdf_sha256}".encode(), hashlib.sha256).hexdigest()


def report_number_next(*, year: int) -> str:
    """The next free number of ``year``: one past the largest issued, whatever was deleted before it."""
    prefix = f"PT-{year}-"
    last = (
        TestReport.objects.filter(number__startswith=prefix)
        .order_by("-number")
        .values_list("number", flat=True)
        .first()
    )
    sequence = int(last.removeprefix(prefix)) + 1 if last and last.removeprefix(prefix).isdigit() else 1
    return f"{prefix}{sequence:04d}"


def _organisation_name(organisation: Organisation, language: str) -> str:
    # An English report names the organisations in English where their English name is on record.
    return organisation.name_en if language == "en" and organisation.name_en else organisation.name


def _lab_name(language: str) -> str:
    lab = Organisation.objects.filter(kind=Organisation.Kind.LAB).order_by("pk").first()
    return _organisation_name(lab, language) if lab is not None else _("한국산업기술시험원")


def report_context(
    *, run: EvaluationRun, number: str, issued_at: Any, issued_by: User, language: str
) -> dict[str, Any]:
    """What the PDF shows; build it under ``translation.override(language)`` so the labels follow."""
    submission = run.submission
    evaluation = submission.evaluation
    test_set = evaluation.test_set
    view = run_result_view(run, staff=False)
    auroc = next((row for row in view.metrics if row.name == "auroc"), None)
    legend = f"AUROC {auroc.value}" if auroc is not None and auroc.raw is not None else ""
    return {
        "number": number,
        "language": language,
        "issued_at": timeutils.to_kst(issued_at),
        "issued_by": issued_by,
        "lab_name": _lab_name(language),
        "run": run,
        "submission": submission,
        "evaluation": evaluation,
        "company": evaluation.company,
        "company_name": _organisation_name(evaluation.company, language),
        "test_request": evaluation.test_request,
        "test_set": test_set,
        "test_set_sha256": run.test_set_sha256 or test_set.content_sha256,
        "test_set_version": run.test_set_version or test_set.version,
        "task_label": test_set.get_task_type_display(),
        "cases": view.n or run.cases_total,
        "plan": plan_view(evaluation.plan, task_type=test_set.task_type),
        "plan_sha256": run.plan_sha256 or evaluation.plan_sha256,
        "plan_locked_at": timeutils.to_kst(evaluation.plan_locked_at) if evaluation.plan_locked_at else None,
        "results": view,
        "verdict_label": EvaluationRun.Verdict(view.verdict).label
        if view.verdict in EvaluationRun.Verdict.values
        else "-",
        "chart": results_curve_svg(view.curve_kind, view.curve_points, legend=legend),
        "finished_at": timeutils.to_kst(run.finished_at) if run.finished_at else None,
    }


def report_pdf_render(
    *, run: EvaluationRun, number: str, issued_at: Any, issued_by: User, language: str
) -> bytes:
    with translation.override(language):
        return pdf_render(
            REPORT_TEMPLATE,
            report_context(
                run=run, number=number, issued_at=issued_at, issued_by=issued_by, language=language
            ),
        )


def _file_write(relative: str, content: bytes) -> None:
    path = _storage_root() / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written beside and renamed: a reader never sees half a PDF.
    partial = path.with_suffix(".pdf.part")
    partial.write_bytes(content)
    partial.replace(path)


def _report_store(
    *,
    run: EvaluationRun,
    number: str,
    language: str,
    content: bytes,
    actor: User,
    request: HttpRequest | None,
) -> TestReport:
    """The row, its audit event and the company's notice, then the file; in the caller's transaction."""
    relative = f"{REPORTS_FOLDER}/{number}.pdf"
    pdf_sha256 = hashlib.sha256(content).hexdigest()
    # The row first: a number another operator took meanwhile fails here, before a file of that name is
    # touched (on PostgreSQL the insert waits for the other transaction and then fails).
    report = TestReport.objects.create(
        run=run,
        number=number,
        language=language,
        file=relative,
        pdf_sha256=pdf_sha256,
        signature=report_signature(number=number, pdf_sha256=pdf_sha256),
        issued_by=actor,
    )
    evaluation = run.submission.evaluation
    audit_record(
        action="evaluations.report_issued",
        actor=actor,
        target=report,
        summary=f"{evaluation.number}: 성적서 {number} 발급",
        data={
            "run": run.pk,
            "evaluation": evaluation.pk,
            "number": number,
            "language": language,
            "pdf_sha256": pdf_sha256,
            "verdict": run.verdict,
        },
        request=request,
    )
    notification_send(
        users=organisation_recipients(evaluation.company),
        kind="evaluation_report_issued",
        title=_("성능시험 성적서 발급: %(number)s") % {"number": number},
        body=_(
            "%(evaluation)s 성능시험의 성적서 %(number)s이(가) 발급되었습니다. "
            "시험 결과 화면에서 내려받을 수 있습니다."
        )
        % {"evaluation": evaluation.number, "number": number},
        link=reverse("evaluations:run_detail", args=[run.pk]),
    )
    _file_write(relative, content)
    return report


def report_issue(
    *, actor: User, run: EvaluationRun, language: str = "ko", request: HttpRequest | None = None
) -> TestReport:
    """Issue the PDF test report of a succeeded run in Korean or English; the company is notified."""
    operator_ensure(actor, _("성적서 발급"))
    if language not in TestReport.Language.values:
        raise DomainError(
            "language_invalid", _("성적서 언어는 한국어 또는 영어만 고를 수 있습니다."), field="language"
        )
    run = EvaluationRun.objects.select_related(
        "submission__evaluation__company",
        "submission__evaluation__test_set",
        "submission__evaluation__test_request",
    ).get(pk=run.pk)
    if run.status != EvaluationRun.Status.SUCCEEDED:
        raise DomainError(
            "run_not_succeeded",
            _("성공적으로 끝난 시험 실행에만 성적서를 발급할 수 있습니다 (현재 상태: %(status)s).")
            % {"status": run.get_status_display()},
            status_code=409,
        )
    for _attempt in range(NUMBER_ATTEMPTS):
        issued_at = timeutils.now()
        number = report_number_next(year=timeutils.to_kst(issued_at).year)
        content = report_pdf_render(
            run=run, number=number, issued_at=issued_at, issued_by=actor, language=language
        )
        try:
            with transaction.atomic():
                return _report_store(
                    run=run, number=number, language=language, content=content, actor=actor, request=request
                )
        except IntegrityError:
            if TestReport.objects.filter(number=number).exists():
                continue
            raise
    raise DomainError(
        "report_number_busy",
        _("성적서 번호를 정하지 못했습니다. 잠시 후 다시 시도해 주세요."),
        status_code=409,
    )


def report_verify(*, pdf: bytes) -> TestReport | None:
    """The issued report these bytes are, when they hash to one and its signature holds; else None."""
    pdf_sha256 = hashlib.sha256(pdf).hexdigest()
    for report in TestReport.objects.filter(pdf_sha256=pdf_sha256).select_related(
        "run__submission__evaluation"
    ):
        expected = report_signature(number=report.number, pdf_sha256=pdf_sha256)
        if hmac.compare_digest(expected, report.signature):
            return report
    return None


def report_file_read(*, report: TestReport) -> bytes:
    """The stored PDF, checked against its hash: a changed or missing file is an error, never served."""
    path = _storage_root() / report.file
    try:
        content = path.read_bytes()
    except OSError:
        raise DomainError(
            "report_file_missing",
            _("성적서 %(number)s의 PDF 파일을 찾을 수 없습니다. 운영자에게 문의해 주세요.")
            % {"number": report.number},
            status_code=409,
        ) from None
    if hashlib.sha256(content).hexdigest() != report.pdf_sha256:
        raise DomainError(
            "report_file_changed",
            _("성적서 %(number)s의 PDF 파일이 발급 때와 다릅니다. 운영자에게 문의해 주세요.")
            % {"number": report.number},
            status_code=409,
        )
    return content
