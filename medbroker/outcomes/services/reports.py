"""Step ⑥ of the call: the company's results report, from opening to the lab's verdict.

A report is opened (by the company, an operator, or the reminder task near the agreement's end) with a
factual summary of what the agreement used, which the company edits. The company fills the required
sections, lists its outcomes, attaches files and submits; an operator accepts it (final) or returns it with
comments, and the company edits and submits again. Every step is in the audit log and the company is told
of each verdict.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from functools import partial
from typing import IO, Any

from django.conf import settings
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.urls import reverse
from django.utils.translation import gettext as _

from medbroker.accounts.models import Role, User
from medbroker.accounts.services.notifications import notification_send, organisation_recipients
from medbroker.agreements.models import Agreement
from medbroker.agreements.selectors import user_is_company_member
from medbroker.audit.services import audit_record
from medbroker.calls.services.documents import document_check
from medbroker.core import timeutils
from medbroker.core.errors import DomainError, PermissionDeniedError
from medbroker.outcomes.models import ReportAttachment, ReportOutcome, ReportReview, ResultsReport
from medbroker.outcomes.selectors.reports import (
    REPORTABLE_AGREEMENT_STATUSES,
    report_is_editable,
    report_is_late,
    report_missing_sections,
    section_label,
)
from medbroker.outcomes.selectors.usage import AgreementUsage, agreement_usage

Status = ResultsReport.Status
# What the company may write; status, dates and the submitter are the service's.
EDITABLE_FIELDS = (
    "data_usage",
    "compute_usage",
    "model_performance",
    "summary",
    "revenue_krw",
    "jobs_created",
)
OUTCOME_FIELDS = ("kind", "title", "reference", "achieved_on", "note")
MAX_OUTCOMES = 100
MAX_ATTACHMENTS = 20


def _report_link(report: ResultsReport) -> str:
    return reverse("outcomes:report_detail", args=[report.pk])


def _member_ensure(report_or_agreement: ResultsReport | Agreement, actor: User, what: str) -> None:
    agreement = (
        report_or_agreement.agreement
        if isinstance(report_or_agreement, ResultsReport)
        else report_or_agreement
    )
    if not user_is_company_member(agreement, actor):
        raise PermissionDeniedError(
            "not_member", _("%(what)s은(는) 협약 기업의 담당자만 할 수 있습니다.") % {"what": what}
        )


def _editable_ensure(report: ResultsReport) -> None:
    if not report_is_editable(report):
        raise DomainError(
            "report_not_editable",
            _("%(status)s 상태의 결과보고서는 고칠 수 없습니다.") % {"status": report.get_status_display()},
            status_code=409,
        )


def _locked(report: ResultsReport) -> ResultsReport:
    return ResultsReport.objects.select_for_update().select_related("agreement__company").get(pk=report.pk)


# ---------------------------------------------------------------------------------------------------------
# Opening, with the factual summary of use
# ---------------------------------------------------------------------------------------------------------


def _hours_text(value: Any) -> str:
    return f"{value:,.2f}"


def usage_summary_texts(usage: AgreementUsage) -> dict[str, str]:
    """The prefill of the data and compute sections: what the records say the agreement used."""
    agreement = usage.agreement
    data_lines = [_("■ 협약 데이터 (협약 %(number)s)") % {"number": agreement.number}]
    for row in usage.datasets:
        annotated = _(", Annotation 데이터") if row.needs_annotated else ""
        data_lines.append(
            _("- %(title)s (%(institution)s): %(amount)s건%(annotated)s")
            % {
                "title": row.dataset.title,
                "institution": row.dataset.institution.name,
                "amount": f"{row.amount:,}",
                "annotated": annotated,
            }
        )
    if not usage.datasets:
        data_lines.append(_("- 협약 데이터 없음"))
    data_lines.append(
        _("■ 데이터 이용 권한: 폐쇄형 학습실 %(closed)s건, 온라인 %(online)s건")
        % {
            "closed": usage.grants_by_mode.get("closed_room", 0),
            "online": usage.grants_by_mode.get("online", 0),
        }
    )
    data_lines.append(
        _("■ 폐쇄형 학습실: 예약 %(booked)s시간, 이용(입실 기록) %(attended)s시간")
        % {"booked": _hours_text(usage.room.booked), "attended": _hours_text(usage.room.attended)}
    )
    data_lines.append(_("■ 온라인 이용 세션: %(n)s회") % {"n": usage.online_sessions})

    compute_lines = []
    if usage.allocation is not None:
        compute_lines.append(_("■ 배정 GPU: %(gpu)s") % {"gpu": usage.gpu_label})
    elif usage.terms is not None and usage.terms.compute_option is not None:
        option = usage.terms.compute_option
        compute_lines.append(
            _("■ 협약 GPU: %(gpu)s %(memory)sGB (배정 기록 없음)")
            % {"gpu": option.gpu, "memory": option.gpu_memory_gb}
        )
    else:
        compute_lines.append(_("■ 협약 GPU 없음"))
    if usage.gpu_first_day is not None and usage.gpu_last_day is not None:
        compute_lines.append(
            _("■ GPU 사용 시간: %(hours)s시간 (클러스터 사용 기록 %(first)s ~ %(last)s)")
            % {
                "hours": _hours_text(usage.gpu_hours),
                "first": usage.gpu_first_day.isoformat(),
                "last": usage.gpu_last_day.isoformat(),
            }
        )
    else:
        compute_lines.append(_("■ GPU 사용 시간: 0.00시간 (클러스터 사용 기록 없음)"))
    compute_lines.append(_("■ CPU와 메모리는 같은 노드의 기업들이 함께 쓰는 공유 자원입니다."))
    return {"data_usage": "\n".join(data_lines), "compute_usage": "\n".join(compute_lines)}


def report_due_on(agreement: Agreement) -> dt.date:
    return agreement.ends_on + dt.timedelta(days=settings.MEDBROKER_REPORT_DUE_DAYS)


def report_create(*, agreement: Agreement, actor: User | None) -> tuple[ResultsReport, bool]:
    """Get the agreement's report, creating it with the prefill if there is none (no permission check:
    callers decide who may). Returns (report, created)."""
    existing = ResultsReport.objects.filter(agreement=agreement).first()
    if existing is not None:
        return existing, False
    texts = usage_summary_texts(agreement_usage(agreement))
    try:
        with transaction.atomic():
            report = ResultsReport.objects.create(
                agreement=agreement, due_on=report_due_on(agreement), **texts
            )
    except IntegrityError:
        # Opened at the same moment by someone else (or the reminder task): theirs is the report.
        return ResultsReport.objects.get(agreement=agreement), False
    audit_record(
        action="outcomes.report_opened",
        actor=actor,
        target=report,
        summary=f"results report of {agreement.number} opened, due {report.due_on.isoformat()}",
        data={"agreement": agreement.number, "due_on": report.due_on.isoformat()},
    )
    return report, True


@transaction.atomic
def report_open(*, agreement: Agreement, actor: User, request: HttpRequest | None = None) -> ResultsReport:
    """The agreement's report, opened now if it was not yet: for the company's members and operators, once
    the agreement is signed (active) or has ended."""
    if not (actor.has_role(Role.OPERATOR) or user_is_company_member(agreement, actor)):
        raise PermissionDeniedError(
            "not_member", _("결과보고서는 협약 기업의 담당자나 운영자만 열 수 있습니다.")
        )
    if agreement.status not in REPORTABLE_AGREEMENT_STATUSES:
        raise DomainError(
            "agreement_not_reportable",
            _("%(status)s 상태의 협약에는 결과보고서를 작성하지 않습니다.")
            % {"status": agreement.get_status_display()},
            status_code=409,
        )
    report, _created = report_create(agreement=agreement, actor=actor)
    return report


# ---------------------------------------------------------------------------------------------------------
# Editing
# ---------------------------------------------------------------------------------------------------------


def _outcome_rows(outcomes: Sequence[Mapping[str, Any]]) -> list[ReportOutcome]:
    if len(outcomes) > MAX_OUTCOMES:
        raise DomainError(
            "too_many_outcomes",
            _("성과 항목은 %(n)s개까지 적을 수 있습니다.") % {"n": MAX_OUTCOMES},
            field="outcomes",
        )
    kinds = set(ReportOutcome.Kind.values)
    rows = []
    for number, values in enumerate(outcomes, start=1):
        unknown = set(values) - set(OUTCOME_FIELDS)
        if unknown:
            raise DomainError(
                "unknown_field",
                _("성과 항목에 없는 칸입니다: %(names)s") % {"names": ", ".join(sorted(unknown))},
                field="outcomes",
            )
        kind = str(values.get("kind") or "")
        title = str(values.get("title") or "").strip()
        if kind not in kinds:
            raise DomainError(
                "outcome_kind",
                _("%(n)s번째 성과 항목의 구분이 올바르지 않습니다: %(kind)s") % {"n": number, "kind": kind},
                field="outcomes",
            )
        if not title:
            raise DomainError(
                "outcome_title",
                _("%(n)s번째 성과 항목의 제목·명칭을 입력하세요.") % {"n": number},
                field="outcomes",
            )
        achieved_on = values.get("achieved_on")
        if achieved_on is not None and not isinstance(achieved_on, dt.date):
            try:
                achieved_on = dt.date.fromisoformat(str(achieved_on)) if str(achieved_on) else None
            except ValueError:
                raise DomainError(
                    "outcome_date",
                    _("%(n)s번째 성과 항목의 일자가 올바르지 않습니다: %(value)s")
                    % {"n": number, "value": achieved_on},
                    field="outcomes",
                ) from None
        row = ReportOutcome(
            kind=kind,
            title=title,
            reference=str(values.get("reference") or "").strip(),
            achieved_on=achieved_on,
            note=str(values.get("note") or "").strip(),
        )
        for name, limit in (("title", 300), ("reference", 200), ("note", 300)):
            if len(getattr(row, name)) > limit:
                raise DomainError(
                    "outcome_too_long",
                    _("%(n)s번째 성과 항목의 %(field)s이(가) 너무 깁니다(%(limit)s자까지).")
                    % {
                        "n": number,
                        "field": ReportOutcome._meta.get_field(name).verbose_name,  # type: ignore[union-attr]
                        "limit": limit,
                    },
                    field="outcomes",
                )
        rows.append(row)
    return rows


def _field_value(name: str, value: Any) -> Any:
    if name in ("revenue_krw", "jobs_created"):
        if value in (None, ""):
            return None
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise DomainError(
                "invalid_number",
                _("%(field)s은(는) 숫자로 입력하세요.") % {"field": section_label(name)},
                field=name,
            ) from None
        if number < 0:
            raise DomainError(
                "invalid_number",
                _("%(field)s은(는) 0 이상이어야 합니다.") % {"field": section_label(name)},
                field=name,
            )
        return number
    return str(value or "").replace("\r\n", "\n").strip()


@transaction.atomic
def report_update(
    *,
    report: ResultsReport,
    actor: User,
    fields: Mapping[str, Any],
    outcomes: Sequence[Mapping[str, Any]],
    request: HttpRequest | None = None,
) -> ResultsReport:
    """Save the sections and replace the outcome rows (papers, patents, certifications, approvals…)."""
    _member_ensure(report, actor, _("결과보고서 작성"))
    report = _locked(report)
    _editable_ensure(report)
    unknown = set(fields) - set(EDITABLE_FIELDS)
    if unknown:
        raise DomainError(
            "unknown_field",
            _("결과보고서에 없는 항목입니다: %(names)s") % {"names": ", ".join(sorted(unknown))},
        )
    rows = _outcome_rows(outcomes)
    changed = []
    for name, value in fields.items():
        cleaned = _field_value(name, value)
        if getattr(report, name) != cleaned:
            setattr(report, name, cleaned)
            changed.append(name)
    report.save()
    report.outcomes.all().delete()
    for row in rows:
        row.report = report
    ReportOutcome.objects.bulk_create(rows)
    audit_record(
        action="outcomes.report_updated",
        actor=actor,
        target=report,
        summary=f"results report of {report.agreement.number} saved",
        data={"changed": changed, "outcomes": len(rows)},
        request=request,
    )
    return report


@transaction.atomic
def report_attachment_add(
    *, report: ResultsReport, upload: UploadedFile, actor: User, request: HttpRequest | None = None
) -> ReportAttachment:
    """Check the file by its content (PDF, HWP, HWPX, DOCX, XLSX), then store it under a generated name."""
    _member_ensure(report, actor, _("첨부 파일 추가"))
    report = _locked(report)
    _editable_ensure(report)
    if report.attachments.count() >= MAX_ATTACHMENTS:
        raise DomainError(
            "too_many_attachments",
            _("첨부 파일은 %(n)s개까지 올릴 수 있습니다.") % {"n": MAX_ATTACHMENTS},
            field="file",
        )
    check = document_check(upload, field="file")
    attachment = ReportAttachment(
        report=report,
        original_name=check.display_name,
        detected_type=check.detected_type,
        size=check.size,
        sha256=check.sha256,
        uploaded_by=actor,
    )
    upload.seek(0)
    attachment.file.save(check.stored_name, upload, save=False)
    stored = str(attachment.file.name)
    # Storage is not transactional: a failure after the file is written removes the file too.
    try:
        attachment.save()
        audit_record(
            action="outcomes.report_attachment_added",
            actor=actor,
            target=report,
            summary=f"{report.agreement.number}: {check.display_name}",
            data={
                "attachment_id": attachment.pk,
                "name": check.display_name,
                "type": check.detected_type,
                "size": check.size,
                "sha256": check.sha256,
            },
            request=request,
        )
    except Exception:
        default_storage.delete(stored)
        raise
    return attachment


@transaction.atomic
def report_attachment_remove(
    *, attachment: ReportAttachment, actor: User, request: HttpRequest | None = None
) -> None:
    report = attachment.report
    _member_ensure(report, actor, _("첨부 파일 삭제"))
    report = _locked(report)
    _editable_ensure(report)
    name = str(attachment.file.name)
    data = {
        "attachment_id": attachment.pk,
        "name": attachment.original_name,
        "sha256": attachment.sha256,
    }
    attachment.delete()
    # The file goes only once the row's deletion is committed.
    transaction.on_commit(partial(default_storage.delete, name))
    audit_record(
        action="outcomes.report_attachment_removed",
        actor=actor,
        target=report,
        summary=f"{report.agreement.number}: {data['name']}",
        data=data,
        request=request,
    )


def report_attachment_open(
    *, attachment: ReportAttachment, actor: User, request: HttpRequest | None = None
) -> IO[bytes]:
    """Open a stored attachment for ``actor``, who may see its report (checked by the caller).

    Staff reading a company's file is a sensitive read and goes into the audit log; the company reading
    its own upload is not.
    """
    report = attachment.report
    if actor.organisation_id != report.agreement.company_id:
        audit_record(
            action="outcomes.report_attachment_downloaded",
            actor=actor,
            target=report,
            summary=f"{report.agreement.number}: {attachment.original_name}",
            data={"attachment_id": attachment.pk, "sha256": attachment.sha256},
            request=request,
        )
    return attachment.file.open("rb")


# ---------------------------------------------------------------------------------------------------------
# Submission and review
# ---------------------------------------------------------------------------------------------------------


@transaction.atomic
def report_submit(*, report: ResultsReport, actor: User, request: HttpRequest | None = None) -> ResultsReport:
    """Submit a draft or a returned report with every required section filled. After the due date it is
    still accepted, and recorded as late (the first submission decides)."""
    _member_ensure(report, actor, _("결과보고서 제출"))
    report = _locked(report)
    _editable_ensure(report)
    missing = report_missing_sections(report)
    if missing:
        raise DomainError(
            "report_incomplete",
            _("다음 항목을 채운 뒤 제출하세요: %(sections)s")
            % {"sections": ", ".join(section_label(name) for name in missing)},
            status_code=400,
            details={"missing": missing},
        )
    resubmission = report.submitted_at is not None
    if not resubmission:
        report.submitted_at = timeutils.now()
        report.submitted_by = actor
    report.status = Status.SUBMITTED
    report.save(update_fields=["status", "submitted_at", "submitted_by", "updated_at"])
    late = report_is_late(report)
    audit_record(
        action="outcomes.report_submitted",
        actor=actor,
        target=report,
        summary=f"results report of {report.agreement.number} submitted"
        + (" (resubmission)" if resubmission else "")
        + (" late" if late else ""),
        data={
            "agreement": report.agreement.number,
            "due_on": report.due_on.isoformat(),
            "late": late,
            "resubmission": resubmission,
            "outcomes": report.outcomes.count(),
            "attachments": report.attachments.count(),
        },
        request=request,
    )
    return report


@transaction.atomic
def report_review(
    *,
    report: ResultsReport,
    actor: User,
    verdict: str,
    comment: str = "",
    request: HttpRequest | None = None,
) -> ReportReview:
    """An operator accepts a submitted report (final) or returns it with comments for the company to fix."""
    if not actor.has_role(Role.OPERATOR):
        raise PermissionDeniedError("forbidden", _("결과보고서 검토는 운영자만 할 수 있습니다."))
    if verdict not in ReportReview.Verdict.values:
        raise DomainError(
            "invalid_verdict", _("검토 결과가 올바르지 않습니다: %(v)s") % {"v": verdict}, field="verdict"
        )
    comment = (comment or "").strip()
    if verdict == ReportReview.Verdict.RETURNED and not comment:
        raise DomainError(
            "comment_required", _("보완 요청에는 기업이 고칠 내용을 의견으로 적어 주세요."), field="comment"
        )
    report = _locked(report)
    if report.status != Status.SUBMITTED:
        raise DomainError(
            "report_not_submitted",
            _("제출된 결과보고서만 검토할 수 있습니다 (현재 상태: %(status)s).")
            % {"status": report.get_status_display()},
            status_code=409,
        )
    review = ReportReview.objects.create(
        report=report, verdict=verdict, comment=comment, reviewed_by=actor, reviewed_at=timeutils.now()
    )
    report.status = verdict
    report.save(update_fields=["status", "updated_at"])
    agreement = report.agreement
    if verdict == ReportReview.Verdict.RETURNED:
        kind, title = "report_returned", _("결과보고서 보완 요청")
        body = _(
            "%(number)s 결과보고서에 보완 요청이 있습니다. 의견을 반영해 다시 제출해 주세요.\n\n%(comment)s"
        ) % {
            "number": agreement.number,
            "comment": comment,
        }
    else:
        kind, title = "report_accepted", _("결과보고서 승인")
        body = _("%(number)s 결과보고서가 승인되었습니다.") % {"number": agreement.number}
        if comment:
            body += f"\n\n{comment}"
    notification_send(
        users=organisation_recipients(agreement.company),
        kind=kind,
        title=title,
        body=body,
        link=_report_link(report),
    )
    audit_record(
        action=f"outcomes.report_{verdict}",
        actor=actor,
        target=report,
        summary=f"results report of {agreement.number} {verdict}",
        data={"agreement": agreement.number, "verdict": verdict, "comment": comment, "review_id": review.pk},
        request=request,
    )
    return review
