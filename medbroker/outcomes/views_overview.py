"""The company's overview after selection: its agreements, what each needs next, and where each stands in
steps ④ agreement → ⑤ data and GPU → ⑥ results report. Applicants only; it shows their own company."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from medbroker.accounts.models import Role
from medbroker.accounts.permissions import role_required
from medbroker.outcomes.selectors.overview import AgreementOverview, NextAction, Step, company_overview
from medbroker.outcomes.views_common import link, request_user


def _next_link(overview: AgreementOverview) -> str:
    agreement, report = overview.agreement, overview.report
    action = overview.next_action
    if action in (NextAction.SIGN, NextAction.AWAIT_LAB_SIGNATURE, NextAction.TERMINATED):
        return link("agreements:agreement_detail", agreement.pk)
    if action in (NextAction.AWAIT_GRANTS, NextAction.USE):
        return link("access:grant_list")
    if action == NextAction.BOOK_ROOM:
        return link("access:booking_list")
    if report is not None:
        return link("outcomes:report_detail", report.pk)
    return ""


def _card(overview: AgreementOverview) -> dict[str, Any]:
    agreement = overview.agreement
    return {
        "overview": overview,
        "next_url": _next_link(overview),
        "open_report": overview.next_action == NextAction.REPORT_OPEN,
        "links": {
            "agreement": link("agreements:agreement_detail", agreement.pk),
            "grants": link("access:grant_list"),
            "compute": link("compute:agreement_compute", agreement.pk),
            "bookings": link("access:booking_list"),
            "test_requests": link("agreements:test_request_list"),
            "report": link("outcomes:report_detail", overview.report.pk) if overview.report else "",
        },
    }


@role_required(Role.APPLICANT)
def company_overview_view(request: HttpRequest) -> HttpResponse:
    cards = [_card(overview) for overview in company_overview(request_user(request))]
    return render(
        request,
        "outcomes/overview.html",
        {
            "cards": cards,
            "step": {"AGREEMENT": Step.AGREEMENT, "USE": Step.USE, "REPORT": Step.REPORT},
            "results_url": link("reviews:company_results"),
        },
    )
