"""The outcomes API: the dashboard's summary as JSON, a company's reports, submission with its refusals."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import time_machine
from django.test import Client

from medbroker.accounts.models import Organisation, User
from medbroker.core.timeutils import kst
from medbroker.outcomes.models import ResultsReport
from medbroker.outcomes.tests.scene import ProgrammeScene, programme_scene

pytestmark = pytest.mark.django_db
Login = Callable[[Client, User | None], Client]


@pytest.fixture(autouse=True)
def _frozen_clock() -> Iterator[None]:
    with time_machine.travel(kst(2025, 12, 15, 12, 0, 0), tick=False):
        yield


@pytest.fixture
def scene(
    company: Organisation, other_company: Organisation, applicant: User, other_applicant: User
) -> ProgrammeScene:
    return programme_scene(
        company=company, other_company=other_company, applicant=applicant, other_applicant=other_applicant
    )


def test_dashboard_json_carries_the_same_figures(
    client: Client, login: Login, scene: ProgrammeScene, operator: User
) -> None:
    data = login(client, operator).get("/api/v1/outcomes/dashboard?call=khealth-daegu-2025").json()

    assert (data["call"], data["as_of"], data["companies_supported"]) == (
        "khealth-daegu-2025",
        "2025-12-15",
        2,
    )
    assert (data["datasets_used"], data["cases_used"], data["gpu_hours_total"]) == (2, 2500, "39.75")
    assert data["room"] == {
        "since": "2025-09-01",
        "until": "2025-11-28",
        "capacity_hours": "4160.00",
        "booked_hours": "13.00",
        "attended_hours": "8.00",
        "booked_percent": "0.3",
        "attended_percent": "0.2",
    }
    assert data["reports_by_status"]["overdue"] == 1
    assert [(c["agreement_number"], c["gpu_hours"], c["report_late"]) for c in data["companies"]] == [
        ("AWAIT-AG", "0.00", False),
        ("KHD2025-0001-AG", "34.50", True),
        ("KHD2025-0002-AG", "5.25", False),
    ]
    assert client.get("/api/v1/outcomes/dashboard?call=nope").status_code == 404


def test_a_company_lists_and_reads_only_its_own_reports(
    client: Client, login: Login, scene: ProgrammeScene, other_applicant: User
) -> None:
    login(client, other_applicant)

    listed = client.get("/api/v1/outcomes/reports").json()
    own = client.get(f"/api/v1/outcomes/reports/{scene.second_report.pk}").json()
    other = client.get(f"/api/v1/outcomes/reports/{scene.first_report.pk}")

    assert [(r["agreement_number"], r["status"], r["overdue"]) for r in listed] == [
        ("KHD2025-0002-AG", "draft", True)
    ]
    assert own["missing_sections"] == ["data_usage", "compute_usage", "model_performance", "summary"]
    assert (other.status_code, other.json()["code"]) == (404, "report_not_found")


def test_submit_through_the_api_names_missing_sections_then_submits(
    client: Client, login: Login, scene: ProgrammeScene, other_applicant: User
) -> None:
    login(client, other_applicant)
    url = f"/api/v1/outcomes/reports/{scene.second_report.pk}/submit"

    refused = client.post(url)
    ResultsReport.objects.filter(pk=scene.second_report.pk).update(
        data_usage="데이터", compute_usage="GPU", model_performance="AUROC 0.88", summary="인증 1건"
    )
    submitted = client.post(url)

    assert (refused.status_code, refused.json()["code"]) == (400, "report_incomplete")
    assert submitted.status_code == 200
    body = submitted.json()
    # Past the due date (2025-12-12): accepted, and recorded as late.
    assert (body["status"], body["late"], body["submitted_at"]) == (
        "submitted",
        True,
        "2025-12-15T12:00:00+09:00",
    )
