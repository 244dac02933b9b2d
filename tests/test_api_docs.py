"""The OpenAPI description and its docs page are public and list every route of the platform."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db

ROLES = ["anonymous", "applicant", "other_applicant", "reviewer", "steward", "operator", "auditor"]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("path", ["/api/docs", "/api/openapi.json"])
def test_api_docs_are_public(role, path, client, login, users_by_role):
    login(client, users_by_role[role])

    assert client.get(path).status_code == 200


def test_the_openapi_description_lists_the_routes(client):
    paths = set(client.get("/api/openapi.json").json()["paths"])

    assert paths == {
        "/api/v1/datasets",
        "/api/v1/datasets/totals",
        "/api/v1/datasets/{dataset_id}",
        "/api/v1/datasets/{dataset_id}/dcat",
        "/api/v1/datasets/{dataset_id}/croissant",
        "/api/v1/consultations",
        "/api/v1/consultations/{consultation_id}",
        "/api/v1/consultations/{consultation_id}/messages",
        "/api/v1/applications",
        "/api/v1/applications/{application_id}",
        "/api/v1/applications/{application_id}/submit",
        "/api/v1/applications/{application_id}/resubmit",
        "/api/v1/reviews/assignments",
        "/api/v1/reviews/assignments/{assignment_id}",
        "/api/v1/agreements",
        "/api/v1/agreements/{agreement_id}",
        "/api/v1/agreements/{agreement_id}/test-requests",
        "/api/v1/access/grants",
        "/api/v1/access/grants/{grant_id}",
        "/api/v1/access/grants/{grant_id}/check",
        "/api/v1/rooms/slots",
        "/api/v1/rooms/bookings",
        "/api/v1/rooms/bookings/{booking_id}/cancel",
        "/api/v1/compute/inventory",
        "/api/v1/compute/agreements/{agreement_id}",
        "/api/v1/compute/agreements/{agreement_id}/allocate",
        "/api/v1/compute/workspaces",
        "/api/v1/compute/workspaces/start",
        "/api/v1/compute/workspaces/{workspace_id}",
        "/api/v1/compute/workspaces/{workspace_id}/stop",
        "/api/v1/compute/hub/authorize",
        "/api/v1/outcomes/dashboard",
        "/api/v1/outcomes/reports",
        "/api/v1/outcomes/reports/{report_id}",
        "/api/v1/outcomes/reports/{report_id}/submit",
        "/api/v1/ingest/datasets/{dataset_id}/profile",
        "/api/v1/ingest/datasets/{dataset_id}/scans",
        "/api/v1/ingest/scans/{job_id}",
        "/api/v1/ingest/datasets/{dataset_id}/deidentification",
        "/api/v1/ingest/datasets/{dataset_id}/deidentification/override",
        "/api/v1/evaluations",
        "/api/v1/evaluations/{evaluation_id}",
        "/api/v1/evaluations/{evaluation_id}/submissions",
        "/api/v1/evaluations/runs/{run_id}",
        "/api/v1/evaluations/reports/{report_id}/pdf",
        "/api/v1/evaluations/reports/verify",
    }
