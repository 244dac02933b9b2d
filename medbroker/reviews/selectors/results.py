"""A company's own review results: only its own applications, and only once the results are published.

Before publication nothing of the review reaches the company (not even whether a decision exists); after,
it reads the decision with the breakdown frozen at the decision (``Decision.score_breakdown``): per-item
means over the reviewers and the verified bonus, never a reviewer's name or sheet.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.http import Http404
from django.utils.translation import gettext as _

from medbroker.accounts.models import User
from medbroker.calls.models import Application
from medbroker.reviews.models import Decision


@dataclass(frozen=True)
class CompanyResult:
    application: Application
    # The decision, only when published; None means "심사 중" to the company.
    decision: Decision | None

    @property
    def is_published(self) -> bool:
        return self.decision is not None


def _company_applications(user: User) -> list[Application]:
    if user.organisation_id is None:
        return []
    return list(
        Application.objects.filter(company_id=user.organisation_id, receipt_number__isnull=False)
        .select_related("call", "company")
        .order_by("-submitted_at", "-pk")
    )


def _published_decisions(application_ids: list[int]) -> dict[int, Decision]:
    decisions = (
        Decision.objects.filter(application_id__in=application_ids, published_at__isnull=False)
        .select_related("granted_compute")
        .prefetch_related("granted_datasets__dataset")
    )
    return {decision.application_id: decision for decision in decisions}


def results_for_company(*, user: User) -> list[CompanyResult]:
    """The submitted applications of the user's company, each with its published decision if any."""
    applications = _company_applications(user)
    decisions = _published_decisions([application.pk for application in applications])
    return [CompanyResult(application, decisions.get(application.pk)) for application in applications]


def result_for_company(*, user: User, pk: int) -> CompanyResult:
    """One application's result; 404 for another company's application, whose existence is none of its business."""
    application = next((a for a in _company_applications(user) if a.pk == pk), None)
    if application is None:
        raise Http404(_("신청서를 찾을 수 없습니다."))
    return CompanyResult(application, _published_decisions([application.pk]).get(application.pk))
