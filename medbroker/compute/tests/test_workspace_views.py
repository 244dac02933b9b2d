"""The workspace pages: a company member's own workspace (plan, start, stop, status) and the staff's list.

The hub is the stand-in of ``fakehub``; it calls the platform's check back the way JupyterHub does, so a
start from the page runs the whole way to a running workspace. The test client's address is 127.0.0.1:
outside the closed learning room unless a test puts that network into ``MEDBROKER_CLOSED_ROOM_NETWORKS``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.test import Client
from django.urls import reverse

from medbroker.access.models import OnlineSession
from medbroker.access.services.online import online_sessions_end
from medbroker.accounts.models import Role, User
from medbroker.accounts.tests.factories import UserFactory
from medbroker.agreements.tests.factories import DURING_SUPPORT
from medbroker.audit.models import AuditEvent
from medbroker.compute.models import Workspace
from medbroker.compute.services.workspaces import workspace_start
from medbroker.compute.tests.fakehub import FakeHub
from medbroker.compute.tests.workspace_setup import Ready, workspace_ready
from medbroker.core import timeutils

pytestmark = pytest.mark.django_db
Login = Callable[[Client, User | None], Client]
HUB_URL = "http://hub.medbroker.test:8081"
ONLINE_ONLY_REFUSAL = (
    "원격으로 열 수 있는 데이터가 없습니다. 온라인 이용 데이터는 데이터 이용 권한 페이지에서 "
    "OTP 인증 코드로 온라인 이용 세션을 먼저 시작하세요. 폐쇄형 학습실 데이터는 학습실에서만 열립니다."
)


@pytest.fixture(autouse=True)
def during_support(settings: Any) -> Iterator[None]:
    settings.MEDBROKER_HUB_URL = HUB_URL
    settings.MEDBROKER_CLOSED_ROOM_NETWORKS = []
    with time_machine.travel(DURING_SUPPORT, tick=False):
        yield


@pytest.fixture
def ready(applicant: User, operator: User, tmp_path: Path) -> Ready:
    return workspace_ready(applicant, operator, data_root=tmp_path / "datasets" / "workspace")


def _started(applicant: User) -> Workspace:
    return workspace_start(user=applicant, client_address="127.0.0.1")


def _workspace_actions() -> list[str]:
    return list(
        AuditEvent.objects.filter(action__startswith="compute.workspace_")
        .order_by("sequence")
        .values_list("action", flat=True)
    )


def _workspaces() -> list[tuple[Any, ...]]:
    return list(Workspace.objects.order_by("pk").values_list("user__username", "status", "stop_reason"))


# ---------------------------------------------------------------------------------------------------------
# Permission matrix: every role × every page and POST
# ---------------------------------------------------------------------------------------------------------

ROLES = ["anonymous", "applicant", "other_applicant", "reviewer", "steward", "operator", "auditor"]
# Expected status per page, in the order of ROLES. The applicant's workspace is running in every case.
EXPECTED: dict[str, list[int]] = {
    "workspace": [302, 200, 200, 403, 403, 403, 403],
    "workspace_status": [302, 200, 404, 403, 403, 403, 403],
    "workspace_list": [302, 403, 403, 403, 403, 200, 200],
    "workspace_list_export": [302, 403, 403, 403, 403, 200, 200],
    # The applicant lands on the hub (the open workspace); the other company is refused on its own page.
    "workspace_start": [302, 302, 302, 403, 403, 403, 403],
    "workspace_stop": [302, 302, 404, 403, 403, 302, 403],
}
STOPPED: dict[tuple[str, str], list[tuple[Any, ...]]] = {
    ("applicant", "workspace_stop"): [("applicant", "stopped", "stopped_by_user")],
    ("operator", "workspace_stop"): [("applicant", "stopped", "stopped_by_operator")],
}


def _request(client: Client, page: str, workspace: Workspace) -> Any:
    if page in ("workspace", "workspace_list", "workspace_list_export"):
        return client.get(reverse(f"compute:{page}"))
    if page == "workspace_status":
        return client.get(reverse("compute:workspace_status", args=[workspace.pk]))
    if page == "workspace_start":
        return client.post(reverse("compute:workspace_start"))
    if page == "workspace_stop":
        return client.post(reverse("compute:workspace_stop", args=[workspace.pk]))
    raise AssertionError(page)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("page", list(EXPECTED))
def test_permission_matrix(
    ready: Ready,
    applicant: User,
    users_by_role: dict[str, User | None],
    login: Login,
    fake_hub: FakeHub,
    role: str,
    page: str,
) -> None:
    workspace = _started(applicant)
    client = login(Client(), users_by_role[role])
    before = _workspaces()

    response = _request(client, page, workspace)

    assert response.status_code == EXPECTED[page][ROLES.index(role)]
    if role == "anonymous":
        assert response["Location"].startswith(f"{reverse('accounts:login')}?next=/compute/")
    assert _workspaces() == STOPPED.get((role, page), before)


def test_the_start_and_stop_refuse_a_get(ready: Ready, applicant: User, login: Login) -> None:
    client = login(Client(), applicant)

    assert client.get(reverse("compute:workspace_start")).status_code == 405
    assert client.get(reverse("compute:workspace_stop", args=[1])).status_code == 405
    assert Workspace.objects.count() == 0


def test_a_colleague_sees_the_company_s_workspace_but_may_not_stop_it(
    ready: Ready,
    applicant: User,
    login: Login,
    fake_hub: FakeHub,
) -> None:
    workspace = _started(applicant)
    colleague = UserFactory(username="colleague", organisation=applicant.organisation, roles=[Role.APPLICANT])

    response = login(Client(), colleague).post(reverse("compute:workspace_stop", args=[workspace.pk]))

    assert response.status_code == 403
    assert _workspaces() == [("applicant", "running", "")]
    assert fake_hub.calls == [("user_ensure", "applicant"), ("server_start", "applicant")]


# ---------------------------------------------------------------------------------------------------------
# The member's page: what a start would open, from where
# ---------------------------------------------------------------------------------------------------------


def test_outside_the_closed_room_the_page_shows_the_online_data_and_leaves_out_the_closed_room_data(
    ready: Ready, applicant: User, login: Login
) -> None:
    response = login(Client(), applicant).get(reverse("compute:workspace"))

    page = response.content.decode()
    online, closed_room = ready.online.dataset, ready.closed_room.dataset
    assert response.status_code == 200
    assert '<span class="krds-badge large bg-light-primary">온라인(원격)</span>' in page
    assert "폐쇄형 학습실 이용 데이터는 폐쇄형 학습실의 네트워크에서 접속할 때만 열립니다." in page
    assert '<dt>GPU</dt><dd class="ws-gpu">A100 32GB · a100-32-a/gpu0</dd>' in page
    assert (
        f'<td><code>data/{online.pk}-chest-x-ray</code> <span class="krds-badge bg-light-gray">읽기 전용</span></td>'
        f"\n        <td>{online.title}</td>"
    ) in page
    assert "<td>~ 2025-11-28 23:59:59 (KST)</td>" in page
    assert (
        f"<td>{closed_room.title}</td>\n        <td>폐쇄형 학습실</td>\n"
        "        <td>이 데이터는 폐쇄형 학습실에서만 이용할 수 있습니다. 원격으로는 열 수 없습니다.</td>"
    ) in page
    assert f'<form method="post" action="{reverse("compute:workspace_start")}">' in page
    assert "60분 동안 쓰지 않은 작업 공간은 자동으로 중지됩니다." in page
    assert "아직 시작한 작업 공간이 없습니다." in page


def test_in_the_closed_room_both_datasets_open(
    ready: Ready, applicant: User, login: Login, settings: Any
) -> None:
    settings.MEDBROKER_CLOSED_ROOM_NETWORKS = ["127.0.0.0/8"]
    online, closed_room = ready.online.dataset, ready.closed_room.dataset
    closed_room.title_en = "Gastric endoscopy"
    closed_room.save(update_fields=["title_en"])

    page = login(Client(), applicant).get(reverse("compute:workspace")).content.decode()

    assert '<span class="krds-badge large bg-light-secondary">폐쇄형 학습실</span>' in page
    assert f"<td><code>data/{online.pk}-chest-x-ray</code>" in page
    assert f"<td><code>data/{closed_room.pk}-gastric-endoscopy</code>" in page
    assert page.count('<span class="krds-badge bg-light-gray">읽기 전용</span>') == 2
    assert "이번에 열리지 않는 데이터" not in page
    assert "작업 공간 시작</button>" in page


def test_the_start_lands_in_jupyterlab_on_the_hub(
    ready: Ready,
    applicant: User,
    login: Login,
    fake_hub: FakeHub,
) -> None:
    response = login(Client(), applicant).post(reverse("compute:workspace_start"))

    assert response.status_code == 302
    assert response["Location"] == f"{HUB_URL}/user/applicant/lab"
    assert fake_hub.calls == [("user_ensure", "applicant"), ("server_start", "applicant")]
    workspace = Workspace.objects.get()
    assert (workspace.status, workspace.setting, workspace.client_address) == (
        "running",
        "online",
        "127.0.0.1",
    )
    assert workspace.datasets == [
        {
            "grant": ready.online.pk,
            "dataset": ready.online.dataset_id,
            "name": f"{ready.online.dataset_id}-chest-x-ray",
            "title": ready.online.dataset.title,
        }
    ]
    assert _workspace_actions() == ["compute.workspace_start_requested", "compute.workspace_started"]


def test_the_page_shows_the_running_workspace_with_its_link_and_stop_button(
    ready: Ready,
    applicant: User,
    login: Login,
    fake_hub: FakeHub,
) -> None:
    workspace = _started(applicant)

    page = login(Client(), applicant).get(reverse("compute:workspace")).content.decode()

    assert '<span class="krds-badge large bg-light-success">실행 중</span>' in page
    assert "<dt>GPU</dt><dd>A100 32GB · a100-32-a/gpu0</dd>" in page
    assert (
        f"<li><code>data/{ready.online.dataset_id}-chest-x-ray</code> <span>{ready.online.dataset.title}</span>"
        in page
    )
    assert "<dt>시작 시각</dt><dd>2025-09-15 10:00:00 (KST)</dd>" in page
    assert (
        f'<a class="krds-btn primary" href="{HUB_URL}/user/applicant/lab" target="_blank" rel="noopener">'
        '작업 공간 열기<span class="sr-only"> (새 창)</span></a>'
    ) in page
    assert f'<form method="post" action="{reverse("compute:workspace_stop", args=[workspace.pk])}">' in page
    # The plan is not offered again while one is open, and nothing polls once it runs.
    assert "작업 공간 시작</button>" not in page
    assert "hx-trigger" not in page


def test_without_an_online_session_the_page_says_why_and_nothing_starts(
    ready: Ready,
    applicant: User,
    login: Login,
    fake_hub: FakeHub,
) -> None:
    online_sessions_end(sessions=OnlineSession.objects.all(), at=timeutils.now())
    client = login(Client(), applicant)

    page = client.get(reverse("compute:workspace")).content.decode()
    response = client.post(reverse("compute:workspace_start"), follow=True)

    assert "<p><strong>지금은 작업 공간을 시작할 수 없습니다.</strong></p>" in page
    assert f"<p>{ONLINE_ONLY_REFUSAL}</p>" in page
    assert f'href="{reverse("access:grant_list")}">데이터 이용 권한에서 온라인 이용 세션 시작</a>' in page
    assert "작업 공간 시작</button>" not in page
    assert response.redirect_chain == [(reverse("compute:workspace"), 302)]
    assert f'<div class="mb-alert error">{ONLINE_ONLY_REFUSAL}</div>' in response.content.decode()
    assert Workspace.objects.count() == 0
    assert fake_hub.calls == []
    assert _workspace_actions() == ["compute.workspace_refused"]


def test_the_member_stops_their_workspace(
    ready: Ready,
    applicant: User,
    login: Login,
    fake_hub: FakeHub,
) -> None:
    workspace = _started(applicant)

    response = login(Client(), applicant).post(
        reverse("compute:workspace_stop", args=[workspace.pk]),
        {"next": reverse("compute:workspace")},
        follow=True,
    )

    workspace.refresh_from_db()
    assert response.redirect_chain == [(reverse("compute:workspace"), 302)]
    assert '<div class="mb-alert success">작업 공간을 중지했습니다.</div>' in response.content.decode()
    assert (workspace.status, workspace.stop_reason, workspace.stop_message, workspace.stopped_by) == (
        "stopped",
        "stopped_by_user",
        "사용자가 중지했습니다.",
        applicant,
    )
    assert fake_hub.calls[-1] == ("server_stop", "applicant")
    assert _workspace_actions() == [
        "compute.workspace_start_requested",
        "compute.workspace_started",
        "compute.workspace_stopped",
    ]
    # The history keeps it, with its reason, and the plan is offered again.
    page = response.content.decode()
    assert '<td><span class="krds-badge bg-light-gray">중지됨</span></td>' in page
    assert "<td>사용자가 중지했습니다.</td>" in page
    assert "작업 공간 시작</button>" in page


def test_stopping_a_stopped_workspace_says_so(
    ready: Ready,
    applicant: User,
    login: Login,
    fake_hub: FakeHub,
) -> None:
    workspace = _started(applicant)
    client = login(Client(), applicant)
    client.post(reverse("compute:workspace_stop", args=[workspace.pk]))

    response = client.post(reverse("compute:workspace_stop", args=[workspace.pk]), follow=True)

    assert '<div class="mb-alert error">이미 중지된 작업 공간입니다.</div>' in response.content.decode()
    assert _workspace_actions().count("compute.workspace_stopped") == 1


# ---------------------------------------------------------------------------------------------------------
# The status block polled while the hub starts the server
# ---------------------------------------------------------------------------------------------------------


def test_the_status_block_polls_while_starting_and_stops_polling_once_running(
    ready: Ready,
    applicant: User,
    login: Login,
    fake_hub: FakeHub,
) -> None:
    workspace = _started(applicant)
    Workspace.objects.filter(pk=workspace.pk).update(status=Workspace.Status.STARTING, started_at=None)
    client = login(Client(), applicant)
    url = reverse("compute:workspace_status", args=[workspace.pk])

    page = client.get(reverse("compute:workspace")).content.decode()
    starting = client.get(url, HTTP_HX_REQUEST="true")
    Workspace.objects.filter(pk=workspace.pk).update(
        status=Workspace.Status.RUNNING, started_at=timeutils.now()
    )
    running = client.get(url, HTTP_HX_REQUEST="true")

    polling = f'hx-get="{url}" hx-trigger="every 2s" hx-swap="outerHTML"'
    assert polling in page
    fragment = starting.content.decode()
    assert fragment.startswith('\n<section id="workspace-current"')
    assert "<html" not in fragment
    assert polling in fragment
    assert '<span class="krds-badge large bg-light-primary">시작 중</span>' in fragment
    assert "허브가 서버를 준비하고 있습니다. 준비되면 이 화면이 저절로 바뀝니다." in fragment
    assert (starting["Cache-Control"], starting.has_header("HX-Refresh")) == ("no-store", False)
    fragment = running.content.decode()
    assert "hx-trigger" not in fragment
    assert '<span class="krds-badge large bg-light-success">실행 중</span>' in fragment
    assert running.has_header("HX-Refresh") is False


def test_a_failed_start_reloads_the_page_once(
    ready: Ready,
    applicant: User,
    login: Login,
    fake_hub: FakeHub,
) -> None:
    workspace = _started(applicant)
    Workspace.objects.filter(pk=workspace.pk).update(
        status=Workspace.Status.FAILED, stop_reason="hub_error", stop_message="허브 응답 없음"
    )

    response = login(Client(), applicant).get(
        reverse("compute:workspace_status", args=[workspace.pk]), HTTP_HX_REQUEST="true"
    )

    fragment = response.content.decode()
    assert response["HX-Refresh"] == "true"
    assert (
        '<div class="mb-alert error" role="alert">작업 공간을 시작하지 못했습니다. 허브 응답 없음</div>'
        in fragment
    )
    assert "hx-trigger" not in fragment
    assert "작업 공간 열기" not in fragment


# ---------------------------------------------------------------------------------------------------------
# The staff's list
# ---------------------------------------------------------------------------------------------------------


def test_the_operator_sees_every_open_workspace_with_a_stop_button(
    ready: Ready,
    applicant: User,
    operator: User,
    login: Login,
    fake_hub: FakeHub,
) -> None:
    workspace = _started(applicant)

    response = login(Client(), operator).get(reverse("compute:workspace_list"))

    page = response.content.decode()
    assert response.status_code == 200
    assert f"<td>대구메디AI<small>{ready.agreement.number}</small></td>" in page
    assert "<td>applicant<small>허브 <code>applicant</code></small></td>" in page
    assert "<td>온라인(원격)<small>127.0.0.1</small></td>" in page
    assert '<td><span class="krds-badge bg-light-success">실행 중</span></td>' in page
    assert "<td>A100 32GB<small>a100-32-a/gpu0</small></td>" in page
    assert f"<td><ul><li>{ready.online.dataset.title}</li></ul></td>" in page
    assert '<span class="ws-time-label">요청</span> 2025-09-15 10:00<br>' in page
    assert '<span class="ws-time-label">시작</span> 2025-09-15 10:00<br>' in page
    assert '<span class="ws-time-label">중지</span> -\n' in page
    assert f'<form method="post" action="{reverse("compute:workspace_stop", args=[workspace.pk])}">' in page


def test_the_auditor_reads_the_list_without_a_stop_button(
    ready: Ready,
    applicant: User,
    auditor: User,
    login: Login,
    fake_hub: FakeHub,
) -> None:
    workspace = _started(applicant)
    client = login(Client(), auditor)

    page = client.get(reverse("compute:workspace_list")).content.decode()
    refused = client.post(reverse("compute:workspace_stop", args=[workspace.pk]))

    assert '<td><span class="krds-badge bg-light-success">실행 중</span></td>' in page
    assert reverse("compute:workspace_stop", args=[workspace.pk]) not in page
    assert refused.status_code == 403
    assert _workspaces() == [("applicant", "running", "")]


def test_the_list_filters_by_state_and_company(
    ready: Ready,
    applicant: User,
    operator: User,
    other_company: Any,
    login: Login,
    fake_hub: FakeHub,
) -> None:
    workspace = _started(applicant)
    client = login(Client(), operator)
    client.post(reverse("compute:workspace_stop", args=[workspace.pk]))
    url = reverse("compute:workspace_list")

    open_only = client.get(url).content.decode()
    every = client.get(url, {"state": "all"}).content.decode()
    other = client.get(url, {"state": "all", "company": other_company.pk}).content.decode()

    assert "지금 열린 작업 공간이 없습니다." in open_only
    assert '<td><span class="krds-badge bg-light-gray">중지됨</span></td>' in every
    assert "<td>운영자가 중지했습니다.<small>operator</small></td>" in every
    assert '<span class="ws-time-label">중지</span> 2025-09-15 10:00\n' in every
    assert f'<option value="{ready.agreement.company_id}">대구메디AI</option>' in every
    assert "조건에 맞는 작업 공간이 없습니다." in other


def test_the_operator_stops_from_the_list_and_returns_to_it(
    ready: Ready,
    applicant: User,
    operator: User,
    login: Login,
    fake_hub: FakeHub,
) -> None:
    workspace = _started(applicant)
    back = f"{reverse('compute:workspace_list')}?state=all"

    response = login(Client(), operator).post(
        reverse("compute:workspace_stop", args=[workspace.pk]), {"next": back}, follow=True
    )

    workspace.refresh_from_db()
    assert response.redirect_chain == [(back, 302)]
    assert (
        '<div class="mb-alert success">applicant 님의 작업 공간을 중지했습니다.</div>'
        in response.content.decode()
    )
    assert (workspace.status, workspace.stop_reason, workspace.stopped_by) == (
        "stopped",
        "stopped_by_operator",
        operator,
    )
    assert _workspace_actions()[-1] == "compute.workspace_stopped"


def test_a_next_to_another_site_is_ignored(
    ready: Ready,
    applicant: User,
    operator: User,
    login: Login,
    fake_hub: FakeHub,
) -> None:
    workspace = _started(applicant)

    response = login(Client(), operator).post(
        reverse("compute:workspace_stop", args=[workspace.pk]), {"next": "https://evil.example/phish"}
    )

    assert response["Location"] == reverse("compute:workspace_list")


def test_the_company_s_gpu_page_links_to_the_workspace(
    ready: Ready, applicant: User, operator: User, login: Login
) -> None:
    url = reverse("compute:agreement_compute", args=[ready.agreement.pk])

    mine = login(Client(), applicant).get(url).content.decode()
    staff = login(Client(), operator).get(url).content.decode()

    link = (
        f'<a class="krds-btn secondary" href="{reverse("compute:workspace")}">작업 공간에서 이 GPU 쓰기</a>'
    )
    assert link in mine
    assert link not in staff


def test_the_list_exports_to_excel_under_its_filters(
    ready: Ready, applicant: User, auditor: User, login: Login, fake_hub: FakeHub
) -> None:
    from io import BytesIO

    from openpyxl import load_workbook

    workspace = _started(applicant)
    client = login(Client(), auditor)

    response = client.get(reverse("compute:workspace_list_export"), {"state": "all"})

    assert response["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert response["Content-Disposition"].startswith('attachment; filename="workspaces-')
    sheet = load_workbook(BytesIO(response.content)).active
    rows = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert rows[0][:9] == [
        "기업",
        "협약",
        "사용자",
        "허브 사용자",
        "이용 환경",
        "요청 주소",
        "상태",
        "GPU",
        "연결된 데이터",
    ]
    assert rows[1][:9] == [
        "대구메디AI",
        ready.agreement.number,
        "applicant",
        "applicant",
        "온라인(원격)",
        workspace.client_address,
        "실행 중",
        "A100 32GB · a100-32-a/gpu0",
        f"data/{ready.online.dataset_id}-chest-x-ray (흉부 X-ray 공개 가능 영상)",
    ]
    assert len(rows) == 2
