"""Permission matrix (style guide): every role × the grant, online-use and viewing pages and the grant API.

``applicant`` works for the company of the agreement; ``other_applicant`` for another company, without an
agreement. Anonymous users go to the login page (302) or get 401 from the API; roles without business on a
page get 403; another company gets 404 for this company's grants, sessions and requests. Only the
requests of the operator (and the company's own member, where it acts) change anything.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from medbroker.access.models import AccessGrant, OnlineAccount, OnlineSession, ViewingRequest
from medbroker.access.services.grants import grant_mode_set, grants_issue
from medbroker.access.services.online import online_account_issue
from medbroker.access.services.viewing import viewing_request_create
from medbroker.accounts.models import Organisation, Role, User
from medbroker.accounts.tests.factories import UserFactory
from medbroker.agreements.models import Agreement, AgreementDataset
from medbroker.agreements.tests.factories import DURING_SUPPORT, active_agreement
from medbroker.catalog.models import Dataset, Sensitivity
from medbroker.catalog.tests.factories import DatasetFactory

ROLES = ["anonymous", "applicant", "other_applicant", "reviewer", "steward", "operator", "auditor"]
pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def during_support() -> Iterator[None]:
    with time_machine.travel(DURING_SUPPORT, tick=False):
        yield


@dataclass
class Scene:
    agreement: Agreement
    closed_room: AccessGrant
    online: AccessGrant
    account: OnlineAccount
    session: OnlineSession
    viewing_request: ViewingRequest
    colleague: User
    device: TOTPDevice
    unrequested: Dataset


@pytest.fixture
def scene(operator: User, applicant: User, company: Organisation) -> Scene:
    agreement = active_agreement(company=company, allows_online=True)
    closed_room, online = grants_issue(agreement=agreement, actor=operator)
    online = grant_mode_set(grant=online, mode="online", actor=operator)
    # A third agreed dataset without a grant yet, for the operator's "issue" to have something to do.
    AgreementDataset.objects.create(
        version=agreement.versions.get(), dataset=DatasetFactory(sensitivity=Sensitivity.LOW), amount=100
    )
    device = TOTPDevice.objects.create(user=applicant, name="인증 앱", confirmed=True)
    colleague = UserFactory(username="colleague", organisation=company, roles=[Role.APPLICANT])
    TOTPDevice.objects.create(user=colleague, name="인증 앱", confirmed=True)
    account = online_account_issue(
        agreement=agreement, user=applicant, vpn_account="vpn-017", vdi_account="vdi-017", actor=operator
    )
    session = OnlineSession.objects.create(
        grant=online, account=account, user=applicant, started_at=DURING_SUPPORT
    )
    viewing_request = viewing_request_create(
        agreement=agreement, dataset=DatasetFactory(title="대장 CT 영상"), actor=applicant, reason="비교"
    )
    return Scene(
        agreement=agreement,
        closed_room=closed_room,
        online=online,
        account=account,
        session=session,
        viewing_request=viewing_request,
        colleague=colleague,
        device=device,
        unrequested=DatasetFactory(title="심전도 12유도"),
    )


def _urls(scene: Scene) -> dict[str, tuple[str, str, dict[str, Any]]]:
    agreement = scene.agreement.pk
    code = f"{totp(scene.device.bin_key, step=30, t0=0, digits=6, drift=0):06d}"
    return {
        "grant_list": ("get", reverse("access:grant_list"), {}),
        "agreement_grants": ("get", reverse("access:agreement_grants", args=[agreement]), {}),
        "grants_issue": ("post", reverse("access:grants_issue", args=[agreement]), {}),
        "grant_revoke": (
            "post",
            reverse("access:grant_revoke", args=[scene.closed_room.pk]),
            {"reason": "점검"},
        ),
        "grant_mode": ("post", reverse("access:grant_mode", args=[scene.online.pk]), {"mode": "closed_room"}),
        "online_account_issue": (
            "post",
            reverse("access:online_account_issue", args=[agreement]),
            {"user": scene.colleague.pk, "vpn_account": "vpn-018", "vdi_account": "vdi-018"},
        ),
        "online_account_revoke": (
            "post",
            reverse("access:online_account_revoke", args=[scene.account.pk]),
            {},
        ),
        "online_session_start": (
            "post",
            reverse("access:online_session_start", args=[scene.online.pk]),
            {"otp_code": code},
        ),
        "online_session_end": ("post", reverse("access:online_session_end", args=[scene.session.pk]), {}),
        "viewing_request_list": ("get", reverse("access:viewing_request_list"), {}),
        "viewing_request_new": (
            "post",
            reverse("access:viewing_request_new"),
            {"agreement": agreement, "dataset": scene.unrequested.pk, "reason": "파형 비교"},
        ),
        "viewing_dataset_options": (
            "get",
            reverse("access:viewing_dataset_options"),
            {"agreement": agreement, "q": "심전도"},
        ),
        "viewing_request_detail": (
            "get",
            reverse("access:viewing_request_detail", args=[scene.viewing_request.pk]),
            {},
        ),
        "viewing_request_decide": (
            "post",
            reverse("access:viewing_request_decide", args=[scene.viewing_request.pk]),
            {"decision": "approve", "note": ""},
        ),
        "api_grants": ("get", "/api/v1/access/grants", {}),
        "api_grant": ("get", f"/api/v1/access/grants/{scene.closed_room.pk}", {}),
        "api_grant_check": ("post", f"/api/v1/access/grants/{scene.closed_room.pk}/check", {}),
    }


# Expected status per page, in the order of ROLES:
#   anonymous applicant other_applicant reviewer steward operator auditor
EXPECTED: dict[str, list[int]] = {
    # Another company sees its own (empty) list.
    "grant_list": [302, 200, 200, 403, 403, 200, 200],
    "agreement_grants": [302, 200, 404, 403, 403, 200, 200],
    # The operator's valid POSTs act and go back to the agreement's page.
    "grants_issue": [302, 403, 403, 403, 403, 302, 403],
    "grant_revoke": [302, 403, 403, 403, 403, 302, 403],
    "grant_mode": [302, 403, 403, 403, 403, 302, 403],
    "online_account_issue": [302, 403, 403, 403, 403, 302, 403],
    "online_account_revoke": [302, 403, 403, 403, 403, 302, 403],
    # The company's member starts a session with a valid code and goes back to its grants.
    "online_session_start": [302, 302, 404, 403, 403, 403, 403],
    "online_session_end": [302, 302, 404, 403, 403, 302, 403],
    "viewing_request_list": [302, 200, 200, 403, 403, 200, 200],
    # Another company without an agreement in force is sent back to the list with a message.
    "viewing_request_new": [302, 302, 302, 403, 403, 403, 403],
    "viewing_dataset_options": [302, 200, 404, 403, 403, 403, 403],
    "viewing_request_detail": [302, 200, 404, 403, 403, 200, 200],
    "viewing_request_decide": [302, 403, 403, 403, 403, 302, 403],
    "api_grants": [401, 200, 200, 403, 403, 200, 200],
    "api_grant": [401, 200, 404, 403, 403, 200, 200],
    "api_grant_check": [401, 200, 404, 403, 403, 200, 200],
}

# The cells that change something, and what: every other cell leaves the state exactly as it was.
CHANGES: dict[tuple[str, str], Callable[[Scene], object]] = {
    ("grants_issue", "operator"): lambda s: AccessGrant.objects.filter(agreement=s.agreement).count() == 3,
    ("grant_revoke", "operator"): lambda s: AccessGrant.objects.get(pk=s.closed_room.pk).status == "revoked",
    ("grant_mode", "operator"): lambda s: AccessGrant.objects.get(pk=s.online.pk).mode == "closed_room",
    ("online_account_issue", "operator"): lambda s: (
        OnlineAccount.objects.filter(user=s.colleague).count() == 1
    ),
    ("online_account_revoke", "operator"): lambda s: (
        OnlineAccount.objects.get(pk=s.account.pk).revoked_at == DURING_SUPPORT
    ),
    ("online_session_start", "applicant"): lambda s: (
        OnlineSession.objects.filter(ended_at__isnull=True).exclude(pk=s.session.pk).count() == 1
    ),
    ("online_session_end", "applicant"): lambda s: (
        OnlineSession.objects.get(pk=s.session.pk).ended_at == DURING_SUPPORT
    ),
    ("online_session_end", "operator"): lambda s: (
        OnlineSession.objects.get(pk=s.session.pk).ended_at == DURING_SUPPORT
    ),
    ("viewing_request_new", "applicant"): lambda s: (
        ViewingRequest.objects.filter(dataset=s.unrequested).count() == 1
    ),
    ("viewing_request_decide", "operator"): lambda s: (
        AccessGrant.objects.filter(viewing_request=s.viewing_request, view_only=True).count() == 1
    ),
}


def _state() -> list[list[tuple]]:
    return [
        list(AccessGrant.objects.order_by("pk").values_list("pk", "status", "mode")),
        list(OnlineAccount.objects.order_by("pk").values_list("pk", "revoked_at")),
        list(OnlineSession.objects.order_by("pk").values_list("pk", "ended_at")),
        list(ViewingRequest.objects.order_by("pk").values_list("pk", "status")),
    ]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("page", list(EXPECTED))
def test_permission_matrix(
    scene: Scene,
    users_by_role: dict[str, User | None],
    login: Callable[[Client, User | None], Client],
    role: str,
    page: str,
) -> None:
    method, url, data = _urls(scene)[page]
    client = login(Client(), users_by_role[role])
    before = _state()

    response = getattr(client, method)(url, data)

    assert response.status_code == EXPECTED[page][ROLES.index(role)]
    change = CHANGES.get((page, role))
    if change is None:
        assert _state() == before
    else:
        assert change(scene) is True


def test_unknown_records_are_404_for_staff(
    scene: Scene, operator: User, auditor: User, login: Callable[[Client, User | None], Client]
) -> None:
    for user in (operator, auditor):
        client = login(Client(), user)
        assert client.get(reverse("access:agreement_grants", args=[999_999])).status_code == 404
        assert client.get(reverse("access:viewing_request_detail", args=[999_999])).status_code == 404
        assert client.get("/api/v1/access/grants/999999").status_code == 404
    operator_client = login(Client(), operator)
    before = _state()
    assert (
        operator_client.post(reverse("access:grant_revoke", args=[999_999]), {"reason": "x"}).status_code
        == 404
    )
    assert operator_client.post(reverse("access:grants_issue", args=[999_999])).status_code == 404
    assert _state() == before
