"""A stand-in for the hub's REST API in unit tests: what the platform asked, and a hub that calls the
platform's check back the way JupyterHub does before it starts a server.

The end-to-end test runs against a real JupyterHub (``tests/browser/test_workspace_flow.py``); these tests pin the
platform's own rules without one.
"""

from __future__ import annotations

from typing import Any

import pytest

from medbroker.compute.services import workspaces as workspaces_services
from medbroker.compute.services.hub import HubError


class FakeHub:
    def __init__(self) -> None:
        self.users: set[str] = set()
        self.servers_running: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, str]] = []
        # The platform's last answer to the hub's check, per user.
        self.answers: dict[str, dict[str, Any]] = {}
        self.down = False

    def _call(self, what: str, name: str) -> None:
        if self.down:
            raise HubError("JupyterHub에 연결하지 못했습니다: ConnectionError")
        self.calls.append((what, name))

    def user_ensure(self, name: str) -> None:
        self._call("user_ensure", name)
        self.users.add(name)

    def server_start(self, name: str, options: dict[str, Any]) -> int:
        self._call("server_start", name)
        answer = workspaces_services.workspace_authorize(hub_user=name, server="", user_options=options)
        self.answers[name] = answer
        if not answer["allowed"]:
            raise HubError(f"작업 공간을 시작하지 못했습니다: {answer['message']}", status=403)
        self.servers_running[name] = {"ready": True, "pending": None}
        return 201

    def server_stop(self, name: str) -> None:
        self._call("server_stop", name)
        self.servers_running.pop(name, None)

    def server_present(self, name: str) -> bool:
        self._call("server_present", name)
        return name in self.servers_running

    def servers(self) -> dict[str, dict[str, Any]]:
        self._call("servers", "")
        return dict(self.servers_running)


class SilentHub(FakeHub):
    """A hub that accepts the start and has not asked the platform back yet: the row stays ``starting``."""

    def __init__(self) -> None:
        super().__init__()
        self.started_with: list[dict[str, Any]] = []

    def server_start(self, name: str, options: dict[str, Any]) -> int:
        self._call("server_start", name)
        self.started_with.append(dict(options))
        return 202


@pytest.fixture
def silent_hub(monkeypatch: pytest.MonkeyPatch) -> SilentHub:
    hub = SilentHub()
    monkeypatch.setattr(workspaces_services, "hub_client", lambda: hub)
    return hub


@pytest.fixture
def fake_hub(monkeypatch: pytest.MonkeyPatch) -> FakeHub:
    hub = FakeHub()
    monkeypatch.setattr(workspaces_services, "hub_client", lambda: hub)
    return hub
