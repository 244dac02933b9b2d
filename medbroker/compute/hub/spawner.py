"""The local engine: each JupyterLab server runs on this machine, in the platform's jail (``core/jail.py``).

``ConfinedLocalSpawner`` starts ``jupyterhub-singleuser`` as

    unshare [--user --map-root-user] --ipc --mount --pid --fork --kill-child --mount-proc --
        python -I -B jail.py --mode workspace --root HOME --data HOME/data --bind FOLDER:NAME ... --
        jupyterhub-singleuser ...

so that the server, its kernels and terminals:

- see the granted datasets only, under ``~/data/<name>``, read-only (bind mounts; ``data/`` itself is a
  read-only tmpfs): the project's folders, the scan roots with every other dataset, the database, other
  people's workspaces and the host's ``/tmp`` are covered;
- run as uid 65534 in a user namespace of their own, without capabilities and with no_new_privs, so they
  cannot remount what was made read-only;
- all end when the hub stops the server (the jail is their PID namespace's init).

The network is kept: the server must reach the hub. The allocated GPU comes in ``CUDA_VISIBLE_DEVICES``
(the platform's answer). When the hub runs as root the home folder is handed to uid 65534; otherwise the
jail maps 65534 to the hub's own account, which owns the home folder already.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sys
from typing import Any

from jupyterhub.spawner import SimpleLocalProcessSpawner
from traitlets import Bool, Integer, List, Unicode

from medbroker.compute.hub.platform import apply_user_options_with, refusal_error

NOBODY = 65534
# JupyterLab's settings a new workspace starts with: Korean (the language pack is installed with the
# platform), and no news or update checks, which would call the internet from the closed network.
LAB_SETTINGS = {
    "@jupyterlab/translation-extension/plugin.jupyterlab-settings": {"locale": "ko_KR"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
}
NAMESPACES = ("--ipc", "--mount", "--pid", "--fork", "--kill-child", "--mount-proc")

FONT_FILES = (("400", "PretendardGOV-Regular.subset.woff2"), ("700", "PretendardGOV-Bold.subset.woff2"))
# Important: the theme's own :root rules come after this file.
FONT_RULES = (
    ':root { --jp-ui-font-family: "Pretendard GOV", system-ui, sans-serif !important; '
    '--jp-content-font-family: "Pretendard GOV", system-ui, sans-serif !important; }'
)


def apply_local(spawner: Any, answer: dict[str, Any]) -> None:
    """Nothing more to set: ``ConfinedLocalSpawner.start`` reads the datasets from ``spawner.medbroker``."""


apply_user_options = apply_user_options_with(apply_local)


class ConfinedLocalSpawner(SimpleLocalProcessSpawner):
    jail_path = Unicode(help="core/jail.py of the platform").tag(config=True)
    hidden = List(Unicode(), help="Folders covered in the workspace").tag(config=True)
    kept = List(Unicode(), help="Paths under hidden folders the server needs (the interpreter)").tag(
        config=True
    )
    processes = Integer(512, help="Most processes of one workspace").tag(config=True)
    fonts = Unicode("", help="Folder of the platform's Korean web fonts (Pretendard GOV) for JupyterLab").tag(
        config=True
    )
    require_confinement = Bool(True, help="Refuse to start a server that cannot be jailed").tag(config=True)

    medbroker: dict[str, Any] = {}

    def _jail_prefix(self) -> list[str]:
        unshare = shutil.which("unshare")
        if unshare is None:
            if self.require_confinement:
                raise refusal_error(503, "작업 공간 격리 환경(unshare)을 찾을 수 없어 시작하지 않았습니다.")
            return []
        home = os.path.realpath(self.home_dir)
        data = os.path.join(home, "data")
        if os.geteuid() == 0:
            prefix, identity = [unshare, *NAMESPACES], "setuid"
        else:
            prefix, identity = [unshare, "--user", "--map-root-user", *NAMESPACES], "userns"
        command = [*prefix, sys.executable, "-I", "-B", self.jail_path, "--mode", "workspace"]
        command += [
            "--root",
            home,
            "--data",
            data,
            "--identity",
            identity,
            "--processes",
            str(self.processes),
        ]
        for path in self.hidden:
            command += ["--hide", path]
        for path in self.kept:
            command += ["--keep", path]
        for dataset in self.medbroker.get("datasets", []):
            command += ["--bind", f"{dataset['path']}:{dataset['name']}"]
        return [*command, "--"]

    def _home_prepare(self) -> None:
        """The home folder with ``data/`` (a mount point) and JupyterLab's first settings; when the hub is
        root, what it made here is handed to uid 65534, whose files everything else in it already is."""
        home = os.path.realpath(self.home_dir)
        made = [home, os.path.join(home, "data")]
        for path in made:
            os.makedirs(path, mode=0o750 if path == home else 0o755, exist_ok=True)
        for name, values in LAB_SETTINGS.items():
            path = os.path.join(home, ".jupyter", "lab", "user-settings", name)
            if os.path.exists(path):
                continue
            folder = os.path.dirname(path)
            while folder != home and not os.path.isdir(folder):
                made.append(folder)
                folder = os.path.dirname(folder)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w", encoding="utf-8") as handle:
                json.dump(values, handle)
            made.append(path)
        made += self._fonts_prepare(home)
        if os.geteuid() == 0:
            for path in made:
                os.lchown(path, NOBODY, NOBODY)

    def _fonts_prepare(self, home: str) -> list[str]:
        """JupyterLab in the platform's Korean font: a closed-room PC may have none, and the page must not
        fetch one from the internet. ``custom.css`` (``LabApp.custom_css``) and the fonts it names are served
        by the server itself from ``~/.jupyter/custom``."""
        if not self.fonts or not os.path.isdir(self.fonts):
            return []
        custom = os.path.join(home, ".jupyter", "custom")
        made = [] if os.path.isdir(custom) else [custom]
        os.makedirs(os.path.join(custom, "fonts"), exist_ok=True)
        made.append(os.path.join(custom, "fonts"))
        faces = []
        for weight, name in FONT_FILES:
            target = os.path.join(custom, "fonts", name)
            if not os.path.exists(target):
                shutil.copyfile(os.path.join(self.fonts, name), target)
                made.append(target)
            faces.append(
                f'@font-face {{ font-family: "Pretendard GOV"; font-weight: {weight}; '
                f'src: url("fonts/{name}") format("woff2"); }}'
            )
        # Written at every start: the platform's file, brought up to date with it.
        stylesheet = os.path.join(custom, "custom.css")
        with open(stylesheet, "w", encoding="utf-8") as handle:
            handle.write("\n".join([*faces, FONT_RULES]))
        made.append(stylesheet)
        return made

    def user_env(self, env: dict[str, str]) -> dict[str, str]:
        env = super().user_env(env)
        env["TMPDIR"] = "/tmp"  # noqa: S108 (the workspace's own tmpfs, not the host's)
        return env

    def make_preexec_fn(self, name: str) -> Any:
        # The jail changes to the home folder once it is mounted; until then "/" is a folder every identity has.
        def preexec() -> None:
            os.chdir("/")

        return preexec

    def _jail_pid(self) -> int | None:
        """The jail's pid: the only child of ``unshare``, which ignores SIGINT and SIGTERM while it waits."""
        try:
            with open(f"/proc/{self.pid}/task/{self.pid}/children", encoding="ascii") as handle:
                children = handle.read().split()
        except OSError:
            return None
        return int(children[0]) if children else None

    async def _signal(self, sig: int) -> bool:
        # The polite requests go to the jail, which passes them on to the server; probing (0) and SIGKILL go
        # to unshare, whose end (--kill-child) ends the jail and everything in it.
        if sig in (signal.SIGINT, signal.SIGTERM):
            jail = self._jail_pid()
            if jail is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(jail, sig)
            sig = 0
        alive: bool = await super()._signal(sig)
        return alive

    async def start(self) -> Any:
        if not self.medbroker:
            raise refusal_error(403, "플랫폼의 작업 공간 페이지에서 시작하세요.")
        self._home_prepare()
        original: list[str] = list(self.cmd)  # type: ignore[has-type]
        self.cmd = [*self._jail_prefix(), *original]
        try:
            return await super().start()
        finally:
            self.cmd = original
