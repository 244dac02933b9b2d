"""Permission matrix (style guide): every role × every compute page and endpoint.

The agreement in the URLs belongs to ``applicant``'s company. Anonymous users go to the login page (302) or
get 401 from the API; roles without business there get 403; another company gets 404 for this company's
agreement. Only the operator's requests (and the company's answer to its own offer) change anything.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from medbroker.accounts.models import User
from medbroker.agreements.models import Agreement
from medbroker.agreements.tests.factories import DURING_SUPPORT
from medbroker.compute.models import GpuAllocation, GpuUsageRecord, GpuWaitlistEntry, UsageImport
from medbroker.compute.services.allocations import gpu_allocate, gpu_release
from medbroker.compute.tests.factories import agreement_for, pool

ROLES = ["anonymous", "applicant", "other_applicant", "reviewer", "steward", "operator", "auditor"]
pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def during_support() -> Iterator[None]:
    with time_machine.travel(DURING_SUPPORT, tick=False):
        yield


def _scene(page: str, applicant: User, operator: User) -> Agreement:
    """The applicant's agreement in the state the page acts on: nothing yet (allocate), an offer from the
    waiting list (offer answers), otherwise an active GPU."""
    pool(a100_32=1)
    if page in ("offer_accept", "offer_decline"):
        first = agreement_for("a100-32", rank=1)
        held = gpu_allocate(agreement=first, actor=operator)
        mine = agreement_for("a100-32", rank=2, company=applicant.organisation)
        gpu_allocate(agreement=mine, actor=operator)
        assert isinstance(held, GpuAllocation)
        gpu_release(allocation=held, actor=operator, reason="반납")
        return mine
    mine = agreement_for("a100-32", rank=1, company=applicant.organisation)
    if page not in ("allocate", "api_allocate"):
        gpu_allocate(agreement=mine, actor=operator)
    return mine


def _usage_file(agreement: Agreement) -> SimpleUploadedFile:
    content = f"date,node,gpu,agreement,gpu_hours\n2025-09-15,a100-32-a,0,{agreement.number},6\n"
    return SimpleUploadedFile("usage.csv", content.encode(), content_type="text/csv")


def _request(client: Client, page: str, agreement: Agreement) -> Any:
    pk = agreement.pk
    if page == "inventory":
        return client.get(reverse("compute:inventory"))
    if page == "agreement_compute":
        return client.get(reverse("compute:agreement_compute", args=[pk]))
    if page in ("allocate", "offer_accept", "offer_decline"):
        return client.post(reverse(f"compute:{page}", args=[pk]))
    if page == "release":
        return client.post(reverse("compute:release", args=[pk]), {"reason": "점검"})
    if page == "usage_import":
        return client.get(reverse("compute:usage_import"))
    if page == "usage_import_post":
        return client.post(reverse("compute:usage_import"), {"file": _usage_file(agreement)})
    if page == "api_inventory":
        return client.get("/api/v1/compute/inventory")
    if page == "api_agreement":
        return client.get(f"/api/v1/compute/agreements/{pk}")
    if page == "api_allocate":
        return client.post(
            f"/api/v1/compute/agreements/{pk}/allocate", json.dumps({}), content_type="application/json"
        )
    raise AssertionError(page)


# Expected status per page, in the order of ROLES:
#          anonymous applicant other_applicant reviewer steward operator auditor
EXPECTED: dict[str, list[int]] = {
    "inventory": [302, 403, 403, 403, 403, 200, 200],
    "agreement_compute": [302, 200, 404, 403, 403, 200, 200],
    # Actions go back to the agreement's GPU page.
    "allocate": [302, 403, 403, 403, 403, 302, 403],
    "release": [302, 403, 403, 403, 403, 302, 403],
    "offer_accept": [302, 302, 404, 403, 403, 403, 403],
    "offer_decline": [302, 302, 404, 403, 403, 403, 403],
    "usage_import": [302, 403, 403, 403, 403, 200, 403],
    "usage_import_post": [302, 403, 403, 403, 403, 302, 403],
    "api_inventory": [401, 403, 403, 403, 403, 200, 200],
    "api_agreement": [401, 200, 404, 403, 403, 200, 200],
    "api_allocate": [401, 403, 403, 403, 403, 200, 403],
}

# What the one permitted change leaves: (role, page) → the applicant's allocations (gpu, status).
CHANGED: dict[tuple[str, str], list[tuple[str, str]]] = {
    ("operator", "allocate"): [("a100-32-a/gpu0", "active")],
    ("operator", "api_allocate"): [("a100-32-a/gpu0", "active")],
    ("operator", "release"): [("a100-32-a/gpu0", "released")],
    ("applicant", "offer_accept"): [("a100-32-a/gpu0", "active")],
    ("applicant", "offer_decline"): [("a100-32-a/gpu0", "released")],
}


def _state() -> tuple[list[tuple], list[tuple], int, int]:
    return (
        list(GpuAllocation.objects.order_by("pk").values_list("agreement_id", "gpu_id", "status")),
        list(GpuWaitlistEntry.objects.order_by("pk").values_list("agreement_id", "status")),
        UsageImport.objects.count(),
        GpuUsageRecord.objects.count(),
    )


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("page", list(EXPECTED))
def test_permission_matrix(
    applicant: User,
    operator: User,
    users_by_role: dict[str, User | None],
    login: Callable[[Client, User | None], Client],
    role: str,
    page: str,
) -> None:
    agreement = _scene(page, applicant, operator)
    client = login(Client(), users_by_role[role])
    before = _state()

    response = _request(client, page, agreement)

    assert response.status_code == EXPECTED[page][ROLES.index(role)]
    if (role, page) in CHANGED:
        mine = [
            (str(a.gpu), a.status)
            for a in GpuAllocation.objects.filter(agreement=agreement).select_related("gpu__node")
        ]
        assert mine == CHANGED[(role, page)]
    elif (role, page) == ("operator", "usage_import_post"):
        assert _state()[2:] == (1, 1)
    else:
        assert _state() == before


def test_unknown_agreement_is_404(operator: User, login: Callable[[Client, User | None], Client]) -> None:
    client = login(Client(), operator)

    assert client.get(reverse("compute:agreement_compute", args=[999_999])).status_code == 404
    assert client.post(reverse("compute:allocate", args=[999_999])).status_code == 404
    assert client.get("/api/v1/compute/agreements/999999").status_code == 404


def test_pages_refuse_the_wrong_method(
    operator: User, login: Callable[[Client, User | None], Client]
) -> None:
    pool(a100_32=1)
    agreement = agreement_for("a100-32")
    client = login(Client(), operator)

    assert client.get(reverse("compute:allocate", args=[agreement.pk])).status_code == 405
    assert GpuAllocation.objects.count() == 0
