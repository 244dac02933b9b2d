"""Step ② of the call: a company's application, from draft to submission, correction and withdrawal.

States::

    draft ──submit──► submitted ──return (operator, reason)──► returned ──resubmit──► resubmitted
      │                  │                                       │                        │
      └──────────────────┴────────── withdraw (company, confirmed) ┴────────────────────────┘──► withdrawn

A returned or resubmitted application can be returned again. Every change is one transaction with an
audit event and, for a change of state, an ``ApplicationStatusChange`` row.

The deadline (announcement §1: "2025-07-21 16:00" KST) is enforced here, by the server, for every
company-side change: from ``call.intake_closes_at`` on, nothing is created, edited, uploaded, submitted,
resubmitted or withdrawn. Withdrawal is included on purpose: the set of applications the review committee
receives is fixed at the deadline, and a company that wants out afterwards tells the intake desk, so the
withdrawal is recorded by the review, not by a company changing its own record during the review.
An operator cannot return an application for correction after the deadline either, since the company
could no longer correct it.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from django.core.files import File
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from openpyxl import Workbook
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter

from medbroker.accounts.models import Organisation, Role, User
from medbroker.audit.services import audit_record
from medbroker.calls.models import (
    Application,
    ApplicationDataset,
    ApplicationDocument,
    ApplicationStatusChange,
    Call,
    CertificationHeld,
    EligibilityDeclaration,
    GovernmentProject,
    IntellectualProperty,
    RequiredDocument,
    RevenueRecord,
)
from medbroker.calls.selectors.applications import ConsoleRow
from medbroker.calls.selectors.consultations import consultation_items_for_application
from medbroker.calls.services.documents import CheckedDocument, document_check
from medbroker.calls.services.eligibility import (
    documents_missing,
    documents_required,
    eligibility_evaluate,
    eligibility_is_met,
    eligibility_not_met_message,
)
from medbroker.calls.services.receipts import receipt_number_assign
from medbroker.core import timeutils
from medbroker.core.errors import DomainError, PermissionDeniedError
from medbroker.core.excel import DATETIME_FORMAT, cell_width, kst_naive

Status = Application.Status

# What the company may still change: a draft, and an application an operator returned for correction.
EDITABLE_STATUSES = (Status.DRAFT, Status.RETURNED)
RETURNABLE_STATUSES = (Status.SUBMITTED, Status.RESUBMITTED)
WITHDRAWABLE_STATUSES = (Status.DRAFT, Status.SUBMITTED, Status.RETURNED, Status.RESUBMITTED)

PLAN_FIELDS = (
    "project_title",
    "summary",
    "organisation_plan",
    "staffing_plan",
    "objectives",
    "contents_strategy",
    "technology",
    "expected_effects",
)
# The KTL template (document ①) carries the full plan; the page asks at least for the title and summary, so
# the console and the reviewers can list applications by them. The other sections are welcome, not required.
REQUIRED_PLAN_FIELDS = ("project_title", "summary")
UPDATABLE_FIELDS = (*PLAN_FIELDS, "compute_option", "compute_intended_use", "realworld_institution")


# ---------------------------------------------------------------------------------------------------------
# Guards
# ---------------------------------------------------------------------------------------------------------


def _datetime_display(value: Any) -> str:
    return timeutils.to_kst(value).strftime("%Y-%m-%d %H:%M:%S KST")


def intake_ensure_open(call: Call) -> None:
    """Refuse from the deadline on (``now >= intake_closes_at``) and before intake opens."""
    now = timeutils.now()
    if now < call.intake_opens_at:
        raise DomainError(
            "intake_not_open",
            _("아직 접수 기간이 아닙니다. 접수는 %(opens)s에 시작합니다.")
            % {"opens": _datetime_display(call.intake_opens_at)},
            status_code=409,
        )
    if now >= call.intake_closes_at:
        raise DomainError(
            "intake_closed",
            _(
                "접수가 마감되었습니다 (%(closes)s). 마감 이후에는 신청서 작성·수정, 파일 업로드, 제출, "
                "보완 제출, 철회를 할 수 없습니다."
            )
            % {"closes": _datetime_display(call.intake_closes_at)},
            status_code=409,
        )


def _ensure_member(application: Application, actor: User) -> None:
    if not actor.has_role(Role.APPLICANT) or actor.organisation_id != application.company_id:
        raise PermissionDeniedError("forbidden", _("이 신청서를 변경할 권한이 없습니다."))


def _ensure_status(application: Application, allowed: Iterable[str], action: str) -> None:
    if application.status not in allowed:
        raise DomainError(
            "invalid_transition",
            _("'%(status)s' 상태의 신청서는 %(action)s할 수 없습니다.")
            % {"status": application.get_status_display(), "action": action},
            status_code=409,
        )


def _lock(application: Application) -> Application:
    """The application re-read under a row lock: two tabs or an API client cannot interleave changes."""
    # of=("self",): only the application row, not the call and company rows joined for reading.
    return (
        Application.objects.select_for_update(of=("self",))
        .select_related("call", "company")
        .get(pk=application.pk)
    )


def _status_change(application: Application, *, to_status: str, actor: User, reason: str = "") -> None:
    ApplicationStatusChange.objects.create(
        application=application,
        from_status=application.status,
        to_status=to_status,
        changed_by=actor,
        reason=reason,
        changed_at=timeutils.now(),
    )
    application.status = to_status


# ---------------------------------------------------------------------------------------------------------
# What is still missing before submission
# ---------------------------------------------------------------------------------------------------------


def field_label(name: str) -> str:
    """The Korean label of an ``Application`` field (its verbose name)."""
    return str(getattr(Application._meta.get_field(name), "verbose_name", name))


@dataclass(frozen=True)
class ChecklistItem:
    code: str
    label: str
    done: bool
    detail: str
    section: str  # the anchor of the edit page's section where it is fixed


def application_checklist(application: Application) -> list[ChecklistItem]:
    """Everything submission needs, each with whether it is there, in the order of the edit page."""
    items: list[ChecklistItem] = []
    missing_plan = [
        field_label(name) for name in REQUIRED_PLAN_FIELDS if not str(getattr(application, name)).strip()
    ]
    items.append(
        ChecklistItem(
            "plan",
            _("사업계획(과제명·사업 개요)"),
            not missing_plan,
            _("입력 필요: %(fields)s") % {"fields": ", ".join(missing_plan)} if missing_plan else "",
            "plan",
        )
    )
    results = eligibility_evaluate(application)
    met = eligibility_is_met(application, results)
    satisfied = [r.mark for r in results if r.satisfied]
    items.append(
        ChecklistItem(
            "eligibility",
            _("신청 자격(①~④ 중 %(minimum)d개 이상 충족)")
            % {"minimum": application.call.minimum_eligibility},
            met,
            (_("충족: %(numbers)s") % {"numbers": ", ".join(satisfied)})
            if met
            else eligibility_not_met_message(application.call.minimum_eligibility),
            "eligibility",
        )
    )
    missing = {r.code for r in documents_missing(application)}
    for requirement in documents_required(application):
        items.append(
            ChecklistItem(
                f"document:{requirement.code}",
                requirement.title,
                requirement.code not in missing,
                _("파일을 올려야 합니다.") if requirement.code in missing else "",
                "documents",
            )
        )
    has_datasets = bool(application.requested_datasets.all())
    items.append(
        ChecklistItem(
            "support",
            _("신청 지원 내용(데이터 또는 GPU)"),
            has_datasets or application.compute_option_id is not None,
            ""
            if has_datasets or application.compute_option_id is not None
            else _("신청할 데이터셋이나 희망 GPU를 하나 이상 입력해 주세요."),
            "datasets",
        )
    )
    if application.compute_option_id is not None:
        has_use = bool(application.compute_intended_use.strip())
        items.append(
            ChecklistItem(
                "compute_use",
                _("컴퓨팅 자원 활용 계획"),
                has_use,
                "" if has_use else _("희망 GPU를 선택했다면 활용 계획을 입력해 주세요."),
                "compute",
            )
        )
    return items


def _ensure_complete(application: Application) -> None:
    if not eligibility_is_met(application):
        raise DomainError(
            "eligibility_not_met",
            eligibility_not_met_message(application.call.minimum_eligibility),
            field="eligibility",
        )
    missing = documents_missing(application)
    if missing:
        raise DomainError(
            "documents_missing",
            _("제출해야 할 서류가 빠져 있습니다: %(titles)s")
            % {"titles": ", ".join(r.title for r in missing)},
            field="documents",
            details={"missing": [r.code for r in missing]},
        )
    incomplete = [item for item in application_checklist(application) if not item.done]
    if incomplete:
        raise DomainError(
            "application_incomplete",
            _("제출 전에 다음 항목을 완료해 주세요: %(items)s")
            % {"items": ", ".join(item.label for item in incomplete)},
            details={"incomplete": [item.code for item in incomplete]},
        )


# ---------------------------------------------------------------------------------------------------------
# Documents
# ---------------------------------------------------------------------------------------------------------


def _documents_check(
    application: Application, uploads: Mapping[str, UploadedFile]
) -> dict[RequiredDocument, tuple[UploadedFile, CheckedDocument]]:
    """Check every upload before anything is stored; one error lists every wrong file."""
    requirements = {r.code: r for r in application.call.required_documents.all()}
    checked: dict[RequiredDocument, tuple[UploadedFile, CheckedDocument]] = {}
    errors: dict[str, str] = {}
    for code, upload in uploads.items():
        requirement = requirements.get(code)
        if requirement is None:
            raise DomainError(
                "unknown_document", _("이 공모에 없는 제출 서류입니다: %(code)s") % {"code": code}
            )
        try:
            checked[requirement] = (upload, document_check(upload, field=f"document_{code}"))
        except DomainError as error:
            errors[code] = str(error.message)
    if errors:
        first_code = next(iter(errors))
        raise DomainError(
            "upload_refused",
            " ".join(errors.values()),
            field=f"document_{first_code}",
            details={"documents": errors},
        )
    return checked


def _documents_store(
    application: Application,
    checked: Mapping[RequiredDocument, tuple[UploadedFile, CheckedDocument]],
    actor: User,
    request: HttpRequest | None,
) -> list[ApplicationDocument]:
    """Write files and rows; call inside a transaction. Replaced files are deleted once it commits.

    Storage is not transactional: files are written before their rows, so a failure here deletes the files
    written so far, and a caller whose transaction fails afterwards deletes the returned documents' files.
    """
    documents = []
    stored: list[str] = []
    try:
        for requirement, (upload, check) in checked.items():
            document = ApplicationDocument.objects.filter(
                application=application, requirement=requirement
            ).first()
            replaced_name = document.file.name if document is not None else None
            if document is None:
                document = ApplicationDocument(application=application, requirement=requirement)
            upload.seek(0)
            document.file.save(check.stored_name, upload, save=False)
            stored.append(str(document.file.name))
            document.original_name = check.display_name
            document.detected_type = check.detected_type
            document.size = check.size
            document.sha256 = check.sha256
            document.uploaded_by = actor
            document.uploaded_at = timeutils.now()
            document.save()
            if replaced_name:
                # Only the new file is kept; the old one goes only if the new row is really committed.
                transaction.on_commit(partial(default_storage.delete, replaced_name))
            audit_record(
                action="calls.application_document_attached",
                actor=actor,
                target=application,
                summary=f"{requirement.code}: {check.display_name}",
                data={
                    "requirement": requirement.code,
                    "document_id": document.pk,
                    "original_name": check.display_name,
                    "detected_type": check.detected_type,
                    "size": check.size,
                    "sha256": check.sha256,
                    "replaced": bool(replaced_name),
                },
                request=request,
            )
            documents.append(document)
    except BaseException:
        for name in stored:
            default_storage.delete(name)
        raise
    return documents


def application_document_attach(
    *,
    application: Application,
    requirement: RequiredDocument,
    upload: UploadedFile,
    actor: User,
    request: HttpRequest | None = None,
) -> ApplicationDocument:
    """Attach (or replace) the file of one required document after checking its content."""
    _ensure_member(application, actor)
    if requirement.call_id != application.call_id:
        raise DomainError(
            "unknown_document", _("이 공모에 없는 제출 서류입니다: %(code)s") % {"code": requirement.code}
        )
    # The deadline and the state are checked before the files, so a late upload is told "closed", not
    # what is wrong with its file; both are checked again under the lock below.
    intake_ensure_open(application.call)
    _ensure_status(application, EDITABLE_STATUSES, _("수정"))
    checked = _documents_check(application, {requirement.code: upload})
    stored: list[str] = []
    try:
        with transaction.atomic():
            locked = _lock(application)
            intake_ensure_open(locked.call)
            _ensure_status(locked, EDITABLE_STATUSES, _("수정"))
            documents = _documents_store(locked, checked, actor, request)
            stored = [str(d.file.name) for d in documents]
            locked.save(update_fields=["updated_at"])
    except BaseException:
        for name in stored:
            default_storage.delete(name)
        raise
    return documents[0]


# ---------------------------------------------------------------------------------------------------------
# Creating and editing
# ---------------------------------------------------------------------------------------------------------


def application_live_for(*, call: Call, company: Organisation) -> Application | None:
    return Application.objects.filter(call=call, company=company).exclude(status=Status.WITHDRAWN).first()


def _application_exists(existing: Application | None) -> DomainError:
    return DomainError(
        "application_exists",
        _("이 공모에는 이미 작성 중이거나 제출한 신청서가 있습니다. 기업당 하나의 신청서만 낼 수 있습니다."),
        status_code=409,
        details={"application_id": existing.pk if existing else None},
    )


@transaction.atomic
def application_create(
    *, call: Call, company: Organisation, actor: User, request: HttpRequest | None = None
) -> Application:
    """Start a draft; the requested datasets are prefilled from the company's answered consultation."""
    if not actor.has_role(Role.APPLICANT) or actor.organisation_id != company.pk:
        raise PermissionDeniedError("forbidden", _("이 기업의 신청서를 작성할 권한이 없습니다."))
    intake_ensure_open(call)
    existing = application_live_for(call=call, company=company)
    if existing is not None:
        raise _application_exists(existing)
    consulted = consultation_items_for_application(company=company, call=call)
    try:
        # The partial unique constraint decides a race between two tabs: the loser gets the same answer.
        with transaction.atomic():
            application = Application.objects.create(
                call=call,
                company=company,
                created_by=actor,
                consultation_id=consulted[0].consultation_id if consulted else None,
            )
    except IntegrityError:
        raise _application_exists(application_live_for(call=call, company=company)) from None
    EligibilityDeclaration.objects.bulk_create(
        EligibilityDeclaration(application=application, criterion=criterion, declared=False)
        for criterion in call.eligibility_criteria.all()
    )
    ApplicationDataset.objects.bulk_create(
        ApplicationDataset(
            application=application,
            dataset=item.dataset,
            amount=item.amount,
            needs_annotated=item.needs_annotated,
        )
        for item in consulted
    )
    ApplicationStatusChange.objects.create(
        application=application,
        from_status="",
        to_status=Status.DRAFT,
        changed_by=actor,
        changed_at=timeutils.now(),
    )
    audit_record(
        action="calls.application_created",
        actor=actor,
        target=application,
        summary=f"draft for {call.slug} by {company}",
        data={
            "call": call.slug,
            "company_id": company.pk,
            "prefilled_datasets": [i.dataset.pk for i in consulted],
        },
        request=request,
    )
    return application


def _replace(model: type[Any], application: Application, rows: Sequence[Mapping[str, Any]]) -> None:
    model.objects.filter(application=application).delete()
    model.objects.bulk_create(model(application=application, **row) for row in rows)


def _validate_rows(
    application: Application,
    *,
    fields: Mapping[str, Any] | None,
    datasets: Sequence[Mapping[str, Any]] | None,
    revenues: Sequence[Mapping[str, Any]] | None,
    certifications: Sequence[Mapping[str, Any]] | None,
) -> None:
    call = application.call
    option = (fields or {}).get("compute_option")
    if option is not None and option.call_id != call.pk:
        raise DomainError(
            "invalid_compute_option", _("이 공모의 GPU 규격이 아닙니다."), field="compute_option"
        )
    if datasets is not None:
        seen: set[int] = set()
        for row in datasets:
            if row["dataset"].pk in seen:
                raise DomainError(
                    "duplicate_dataset",
                    _("같은 데이터셋이 두 번 입력되었습니다: %(title)s") % {"title": row["dataset"].title},
                    field="datasets",
                )
            seen.add(row["dataset"].pk)
    if certifications is not None:
        allowed = set(call.certifications.values_list("pk", flat=True))
        for row in certifications:
            if row["certification"].pk not in allowed:
                raise DomainError(
                    "invalid_certification", _("이 공모의 인정 인증이 아닙니다."), field="certifications"
                )
    if revenues is not None:
        rules = call.bonus_rules.get("revenue", {})
        current = rules.get("current_year")
        for row in revenues:
            # Only the latest year can lack final statements (announcement §6.1: "가결산재무제표").
            if row.get("provisional") and current is not None and row["year"] != current:
                raise DomainError(
                    "provisional_year",
                    _("가결산은 %(year)d년 매출액에만 표시할 수 있습니다.") % {"year": current},
                    field="revenues",
                )


def application_update(
    *,
    application: Application,
    actor: User,
    fields: Mapping[str, Any] | None = None,
    declarations: Mapping[str, Mapping[str, Any]] | None = None,
    datasets: Sequence[Mapping[str, Any]] | None = None,
    revenues: Sequence[Mapping[str, Any]] | None = None,
    projects: Sequence[Mapping[str, Any]] | None = None,
    certifications: Sequence[Mapping[str, Any]] | None = None,
    intellectual_property: Sequence[Mapping[str, Any]] | None = None,
    uploads: Mapping[str, UploadedFile] | None = None,
    request: HttpRequest | None = None,
) -> Application:
    """Save the sections of the edit page; ``None`` leaves a part as it is, a list replaces its rows.

    ``fields``: plan sections, ``compute_option``, ``compute_intended_use``, ``realworld_institution``.
    ``declarations``: criterion code → ``{"declared": bool, "detail": str}``.
    ``uploads``: required-document code → file; every file is checked before anything is saved, so a
    wrong file leaves the whole application as it was.
    """
    _ensure_member(application, actor)
    unknown = set(fields or {}) - set(UPDATABLE_FIELDS)
    if unknown:
        raise DomainError(
            "unknown_field", _("수정할 수 없는 항목입니다: %(f)s") % {"f": ", ".join(sorted(unknown))}
        )
    intake_ensure_open(application.call)
    _ensure_status(application, EDITABLE_STATUSES, _("수정"))
    checked = _documents_check(application, uploads) if uploads else {}
    stored: list[str] = []
    try:
        with transaction.atomic():
            locked = _lock(application)
            intake_ensure_open(locked.call)
            _ensure_status(locked, EDITABLE_STATUSES, _("수정"))
            _validate_rows(
                locked, fields=fields, datasets=datasets, revenues=revenues, certifications=certifications
            )
            changed: list[str] = []
            if fields:
                for name, value in fields.items():
                    setattr(locked, name, value)
                changed.append("fields")
            if declarations is not None:
                for criterion in locked.call.eligibility_criteria.all():
                    given = declarations.get(criterion.code, {})
                    EligibilityDeclaration.objects.update_or_create(
                        application=locked,
                        criterion=criterion,
                        defaults={
                            "declared": bool(given.get("declared", False)),
                            "detail": str(given.get("detail", ""))[:300],
                        },
                    )
                changed.append("eligibility")
            for part, model, rows in (
                ("datasets", ApplicationDataset, datasets),
                ("revenues", RevenueRecord, revenues),
                ("projects", GovernmentProject, projects),
                ("certifications", CertificationHeld, certifications),
                ("intellectual_property", IntellectualProperty, intellectual_property),
            ):
                if rows is not None:
                    _replace(model, locked, rows)
                    changed.append(part)
            locked.save()
            if checked:
                stored = [str(d.file.name) for d in _documents_store(locked, checked, actor, request)]
                changed.append("documents")
            audit_record(
                action="calls.application_updated",
                actor=actor,
                target=locked,
                summary=f"updated {', '.join(changed) or 'nothing'}",
                data={"parts": changed},
                request=request,
            )
    except BaseException:
        for name in stored:
            default_storage.delete(name)
        raise
    return locked


# ---------------------------------------------------------------------------------------------------------
# Changes of state
# ---------------------------------------------------------------------------------------------------------


def application_submit(
    *, application: Application, actor: User, request: HttpRequest | None = None
) -> Application:
    """draft → submitted: checks eligibility (rule ⑤), documents and sections, gives the receipt number."""
    _ensure_member(application, actor)
    with transaction.atomic():
        locked = _lock(application)
        intake_ensure_open(locked.call)
        _ensure_status(locked, (Status.DRAFT,), _("제출"))
        _ensure_complete(locked)
        receipt_number_assign(application=locked)
        now = timeutils.now()
        _status_change(locked, to_status=Status.SUBMITTED, actor=actor)
        locked.submitted_at = now
        locked.last_submitted_at = now
        locked.company_address_at_submission = locked.company.address
        locked.save(
            update_fields=[
                "status",
                "receipt_number",
                "submitted_at",
                "last_submitted_at",
                "company_address_at_submission",
                "updated_at",
            ]
        )
        audit_record(
            action="calls.application_submitted",
            actor=actor,
            target=locked,
            summary=f"{locked.receipt_number} submitted by {locked.company}",
            data={"receipt_number": locked.receipt_number, "call": locked.call.slug},
            request=request,
        )
    return locked


def application_return(
    *, application: Application, actor: User, reason: str, request: HttpRequest | None = None
) -> Application:
    """submitted / resubmitted → returned: an operator asks for a correction, with the reason."""
    if not actor.has_role(Role.OPERATOR):
        raise PermissionDeniedError("forbidden", _("보완 요청은 운영자만 할 수 있습니다."))
    reason = reason.strip()
    if not reason:
        raise DomainError("reason_required", _("보완 요청 사유를 입력해 주세요."), field="reason")
    with transaction.atomic():
        locked = _lock(application)
        _ensure_status(locked, RETURNABLE_STATUSES, _("보완 요청"))
        if timeutils.now() >= locked.call.intake_closes_at:
            raise DomainError(
                "intake_closed",
                _(
                    "접수가 마감되어 보완 요청을 할 수 없습니다 (%(closes)s). 기업이 더 이상 보완할 수 없기 때문입니다."
                )
                % {"closes": _datetime_display(locked.call.intake_closes_at)},
                status_code=409,
            )
        _status_change(locked, to_status=Status.RETURNED, actor=actor, reason=reason)
        locked.save(update_fields=["status", "updated_at"])
        audit_record(
            action="calls.application_returned",
            actor=actor,
            target=locked,
            summary=f"{locked.receipt_number} returned for correction",
            data={"receipt_number": locked.receipt_number, "reason": reason},
            request=request,
        )
    return locked


def application_resubmit(
    *, application: Application, actor: User, request: HttpRequest | None = None
) -> Application:
    """returned → resubmitted, under the same checks as the first submission; the receipt number stays."""
    _ensure_member(application, actor)
    with transaction.atomic():
        locked = _lock(application)
        intake_ensure_open(locked.call)
        _ensure_status(locked, (Status.RETURNED,), _("보완 제출"))
        _ensure_complete(locked)
        _status_change(locked, to_status=Status.RESUBMITTED, actor=actor)
        locked.last_submitted_at = timeutils.now()
        locked.company_address_at_submission = locked.company.address
        locked.save(
            update_fields=["status", "last_submitted_at", "company_address_at_submission", "updated_at"]
        )
        audit_record(
            action="calls.application_resubmitted",
            actor=actor,
            target=locked,
            summary=f"{locked.receipt_number} resubmitted",
            data={"receipt_number": locked.receipt_number},
            request=request,
        )
    return locked


def application_withdraw(
    *,
    application: Application,
    actor: User,
    confirmed: bool,
    reason: str = "",
    request: HttpRequest | None = None,
) -> Application:
    """Any live state → withdrawn, by the company, only with an explicit confirmation."""
    _ensure_member(application, actor)
    if not confirmed:
        raise DomainError("confirmation_required", _("철회하려면 확인란을 선택해 주세요."), field="confirm")
    with transaction.atomic():
        locked = _lock(application)
        intake_ensure_open(locked.call)
        _ensure_status(locked, WITHDRAWABLE_STATUSES, _("철회"))
        _status_change(locked, to_status=Status.WITHDRAWN, actor=actor, reason=reason.strip())
        locked.save(update_fields=["status", "updated_at"])
        audit_record(
            action="calls.application_withdrawn",
            actor=actor,
            target=locked,
            summary=f"{locked.receipt_number or 'draft'} withdrawn",
            data={"receipt_number": locked.receipt_number, "reason": reason.strip()},
            request=request,
        )
    return locked


# ---------------------------------------------------------------------------------------------------------
# Excel export for the operators
# ---------------------------------------------------------------------------------------------------------

EXPORT_HEADERS = (
    gettext_lazy("접수번호"),
    gettext_lazy("기업명"),
    gettext_lazy("사업자등록번호"),
    gettext_lazy("기업 주소"),
    gettext_lazy("상태"),
    gettext_lazy("최초 제출 시각(KST)"),
    gettext_lazy("최근 제출 시각(KST)"),
    gettext_lazy("과제명"),
    gettext_lazy("충족 자격"),
    gettext_lazy("신청 자격(⑤)"),
    gettext_lazy("미제출 서류"),
    gettext_lazy("신청 데이터"),
    gettext_lazy("희망 GPU"),
    gettext_lazy("수요 협의"),
)


def _requested_dataset_text(row: ApplicationDataset) -> str:
    text = _("%(title)s %(amount)s건") % {"title": row.dataset.title, "amount": f"{row.amount:,}"}
    return f"{text} (Annotation)" if row.needs_annotated else text


def applications_export_rows(rows: Iterable[ConsoleRow]) -> list[list[Any]]:
    """One list of cell values per application, in the order of ``EXPORT_HEADERS``."""
    table = []
    for row in rows:
        application = row.application
        option = application.compute_option
        table.append(
            [
                application.receipt_number or "",
                application.company.name,
                application.company.business_registration_number_display,
                application.company.address,
                str(application.get_status_display()),
                kst_naive(application.submitted_at),
                kst_naive(application.last_submitted_at),
                application.project_title,
                ", ".join(r.mark for r in row.eligibility if r.satisfied),
                _("충족") if row.eligible else _("미충족"),
                ", ".join(r.title for r in row.missing_documents),
                "; ".join(_requested_dataset_text(d) for d in application.requested_datasets.all()),
                str(option) if option else "",
                row.consultation_label,
            ]
        )
    return table


def applications_export(
    *,
    call: Call,
    rows: Sequence[ConsoleRow],
    actor: User,
    filters: Mapping[str, str],
    request: HttpRequest | None = None,
) -> bytes:
    """The listed applications as an .xlsx workbook: Korean headers, KST times, frozen header row.

    The export holds company data outside the platform, so who exported what is audit-logged.
    """
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = str(_("신청 목록"))
    headers = [str(header) for header in EXPORT_HEADERS]
    sheet.append(headers)
    values = applications_export_rows(rows)
    for line in values:
        sheet.append(line)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="EEF2F7")
    for column in (6, 7):
        for (cell,) in sheet.iter_rows(min_row=2, min_col=column, max_col=column):
            cell.number_format = DATETIME_FORMAT
    for index, header in enumerate(headers, start=1):
        width = max([cell_width(header), *(cell_width(line[index - 1]) for line in values)])
        sheet.column_dimensions[get_column_letter(index)].width = min(width + 2, 80)
    sheet.freeze_panes = "A2"
    buffer = io.BytesIO()
    workbook.save(buffer)
    audit_record(
        action="calls.applications_exported",
        actor=actor,
        target=call,
        summary=f"exported {len(values)} applications of {call.slug}",
        data={
            "call": call.slug,
            "count": len(values),
            "filters": dict(filters),
            "application_ids": [row.application.pk for row in rows],
        },
        request=request,
    )
    return buffer.getvalue()


def application_document_open(
    *,
    application: Application,
    document: ApplicationDocument,
    actor: User,
    request: HttpRequest | None = None,
) -> File:
    """Open a stored document for streaming to ``actor``, who may see ``application`` (checked by the caller).

    A member of staff reading a company's file is a sensitive read and goes into the audit log; the
    company reading its own upload is not.
    """
    if document.application_id != application.pk:
        raise DomainError("not_found", _("파일을 찾을 수 없습니다."), status_code=404)
    if actor.organisation_id != application.company_id:
        audit_record(
            action="calls.application_document_downloaded",
            actor=actor,
            target=application,
            summary=f"{document.requirement.code}: {document.original_name}",
            data={
                "document_id": document.pk,
                "requirement": document.requirement.code,
                "sha256": document.sha256,
                "receipt_number": application.receipt_number,
            },
            request=request,
        )
    return document.file.open("rb")


def application_can_return(application: Application, *, actor: User) -> bool:
    """Whether ``actor`` may return ``application`` for correction now (to show the form or not)."""
    return (
        actor.has_role(Role.OPERATOR)
        and application.status in RETURNABLE_STATUSES
        and timeutils.now() < application.call.intake_closes_at
    )


@dataclass(frozen=True)
class CompanyActions:
    """What the company can do with its application right now (which buttons the pages show)."""

    edit: bool
    submit: bool
    resubmit: bool
    withdraw: bool


def application_company_actions(application: Application) -> CompanyActions:
    call = application.call
    is_open = call.is_open_at(timeutils.now())
    return CompanyActions(
        edit=is_open and application.status in EDITABLE_STATUSES,
        submit=is_open and application.status == Status.DRAFT,
        resubmit=is_open and application.status == Status.RETURNED,
        withdraw=is_open and application.status in WITHDRAWABLE_STATUSES,
    )
