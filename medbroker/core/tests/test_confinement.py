"""The one list of folders every jail covers, for model runs and workspaces alike."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from medbroker.core import confinement


def test_the_platform_s_folders_and_data_roots_are_covered_where_they_really_are(
    settings: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = tmp_path / "real-var"
    real.mkdir()
    (tmp_path / "var-link").symlink_to(real)
    settings.BASE_DIR = tmp_path / "project"
    settings.VAR_DIR = tmp_path / "var-link"
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.MEDBROKER_EVALUATION_ROOT = tmp_path / "evaluations"
    settings.MEDBROKER_WORKSPACE_ROOT = tmp_path / "workspaces"
    settings.MEDBROKER_HUB_STATE_DIR = tmp_path / "hub"
    settings.MEDBROKER_SCAN_ROOTS = [str(tmp_path / "data-a"), str(tmp_path / "data-b")]
    monkeypatch.setattr(confinement.Path, "home", classmethod(lambda cls: Path("/home/worker")))

    assert confinement.hidden_paths() == [
        "/run",
        "/var/run",
        "/var/lib",
        "/var/tmp",  # noqa: S108 (a folder covered, not used)
        "/home",
        "/srv",
        "/dev/shm",  # noqa: S108 (a folder covered, not used)
        "/mnt",
        "/media",
        "/var/log",
        "/root",
        "/home/worker",
        os.path.realpath(tmp_path / "project"),
        str(real),
        os.path.realpath(tmp_path / "media"),
        os.path.realpath(tmp_path / "evaluations"),
        os.path.realpath(tmp_path / "workspaces"),
        os.path.realpath(tmp_path / "hub"),
        os.path.realpath(tmp_path / "data-a"),
        os.path.realpath(tmp_path / "data-b"),
    ]


def test_a_home_that_is_the_root_folder_is_left_out(monkeypatch: pytest.MonkeyPatch) -> None:
    # A service account's home may be "/": the jail refuses to cover it, so it is not asked to.
    monkeypatch.setattr(confinement.Path, "home", classmethod(lambda cls: Path("/")))

    assert "/" not in confinement.hidden_paths()
