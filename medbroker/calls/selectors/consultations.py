"""Who sees which consultation, the operators' list, and what an application takes over from step ①."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Prefetch, Q, QuerySet
from django.http import Http404
from django.utils.translation import gettext as _

from medbroker.accounts.models import Organisation, Role, User
from medbroker.calls.models import Call, Consultation, ConsultationItem, ConsultationMessage
from medbroker.catalog.models import Dataset

# Operators answer; auditors read everything and change nothing (accounts.permissions.STAFF_READ_ROLES).
CONSULTATION_STAFF_ROLES = (Role.OPERATOR, Role.AUDITOR)
CONSULTATION_READ_ROLES = (Role.APPLICANT, *CONSULTATION_STAFF_ROLES)


def consultations_visible_to(user: User) -> QuerySet[Consultation]:
    """Operators and auditors see every consultation; an applicant only its own company's; others none."""
    consultations = Consultation.objects.select_related("call", "company", "created_by")
    if user.has_role(*CONSULTATION_STAFF_ROLES):
        return consultations
    if user.has_role(Role.APPLICANT) and user.organisation_id is not None:
        return consultations.filter(company_id=user.organisation_id)
    return consultations.none()


def consultations_of_company(*, user: User) -> QuerySet[Consultation]:
    """The applicant's own company's consultations, with item counts for the list page."""
    if user.organisation_id is None:
        return Consultation.objects.none()
    return _with_counts(
        Consultation.objects.select_related("call", "created_by").filter(company_id=user.organisation_id)
    )


def _with_counts(consultations: QuerySet[Consultation]) -> QuerySet[Consultation]:
    return consultations.annotate(
        item_count=Count("items", distinct=True),
        answered_count=Count(
            "items", filter=~Q(items__answer=ConsultationItem.Answer.PENDING), distinct=True
        ),
    )


def consultation_get_for_user(*, user: User, pk: int) -> Consultation:
    """One consultation with its items and messages; 404 when it is not the user's to see.

    Another company's consultation is "not found", not "forbidden": its existence is nobody else's business.
    """
    consultation = (
        consultations_visible_to(user)
        .prefetch_related(
            Prefetch(
                "items",
                queryset=ConsultationItem.objects.select_related(
                    "dataset__institution__organisation",
                    "dataset__body_part",
                    "dataset__modality",
                    "answered_by",
                ),
            ),
            Prefetch("messages", queryset=ConsultationMessage.objects.select_related("author__organisation")),
        )
        .filter(pk=pk)
        .first()
    )
    if consultation is None:
        raise Http404(_("협의를 찾을 수 없습니다."))
    return consultation


def consultations_for_console(*, status: str = "", call_slug: str = "") -> QuerySet[Consultation]:
    """All consultations for operators and auditors, optionally filtered by status and call."""
    consultations = Consultation.objects.select_related("call", "company", "created_by")
    if status in Consultation.Status.values:
        consultations = consultations.filter(status=status)
    if call_slug:
        consultations = consultations.filter(call__slug=call_slug)
    return _with_counts(consultations)


def consultation_status_counts() -> dict[str, int]:
    counts = dict(
        Consultation.objects.values_list("status").annotate(n=Count("pk")).values_list("status", "n")
    )
    return {status: counts.get(status, 0) for status in Consultation.Status.values}


@dataclass(frozen=True)
class ConsultedDataset:
    """A dataset the company asked about for a call, with KTL's latest answer: what an application prefills."""

    dataset: Dataset
    amount: int
    needs_annotated: bool
    answer: str
    requested_amount: int
    available_amount: int
    consultation_id: int
    item_id: int


def consultation_items_for_application(*, company: Organisation, call: Call) -> list[ConsultedDataset]:
    """The latest answered item per dataset from ``company``'s consultations on ``call``.

    Used by the application form to prefill the requested datasets. Rules:
    - only answered items count (a pending item says nothing yet), and for each dataset the most recently
      answered one wins, so a later consultation replaces an earlier answer;
    - "not in the database" (미보유) is left out: there is nothing to apply for;
    - ``amount`` is what can be asked for: the requested amount, capped at the available amount when KTL has
      only part of it;
    - datasets no longer published are left out, since an application may only name published ones.
    Ordered by dataset title.
    """
    items = (
        ConsultationItem.objects.filter(consultation__company=company, consultation__call=call)
        .exclude(answer=ConsultationItem.Answer.PENDING)
        .select_related("dataset__institution__organisation", "dataset__body_part", "dataset__modality")
        .order_by("dataset_id", "-answered_at", "-pk")
    )
    latest: dict[int, ConsultationItem] = {}
    for item in items:
        latest.setdefault(item.dataset_id, item)
    result = []
    for item in latest.values():
        if item.answer == ConsultationItem.Answer.UNAVAILABLE:
            continue
        if item.dataset.publication != Dataset.Publication.PUBLISHED:
            continue
        available = item.available_amount if item.available_amount is not None else item.requested_amount
        result.append(
            ConsultedDataset(
                dataset=item.dataset,
                amount=min(item.requested_amount, available),
                needs_annotated=item.needs_annotated,
                answer=item.answer,
                requested_amount=item.requested_amount,
                available_amount=available,
                consultation_id=item.consultation_id,
                item_id=item.pk,
            )
        )
    return sorted(result, key=lambda consulted: (consulted.dataset.title, consulted.dataset.pk))


def datasets_for_consultation() -> QuerySet[Dataset]:
    """Published datasets a company may ask about, in catalogue order."""
    return Dataset.objects.filter(publication=Dataset.Publication.PUBLISHED).select_related(
        "institution__organisation", "body_part", "modality"
    )
