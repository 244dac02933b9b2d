"""Bonus pages: the applicant's preview and the operators' evidence verification.

Thin: the selectors decide who sees which application, the services compute and record.
Reviewers see the bonus only through their own pages; here they are refused (403).
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from medbroker.accounts.models import Role, User
from medbroker.accounts.permissions import STAFF_READ_ROLES, role_required
from medbroker.core.errors import DomainError, NotFoundError
from medbroker.reviews.forms_bonus import EvidenceVerifyForm
from medbroker.reviews.selectors.evidence import application_get_for_bonus, bonus_page_context
from medbroker.reviews.services.evidence import evidence_verify


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


@role_required(Role.APPLICANT, *STAFF_READ_ROLES)
@require_GET
def bonus_preview(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    application = application_get_for_bonus(user=user, pk=pk)
    context = bonus_page_context(application, with_verified=False)
    context["staff"] = user.has_role(*STAFF_READ_ROLES)
    return render(request, "reviews/bonus/preview.html", context)


def _review_page(
    request: HttpRequest, pk: int, *, status: int = 200, form: EvidenceVerifyForm | None = None
) -> HttpResponse:
    user = _user(request)
    application = application_get_for_bonus(user=user, pk=pk)
    context = bonus_page_context(application, with_verified=True)
    context["can_verify"] = user.has_role(Role.OPERATOR) and context["verifiable"]
    context["failed_form"] = form
    return render(request, "reviews/bonus/review.html", context, status=status)


@role_required(*STAFF_READ_ROLES)
@require_GET
def evidence_review(request: HttpRequest, pk: int) -> HttpResponse:
    return _review_page(request, pk)


@role_required(Role.OPERATOR)
@require_POST
def evidence_verify_view(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    application = application_get_for_bonus(user=user, pk=pk)
    form = EvidenceVerifyForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("판정 내용을 확인해 주세요."))
        return _review_page(request, pk, status=400, form=form)
    data = form.cleaned_data
    try:
        verdict = evidence_verify(
            application=application,
            kind=data["kind"],
            evidence_id=data["evidence_id"],
            status=data["status"],
            reason=data["reason"],
            actor=user,
            request=request,
        )
    except NotFoundError as error:
        messages.error(request, str(error.message))
        return _review_page(request, pk, status=404)
    except DomainError as error:
        messages.error(request, str(error.message))
        return _review_page(request, pk, status=error.status_code, form=form)
    messages.success(
        request,
        _("%(kind)s 증빙을 '%(status)s'(으)로 판정했습니다.")
        % {"kind": verdict.get_kind_display(), "status": verdict.get_status_display()},
    )
    url = reverse("reviews:evidence_review", args=[application.pk])
    return redirect(f"{url}#evidence-{verdict.kind}-{verdict.evidence_id}")
