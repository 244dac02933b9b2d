"""Workspaces without a real hub: what a member may open, the start, the hub's check, the stop and the
reconciler, against the stand-in hub of ``fakehub``. The clock is frozen inside the 2025 call's support
period; the agreement's grants run from 2025-09-01 00:00 to 2025-11-29 00:00 KST.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import time_machine

from medbroker.access.services.grants import grant_revoke
from medbroker.access.services.online import online_session_end
from medbroker.accounts.models import Organisation, Role, User
from medbroker.accounts.tests.factories import UserFactory
from medbroker.agreements.tests.factories import DURING_SUPPORT, active_agreement, selected_decision
from medbroker.audit.models import AuditEvent
from medbroker.catalog.models import Dataset
from medbroker.compute.models import GpuAllocation, Workspace
from medbroker.compute.selectors_workspaces import (
    dataset_folder_name,
    gpu_profile,
    workspace_plan,
    workspace_setting_for,
    workspaces_visible_to,
)
from medbroker.compute.services import workspaces as workspaces_services
from medbroker.compute.services.allocations import gpu_allocate, gpu_release
from medbroker.compute.services.hub import HubError
from medbroker.compute.services.workspaces import (
    workspace_authorize,
    workspace_start,
    workspace_stop,
    workspaces_reconcile,
)
from medbroker.compute.tasks import workspaces_reconcile as workspaces_reconcile_task
from medbroker.compute.tests.fakehub import FakeHub, SilentHub
from medbroker.compute.tests.workspace_setup import Ready, gpu_of, workspace_ready
from medbroker.core.errors import DomainError, PermissionDeniedError
from medbroker.core.timeutils import kst
from medbroker.ingest.models import ScanProfile

pytestmark = pytest.mark.django_db

ADDRESS = "203.0.113.5"
CLOSED_ROOM_ADDRESS = "10.20.3.4"
LAUNCH_SECONDS = 300
CLOSED_ROOM_ONLY = "이 데이터는 폐쇄형 학습실에서만 이용할 수 있습니다. 원격으로는 열 수 없습니다."
NO_FOLDER = "서버에 데이터 폴더가 등록되지 않아 작업 공간에 연결할 수 없습니다."
SESSION_REQUIRED = (
    "열려 있는 온라인 이용 세션이 없습니다. 데이터 이용 권한 페이지에서 "
    "OTP 인증 코드로 온라인 이용 세션을 먼저 시작하세요."
)
NO_REMOTE_DATA = (
    "원격으로 열 수 있는 데이터가 없습니다. 온라인 이용 데이터는 데이터 이용 권한 페이지에서 "
    "OTP 인증 코드로 온라인 이용 세션을 먼저 시작하세요. 폐쇄형 학습실 데이터는 학습실에서만 열립니다."
)
NO_GPU = "배정된 GPU가 없습니다. GPU 배정(또는 배정 제안의 수락)을 마친 뒤에 시작할 수 있습니다."
NO_AGREEMENT = "효력 중인 협약이 없어 작업 공간을 열 수 없습니다."
NOT_MEMBER = "작업 공간은 협약을 맺은 기업의 담당자만 쓸 수 있습니다."
LAUNCH_UNKNOWN = "작업 공간은 플랫폼의 '작업 공간' 페이지에서 시작하세요. 허브에서 직접 시작할 수 없습니다."
LAUNCH_OTHER_USER = "다른 사용자의 작업 공간 시작 요청입니다."
LAUNCH_USED = "이미 사용했거나 만료된 시작 요청입니다. 플랫폼에서 다시 시작하세요."
GRANTS_END = "2025-11-29T00:00:00+09:00"
ONLINE_TITLE = "흉부 X-ray 공개 가능 영상"
NOTHING = {"stopped": 0, "ended": 0, "expired": 0, "unknown": 0}


@pytest.fixture(autouse=True)
def during_support() -> Iterator[None]:
    with time_machine.travel(DURING_SUPPORT, tick=False):
        yield


@pytest.fixture(autouse=True)
def launch_seconds(settings: Any) -> None:
    settings.MEDBROKER_WORKSPACE_LAUNCH_SECONDS = LAUNCH_SECONDS


@pytest.fixture
def ready(applicant: User, operator: User, tmp_path: Path) -> Ready:
    return workspace_ready(applicant, operator, data_root=tmp_path / "datasets" / "workspace")


@pytest.fixture
def closed_room_networks(settings: Any) -> None:
    settings.MEDBROKER_CLOSED_ROOM_NETWORKS = ["10.20.0.0/16"]


@pytest.fixture
def hub_options(fake_hub: FakeHub, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The ``user_options`` of every start the platform asked the stand-in hub for."""
    seen: list[dict[str, Any]] = []
    start = fake_hub.server_start

    def recording(name: str, options: dict[str, Any]) -> int:
        seen.append(dict(options))
        return start(name, options)

    monkeypatch.setattr(fake_hub, "server_start", recording)
    return seen


@pytest.fixture
def launch(ready: Ready, applicant: User, silent_hub: SilentHub) -> tuple[Workspace, str]:
    """A start the hub has not checked yet, and its launch token as the hub holds it."""
    workspace = workspace_start(user=applicant, client_address=ADDRESS)
    return workspace, silent_hub.started_with[0]["launch"]


@pytest.fixture
def running(ready: Ready, applicant: User, fake_hub: FakeHub) -> Workspace:
    return workspace_start(user=applicant, client_address=ADDRESS)


def online_name(ready: Ready) -> str:
    return f"{ready.online.dataset_id}-chest-x-ray"


def online_record(ready: Ready) -> dict[str, object]:
    return {
        "grant": ready.online.pk,
        "dataset": ready.online.dataset_id,
        "name": online_name(ready),
        "title": ONLINE_TITLE,
    }


def workspace_events() -> list[tuple[str, int | None, str, dict[str, Any]]]:
    return [
        (event.action, event.actor_id, event.object_id, event.data)
        for event in AuditEvent.objects.filter(action__startswith="compute.workspace").order_by("sequence")
    ]


def all_audit_json() -> str:
    return json.dumps(
        [(event.summary, event.data) for event in AuditEvent.objects.all()], ensure_ascii=False, default=str
    )


def refused_codes() -> list[str]:
    return [
        event.data["code"]
        for event in AuditEvent.objects.filter(action="compute.workspace_refused").order_by("sequence")
    ]


def authorize(token: str, *, hub_user: str = "applicant", server: str = "", **options: Any) -> dict[str, Any]:
    return workspace_authorize(
        hub_user=hub_user, server=server, user_options={"launch": token, "profile": "a100-32gb", **options}
    )


# ---------------------------------------------------------------------------------------------------------
# What a member may open
# ---------------------------------------------------------------------------------------------------------


def test_online_plan_opens_the_online_grant_only(ready: Ready, applicant: User) -> None:
    plan = workspace_plan(applicant, setting="online", at=DURING_SUPPORT)

    assert plan.refusal is None
    assert (plan.setting, plan.agreement, plan.allocation) == ("online", ready.agreement, ready.allocation)
    assert [(d.grant, d.name, d.path) for d in plan.datasets] == [
        (ready.online, online_name(ready), str(ready.online_folder))
    ]
    assert plan.left_out == [(ready.closed_room, CLOSED_ROOM_ONLY)]


def test_closed_room_plan_opens_both_grants(ready: Ready, applicant: User) -> None:
    Dataset.objects.filter(pk=ready.closed_room.dataset_id).update(title_en="Upper GI Endoscopy (2024)")

    plan = workspace_plan(applicant, setting="closed_room", at=DURING_SUPPORT)

    assert plan.refusal is None
    # Ordered by the dataset's title: "위 내시경 …" before "흉부 X-ray …".
    assert [(d.grant, d.name, d.path) for d in plan.datasets] == [
        (
            ready.closed_room,
            f"{ready.closed_room.dataset_id}-upper-gi-endoscopy-2024",
            str(ready.closed_room_folder),
        ),
        (ready.online, online_name(ready), str(ready.online_folder)),
    ]
    assert plan.left_out == []


def test_without_an_open_online_session_nothing_opens_online(ready: Ready, applicant: User) -> None:
    online_session_end(session=ready.session, actor=applicant)

    plan = workspace_plan(applicant, setting="online", at=DURING_SUPPORT)

    assert (plan.refusal.code, plan.refusal.message) == ("no_grant", NO_REMOTE_DATA)  # type: ignore[union-attr]
    assert plan.datasets == []
    assert plan.left_out == [(ready.closed_room, CLOSED_ROOM_ONLY), (ready.online, SESSION_REQUIRED)]


def test_in_the_closed_room_without_grants_in_use_the_refusal_names_no_online_steps(
    ready: Ready, applicant: User, operator: User
) -> None:
    grant_revoke(grant=ready.online, actor=operator, reason="점검")
    grant_revoke(grant=ready.closed_room, actor=operator, reason="점검")

    plan = workspace_plan(applicant, setting="closed_room", at=DURING_SUPPORT)

    assert (plan.refusal.code, plan.refusal.message) == (  # type: ignore[union-attr]
        "no_grant",
        "지금 이용할 수 있는 데이터 이용 권한이 없습니다.",
    )
    # Revoked grants are no longer the agreement's active grants: nothing is listed as left out.
    assert (plan.datasets, plan.left_out) == ([], [])


def test_a_released_gpu_refuses_the_start(ready: Ready, applicant: User, operator: User) -> None:
    gpu_release(allocation=ready.allocation, actor=operator, reason="점검")

    plan = workspace_plan(applicant, setting="online", at=DURING_SUPPORT)

    assert (plan.refusal.code, plan.refusal.message) == ("no_gpu", NO_GPU)  # type: ignore[union-attr]
    assert (plan.agreement, plan.allocation, plan.datasets) == (ready.agreement, None, [])


def test_an_agreement_without_any_gpu_refuses_the_start(
    other_company: Organisation, other_applicant: User, operator: User
) -> None:
    agreement = active_agreement(
        decision=selected_decision(company=other_company, operator=operator), allows_online=True
    )

    plan = workspace_plan(other_applicant, setting="closed_room", at=DURING_SUPPORT)

    assert (plan.refusal.code, plan.refusal.message) == ("no_gpu", NO_GPU)  # type: ignore[union-attr]
    assert (plan.agreement, plan.allocation) == (agreement, None)


def test_after_the_agreement_ends_nothing_opens(ready: Ready, applicant: User) -> None:
    after = kst(2025, 11, 29)

    plan = workspace_plan(applicant, setting="closed_room", at=after)

    assert (plan.refusal.code, plan.refusal.message) == ("no_agreement", NO_AGREEMENT)  # type: ignore[union-attr]
    assert (plan.agreement, plan.allocation, plan.datasets) == (None, None, [])


@pytest.mark.parametrize(
    ("role", "code", "message"),
    [
        ("operator", "not_member", NOT_MEMBER),
        ("reviewer", "not_member", NOT_MEMBER),
        ("auditor", "not_member", NOT_MEMBER),
        # Another company's member is judged by their own company, which has no agreement.
        ("other_applicant", "no_agreement", NO_AGREEMENT),
    ],
)
def test_only_members_of_the_company_in_force_may_open_a_workspace(
    role: str, code: str, message: str, ready: Ready, users_by_role: dict[str, User | None]
) -> None:
    user = users_by_role[role]
    assert user is not None

    plan = workspace_plan(user, setting="closed_room", at=DURING_SUPPORT)

    assert (plan.refusal.code, plan.refusal.message) == (code, message)  # type: ignore[union-attr]
    assert plan.datasets == []


@pytest.mark.parametrize("folder", ["missing", "blank"])
def test_a_dataset_without_a_server_folder_is_left_out(folder: str, ready: Ready, applicant: User) -> None:
    profiles = ScanProfile.objects.filter(dataset_id=ready.closed_room.dataset_id)
    if folder == "missing":
        profiles.delete()
    else:
        profiles.update(source_path="")

    plan = workspace_plan(applicant, setting="closed_room", at=DURING_SUPPORT)

    assert plan.refusal is None
    assert [d.grant for d in plan.datasets] == [ready.online]
    assert plan.left_out == [(ready.closed_room, NO_FOLDER)]


def test_online_without_the_folder_of_the_only_online_dataset_refuses(ready: Ready, applicant: User) -> None:
    ScanProfile.objects.filter(dataset_id=ready.online.dataset_id).delete()

    plan = workspace_plan(applicant, setting="online", at=DURING_SUPPORT)

    assert (plan.refusal.code, plan.refusal.message) == ("no_grant", NO_REMOTE_DATA)  # type: ignore[union-attr]
    assert plan.left_out == [(ready.closed_room, CLOSED_ROOM_ONLY), (ready.online, NO_FOLDER)]


@pytest.mark.parametrize(
    ("address", "setting"),
    [
        ("10.20.3.4", "closed_room"),
        ("10.20.0.0", "closed_room"),
        ("10.20.255.255", "closed_room"),
        ("10.21.0.1", "online"),
        ("203.0.113.5", "online"),
        ("fd00:20::5", "closed_room"),
        ("fd00:21::5", "online"),
        ("2001:db8::1", "online"),
        ("not-an-address", "online"),
        ("10.20.0.0/16", "online"),
        ("", "online"),
        (None, "online"),
    ],
)
def test_setting_by_client_address(address: str | None, setting: str, settings: Any) -> None:
    settings.MEDBROKER_CLOSED_ROOM_NETWORKS = ["10.20.0.0/16", "fd00:20::/32"]

    assert workspace_setting_for(address) == setting


def test_without_closed_room_networks_every_address_is_online(settings: Any) -> None:
    settings.MEDBROKER_CLOSED_ROOM_NETWORKS = []

    assert [workspace_setting_for(a) for a in ("10.20.3.4", "127.0.0.1", "::1")] == ["online"] * 3


@pytest.mark.parametrize(
    ("title_en", "name"),
    [
        ("Chest X-ray", "chest-x-ray"),
        ("  Brain MRI: T1/T2 (2024)  ", "brain-mri-t1-t2-2024"),
        ("흉부 영상", None),
        ("", None),
        ("A" * 39 + " tail", "a" * 39),
    ],
)
def test_dataset_folder_name(title_en: str, name: str | None, ready: Ready) -> None:
    dataset = ready.online.dataset
    dataset.title_en = title_en

    expected = f"{dataset.pk}-{name}" if name else f"dataset-{dataset.pk}"
    assert dataset_folder_name(ready.online) == expected


def test_gpu_profile_names_the_allocated_type(ready: Ready) -> None:
    assert gpu_profile(ready.allocation) == "a100-32gb"


def test_workspaces_visible_to_by_role(
    running: Workspace, users_by_role: dict[str, User | None], company: Organisation
) -> None:
    colleague = UserFactory(username="colleague", organisation=company, roles=[Role.APPLICANT])
    seen = {
        role: list(workspaces_visible_to(user))
        for role, user in {**users_by_role, "colleague": colleague}.items()
        if user is not None
    }

    assert seen == {
        "applicant": [running],
        "colleague": [running],
        "other_applicant": [],
        "reviewer": [],
        "steward": [],
        "operator": [running],
        "auditor": [running],
    }


# ---------------------------------------------------------------------------------------------------------
# Start
# ---------------------------------------------------------------------------------------------------------


def test_start_opens_one_workspace_through_the_hub(
    ready: Ready,
    applicant: User,
    fake_hub: FakeHub,
    hub_options: list[dict[str, Any]],
) -> None:
    workspace = workspace_start(user=applicant, client_address=ADDRESS)

    assert Workspace.objects.get() == workspace
    assert (
        workspace.user,
        workspace.agreement,
        workspace.allocation,
        workspace.hub_user,
        workspace.setting,
        workspace.status,
        workspace.client_address,
    ) == (applicant, ready.agreement, ready.allocation, "applicant", "online", "running", ADDRESS)
    assert (workspace.requested_at, workspace.started_at, workspace.launch_expires_at) == (
        DURING_SUPPORT,
        DURING_SUPPORT,
        DURING_SUPPORT + dt.timedelta(seconds=LAUNCH_SECONDS),
    )
    assert (workspace.datasets, workspace.gpu) == ([online_record(ready)], gpu_of(ready))
    assert fake_hub.calls == [("user_ensure", "applicant"), ("server_start", "applicant")]
    assert fake_hub.servers_running == {"applicant": {"ready": True, "pending": None}}
    token = hub_options[0]["launch"]
    assert hub_options == [{"launch": token, "profile": "a100-32gb"}]
    # Only the token's hash is kept.
    assert re.fullmatch(r"[0-9a-f]{64}", workspace.launch_token_sha256)
    assert workspace.launch_token_sha256 == hashlib.sha256(token.encode()).hexdigest()
    assert token not in json.dumps(list(Workspace.objects.values()), default=str)
    common = {
        "workspace": workspace.pk,
        "hub_user": "applicant",
        "agreement": ready.agreement.number,
        "setting": "online",
        "datasets": [online_record(ready)],
        "gpu": gpu_of(ready),
    }
    assert workspace_events() == [
        ("compute.workspace_start_requested", applicant.pk, str(workspace.pk), common),
        ("compute.workspace_started", applicant.pk, str(workspace.pk), common),
    ]
    assert token not in all_audit_json()


def test_start_from_the_closed_room_opens_both_datasets(
    ready: Ready,
    applicant: User,
    closed_room_networks: None,
    fake_hub: FakeHub,
) -> None:
    workspace = workspace_start(user=applicant, client_address=CLOSED_ROOM_ADDRESS)

    assert (workspace.setting, workspace.status) == ("closed_room", "running")
    assert [record["grant"] for record in workspace.datasets] == [ready.closed_room.pk, ready.online.pk]
    assert [d["path"] for d in fake_hub.answers["applicant"]["datasets"]] == [
        str(ready.closed_room_folder),
        str(ready.online_folder),
    ]


def test_a_second_start_returns_the_open_workspace(
    running: Workspace,
    applicant: User,
    fake_hub: FakeHub,
) -> None:
    calls = list(fake_hub.calls)
    events = AuditEvent.objects.count()

    again = workspace_start(user=applicant, client_address=ADDRESS)

    assert again == running
    assert Workspace.objects.count() == 1
    # The hub is only asked whether the server is still there.
    assert fake_hub.calls == [*calls, ("server_present", "applicant")]
    assert AuditEvent.objects.count() == events


def test_a_start_after_the_server_died_unnoticed_starts_a_new_one(
    running: Workspace,
    applicant: User,
    fake_hub: FakeHub,
) -> None:
    # The server is gone from the hub and no reconciler has run since: the person gets a new workspace, not a
    # link to nothing.
    fake_hub.servers_running.clear()

    again = workspace_start(user=applicant, client_address=ADDRESS)

    running.refresh_from_db()
    assert (running.status, running.stop_reason) == ("stopped", "hub_stopped")
    assert (again.pk != running.pk, again.status) == (True, "running")
    assert fake_hub.servers_running == {"applicant": {"ready": True, "pending": None}}


def test_two_starts_at_once_end_in_one_workspace(
    ready: Ready, applicant: User, fake_hub: FakeHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = workspace_start(user=applicant, client_address=ADDRESS)
    # The second start read "nothing open" before the first one's row was written (two tabs at once).
    real = workspaces_services.workspace_open_of
    asked: list[User] = []

    def first_blind(user: User) -> Workspace | None:
        asked.append(user)
        return None if len(asked) == 1 else real(user)

    monkeypatch.setattr(workspaces_services, "workspace_open_of", first_blind)

    second = workspace_start(user=applicant, client_address=ADDRESS)

    assert (second, len(asked)) == (first, 2)
    assert Workspace.objects.count() == 1
    assert fake_hub.calls.count(("server_start", "applicant")) == 1


def test_a_refused_start_is_recorded_and_raises_with_the_code(
    ready: Ready,
    applicant: User,
    fake_hub: FakeHub,
) -> None:
    online_session_end(session=ready.session, actor=applicant)

    with pytest.raises(DomainError) as refused:
        workspace_start(user=applicant, client_address=ADDRESS)

    assert (refused.value.code, str(refused.value.message), refused.value.status_code) == (
        "no_grant",
        NO_REMOTE_DATA,
        403,
    )
    assert Workspace.objects.count() == 0
    assert fake_hub.calls == []
    assert workspace_events() == [
        (
            "compute.workspace_refused",
            applicant.pk,
            "",
            {"code": "no_grant", "message": NO_REMOTE_DATA, "setting": "online", "client_address": ADDRESS},
        )
    ]


@pytest.mark.parametrize(
    ("change", "code", "message"),
    [
        ("gpu_released", "no_gpu", NO_GPU),
        ("agreement_ended", "no_agreement", NO_AGREEMENT),
    ],
)
def test_a_start_without_gpu_or_agreement_is_refused(
    change: str,
    code: str,
    message: str,
    ready: Ready,
    applicant: User,
    operator: User,
    fake_hub: FakeHub,
) -> None:
    at = DURING_SUPPORT
    if change == "gpu_released":
        gpu_release(allocation=ready.allocation, actor=operator, reason="점검")
    else:
        at = kst(2025, 11, 29)

    with time_machine.travel(at, tick=False), pytest.raises(DomainError) as refused:
        workspace_start(user=applicant, client_address=ADDRESS)

    assert (refused.value.code, str(refused.value.message), refused.value.status_code) == (code, message, 403)
    assert (Workspace.objects.count(), fake_hub.calls) == (0, [])
    assert refused_codes() == [code]


def test_a_start_by_an_operator_is_refused_as_not_a_member(
    ready: Ready,
    operator: User,
    fake_hub: FakeHub,
) -> None:
    with pytest.raises(DomainError) as refused:
        workspace_start(user=operator, client_address=None)

    assert (refused.value.code, refused.value.status_code) == ("not_member", 403)
    assert (Workspace.objects.count(), fake_hub.calls) == (0, [])
    assert refused_codes() == ["not_member"]


def test_the_hub_down_fails_the_start(
    ready: Ready,
    applicant: User,
    fake_hub: FakeHub,
) -> None:
    fake_hub.down = True

    with pytest.raises(DomainError) as failed:
        workspace_start(user=applicant, client_address=ADDRESS)

    assert (failed.value.code, str(failed.value.message), failed.value.status_code) == (
        "hub_error",
        "JupyterHub에 연결하지 못했습니다: ConnectionError",
        503,
    )
    workspace = Workspace.objects.get()
    assert (workspace.status, workspace.stop_reason, workspace.stop_message, workspace.stopped_at) == (
        "failed",
        "hub_error",
        "JupyterHub에 연결하지 못했습니다: ConnectionError",
        DURING_SUPPORT,
    )
    assert [event[0] for event in workspace_events()] == [
        "compute.workspace_start_requested",
        "compute.workspace_failed",
    ]
    # Back up, the hub starts a new workspace: the failed one does not count as open.
    fake_hub.down = False
    again = workspace_start(user=applicant, client_address=ADDRESS)
    assert (again.pk != workspace.pk, again.status) == (True, "running")


class SpawnFailingHub(FakeHub):
    """A hub whose check passes and whose spawner then fails: the server may be half up on the hub."""

    def server_start(self, name: str, options: dict[str, Any]) -> int:
        super().server_start(name, options)
        raise HubError("작업 공간을 시작하지 못했습니다: Spawner failed to start", status=500)


def test_a_start_the_hub_checked_and_then_failed_leaves_nothing_running(
    ready: Ready, applicant: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub = SpawnFailingHub()
    monkeypatch.setattr(workspaces_services, "hub_client", lambda: hub)

    with pytest.raises(DomainError) as failed:
        workspace_start(user=applicant, client_address=ADDRESS)

    assert (failed.value.code, str(failed.value.message), failed.value.status_code) == (
        "hub_error",
        "작업 공간을 시작하지 못했습니다: Spawner failed to start",
        503,
    )
    assert hub.answers["applicant"]["allowed"] is True
    assert hub.calls == [
        ("user_ensure", "applicant"),
        ("server_start", "applicant"),
        ("server_stop", "applicant"),
    ]
    assert hub.servers_running == {}
    workspace = Workspace.objects.get()
    assert (workspace.status, workspace.stop_reason, workspace.stop_message) == (
        "failed",
        "hub_error",
        "작업 공간을 시작하지 못했습니다: Spawner failed to start",
    )
    assert [event[0] for event in workspace_events()] == [
        "compute.workspace_start_requested",
        "compute.workspace_started",
        "compute.workspace_failed",
    ]


def test_a_start_whose_launch_expired_unanswered_is_replaced(
    launch: tuple[Workspace, str], applicant: User, silent_hub: SilentHub
) -> None:
    first, _token = launch
    later = DURING_SUPPORT + dt.timedelta(seconds=LAUNCH_SECONDS)

    with time_machine.travel(later, tick=False):
        second = workspace_start(user=applicant, client_address=ADDRESS)

    first.refresh_from_db()
    assert (first.status, first.stop_reason) == ("failed", "launch_expired")
    assert (second.pk != first.pk, second.status) == (True, "starting")
    assert silent_hub.calls.count(("server_start", "applicant")) == 2


def test_a_start_whose_launch_is_still_fresh_is_not_repeated(
    launch: tuple[Workspace, str], applicant: User, silent_hub: SilentHub
) -> None:
    first, _token = launch

    with time_machine.travel(DURING_SUPPORT + dt.timedelta(seconds=LAUNCH_SECONDS - 1), tick=False):
        again = workspace_start(user=applicant, client_address=ADDRESS)

    assert (again, again.status) == (first, "starting")
    assert silent_hub.calls.count(("server_start", "applicant")) == 1


# ---------------------------------------------------------------------------------------------------------
# The hub's check
# ---------------------------------------------------------------------------------------------------------


def test_the_hub_check_allows_the_launch_with_data_gpu_and_end(
    launch: tuple[Workspace, str], ready: Ready
) -> None:
    workspace, token = launch

    answer = authorize(token)

    assert answer == {
        "allowed": True,
        "code": None,
        "message": None,
        "workspace": workspace.pk,
        "user": "applicant",
        "setting": "online",
        "home": f"KHD2025-0001-AG/{workspace.user_id}/online",
        "company": "대구메디AI",
        "agreement": ready.agreement.number,
        "datasets": [
            {
                "name": online_name(ready),
                "title": ONLINE_TITLE,
                "path": str(ready.online_folder),
                "grant": ready.online.pk,
            }
        ],
        "gpu": gpu_of(ready),
        "ends_at": GRANTS_END,
        "environment": {
            "CUDA_VISIBLE_DEVICES": "0",
            "MEDBROKER_AGREEMENT": ready.agreement.number,
            "MEDBROKER_GRANT_ENDS_AT": GRANTS_END,
        },
    }
    workspace.refresh_from_db()
    assert (workspace.status, workspace.started_at) == ("running", DURING_SUPPORT)


def test_the_last_second_of_the_launch_is_still_allowed(launch: tuple[Workspace, str]) -> None:
    _workspace, token = launch

    with time_machine.travel(DURING_SUPPORT + dt.timedelta(seconds=LAUNCH_SECONDS - 1), tick=False):
        answer = authorize(token)

    assert answer["allowed"] is True


def _refusal(code: str, message: str) -> dict[str, Any]:
    return {"allowed": False, "code": code, "message": message}


@pytest.mark.parametrize(
    "options",
    [
        {"launch": "not-a-token", "profile": "a100-32gb"},
        {"profile": "a100-32gb"},
        {},
        {"launch": 12345},
    ],
)
def test_an_unknown_launch_is_refused(options: dict[str, Any], launch: tuple[Workspace, str]) -> None:
    workspace, _token = launch

    answer = workspace_authorize(hub_user="applicant", server="", user_options=options)

    assert answer == _refusal("launch_unknown", LAUNCH_UNKNOWN)
    workspace.refresh_from_db()
    assert workspace.status == "starting"
    assert workspace_events()[-1] == (
        "compute.workspace_refused",
        None,
        "",
        {"code": "launch_unknown", "hub_user": "applicant", "server": "", "message": LAUNCH_UNKNOWN},
    )


@pytest.mark.parametrize(
    ("hub_user", "server", "code", "message"),
    [
        ("other_applicant", "", "launch_other_user", "다른 사용자의 작업 공간 시작 요청입니다."),
        (
            "applicant",
            "x",
            "named_server",
            "작업 공간은 사람마다 하나입니다. 이름을 붙인 서버는 시작할 수 없습니다.",
        ),
    ],
)
def test_the_launch_of_another_hub_user_or_a_named_server_is_refused(
    hub_user: str, server: str, code: str, message: str, launch: tuple[Workspace, str], ready: Ready
) -> None:
    workspace, token = launch

    answer = authorize(token, hub_user=hub_user, server=server)

    assert answer == _refusal(code, message)
    workspace.refresh_from_db()
    assert workspace.status == "starting"
    assert workspace_events()[-1] == (
        "compute.workspace_refused",
        None,
        str(workspace.pk),
        {
            "workspace": workspace.pk,
            "hub_user": hub_user,
            "agreement": ready.agreement.number,
            "setting": "online",
            "code": code,
            "server": server,
            "message": message,
        },
    )
    # The rightful user's launch is still whole.
    assert authorize(token)["allowed"] is True


def test_a_launch_is_used_once(launch: tuple[Workspace, str]) -> None:
    _workspace, token = launch

    first = authorize(token)
    second = authorize(token)

    assert (first["allowed"], second) == (True, _refusal("launch_used", LAUNCH_USED))
    assert refused_codes() == ["launch_used"]


def test_an_expired_launch_is_refused(launch: tuple[Workspace, str]) -> None:
    workspace, token = launch

    with time_machine.travel(DURING_SUPPORT + dt.timedelta(seconds=LAUNCH_SECONDS), tick=False):
        answer = authorize(token)

    assert answer == _refusal("launch_used", LAUNCH_USED)
    workspace.refresh_from_db()
    assert (workspace.status, workspace.started_at) == ("starting", None)
    assert refused_codes() == ["launch_used"]


@pytest.mark.parametrize(
    ("options", "code", "message", "shown"),
    [
        (
            {"profile": "h100-80gb"},
            "gpu_option_forged",
            "요청한 GPU(h100-80gb)는 배정된 GPU(a100-32gb)가 아닙니다.",
            {"profile": "h100-80gb"},
        ),
        (
            {"profile": None},
            "gpu_option_forged",
            "요청한 GPU(None)는 배정된 GPU(a100-32gb)가 아닙니다.",
            {"profile": None},
        ),
        (
            {"image": "attacker/lab:latest"},
            "option_unknown",
            "허용되지 않은 시작 옵션입니다: image",
            {"profile": "a100-32gb", "image": "attacker/lab:latest"},
        ),
        (
            {"mounts": ["/"], "env": {"CUDA_VISIBLE_DEVICES": "0,1"}},
            "option_unknown",
            "허용되지 않은 시작 옵션입니다: env, mounts",
            {"profile": "a100-32gb", "mounts": ["/"], "env": {"CUDA_VISIBLE_DEVICES": "0,1"}},
        ),
    ],
)
def test_a_forged_option_fails_the_launch(
    options: dict[str, Any],
    code: str,
    message: str,
    shown: dict[str, Any],
    launch: tuple[Workspace, str],
    ready: Ready,
) -> None:
    workspace, token = launch

    answer = authorize(token, **options)
    again = authorize(token)

    assert answer == _refusal(code, message)
    # The launch is spent: the right options afterwards do not start it either.
    assert again == _refusal("launch_used", LAUNCH_USED)
    workspace.refresh_from_db()
    assert (workspace.status, workspace.stop_reason, workspace.stop_message, workspace.started_at) == (
        "failed",
        code,
        message,
        None,
    )
    identity = {
        "workspace": workspace.pk,
        "hub_user": "applicant",
        "agreement": ready.agreement.number,
        "setting": "online",
    }
    assert workspace_events()[1:3] == [
        (
            "compute.workspace_failed",
            None,
            str(workspace.pk),
            {**identity, "reason": code, "message": message},
        ),
        (
            "compute.workspace_refused",
            workspace.user_id,
            str(workspace.pk),
            {**identity, "code": code, "message": message, "user_options": shown},
        ),
    ]


def test_a_plan_that_no_longer_holds_at_the_check_fails_the_launch(
    launch: tuple[Workspace, str], ready: Ready, applicant: User
) -> None:
    workspace, token = launch
    online_session_end(session=ready.session, actor=applicant)

    answer = authorize(token)

    assert answer == _refusal("no_grant", NO_REMOTE_DATA)
    workspace.refresh_from_db()
    assert (workspace.status, workspace.stop_reason) == ("failed", "no_grant")


def test_every_refusal_of_the_check_is_in_the_log_without_the_token(launch: tuple[Workspace, str]) -> None:
    _workspace, token = launch

    answers = [
        workspace_authorize(hub_user="applicant", server="", user_options={"launch": token + "x"}),
        authorize(token, hub_user="other_applicant"),
        authorize(token, server="x"),
        authorize(token, profile="h100-80gb"),
        authorize(token),
    ]

    assert [answer["code"] for answer in answers] == [
        "launch_unknown",
        "launch_other_user",
        "named_server",
        "gpu_option_forged",
        "launch_used",
    ]
    assert refused_codes() == [answer["code"] for answer in answers]
    assert token not in all_audit_json()
    assert token[:16] not in all_audit_json()


# ---------------------------------------------------------------------------------------------------------
# Stop
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "reason", "message"),
    [
        ("applicant", "stopped_by_user", "사용자가 중지했습니다."),
        ("operator", "stopped_by_operator", "운영자가 중지했습니다."),
    ],
)
def test_the_user_or_an_operator_stops_the_workspace(
    who: str,
    reason: str,
    message: str,
    running: Workspace,
    users_by_role: dict[str, User | None],
    fake_hub: FakeHub,
) -> None:
    actor = users_by_role[who]
    assert actor is not None
    later = DURING_SUPPORT + dt.timedelta(hours=2)

    with time_machine.travel(later, tick=False):
        stopped = workspace_stop(workspace=running, actor=actor)

    assert (
        stopped.status,
        stopped.stop_reason,
        stopped.stop_message,
        stopped.stopped_by,
        stopped.stopped_at,
    ) == ("stopped", reason, message, actor, later)
    assert fake_hub.calls[-1] == ("server_stop", "applicant")
    assert fake_hub.servers_running == {}
    event = workspace_events()[-1]
    assert (event[0], event[1], event[3]["reason"], event[3]["message"]) == (
        "compute.workspace_stopped",
        actor.pk,
        reason,
        message,
    )


def test_a_colleague_may_not_stop_the_workspace(
    running: Workspace,
    company: Organisation,
    fake_hub: FakeHub,
) -> None:
    colleague = UserFactory(username="colleague", organisation=company, roles=[Role.APPLICANT])
    calls = list(fake_hub.calls)

    with pytest.raises(PermissionDeniedError) as refused:
        workspace_stop(workspace=running, actor=colleague)

    assert (refused.value.code, refused.value.status_code) == ("forbidden", 403)
    assert Workspace.objects.get().status == "running"
    assert fake_hub.calls == calls


def test_a_stopped_workspace_cannot_be_stopped_again(
    running: Workspace,
    applicant: User,
    fake_hub: FakeHub,
) -> None:
    stopped = workspace_stop(workspace=running, actor=applicant)
    calls = list(fake_hub.calls)

    with pytest.raises(DomainError) as refused:
        workspace_stop(workspace=stopped, actor=applicant)

    assert (refused.value.code, str(refused.value.message)) == (
        "workspace_not_open",
        "이미 중지된 작업 공간입니다.",
    )
    assert fake_hub.calls == calls
    assert [e[0] for e in workspace_events()].count("compute.workspace_stopped") == 1


def test_the_hub_down_keeps_the_workspace_open(
    running: Workspace,
    applicant: User,
    fake_hub: FakeHub,
) -> None:
    fake_hub.down = True

    with pytest.raises(DomainError) as failed:
        workspace_stop(workspace=running, actor=applicant)

    assert (failed.value.code, failed.value.status_code) == ("hub_error", 503)
    assert Workspace.objects.get().status == "running"


# ---------------------------------------------------------------------------------------------------------
# Reconciler
# ---------------------------------------------------------------------------------------------------------


def _stopped_row(workspace: Workspace) -> tuple[str, str, str, dt.datetime | None]:
    workspace.refresh_from_db()
    return (workspace.status, workspace.stop_reason, workspace.stop_message, workspace.stopped_at)


def test_a_workspace_still_allowed_is_left_running(
    running: Workspace,
    fake_hub: FakeHub,
) -> None:
    counts = workspaces_reconcile()

    assert counts == NOTHING
    assert ("server_stop", "applicant") not in fake_hub.calls
    assert Workspace.objects.get().status == "running"


def test_a_revoked_grant_stops_the_workspace_with_its_reason(
    running: Workspace,
    ready: Ready,
    operator: User,
    fake_hub: FakeHub,
) -> None:
    grant_revoke(grant=ready.online, actor=operator, reason="목적 외 이용")

    counts = workspaces_reconcile()
    again = workspaces_reconcile()

    assert (counts, again) == ({**NOTHING, "stopped": 1}, NOTHING)
    assert fake_hub.calls.count(("server_stop", "applicant")) == 1
    assert fake_hub.servers_running == {}
    message = f"{ONLINE_TITLE}: 운영자가 이 데이터의 이용을 중지했습니다. 사유: 목적 외 이용"
    assert _stopped_row(running) == ("stopped", "grant_ended", message, DURING_SUPPORT)
    event = workspace_events()[-1]
    assert (event[0], event[1], event[3]["reason"], event[3]["message"]) == (
        "compute.workspace_stopped",
        None,
        "grant_ended",
        message,
    )


def test_the_end_of_the_grant_by_the_clock_stops_the_workspace(
    running: Workspace,
    fake_hub: FakeHub,
) -> None:
    after = kst(2025, 11, 29)

    with time_machine.travel(after, tick=False):
        counts = workspaces_reconcile()

    assert counts == {**NOTHING, "stopped": 1}
    assert fake_hub.servers_running == {}
    assert _stopped_row(running) == (
        "stopped",
        "grant_ended",
        f"{ONLINE_TITLE}: 이용 기간이 끝났습니다 (마지막 날: 2025-11-28 23:59:59 KST).",
        after,
    )


def test_the_last_second_of_the_grant_keeps_the_workspace(
    running: Workspace,
    fake_hub: FakeHub,
) -> None:
    with time_machine.travel(kst(2025, 11, 28, 23, 59, 59), tick=False):
        counts = workspaces_reconcile()

    assert counts == NOTHING
    assert Workspace.objects.get().status == "running"


def test_the_end_of_the_online_session_stops_the_workspace(
    running: Workspace,
    ready: Ready,
    applicant: User,
    fake_hub: FakeHub,
) -> None:
    online_session_end(session=ready.session, actor=applicant)

    counts = workspaces_reconcile()

    assert counts == {**NOTHING, "stopped": 1}
    assert fake_hub.servers_running == {}
    assert _stopped_row(running) == (
        "stopped",
        "grant_ended",
        f"{ONLINE_TITLE}: {SESSION_REQUIRED}",
        DURING_SUPPORT,
    )


def test_a_released_gpu_stops_the_workspace(
    running: Workspace,
    ready: Ready,
    operator: User,
    fake_hub: FakeHub,
) -> None:
    gpu_release(allocation=ready.allocation, actor=operator, reason="점검")

    counts = workspaces_reconcile()

    assert counts == {**NOTHING, "stopped": 1}
    assert fake_hub.calls[-1] == ("server_stop", "applicant")
    assert fake_hub.servers_running == {}
    assert Workspace.objects.get().status == "stopped"


def test_a_released_gpu_is_the_reason_given_for_the_stop(
    running: Workspace,
    ready: Ready,
    operator: User,
    fake_hub: FakeHub,
) -> None:
    gpu_release(allocation=ready.allocation, actor=operator, reason="점검")

    workspaces_reconcile()

    assert _stopped_row(running) == ("stopped", "no_gpu", NO_GPU, DURING_SUPPORT)


def test_a_gpu_allocated_anew_stops_the_workspace_as_changed(
    running: Workspace,
    ready: Ready,
    operator: User,
    fake_hub: FakeHub,
) -> None:
    gpu_release(allocation=ready.allocation, actor=operator, reason="점검")
    allocation = gpu_allocate(agreement=ready.agreement, actor=operator)
    assert isinstance(allocation, GpuAllocation) and allocation.pk != ready.allocation.pk

    counts = workspaces_reconcile()

    assert counts == {**NOTHING, "stopped": 1}
    assert fake_hub.servers_running == {}
    assert _stopped_row(running) == (
        "stopped",
        "gpu_changed",
        "GPU 배정이 바뀌어 작업 공간을 중지했습니다.",
        DURING_SUPPORT,
    )


def test_a_server_the_hub_stopped_is_recorded_as_stopped(
    running: Workspace,
    fake_hub: FakeHub,
) -> None:
    fake_hub.servers_running.pop("applicant")

    counts = workspaces_reconcile()
    again = workspaces_reconcile()

    assert (counts, again) == ({**NOTHING, "ended": 1}, NOTHING)
    assert ("server_stop", "applicant") not in fake_hub.calls
    assert _stopped_row(running) == (
        "stopped",
        "hub_stopped",
        "허브에서 서버가 멈췄습니다(유휴 시간 초과 포함).",
        DURING_SUPPORT,
    )


def test_a_server_the_platform_never_started_is_stopped_and_recorded(
    running: Workspace,
    fake_hub: FakeHub,
) -> None:
    fake_hub.servers_running["intruder"] = {"ready": True, "pending": None}

    counts = workspaces_reconcile()
    again = workspaces_reconcile()

    assert (counts, again) == ({**NOTHING, "unknown": 1}, NOTHING)
    assert fake_hub.calls.count(("server_stop", "intruder")) == 1
    assert fake_hub.servers_running == {"applicant": {"ready": True, "pending": None}}
    assert Workspace.objects.get().status == "running"
    event = AuditEvent.objects.filter(action="compute.workspace_stopped").get()
    assert (event.actor_id, event.object_type, event.object_id, event.data) == (
        None,
        "compute.workspace",
        "",
        {"hub_user": "intruder", "reason": "unknown_server"},
    )


def test_a_launch_the_hub_never_checked_fails_once_expired(
    launch: tuple[Workspace, str],
    silent_hub: SilentHub,
) -> None:
    workspace, _token = launch
    expired_at = DURING_SUPPORT + dt.timedelta(seconds=LAUNCH_SECONDS)

    with time_machine.travel(expired_at - dt.timedelta(seconds=1), tick=False):
        before = workspaces_reconcile()
    with time_machine.travel(expired_at, tick=False):
        counts = workspaces_reconcile()
        again = workspaces_reconcile()

    assert (before, counts, again) == (NOTHING, {**NOTHING, "expired": 1}, NOTHING)
    assert _stopped_row(workspace) == (
        "failed",
        "launch_expired",
        "허브가 시작을 확인하지 않은 채 시작 토큰이 만료되었습니다.",
        expired_at,
    )
    assert workspace_events()[-1][0] == "compute.workspace_failed"


def test_one_run_counts_each_kind_of_work(
    running: Workspace,
    fake_hub: FakeHub,
    ready: Ready,
    operator: User,
    other_company: Organisation,
) -> None:
    # A second member of the company, whose server the hub lost, and two servers nobody started.
    colleague = UserFactory(
        username="colleague", organisation=ready.agreement.company, roles=[Role.APPLICANT]
    )
    Workspace.objects.create(
        user=colleague,
        agreement=ready.agreement,
        allocation=ready.allocation,
        hub_user="colleague",
        setting="online",
        status="running",
        launch_token_sha256="0" * 64,
        launch_expires_at=DURING_SUPPORT,
        datasets=[online_record(ready)],
        gpu=gpu_of(ready),
        requested_at=DURING_SUPPORT,
        started_at=DURING_SUPPORT,
    )
    fake_hub.servers_running["stray-1"] = {"ready": True, "pending": None}
    fake_hub.servers_running["stray-2"] = {"ready": False, "pending": "spawn"}

    counts = workspaces_reconcile()
    again = workspaces_reconcile()

    assert (counts, again) == ({"stopped": 0, "ended": 1, "expired": 0, "unknown": 2}, NOTHING)
    assert sorted(Workspace.objects.values_list("hub_user", "status")) == [
        ("applicant", "running"),
        ("colleague", "stopped"),
    ]
    assert fake_hub.servers_running == {"applicant": {"ready": True, "pending": None}}


def test_the_celery_task_runs_the_reconciler(
    running: Workspace,
    ready: Ready,
    operator: User,
    fake_hub: FakeHub,
) -> None:
    grant_revoke(grant=ready.online, actor=operator, reason="목적 외 이용")

    counts = workspaces_reconcile_task.delay().get()

    assert counts == {**NOTHING, "stopped": 1}
    assert Workspace.objects.get().status == "stopped"


def test_a_workspace_that_starts_while_the_reconciler_runs_is_left_alone(
    ready: Ready, applicant: User, fake_hub: FakeHub
) -> None:
    # The start happens between the reconciler's read of the open workspaces and its read of the hub: the
    # new server must be taken neither for one that stopped nor for one the platform never started.
    listed = fake_hub.servers

    def start_then_list() -> dict[str, dict[str, Any]]:
        workspace_start(user=applicant, client_address=ADDRESS)
        return listed()

    fake_hub.servers = start_then_list  # type: ignore[method-assign]

    assert workspaces_reconcile() == NOTHING
    assert list(Workspace.objects.values_list("status", flat=True)) == ["running"]
    assert fake_hub.servers_running == {"applicant": {"ready": True, "pending": None}}
    assert ("server_stop", "applicant") not in fake_hub.calls


def test_a_workspace_stopped_by_its_user_meanwhile_is_not_stopped_twice(
    running: Workspace, applicant: User, ready: Ready, operator: User, fake_hub: FakeHub
) -> None:
    grant_revoke(grant=ready.online, actor=operator, reason="점검")
    listed = fake_hub.servers

    def stop_then_list() -> dict[str, dict[str, Any]]:
        workspace_stop(workspace=Workspace.objects.get(), actor=applicant)
        return listed()

    fake_hub.servers = stop_then_list  # type: ignore[method-assign]

    assert workspaces_reconcile() == NOTHING
    assert list(
        AuditEvent.objects.filter(action="compute.workspace_stopped").values_list("data__reason", flat=True)
    ) == ["stopped_by_user"]


def test_a_workspace_the_hub_cannot_stop_now_does_not_keep_the_others_running(
    ready: Ready,
    applicant: User,
    operator: User,
    other_applicant: User,
    fake_hub: FakeHub,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    other = workspace_ready(other_applicant, operator, data_root=tmp_path / "datasets" / "other", gpus=2)
    first = workspace_start(user=applicant, client_address=ADDRESS)
    second = workspace_start(user=other_applicant, client_address=ADDRESS)
    grant_revoke(grant=ready.online, actor=operator, reason="점검")
    grant_revoke(grant=other.online, actor=operator, reason="점검")
    stop = fake_hub.server_stop

    def failing_for_the_first(name: str) -> None:
        if name == "applicant":
            raise HubError("작업 공간을 중지하지 못했습니다: Service Unavailable", status=503)
        stop(name)

    monkeypatch.setattr(fake_hub, "server_stop", failing_for_the_first)

    assert workspaces_reconcile() == {**NOTHING, "stopped": 1}
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status) == ("running", "stopped")
    assert sorted(fake_hub.servers_running) == ["applicant"]

    # The next round, with the hub answering again, settles it.
    monkeypatch.setattr(fake_hub, "server_stop", stop)
    assert workspaces_reconcile() == {**NOTHING, "stopped": 1}
    first.refresh_from_db()
    assert (first.status, first.stop_reason) == ("stopped", "grant_ended")
