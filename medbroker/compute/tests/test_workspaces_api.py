"""The workspace API (``/api/v1/compute/workspaces…``) and the hub's check (``/api/v1/compute/hub/authorize``)
as the roles and the hub use them, against the stand-in hub; the clock is frozen inside the support period."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.conf import settings
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice

from medbroker.access.services.online import online_session_end
from medbroker.accounts.models import Organisation, User
from medbroker.accounts.services import api_token_create
from medbroker.agreements.tests.factories import DURING_SUPPORT
from medbroker.audit.models import AuditEvent
from medbroker.compute.models import GpuAllocation, Workspace
from medbroker.compute.services.allocations import gpu_allocate
from medbroker.compute.services.hub import hub_secret
from medbroker.compute.services.workspaces import workspace_start
from medbroker.compute.tests.factories import agreement_for, pool
from medbroker.compute.tests.fakehub import FakeHub, SilentHub
from medbroker.compute.tests.workspace_setup import Ready, gpu_of, workspace_ready
from medbroker.core.timeutils import kst

pytestmark = pytest.mark.django_db

Login = Callable[[Client, User | None], Client]
LIST = "/api/v1/compute/workspaces"
START = "/api/v1/compute/workspaces/start"
AUTHORIZE = "/api/v1/compute/hub/authorize"
ONLINE_TITLE = "흉부 X-ray 공개 가능 영상"
NO_REMOTE_DATA = (
    "원격으로 열 수 있는 데이터가 없습니다. 온라인 이용 데이터는 데이터 이용 권한 페이지에서 "
    "OTP 인증 코드로 온라인 이용 세션을 먼저 시작하세요. 폐쇄형 학습실 데이터는 학습실에서만 열립니다."
)
ROLES = ["anonymous", "applicant", "other_applicant", "reviewer", "steward", "operator", "auditor"]


@pytest.fixture(autouse=True)
def during_support() -> Iterator[None]:
    with time_machine.travel(DURING_SUPPORT, tick=False):
        yield


@pytest.fixture
def ready(applicant: User, operator: User, tmp_path: Path) -> Ready:
    return workspace_ready(applicant, operator, data_root=tmp_path / "datasets" / "workspace")


@pytest.fixture
def running(ready: Ready, applicant: User, fake_hub: FakeHub) -> Workspace:
    return workspace_start(user=applicant, client_address="203.0.113.5")


@pytest.fixture
def foreign(ready: Ready, other_company: Organisation, other_applicant: User, operator: User) -> Workspace:
    """Another company's workspace, started an hour earlier on a V100."""
    pool(v100_16=1)
    agreement = agreement_for("v100-16", company=other_company)
    allocation = gpu_allocate(agreement=agreement, actor=operator)
    assert isinstance(allocation, GpuAllocation)
    earlier = kst(2025, 9, 15, 9, 0, 0)
    return Workspace.objects.create(
        user=other_applicant,
        agreement=agreement,
        allocation=allocation,
        hub_user="other_applicant",
        setting="online",
        status="running",
        launch_token_sha256="f" * 64,
        launch_expires_at=earlier,
        datasets=[],
        gpu={"allocation": allocation.pk, "profile": "v100-16gb", "index": 0},
        requested_at=earlier,
        started_at=earlier,
    )


def listed(workspace: Workspace, ready: Ready, **changes: object) -> dict[str, object]:
    """The API's view of the applicant's running workspace, with ``changes``."""
    return {
        "id": workspace.pk,
        "user": "applicant",
        "hub_user": "applicant",
        "company": "대구메디AI",
        "agreement_number": ready.agreement.number,
        "setting": "online",
        "status": "running",
        "url": f"{settings.MEDBROKER_HUB_URL}/user/applicant/lab",
        "gpu": gpu_of(ready),
        "datasets": [
            {
                "grant": ready.online.pk,
                "dataset": ready.online.dataset_id,
                "name": f"{ready.online.dataset_id}-chest-x-ray",
                "title": ONLINE_TITLE,
            }
        ],
        "requested_at": "2025-09-15T10:00:00+09:00",
        "started_at": "2025-09-15T10:00:00+09:00",
        "stopped_at": None,
        "stop_reason": "",
        "stop_message": "",
        **changes,
    }


def error(code: str, message: str) -> dict[str, object]:
    return {"code": code, "message": message, "field": None}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# ---------------------------------------------------------------------------------------------------------
# Permission matrix
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "list_status", "detail_status", "stop_status"),
    [
        ("anonymous", 401, 401, 401),
        ("applicant", 200, 200, 200),
        ("other_applicant", 200, 404, 404),
        ("reviewer", 403, 403, 403),
        ("steward", 403, 403, 403),
        ("operator", 200, 200, 200),
        ("auditor", 200, 200, 403),
    ],
)
def test_who_may_list_read_and_stop(
    role: str,
    list_status: int,
    detail_status: int,
    stop_status: int,
    running: Workspace,
    users_by_role: dict[str, User | None],
    client: Client,
    login: Login,
    fake_hub: FakeHub,
) -> None:
    login(client, users_by_role[role])

    statuses = (
        client.get(LIST).status_code,
        client.get(f"{LIST}/{running.pk}").status_code,
        client.post(f"{LIST}/{running.pk}/stop").status_code,
    )

    assert statuses == (list_status, detail_status, stop_status)
    stopped = stop_status == 200
    assert Workspace.objects.get().status == ("stopped" if stopped else "running")
    assert (("server_stop", "applicant") in fake_hub.calls) is stopped


@pytest.mark.parametrize(
    ("role", "status"),
    [
        ("anonymous", 401),
        ("applicant", 201),
        ("other_applicant", 403),
        ("reviewer", 403),
        ("steward", 403),
        ("operator", 403),
        ("auditor", 403),
    ],
)
def test_who_may_start(
    role: str,
    status: int,
    ready: Ready,
    users_by_role: dict[str, User | None],
    client: Client,
    login: Login,
    fake_hub: FakeHub,
) -> None:
    login(client, users_by_role[role])

    response = client.post(START)

    assert response.status_code == status
    assert Workspace.objects.count() == (1 if status == 201 else 0)
    assert bool(fake_hub.calls) is (status == 201)


# ---------------------------------------------------------------------------------------------------------
# Lists and details
# ---------------------------------------------------------------------------------------------------------


def test_a_member_lists_their_company_only(
    running: Workspace, foreign: Workspace, ready: Ready, applicant: User, client: Client, login: Login
) -> None:
    login(client, applicant)

    assert client.get(LIST).json() == [listed(running, ready)]


def test_a_member_reads_the_list_with_a_personal_token(
    running: Workspace, ready: Ready, applicant: User, client: Client
) -> None:
    _token, key = api_token_create(user=applicant, name="분석 서버")

    response = client.get(LIST, headers=bearer(key))

    assert (response.status_code, response.json()) == (200, [listed(running, ready)])


def test_the_auditor_lists_every_company_newest_first(
    running: Workspace, foreign: Workspace, auditor: User, client: Client, login: Login
) -> None:
    login(client, auditor)

    rows = client.get(LIST).json()

    assert [(row["id"], row["company"], row["hub_user"]) for row in rows] == [
        (running.pk, "대구메디AI", "applicant"),
        (foreign.pk, "서울헬스랩", "other_applicant"),
    ]


def test_another_companys_workspace_is_not_found(
    running: Workspace,
    foreign: Workspace,
    applicant: User,
    client: Client,
    login: Login,
    fake_hub: FakeHub,
) -> None:
    login(client, applicant)
    not_found = error("workspace_not_found", "작업 공간을 찾을 수 없습니다.")

    detail = client.get(f"{LIST}/{foreign.pk}")
    stop = client.post(f"{LIST}/{foreign.pk}/stop")
    missing = client.get(f"{LIST}/{foreign.pk + 1000}")

    assert [(r.status_code, r.json()) for r in (detail, stop, missing)] == [(404, not_found)] * 3
    assert Workspace.objects.get(pk=foreign.pk).status == "running"
    assert ("server_stop", "other_applicant") not in fake_hub.calls


def test_the_member_reads_their_workspace(
    running: Workspace, ready: Ready, applicant: User, client: Client, login: Login
) -> None:
    login(client, applicant)

    assert client.get(f"{LIST}/{running.pk}").json() == listed(running, ready)


# ---------------------------------------------------------------------------------------------------------
# Stop
# ---------------------------------------------------------------------------------------------------------


def test_the_member_stops_their_workspace(
    running: Workspace,
    ready: Ready,
    applicant: User,
    client: Client,
    login: Login,
    fake_hub: FakeHub,
) -> None:
    login(client, applicant)

    response = client.post(f"{LIST}/{running.pk}/stop", REMOTE_ADDR="198.51.100.7")
    again = client.post(f"{LIST}/{running.pk}/stop")

    assert (response.status_code, response.json()) == (
        200,
        listed(
            running,
            ready,
            status="stopped",
            url=None,
            stopped_at="2025-09-15T10:00:00+09:00",
            stop_reason="stopped_by_user",
            stop_message="사용자가 중지했습니다.",
        ),
    )
    assert (again.status_code, again.json()) == (
        400,
        error("workspace_not_open", "이미 중지된 작업 공간입니다."),
    )
    event = AuditEvent.objects.get(action="compute.workspace_stopped")
    assert (event.actor_id, event.ip_address, event.data["reason"]) == (
        applicant.pk,
        "198.51.100.7",
        "stopped_by_user",
    )


def test_the_auditor_may_not_stop(
    running: Workspace,
    auditor: User,
    client: Client,
    login: Login,
    fake_hub: FakeHub,
) -> None:
    login(client, auditor)

    response = client.post(f"{LIST}/{running.pk}/stop")

    assert (response.status_code, response.json()) == (
        403,
        error("forbidden", "이 작업 공간을 중지할 수 없습니다."),
    )
    assert Workspace.objects.get().status == "running"
    assert fake_hub.servers_running == {"applicant": {"ready": True, "pending": None}}


def test_the_operator_stops_any_companys_workspace(
    running: Workspace,
    foreign: Workspace,
    operator: User,
    client: Client,
    login: Login,
    fake_hub: FakeHub,
) -> None:
    login(client, operator)

    response = client.post(f"{LIST}/{foreign.pk}/stop")

    body = response.json()
    assert (response.status_code, body["status"], body["url"], body["stop_reason"], body["stop_message"]) == (
        200,
        "stopped",
        None,
        "stopped_by_operator",
        "운영자가 중지했습니다.",
    )
    assert fake_hub.calls[-1] == ("server_stop", "other_applicant")
    assert Workspace.objects.get(pk=running.pk).status == "running"


# ---------------------------------------------------------------------------------------------------------
# Start
# ---------------------------------------------------------------------------------------------------------


def test_the_member_starts_and_gets_the_lab_address(
    ready: Ready,
    applicant: User,
    client: Client,
    login: Login,
    fake_hub: FakeHub,
) -> None:
    login(client, applicant)

    response = client.post(START, REMOTE_ADDR="203.0.113.5")

    workspace = Workspace.objects.get()
    assert (response.status_code, response.json()) == (201, listed(workspace, ready))
    assert response.json()["url"] == f"{settings.MEDBROKER_HUB_URL}/user/applicant/lab"
    assert workspace.client_address == "203.0.113.5"
    assert AuditEvent.objects.get(action="compute.workspace_start_requested").ip_address == "203.0.113.5"


def test_a_start_from_the_closed_room_network_opens_the_closed_room_setting(
    ready: Ready,
    applicant: User,
    client: Client,
    login: Login,
    settings: Any,
    fake_hub: FakeHub,
) -> None:
    settings.MEDBROKER_CLOSED_ROOM_NETWORKS = ["10.20.0.0/16"]
    login(client, applicant)

    body = client.post(START, REMOTE_ADDR="10.20.3.4").json()

    assert (body["setting"], [d["grant"] for d in body["datasets"]]) == (
        "closed_room",
        [ready.closed_room.pk, ready.online.pk],
    )


def test_a_refused_start_answers_403_with_the_code(
    ready: Ready,
    applicant: User,
    client: Client,
    login: Login,
    fake_hub: FakeHub,
) -> None:
    online_session_end(session=ready.session, actor=applicant)
    login(client, applicant)

    response = client.post(START)

    assert (response.status_code, response.json()) == (403, error("no_grant", NO_REMOTE_DATA))
    assert (Workspace.objects.count(), fake_hub.calls) == (0, [])


def test_the_hub_down_answers_503(
    ready: Ready,
    applicant: User,
    client: Client,
    login: Login,
    fake_hub: FakeHub,
) -> None:
    fake_hub.down = True
    login(client, applicant)

    response = client.post(START)

    assert (response.status_code, response.json()) == (
        503,
        error("hub_error", "JupyterHub에 연결하지 못했습니다: ConnectionError"),
    )
    assert list(Workspace.objects.values_list("status", "stop_reason")) == [("failed", "hub_error")]


def test_the_operator_may_not_start(
    ready: Ready,
    operator: User,
    client: Client,
    login: Login,
    fake_hub: FakeHub,
) -> None:
    login(client, operator)

    response = client.post(START)

    assert (response.status_code, response.json()) == (
        403,
        error("forbidden", "작업 공간은 기업 담당자만 시작할 수 있습니다."),
    )
    assert (Workspace.objects.count(), fake_hub.calls) == (0, [])


# ---------------------------------------------------------------------------------------------------------
# The hub's check
# ---------------------------------------------------------------------------------------------------------


@pytest.fixture
def launch_token(ready: Ready, applicant: User, silent_hub: SilentHub) -> str:
    workspace_start(user=applicant, client_address="203.0.113.5")
    token = silent_hub.started_with[0]["launch"]
    assert isinstance(token, str)
    return token


def _check(token: str, **options: object) -> dict[str, object]:
    return {"user": "applicant", "user_options": {"launch": token, "profile": "a100-32gb", **options}}


def test_the_check_without_credentials_is_401(launch_token: str, client: Client) -> None:
    response = client.post(AUTHORIZE, _check(launch_token), content_type="application/json")

    assert response.status_code == 401
    assert Workspace.objects.get().status == "starting"


def test_the_check_with_a_wrong_bearer_is_401(launch_token: str, client: Client) -> None:
    wrong = hub_secret("platform_token")[:-1] + "0"
    responses = [
        client.post(AUTHORIZE, _check(launch_token), content_type="application/json", headers=bearer(token))
        for token in (wrong, hub_secret("api_token"), hub_secret("oauth_client_secret"))
    ]

    assert [r.status_code for r in responses] == [401, 401, 401]
    assert Workspace.objects.get().status == "starting"


def test_the_check_refuses_an_operators_personal_token_and_session(
    launch_token: str, operator: User, client: Client, login: Login
) -> None:
    TOTPDevice.objects.create(user=operator, name="인증 앱", confirmed=True)
    _token, key = api_token_create(user=operator, name="운영 스크립트")
    # The same token works on the workspace list: the check refuses it for what it is.
    assert client.get(LIST, headers=bearer(key)).status_code == 200

    with_token = client.post(
        AUTHORIZE, _check(launch_token), content_type="application/json", headers=bearer(key)
    )
    login(client, operator)
    with_session = client.post(AUTHORIZE, _check(launch_token), content_type="application/json")

    assert (with_token.status_code, with_session.status_code) == (401, 401)
    assert Workspace.objects.get().status == "starting"


def test_the_hub_with_the_platform_token_gets_the_answer(
    launch_token: str, ready: Ready, client: Client
) -> None:
    response = client.post(
        AUTHORIZE,
        _check(launch_token),
        content_type="application/json",
        headers=bearer(hub_secret("platform_token")),
    )

    workspace = Workspace.objects.get()
    assert (response.status_code, response.json()) == (
        200,
        {
            "allowed": True,
            "code": None,
            "message": None,
            "workspace": workspace.pk,
            "user": "applicant",
            "setting": "online",
            "home": f"{ready.agreement.number}/{workspace.user_id}/online",
            "company": "대구메디AI",
            "agreement": ready.agreement.number,
            "datasets": [
                {
                    "name": f"{ready.online.dataset_id}-chest-x-ray",
                    "title": ONLINE_TITLE,
                    "path": str(ready.online_folder),
                    "grant": ready.online.pk,
                }
            ],
            "gpu": gpu_of(ready),
            "ends_at": "2025-11-29T00:00:00+09:00",
            "environment": {
                "CUDA_VISIBLE_DEVICES": "0",
                "MEDBROKER_AGREEMENT": ready.agreement.number,
                "MEDBROKER_GRANT_ENDS_AT": "2025-11-29T00:00:00+09:00",
            },
        },
    )
    assert workspace.status == "running"


def test_a_configured_platform_token_replaces_the_derived_one(
    launch_token: str, client: Client, settings: Any
) -> None:
    derived = hub_secret("platform_token")
    settings.MEDBROKER_HUB_PLATFORM_TOKEN = "configured-platform-token"

    old = client.post(
        AUTHORIZE, _check(launch_token), content_type="application/json", headers=bearer(derived)
    )
    new = client.post(
        AUTHORIZE,
        _check(launch_token),
        content_type="application/json",
        headers=bearer("configured-platform-token"),
    )

    assert (old.status_code, new.status_code, new.json()["allowed"]) == (401, 200, True)


def test_a_refusal_of_the_check_is_200_with_allowed_false(launch_token: str, client: Client) -> None:
    response = client.post(
        AUTHORIZE,
        _check(launch_token, profile="h100-80gb"),
        content_type="application/json",
        headers=bearer(hub_secret("platform_token")),
    )

    assert (response.status_code, response.json()) == (
        200,
        {
            "allowed": False,
            "code": "gpu_option_forged",
            "message": "요청한 GPU(h100-80gb)는 배정된 GPU(a100-32gb)가 아닙니다.",
        },
    )
    assert Workspace.objects.get().status == "failed"


def test_a_named_server_is_refused_through_the_api(launch_token: str, client: Client) -> None:
    response = client.post(
        AUTHORIZE,
        {**_check(launch_token), "server": "gpu2"},
        content_type="application/json",
        headers=bearer(hub_secret("platform_token")),
    )

    assert (response.status_code, response.json()["allowed"], response.json()["code"]) == (
        200,
        False,
        "named_server",
    )
    assert Workspace.objects.get().status == "starting"
