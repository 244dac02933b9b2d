"""Who sees which application, and the operators' console over a call's applications."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Case, Count, F, Prefetch, QuerySet, When
from django.http import Http404
from django.utils.translation import gettext as _

from medbroker.accounts.models import Role, User
from medbroker.accounts.permissions import STAFF_READ_ROLES
from medbroker.calls.models import (
    Application,
    ApplicationDataset,
    ApplicationDocument,
    ApplicationStatusChange,
    Call,
    CertificationHeld,
    Consultation,
    EligibilityDeclaration,
    RequiredDocument,
)
from medbroker.calls.selectors.calls import CallSummary, calls_summaries
from medbroker.calls.services.eligibility import (
    CriterionResult,
    documents_missing,
    eligibility_evaluate,
    eligibility_is_met,
)


def applications_with_relations(applications: QuerySet[Application]) -> QuerySet[Application]:
    """Everything the pages, the checklist and the eligibility rules read, in a fixed number of queries."""
    return applications.select_related("call", "company", "created_by", "compute_option").prefetch_related(
        "call__eligibility_criteria",
        "call__required_documents",
        Prefetch("eligibility", queryset=EligibilityDeclaration.objects.select_related("criterion")),
        Prefetch(
            "documents",
            queryset=ApplicationDocument.objects.select_related("requirement", "uploaded_by"),
        ),
        Prefetch(
            "requested_datasets",
            queryset=ApplicationDataset.objects.select_related(
                "dataset__institution__organisation", "dataset__body_part", "dataset__modality"
            ).order_by("pk"),
        ),
        "revenues",
        "projects",
        Prefetch("certifications", queryset=CertificationHeld.objects.select_related("certification")),
        "intellectual_property",
        Prefetch("status_changes", queryset=ApplicationStatusChange.objects.select_related("changed_by")),
    )


def applications_of_company(*, user: User) -> QuerySet[Application]:
    """The signed-in applicant's company's applications, newest first."""
    if user.organisation_id is None:
        return Application.objects.none()
    return Application.objects.filter(company_id=user.organisation_id).select_related("call")


def application_get_for_company(*, user: User, pk: int) -> Application:
    """One of the applicant's company's own applications; another company's is "not found"."""
    application = applications_with_relations(applications_of_company(user=user)).filter(pk=pk).first()
    if application is None:
        raise Http404(_("신청서를 찾을 수 없습니다."))
    return application


def applications_visible_to(user: User) -> QuerySet[Application]:
    """Operators and auditors see every application; an applicant its own company's; anyone else none."""
    if user.has_role(*STAFF_READ_ROLES):
        return Application.objects.all()
    if user.has_role(Role.APPLICANT):
        return applications_of_company(user=user)
    return Application.objects.none()


def application_get_for_user(*, user: User, pk: int) -> Application:
    application = applications_with_relations(applications_visible_to(user)).filter(pk=pk).first()
    if application is None:
        raise Http404(_("신청서를 찾을 수 없습니다."))
    return application


def application_document_get(*, application: Application, pk: int) -> ApplicationDocument:
    for document in application.documents.all():
        if document.pk == pk:
            return document
    raise Http404(_("파일을 찾을 수 없습니다."))


@dataclass(frozen=True)
class CallForApplication:
    summary: CallSummary
    application: Application | None


def calls_for_application(*, user: User) -> list[CallForApplication]:
    """Open and upcoming calls, each with the company's live application for it, if any."""
    live = {
        a.call_id: a for a in applications_of_company(user=user).exclude(status=Application.Status.WITHDRAWN)
    }
    return [
        CallForApplication(summary, live.get(summary.call.pk))
        for summary in calls_summaries()
        if summary.state != "closed" or summary.call.pk in live
    ]


# ---------------------------------------------------------------------------------------------------------
# The operators' console
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StatusCount:
    status: str
    label: str
    count: int
    percent: int


def application_status_counts(*, call: Call) -> list[StatusCount]:
    counts = dict(
        Application.objects.filter(call=call)
        .values_list("status")
        .annotate(n=Count("pk"))
        .values_list("status", "n")
    )
    total = sum(counts.values())
    return [
        StatusCount(
            value, str(label), counts.get(value, 0), round(100 * counts.get(value, 0) / total) if total else 0
        )
        for value, label in Application.Status.choices
    ]


@dataclass(frozen=True)
class ConsoleCall:
    call: Call
    total: int
    counts: list[StatusCount]


def console_calls() -> list[ConsoleCall]:
    """Every call (practice ones too), newest first, with the count of applications per status."""
    return [
        ConsoleCall(call, sum(c.count for c in counts), counts)
        for call in Call.objects.order_by("is_practice", "-intake_opens_at")
        for counts in [application_status_counts(call=call)]
    ]


def console_call_get(*, slug: str) -> Call:
    call = Call.objects.filter(slug=slug).first()
    if call is None:
        raise Http404(_("공모를 찾을 수 없습니다."))
    return call


@dataclass(frozen=True)
class ConsoleRow:
    application: Application
    eligibility: list[CriterionResult]
    eligible: bool
    missing_documents: list[RequiredDocument]
    consultation_status: str
    consultation_label: str


ELIGIBILITY_FILTERS = ("ok", "not_ok")
MISSING_FILTERS = ("yes", "no")


def _consultation_states(call: Call) -> dict[int, Consultation]:
    latest: dict[int, Consultation] = {}
    for consultation in Consultation.objects.filter(call=call).order_by("company_id", "-created_at", "-pk"):
        latest.setdefault(consultation.company_id, consultation)
    return latest


def console_rows(
    *, call: Call, status: str = "", eligibility: str = "", missing: str = ""
) -> tuple[QuerySet[Application], dict[int, ConsoleRow]]:
    """The call's applications matching the filters, and the evaluated row of each.

    Eligibility and missing documents are rules in Python over each application's records, so they are
    evaluated for the whole call (a few hundred applications at most) and the filter becomes a set of keys;
    sorting and paging stay in the database (``core.tables``).
    """
    applications = applications_with_relations(Application.objects.filter(call=call))
    if status in Application.Status.values:
        applications = applications.filter(status=status)
    consultations = _consultation_states(call)
    rows: dict[int, ConsoleRow] = {}
    for application in applications:
        results = eligibility_evaluate(application)
        consultation = consultations.get(application.company_id)
        rows[application.pk] = ConsoleRow(
            application=application,
            eligibility=results,
            eligible=eligibility_is_met(application, results),
            missing_documents=documents_missing(application),
            consultation_status=consultation.status if consultation else "",
            consultation_label=str(consultation.get_status_display()) if consultation else _("협의 없음"),
        )
    if eligibility in ELIGIBILITY_FILTERS:
        wanted = eligibility == "ok"
        rows = {pk: row for pk, row in rows.items() if row.eligible == wanted}
    if missing in MISSING_FILTERS:
        wanted = missing == "yes"
        rows = {pk: row for pk, row in rows.items() if bool(row.missing_documents) == wanted}
    filtered = (
        Application.objects.filter(pk__in=rows)
        .select_related("company", "call")
        # Drafts have no receipt number; they sort after the submitted ones on every database.
        .annotate(receipt_missing=Case(When(receipt_number__isnull=True, then=1), default=0))
    )
    return filtered, rows


def console_rows_for_export(
    *, call: Call, status: str = "", eligibility: str = "", missing: str = ""
) -> list[ConsoleRow]:
    """The filtered rows in receipt-number order (drafts last), as the Excel export lists them."""
    applications, rows = console_rows(call=call, status=status, eligibility=eligibility, missing=missing)
    ordered = applications.order_by(F("receipt_number").asc(nulls_last=True), "created_at", "pk")
    return [rows[application.pk] for application in ordered]


CONSOLE_SORTABLE: dict[str, str | tuple[str, ...]] = {
    "receipt": ("receipt_missing", "receipt_number", "created_at"),
    "company": "company__name",
    "status": "status",
    "submitted": "last_submitted_at",
    "updated": "updated_at",
}
