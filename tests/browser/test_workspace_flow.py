"""A company's workspace end to end, in Chromium, against a real JupyterHub (configurable-http-proxy, the local
spawner in the jail) that signs people in through the platform and asks the platform before every start.

A member of a company with an online grant signs in on the platform, presses "작업 공간 시작" and lands in
JupyterLab through the hub's OpenID Connect login; the server lists exactly the granted dataset under
``data/``, read-only, and a home folder it can write to. A forged GPU option is refused by the hub on the
platform's word; a member of another company cannot reach the server; once the grant is revoked the
reconciler (the beat task's service) stops the server through the hub and every new start is refused.
Screenshots go to test-artifacts/browser/workspace_flow-*.png.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from medbroker.access.services.grants import grant_revoke
from medbroker.accounts.models import User
from medbroker.audit.models import AuditEvent
from medbroker.compute.models import Workspace
from medbroker.compute.services.hub import HubClient, HubError, hub_secret
from medbroker.compute.services.workspaces import workspace_start, workspaces_reconcile
from medbroker.compute.tests.hubtesting import Hub, running_hub
from medbroker.compute.tests.workspace_setup import Ready, workspace_ready
from medbroker.core import timeutils
from medbroker.core.errors import DomainError
from tests.browser.conftest import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "workspace-pass-2025"


class ForgingHubClient(HubClient):
    """The platform's client, but the GPU option it sends is swapped on the way, as a forger would."""

    def server_start(self, name: str, options: dict[str, Any]) -> int:
        return super().server_start(name, {**options, "profile": "h100-80gb"})


@pytest.fixture
def hub(live_server: Any, settings: Any, tmp_path: Path) -> Any:
    with running_hub(settings, platform_url=live_server.url, root=tmp_path / "hub-root") as started:
        yield started


@pytest.fixture
def ready(applicant: User, operator: User, tmp_path: Path) -> Ready:
    # The hub lives in real time: the agreement runs around today.
    today = timeutils.to_kst(timeutils.now()).date()
    ready = workspace_ready(
        applicant,
        operator,
        data_root=tmp_path / "datasets" / "workspace",
        signed_on=today - dt.timedelta(days=1),
        ends_on=today + dt.timedelta(days=30),
        session_at=timeutils.now() - dt.timedelta(minutes=1),
    )
    for user in (applicant,):
        user.set_password(PASSWORD)
        user.save(update_fields=["password"])
    return ready


def _sign_in(page: Page, username: str) -> None:
    page.context.clear_cookies()
    page.goto(f"{page.base_url}/accounts/login/")  # type: ignore[attr-defined]
    page.get_by_label("아이디").fill(username)
    page.get_by_label("비밀번호").fill(PASSWORD)
    page.get_by_role("button", name="로그인").click()
    expect(page.get_by_role("button", name="로그인")).to_have_count(0)


def _xsrf(page: Page) -> dict[str, str]:
    token = next(cookie["value"] for cookie in page.context.cookies() if cookie["name"] == "_xsrf")
    return {"X-XSRFToken": token, "Content-Type": "application/json"}


def _put_text(page: Page, url: str, text: str) -> Any:
    body = json.dumps({"type": "file", "format": "text", "content": text})
    return page.request.put(url, data=body, headers=_xsrf(page))


def test_member_works_on_granted_data_only_until_the_grant_is_revoked(
    company_page: Page,
    operator_page: Page,
    hub: Hub,
    ready: Ready,
    applicant: User,
    other_applicant: User,
    operator: User,
    settings: Any,
) -> None:
    page = company_page
    dataset_folder = f"{ready.online.dataset_id}-chest-x-ray"

    # A forged GPU option: the hub asks the platform, which refuses, and nothing starts.
    with pytest.raises(DomainError) as forged:
        workspace_start(
            user=applicant,
            client_address="10.9.8.7",
            client=ForgingHubClient(settings.MEDBROKER_HUB_API_URL, hub_secret("api_token")),
        )
    assert forged.value.code == "hub_error"
    assert "요청한 GPU(h100-80gb)는 배정된 GPU(a100-32gb)가 아닙니다." in str(forged.value.message)
    assert hub.server_gone("applicant", seconds=5)
    assert list(Workspace.objects.values_list("status", "stop_reason")) == [("failed", "gpu_option_forged")]

    # The member starts the workspace from the platform and lands in JupyterLab through the hub's login.
    _sign_in(page, "applicant")
    page.goto(f"{page.base_url}/compute/workspace/")  # type: ignore[attr-defined]
    expect(page.get_by_text(dataset_folder).first).to_be_visible()
    screenshot(page, "workspace_flow-01-workspace-page")
    page.get_by_role("button", name="작업 공간 시작").click()
    page.wait_for_url(f"{hub.url}/user/applicant/lab**", timeout=90_000)
    expect(page.locator(".jp-DirListing-item", has_text="data")).to_be_visible(timeout=60_000)
    screenshot(page, "workspace_flow-02-jupyterlab")

    contents = f"{hub.url}/user/applicant/api/contents"
    listing = page.request.get(f"{contents}/data").json()
    assert [(entry["name"], entry["type"], entry["writable"]) for entry in listing["content"]] == [
        (dataset_folder, "directory", False)
    ]
    files = page.request.get(f"{contents}/data/{dataset_folder}").json()
    assert sorted(entry["name"] for entry in files["content"]) == ["README.txt", "labels.csv"]
    readme = page.request.get(f"{contents}/data/{dataset_folder}/README.txt").json()
    assert readme["content"] == "chest x-ray\n"

    # The granted data cannot be written, nor anything added beside it; the home folder can.
    refused = _put_text(page, f"{contents}/data/{dataset_folder}/changed.txt", "x")
    assert refused.status == 500
    assert "Read-only file system" in refused.json()["message"]
    assert _put_text(page, f"{contents}/data/added.txt", "x").status == 500
    assert not (ready.online_folder / "changed.txt").exists()
    assert _put_text(page, f"{contents}/notes.txt", "분석 메모").status == 201
    home = Path(settings.MEDBROKER_WORKSPACE_ROOT) / ready.agreement.number / str(applicant.pk) / "online"
    notes = home / "notes.txt"
    assert notes.read_text(encoding="utf-8") == "분석 메모"
    if os.geteuid() == 0:
        assert (notes.stat().st_uid, notes.stat().st_gid) == (65534, 65534)

    workspace = Workspace.objects.get(status="running")
    assert (workspace.setting, workspace.hub_user, workspace.gpu["profile"]) == (
        "online",
        "applicant",
        "a100-32gb",
    )
    assert [record["name"] for record in workspace.datasets] == [dataset_folder]

    # A member of another company signs in to the hub too, but the first company's server refuses them.
    other_applicant.set_password(PASSWORD)
    other_applicant.save(update_fields=["password"])
    other = operator_page
    _sign_in(other, "other_applicant")
    other.goto(f"{hub.url}/hub/login")
    other.wait_for_url(f"{hub.url}/hub/home**", timeout=30_000)
    denied = other.request.get(f"{contents}/data")
    assert denied.status == 403
    assert dataset_folder not in denied.text()

    # The operator revokes the grant; the reconciler stops the server through the hub.
    grant_revoke(grant=ready.online, actor=operator, reason="이용 조건 위반 조사")
    assert workspaces_reconcile() == {"stopped": 1, "ended": 0, "expired": 0, "unknown": 0}
    assert hub.server_gone("applicant")
    workspace.refresh_from_db()
    assert (workspace.status, workspace.stop_reason) == ("stopped", "grant_ended")
    assert workspace.stop_message.endswith("사유: 이용 조건 위반 조사")

    # New starts are refused: by the platform's page, and by the hub itself for a start the platform did not
    # make.
    page.goto(f"{page.base_url}/compute/workspace/")  # type: ignore[attr-defined]
    expect(page.get_by_role("button", name="작업 공간 시작")).to_have_count(0)
    screenshot(page, "workspace_flow-03-after-revocation")
    with pytest.raises(DomainError) as refused_start:
        workspace_start(user=applicant, client_address="10.9.8.7")
    assert refused_start.value.code == "no_grant"
    with pytest.raises(HubError) as hub_refusal:
        hub.client.server_start("applicant", {"launch": "made-up", "profile": "a100-32gb"})
    assert "플랫폼의 '작업 공간' 페이지에서 시작하세요" in hub_refusal.value.message

    actions = list(
        AuditEvent.objects.filter(action__startswith="compute.workspace")
        .order_by("pk")
        .values_list("action", flat=True)
    )
    assert actions == [
        "compute.workspace_start_requested",
        "compute.workspace_failed",
        "compute.workspace_refused",
        "compute.workspace_start_requested",
        "compute.workspace_started",
        "compute.workspace_stopped",
        "compute.workspace_refused",
        "compute.workspace_refused",
    ]
