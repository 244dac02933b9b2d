"""The company's side of conflicts: asking for a reviewer's exclusion (기피) from its application.

The company sees the members of its call's committee by name and organisation, as commonly disclosed,
to choose whom to challenge; nothing about who reviews what, who recused or who was excluded by rule.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from medbroker.accounts.models import Role, User
from medbroker.accounts.permissions import role_required
from medbroker.calls.selectors.applications import application_get_for_company
from medbroker.core.errors import DomainError
from medbroker.reviews.forms_committee import ChallengeForm, member_public_label
from medbroker.reviews.models import Committee, Conflict
from medbroker.reviews.selectors.committee import REVIEWABLE_STATUSES, committee_for_call
from medbroker.reviews.services.conflicts import conflict_challenge_request


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


@role_required(Role.APPLICANT)
@require_http_methods(["GET", "POST"])
def challenge_new(request: HttpRequest, pk: int) -> HttpResponse:
    # Another company's application is 404, as everywhere on the company's side.
    application = application_get_for_company(user=_user(request), pk=pk)
    if application.status not in REVIEWABLE_STATUSES:
        raise Http404(_("제출된 신청서가 아닙니다."))
    committee = committee_for_call(application.call)
    is_open = committee.status == Committee.Status.OPEN
    form = ChallengeForm(request.POST or None, committee=committee)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                conflict_challenge_request(
                    application,
                    form.cleaned_data["member"],
                    form.cleaned_data["reason"],
                    _user(request),
                    request=request,
                )
            except DomainError as error:
                messages.error(request, str(error.message))
                status = error.status_code
            else:
                messages.success(request, _("기피 신청을 접수했습니다. 운영자가 검토 후 결정합니다."))
                return redirect("reviews:challenge_new", pk=application.pk)
        else:
            status = 400
    challenges = (
        Conflict.objects.filter(application=application, kind=Conflict.Kind.CHALLENGE)
        .select_related("member__user", "member__organisation")
        .order_by("-created_at")
    )
    return render(
        request,
        "reviews/conflicts/challenge.html",
        {
            "application": application,
            "committee": committee,
            "is_open": is_open,
            "members": [member_public_label(m) for m in form.fields["member"].queryset],  # type: ignore[attr-defined]
            "form": form,
            "challenges": [(member_public_label(c.member), c) for c in challenges],
        },
        status=status,
    )
