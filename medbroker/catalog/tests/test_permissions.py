"""Permission matrix of the catalogue: every role × every page and endpoint, with the exact status."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.test import Client

from medbroker.audit.models import AuditEvent
from medbroker.catalog.models import Dataset
from medbroker.catalog.tests.factories import DatasetFactory, InstitutionFactory

pytestmark = pytest.mark.django_db

ROLES = ["anonymous", "applicant", "other_applicant", "reviewer", "steward", "operator", "auditor"]


@dataclass(frozen=True)
class Datasets:
    own_draft: Dataset
    own_published: Dataset
    other_draft: Dataset
    other_published: Dataset


@pytest.fixture
def datasets(steward) -> Datasets:
    # The steward fixture's organisation is a fresh institution; make it a data holder with its own datasets.
    own = InstitutionFactory(organisation=steward.organisation)
    other = InstitutionFactory()
    return Datasets(
        own_draft=DatasetFactory(institution=own, publication=Dataset.Publication.DRAFT),
        own_published=DatasetFactory(institution=own),
        other_draft=DatasetFactory(institution=other, publication=Dataset.Publication.DRAFT),
        other_published=DatasetFactory(institution=other),
    )


@dataclass(frozen=True)
class Case:
    name: str
    method: str
    url: Callable[[Datasets], str]
    # Expected status per role; the roles not named get ``default``.
    expected: dict[str, int]
    default: int
    # For writes: the dataset that changes, and its publication state after an allowed request.
    changes: str | None = None
    state_after: str | None = None

    def status_for(self, role: str) -> int:
        return self.expected.get(role, self.default)


PUBLIC_200: dict[str, int] = {}
MANAGERS = {"anonymous": 302, "steward": 200, "operator": 200}
CASES = [
    Case("list", "get", lambda d: "/catalog/", PUBLIC_200, 200),
    Case("list_htmx_query", "get", lambda d: "/catalog/?q=내시경&modality=endoscopy", PUBLIC_200, 200),
    Case("detail_published", "get", lambda d: f"/catalog/{d.other_published.pk}/", PUBLIC_200, 200),
    Case(
        "detail_own_draft",
        "get",
        lambda d: f"/catalog/{d.own_draft.pk}/",
        {"steward": 200, "operator": 200},
        404,
    ),
    Case("detail_other_draft", "get", lambda d: f"/catalog/{d.other_draft.pk}/", {"operator": 200}, 404),
    Case("mine", "get", lambda d: "/catalog/mine/", MANAGERS, 403),
    Case("new", "get", lambda d: "/catalog/new/", MANAGERS, 403),
    Case("edit_own", "get", lambda d: f"/catalog/{d.own_draft.pk}/edit/", MANAGERS, 403),
    Case(
        "edit_other",
        "get",
        lambda d: f"/catalog/{d.other_draft.pk}/edit/",
        {"anonymous": 302, "steward": 404, "operator": 200},
        403,
    ),
    Case(
        "publish_own",
        "post",
        lambda d: f"/catalog/{d.own_draft.pk}/publish/",
        {"anonymous": 302, "steward": 302, "operator": 302},
        403,
        changes="own_draft",
        state_after="published",
    ),
    Case(
        "withdraw_own",
        "post",
        lambda d: f"/catalog/{d.own_published.pk}/withdraw/",
        {"anonymous": 302, "steward": 302, "operator": 302},
        403,
        changes="own_published",
        state_after="withdrawn",
    ),
    Case(
        "publish_other",
        "post",
        lambda d: f"/catalog/{d.other_draft.pk}/publish/",
        {"anonymous": 302, "steward": 404, "operator": 302},
        403,
        changes="other_draft",
        state_after="published",
    ),
    Case(
        "publish_by_get",
        "get",
        lambda d: f"/catalog/{d.own_draft.pk}/publish/",
        MANAGERS | {"steward": 405, "operator": 405},
        403,
    ),
    Case("api_list", "get", lambda d: "/api/v1/datasets", PUBLIC_200, 200),
    Case("api_detail_published", "get", lambda d: f"/api/v1/datasets/{d.own_published.pk}", PUBLIC_200, 200),
    Case("api_detail_draft", "get", lambda d: f"/api/v1/datasets/{d.own_draft.pk}", PUBLIC_200, 404),
    Case("api_totals", "get", lambda d: "/api/v1/datasets/totals", PUBLIC_200, 200),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
@pytest.mark.parametrize("role", ROLES)
def test_permission_matrix(
    client: Client, login, users_by_role, datasets: Datasets, role: str, case: Case
) -> None:
    login(client, users_by_role[role])
    states_before = dict(Dataset.objects.values_list("pk", "publication"))

    response = getattr(client, case.method)(case.url(datasets))

    expected = case.status_for(role)
    assert response.status_code == expected
    if expected == 302 and role == "anonymous":
        assert response["Location"].startswith("/accounts/login/?next=")
    states_after = dict(Dataset.objects.values_list("pk", "publication"))
    allowed_write = case.changes is not None and role in ("steward", "operator") and expected == 302
    if allowed_write:
        target = getattr(datasets, case.changes)
        assert states_after == {**states_before, target.pk: case.state_after}
        assert AuditEvent.objects.count() == 1
    else:
        assert states_after == states_before
        assert AuditEvent.objects.count() == 0
