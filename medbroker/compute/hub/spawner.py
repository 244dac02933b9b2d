"""The local engine: each JupyterLab server runs on this machine, in the platform's jail (``core/jail.py``).

``ConfinedLocalSpawner`` starts ``jupyterhub-singleuser`` as

    unshare [--user --map-root-user] --ipc --mount --pid --fork --kill-child --mount-proc --
        python -I -B jail.py --mode workspace --root HOME --data HOME/data --bind FOLDER:NAME ...
        --within DATA_ROOT ... --mask /dev/nvidiaN ... --
        python -I -B workspace_init.py --fonts FOLDER -- jupyterhub-singleuser ...

so that the server, its kernels and terminals:

- see the granted datasets only, under ``~/data/<name>``, read-only (bind mounts; ``data/`` itself is a
  read-only tmpfs), and only from inside the data roots: the project's folders, the scan roots with every
  other dataset, the database, the hub's state, other people's workspaces and the host's ``/tmp`` are
  covered;
- see the allocated GPU only: every other ``/dev/nvidia<N>`` is covered with ``/dev/null`` (and
  ``CUDA_VISIBLE_DEVICES`` names the one left);
- run as uid 65534 in a user namespace of their own, without capabilities and with no_new_privs, so they
  cannot remount what was made read-only;
- all end when the hub stops the server (the jail is their PID namespace's init).

Each (agreement, person, setting) has a home of its own, named by the platform: what was copied out of
closed-room data in the closed room is not in the home an online workspace opens. The network is kept:
the server must reach the hub (see the production configurations for per-workspace network rules). When
the hub runs as root the home folder is handed to uid 65534; otherwise the jail maps 65534 to the hub's
own account, which owns the home folder already. The hub itself writes nothing inside a home: a home is
the workspace's to write, and ``workspace_init.py`` fills it, inside the jail, as the workspace.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys
from typing import Any

from jupyterhub.spawner import SimpleLocalProcessSpawner
from traitlets import Bool, Integer, List, Unicode

from medbroker.compute.hub.platform import apply_user_options_with, refusal_error

NOBODY = 65534
NAMESPACES = ("--ipc", "--mount", "--pid", "--fork", "--kill-child", "--mount-proc")
INIT_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "workspace_init.py")


def apply_local(spawner: Any, answer: dict[str, Any]) -> None:
    """Nothing more to set: ``ConfinedLocalSpawner.start`` reads the datasets from ``spawner.medbroker``."""


apply_user_options = apply_user_options_with(apply_local)


class ConfinedLocalSpawner(SimpleLocalProcessSpawner):
    jail_path = Unicode(help="core/jail.py of the platform").tag(config=True)
    workspace_root = Unicode(help="Where the homes are, one per agreement, person and setting").tag(
        config=True
    )
    data_roots = List(Unicode(), help="The only folders datasets are bound from").tag(config=True)
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
        for folder in self.data_roots:
            command += ["--within", folder]
        for device in self._other_gpus():
            command += ["--mask", device]
        keep_init = ["--keep", os.path.dirname(INIT_PATH)]
        keep_fonts = ["--keep", self.fonts] if self.fonts else []
        init = [sys.executable, "-I", "-B", INIT_PATH, "--fonts", self.fonts, "--"]
        return [*command, *keep_init, *keep_fonts, "--", *init]

    def _other_gpus(self) -> list[str]:
        """The GPU devices of this machine but the allocated one."""
        index = str(self.medbroker.get("gpu", {}).get("index", ""))
        return sorted(
            os.path.join("/dev", name)
            for name in os.listdir("/dev")
            if name.startswith("nvidia") and name[6:].isdigit() and name[6:] != index
        )

    def _home_prepare(self) -> None:
        """The home the platform named for this start, under the workspace root; nothing is written inside
        it (see the module's docstring), only the folder itself made and, when the hub is root, handed to
        uid 65534."""
        root = os.path.realpath(self.workspace_root)
        home = os.path.normpath(os.path.join(root, str(self.medbroker.get("home", ""))))
        if not home.startswith(root + os.sep):
            raise refusal_error(403, "작업 공간 폴더가 올바르지 않습니다.")
        os.makedirs(os.path.dirname(home), mode=0o755, exist_ok=True)
        if not os.path.isdir(home):
            os.mkdir(home, 0o750)
            if os.geteuid() == 0:
                os.lchown(home, NOBODY, NOBODY)
        self.home_dir = home

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
