"""The company's review results: outcome, support scale and its own score breakdown.

Applicants only, for their own company's applications (another company's is 404). Everything shown comes
from the published decision; before publication the page says "심사 중" and nothing more.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from medbroker.accounts.models import Role, User
from medbroker.accounts.permissions import role_required
from medbroker.reviews.selectors.results import result_for_company, results_for_company


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


@role_required(Role.APPLICANT)
def company_results(request: HttpRequest) -> HttpResponse:
    return render(request, "reviews/results/list.html", {"results": results_for_company(user=_user(request))})


@role_required(Role.APPLICANT)
def company_result(request: HttpRequest, pk: int) -> HttpResponse:
    result = result_for_company(user=_user(request), pk=pk)
    return render(
        request, "reviews/results/detail.html", {"result": result, "application": result.application}
    )
