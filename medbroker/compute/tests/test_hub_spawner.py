"""The local engine's spawner, without a hub: the command it starts, the home it picks, what it refuses.

The whole path (hub, proxy, jail, JupyterLab) runs in ``tests/browser/test_workspace_flow.py``.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from tornado import web

from medbroker.compute.hub import spawner as spawner_module
from medbroker.compute.hub.spawner import INIT_PATH, ConfinedLocalSpawner

ANSWER: dict[str, Any] = {
    "allowed": True,
    "home": "KHD2025-0001-AG/7/online",
    "datasets": [{"name": "12-chest-x-ray", "title": "흉부 X-ray", "path": "/srv/data/chest", "grant": 3}],
    "gpu": {"index": 1, "profile": "a100-32gb"},
}


def _spawner(tmp_path: Path, **answer: Any) -> ConfinedLocalSpawner:
    spawner = ConfinedLocalSpawner(
        jail_path="/opt/medbroker/core/jail.py",
        workspace_root=str(tmp_path / "workspaces"),
        data_roots=["/srv/data"],
        hidden=["/run", "/srv"],
        kept=["/opt/venv"],
        fonts="/opt/fonts",
    )
    spawner.medbroker = {**ANSWER, **answer}
    return spawner


def test_the_home_is_the_one_the_platform_named_under_the_workspace_root(tmp_path: Path) -> None:
    spawner = _spawner(tmp_path)

    spawner._home_prepare()

    home = tmp_path / "workspaces" / "KHD2025-0001-AG" / "7" / "online"
    assert spawner.home_dir == str(home)
    assert (home.is_dir(), oct(home.stat().st_mode & 0o777), os.listdir(home)) == (True, "0o750", [])
    if os.geteuid() == 0:
        assert (home.stat().st_uid, home.stat().st_gid) == (65534, 65534)


@pytest.mark.parametrize("home", ["../outside", "/etc", "", "KHD/../../x"])
def test_a_home_outside_the_workspace_root_is_refused(tmp_path: Path, home: str) -> None:
    spawner = _spawner(tmp_path, home=home)

    with pytest.raises(web.HTTPError) as refused:
        spawner._home_prepare()

    assert (refused.value.status_code, refused.value.jupyterhub_message) == (  # type: ignore[attr-defined]
        403,
        "작업 공간 폴더가 올바르지 않습니다.",
    )
    assert not (tmp_path / "outside").exists()


def test_every_gpu_but_the_allocated_one_is_masked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    devices = ["nvidia0", "nvidia1", "nvidia12", "nvidiactl", "nvidia-uvm", "nvidia-modeset", "null"]
    listdir = os.listdir
    monkeypatch.setattr(
        spawner_module.os, "listdir", lambda path: devices if path == "/dev" else listdir(path)
    )

    assert _spawner(tmp_path)._other_gpus() == ["/dev/nvidia0", "/dev/nvidia12"]


def test_the_jail_command_binds_the_granted_folders_only_from_the_data_roots(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(spawner_module.shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(ConfinedLocalSpawner, "_other_gpus", lambda self: ["/dev/nvidia0"])
    monkeypatch.setattr(spawner_module.os, "geteuid", lambda: 0)
    spawner = _spawner(tmp_path)
    spawner.home_dir = str(tmp_path / "home")

    command = spawner._jail_prefix()

    home = os.path.realpath(tmp_path / "home")
    assert command == [
        "/usr/bin/unshare",
        "--ipc",
        "--mount",
        "--pid",
        "--fork",
        "--kill-child",
        "--mount-proc",
        sys.executable,
        "-I",
        "-B",
        "/opt/medbroker/core/jail.py",
        "--mode",
        "workspace",
        "--root",
        home,
        "--data",
        f"{home}/data",
        "--identity",
        "setuid",
        "--processes",
        "512",
        "--hide",
        "/run",
        "--hide",
        "/srv",
        "--keep",
        "/opt/venv",
        "--bind",
        "/srv/data/chest:12-chest-x-ray",
        "--within",
        "/srv/data",
        "--mask",
        "/dev/nvidia0",
        "--keep",
        os.path.dirname(INIT_PATH),
        "--keep",
        "/opt/fonts",
        "--",
        sys.executable,
        "-I",
        "-B",
        INIT_PATH,
        "--fonts",
        "/opt/fonts",
        "--",
    ]


def test_without_unshare_nothing_starts_unless_confinement_is_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(spawner_module.shutil, "which", lambda name: None)
    spawner = _spawner(tmp_path)
    spawner.home_dir = str(tmp_path / "home")

    with pytest.raises(web.HTTPError) as refused:
        spawner._jail_prefix()
    assert refused.value.status_code == 503

    spawner.require_confinement = False
    assert spawner._jail_prefix() == []


def test_a_start_the_platform_did_not_answer_for_is_refused(tmp_path: Path) -> None:
    spawner = ConfinedLocalSpawner(workspace_root=str(tmp_path))

    with pytest.raises(web.HTTPError) as refused:
        asyncio.run(spawner.start())

    assert (refused.value.status_code, refused.value.jupyterhub_message) == (  # type: ignore[attr-defined]
        403,
        "플랫폼의 작업 공간 페이지에서 시작하세요.",
    )
    assert os.listdir(tmp_path) == []
