"""A real JupyterHub for the end-to-end tests: ``medbroker hub``'s configuration and environment, on free
loopback ports, with its state in a folder of the test's own, calling back the test's live server.

Missing pieces (the npm proxy, ``unshare``) skip the tests on a developer's machine and fail them in CI
(``REQUIRE_SERVICES=1``), as every real service of the suite does.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from medbroker.compute.services.hub import (
    HUB_CONFIG,
    HubClient,
    hub_oauth_application_ensure,
    hub_process_environment,
    hub_secret,
)
from medbroker.core.testing import service_missing

START_SECONDS = 60


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Hub:
    url: str
    api_url: str
    client: HubClient
    log: Path
    process: subprocess.Popen[bytes]

    def server_gone(self, name: str, *, seconds: float = 30) -> bool:
        """Whether ``name``'s server is gone from the hub within ``seconds``."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if name not in self.client.servers():
                return True
            time.sleep(0.5)
        return False


def _wait_up(api_url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"JupyterHub ended with {process.returncode}:\n{log.read_text()[-4000:]}")
        with contextlib.suppress(requests.RequestException):
            if requests.get(f"{api_url}/", timeout=2).status_code == 200:
                return
        time.sleep(0.3)
    raise AssertionError(f"JupyterHub did not start in {START_SECONDS} s:\n{log.read_text()[-4000:]}")


@contextlib.contextmanager
def running_hub(settings: Any, *, platform_url: str, root: Path) -> Iterator[Hub]:
    """Start JupyterHub for ``platform_url``; ``settings`` (pytest-django's) point the platform at it."""
    proxy = Path(settings.MEDBROKER_HUB_PROXY_COMMAND)
    if not proxy.exists():
        service_missing(f"configurable-http-proxy is not installed ({proxy}; npm ci)")
    if shutil.which("unshare") is None:
        service_missing("unshare (util-linux) is not installed")
    public, hub_port, proxy_api = free_port(), free_port(), free_port()
    settings.MEDBROKER_HUB_URL = f"http://127.0.0.1:{public}"
    settings.MEDBROKER_HUB_API_URL = f"http://127.0.0.1:{hub_port}/hub/api"
    settings.MEDBROKER_HUB_STATE_DIR = root / "hub"
    settings.MEDBROKER_WORKSPACE_ROOT = root / "workspaces"
    settings.MEDBROKER_WORKSPACE_REQUIRE_CONFINEMENT = True
    hub_oauth_application_ensure()
    environment = hub_process_environment(
        platform_url=platform_url, hub_port=hub_port, proxy_api_port=proxy_api
    )
    log = root / "jupyterhub.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "jupyterhub", "-f", str(HUB_CONFIG)],
            env=environment,
            cwd=environment["MEDBROKER_HUB_STATE_DIR"],
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_up(settings.MEDBROKER_HUB_API_URL, process, log)
        client = HubClient(settings.MEDBROKER_HUB_API_URL, hub_secret("api_token"))
        yield Hub(settings.MEDBROKER_HUB_URL, settings.MEDBROKER_HUB_API_URL, client, log, process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        # The hub stops its proxy and servers on the way out; a proxy left by a killed hub is ended here.
        pid_file = Path(environment["MEDBROKER_HUB_STATE_DIR"]) / "jupyterhub-proxy.pid"
        with contextlib.suppress(OSError, ValueError):
            os.kill(int(pid_file.read_text().strip()), 15)
