"""The hub's sign-in through the platform, under the workspace rules: while a closed-room workspace is open,
no sign-in from outside the closed room's networks; signing out of the platform signs out of the hub."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import time_machine
from django.test import Client

from medbroker.accounts.models import User
from medbroker.accounts.tests.test_oidc import CALLBACK, authorize_url
from medbroker.agreements.tests.factories import DURING_SUPPORT
from medbroker.audit.models import AuditEvent
from medbroker.compute.models import Workspace
from medbroker.compute.services.hub import hub_oauth_application_ensure
from medbroker.compute.services.workspaces import workspace_start
from medbroker.compute.tests.fakehub import FakeHub
from medbroker.compute.tests.workspace_setup import Ready, workspace_ready

pytestmark = pytest.mark.django_db

CLOSED_ROOM = "10.20.3.4"
HOME = "203.0.113.5"
REFUSED = "폐쇄형 학습실 작업 공간이 열려 있습니다. 이 작업 공간에는 폐쇄형 학습실의 네트워크에서만 접속할 수 있습니다."


@pytest.fixture(autouse=True)
def during_support(settings: Any) -> Iterator[None]:
    settings.MEDBROKER_CLOSED_ROOM_NETWORKS = ["10.20.0.0/16"]
    settings.MEDBROKER_HUB_URL = "http://127.0.0.1:8001"
    with time_machine.travel(DURING_SUPPORT, tick=False):
        yield


@pytest.fixture
def ready(applicant: User, operator: User, tmp_path: Path) -> Ready:
    hub_oauth_application_ensure()
    return workspace_ready(applicant, operator, data_root=tmp_path / "datasets" / "workspace")


def _sign_in(client: Client, address: str) -> Any:
    return client.get(authorize_url(), REMOTE_ADDR=address)


def test_a_closed_room_workspace_is_signed_in_to_from_the_closed_room_only(
    ready: Ready, applicant: User, client: Client, fake_hub: FakeHub
) -> None:
    workspace = workspace_start(user=applicant, client_address=CLOSED_ROOM)
    assert (workspace.setting, workspace.status) == ("closed_room", "running")
    client.force_login(applicant)

    from_home = _sign_in(client, HOME)

    assert from_home.status_code == 403
    assert REFUSED in from_home.content.decode()
    event = AuditEvent.objects.filter(action="compute.workspace_refused").latest("pk")
    assert (event.data["code"], event.data["client_address"], event.object_id) == (
        "closed_room_network",
        HOME,
        str(workspace.pk),
    )

    from_the_room = _sign_in(client, CLOSED_ROOM)

    assert from_the_room.status_code == 302
    location = urlsplit(from_the_room["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == CALLBACK


def test_an_online_workspace_is_signed_in_to_from_anywhere(
    ready: Ready, applicant: User, client: Client, fake_hub: FakeHub
) -> None:
    assert workspace_start(user=applicant, client_address=HOME).setting == "online"
    client.force_login(applicant)

    assert _sign_in(client, "198.51.100.7").status_code == 302
    assert not AuditEvent.objects.filter(action="compute.workspace_refused").exists()


def test_signing_out_of_the_platform_signs_out_of_the_hub_after_a_hub_sign_in(
    ready: Ready, applicant: User, client: Client
) -> None:
    client.force_login(applicant)
    assert _sign_in(client, HOME).status_code == 302

    response = client.post("/accounts/logout/")

    assert (response.status_code, response["Location"]) == (302, "http://127.0.0.1:8001/hub/logout")
    assert "_auth_user_id" not in client.session


def test_signing_out_without_a_hub_sign_in_stays_on_the_platform(applicant: User, client: Client) -> None:
    client.force_login(applicant)

    response = client.post("/accounts/logout/")

    assert response.status_code == 302
    assert not response["Location"].startswith("http://127.0.0.1:8001")
    assert Workspace.objects.count() == 0
