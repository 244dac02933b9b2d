"""The worker's side of the sandbox: prepare the cases, start ``child`` confined, read its outputs.

A company's model is untrusted, and ONNX Runtime parsing it is the attack surface. The model therefore runs
only in ``child.py``, which this module starts through ``medbroker/core/jail.py``:

- in new network, IPC, mount and PID namespaces (``unshare --net --ipc --mount --pid --fork --kill-child
  --mount-proc``): no network but a loopback interface that is down; no System V or POSIX IPC objects of
  the host; a ``/proc`` that shows the namespace's own processes only. ``jail`` (the namespace's init,
  trusted) builds the filesystem view first: of ``/tmp`` only the run's own sealed folder shows, and the folders that
  hold the lab's data, other companies' models, the database, secrets and the host's Unix sockets
  (``/run``, ``/var/lib``, ``/home``, the worker's home, the project's folder, VAR_DIR, MEDIA_ROOT,
  MEDBROKER_EVALUATION_ROOT, ...) are covered by empty read-only tmpfs mounts, except the interpreter and
  packages the child needs, bound back read-only. A jail that cannot be built runs nothing;
- as a user of its own: a root worker's jail makes the child uid/gid 65534 (in a user namespace of its
  own, mapped to the host's 65534) before it starts, so the read-only modes of the folder, and of every
  file of the worker, bind it. A worker that is not root gets the same jail in a user namespace: the child
  is uid 65534 there, without any capability over the mounts, but it is the worker's account to the files
  it can still see (``separate_user: false``). Where even that does not work, a bare user namespace (no
  network, nothing more) is the last resort. A root worker never falls back to a mode without the
  separate user: unless MEDBROKER_SANDBOX_REQUIRE_NETWORK_ISOLATION is off (a developer's machine), the
  run fails with a message for the administrator. The strongest mode that works is probed, and kept for
  the life of the process once it is the strongest this account can have (a weaker one is probed again);
- with no_new_privs, at most ``PROCESSES`` processes (counted in its own user namespace: other sandboxes
  running as uid 65534 at the same time do not use up its share), and when the child ends or is killed
  every process it started ends with it (the PID namespace goes with its init), whatever session or
  process group it moved to;
- under resource limits set between fork and exec: address space (``memory_mb``), CPU seconds, 64 open
  files, no file writes (RLIMIT_FSIZE 0), no core dumps; an empty environment but PATH and the thread
  counts; stdin closed; in its own process group, killed whole;
- reading only the prepared inputs, named by random tokens, and the model, all read-only (files 0444,
  folders 0555, and a read-only mount in the jail), inside a folder only the worker can enter; it works
  from an empty folder, so a model cannot name a file of the job as "external data" to read it;
- with a deadline per case and one for the whole run: a case that runs past ``case_seconds`` is recorded
  as a timeout, the child is killed and a new one goes on with the cases after it; past the run's deadline
  (``case_seconds`` per case plus an allowance) the remaining cases fail as timeouts. A child that dies (the
  memory limit, a crash in the runtime) fails the case it was on, and a new child goes on too. A line of
  output is capped (``MAX_LINE_BYTES``), so a model cannot exhaust the worker's memory through its output;
  a child that breaks the order of its messages fails its case.

Failed cases are returned with their reason and are never dropped: the results count them as wrong.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import os
import re
import resource
import secrets
import select
import selectors
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from django.utils.translation import gettext as _

from medbroker.core import confinement
from medbroker.core import jail as jail_module
from medbroker.core.jail import FAILED as JAIL_FAILED
from medbroker.core.jail import SETUID, USER_NAMESPACE
from medbroker.evaluations.sandbox.child import TEST_HOOKS_VARIABLE
from medbroker.evaluations.sandbox.manifest import CaseError, case_prepare, output_interpret, spatial_shape

logger = logging.getLogger(__name__)

CHILD_PATH = Path(__file__).with_name("child.py")
JAIL_PATH = Path(jail_module.__file__)
NOBODY = "65534"
OPEN_FILES = 64
# Processes (threads included) of the child's account; ONNX Runtime and NumPy run one thread each here.
PROCESSES = 64
# One line of the child's output at most; past it the case fails and the child is killed.
MAX_LINE_BYTES = 16 * 1024 * 1024
STDERR_TAIL_BYTES = 4096
# Loading a model is not a case: it gets its own allowance, at least this long.
LOAD_SECONDS = 120
# The whole run may take case_seconds per case, one load and this much more.
RUN_MARGIN_SECONDS = 60
READ_CHUNK = 64 * 1024
# A path every sandbox identity can search; mkdtemp makes the folder itself private until it is sealed.
SANDBOX_PATH = "/usr/local/bin:/usr/bin:/bin"
# How long a killed jail's processes may take to end, at most (they end at once: SIGKILL).
NAMESPACE_END_SECONDS = 10
JOB_FOLDER = "job"
WORK_FOLDER = "empty"

Progress = Callable[[int, int], None]


class SandboxError(Exception):
    """The model cannot be run at all (no isolation, the model does not load); the message is Korean."""


@dataclass(frozen=True)
class Isolation:
    name: str
    prefix: tuple[str, ...]
    network_isolated: bool
    # True when the child runs as a user of its own (uid 65534): the read-only modes of its folder, and of
    # every file of the worker's account, bind it. In a user namespace it keeps the worker's account, without
    # capabilities: it cannot open the network, but may change what that account owns and can still see.
    separate_user: bool
    # The interpreter, and the folder of NumPy and ONNX Runtime when it is not that interpreter's own.
    python: str = sys.executable
    site: str | None = None
    # How ``jail.py`` sheds its powers before the child starts (SETUID or USER_NAMESPACE); None: no jail,
    # the child starts directly (no mount or PID namespace).
    jail: str | None = None


@dataclass
class SandboxResult:
    # case_id -> the value the metrics read (see ``manifest.output_interpret``).
    outputs: dict[str, Any] = field(default_factory=dict)
    # [{"case_id", "reason": "timeout" | "error", "detail"}]
    failures: list[dict[str, str]] = field(default_factory=list)
    environment: dict[str, Any] = field(default_factory=dict)


NO_ISOLATION = Isolation(name="none", prefix=(), network_isolated=False, separate_user=False)


def _worker_is_root() -> bool:
    return os.geteuid() == 0


def _interpreters() -> list[tuple[str, str | None]]:
    """The worker's own interpreter, then the system's of the same version with the worker's packages: a
    virtual environment's interpreter may sit in a folder uid 65534 cannot enter (root's home, with pyenv)."""
    found: list[tuple[str, str | None]] = [(sys.executable, None)]
    system = shutil.which(f"python{sys.version_info.major}.{sys.version_info.minor}", path=SANDBOX_PATH)
    if system and os.path.realpath(system) != os.path.realpath(sys.executable):
        found.append((system, str(Path(np.__file__).resolve().parent.parent)))
    return found


NAMESPACES = ("--net", "--ipc", "--mount", "--pid", "--fork", "--kill-child", "--mount-proc")


def _candidates() -> list[Isolation]:
    """Every confinement this account may use, strongest first."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return []
    found: list[Isolation] = []
    if _worker_is_root():
        found.extend(
            Isolation(
                name="namespaces-uid-65534",
                prefix=(unshare, *NAMESPACES),
                network_isolated=True,
                separate_user=True,
                python=python,
                site=site,
                jail=SETUID,
            )
            for python, site in _interpreters()
        )
    found.append(
        Isolation(
            name="user-namespace-jail",
            prefix=(unshare, "--user", "--map-root-user", *NAMESPACES),
            network_isolated=True,
            separate_user=False,
            jail=USER_NAMESPACE,
        )
    )
    found.append(
        Isolation(
            name="user-namespace",
            prefix=(unshare, "--user", f"--map-user={NOBODY}", f"--map-group={NOBODY}", "--net"),
            network_isolated=True,
            separate_user=False,
        )
    )
    # util-linux before 2.38 has no --map-user.
    found.append(
        Isolation(
            name="user-namespace-root",
            prefix=(unshare, "--user", "--map-root-user", "--net"),
            network_isolated=True,
            separate_user=False,
        )
    )
    return found


def _probe_script(site: str | None) -> str:
    return (
        "import json, os, socket, sys\n"
        f"sys.path[:0] = {json.dumps([site] if site else [])}\n"
        "import numpy, onnxruntime\n"
        "status = dict(line.split(':', 1) for line in open('/proc/self/status') if ':' in line)\n"
        "print(json.dumps({'uid': os.geteuid(), 'interfaces': sorted(n for _, n in socket.if_nameindex()),\n"
        "                  'no_new_privs': status.get('NoNewPrivs', '').strip(),\n"
        "                  'files': os.listdir('.')}))\n"
    )


def isolation_check(candidate: Isolation) -> bool:
    """Whether ``candidate`` works here: its child starts in an empty folder, imports NumPy and ONNX
    Runtime, sees no network interface but the loopback one and, in a jail, is uid 65534 (as root) with
    no_new_privs set."""
    try:
        completed = sandbox_script_run(
            _probe_script(candidate.site), isolation=candidate, memory_mb=4096, cpu_seconds=60, timeout=60
        )
        seen = json.loads(completed.stdout.decode("ascii", "replace").strip().splitlines()[-1])
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return False
    if completed.returncode != 0 or not isinstance(seen, dict):
        return False
    if seen.get("interfaces") not in (["lo"], []) or seen.get("files") != []:
        return False
    if candidate.jail is not None and seen.get("no_new_privs") != "1":
        return False
    return not (candidate.separate_user and seen.get("uid") != int(NOBODY))


def _complete(isolation: Isolation) -> bool:
    """The strongest confinement this account can have: a root worker's child as uid 65534 in the jail."""
    if _worker_is_root():
        return isolation.jail == SETUID and isolation.separate_user
    return isolation.network_isolated


_probed: Isolation | None = None
_probe_lock = threading.Lock()


def isolation_probe() -> Isolation:
    """The strongest confinement that works here (see ``isolation_check``). Kept once the strongest this
    account can have works (it does not change while the worker lives); anything less is probed again at
    the next run, so a passing failure (a full process table, a slow start) does not weaken later runs."""
    global _probed
    with _probe_lock:
        if _probed is not None:
            return _probed
        for candidate in _candidates():
            if not isolation_check(candidate):
                continue
            if _complete(candidate):
                _probed = candidate
            elif _worker_is_root():
                logger.warning(
                    "evaluation sandbox: the jail as uid 65534 does not work; only %s, which keeps root's "
                    "account: runs are refused unless network isolation is optional",
                    candidate.name,
                )
            if not candidate.separate_user and not _worker_is_root():
                logger.warning(
                    "evaluation sandbox: %s; the model's process keeps the worker's account", candidate.name
                )
            return candidate
        logger.warning("evaluation sandbox: no network isolation available")
        return NO_ISOLATION


def _environment(threads: int, extra: dict[str, str] | None = None) -> dict[str, str]:
    count = str(threads)
    return {
        "PATH": SANDBOX_PATH,
        "OMP_NUM_THREADS": count,
        "OPENBLAS_NUM_THREADS": count,
        "MKL_NUM_THREADS": count,
        **(extra or {}),
    }


def _limits(memory_mb: int, cpu_seconds: int) -> Callable[[], None]:
    memory = memory_mb * 1024 * 1024

    def apply() -> None:
        # Runs in the forked child before exec: system calls only, nothing that could take a lock.
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds))
        resource.setrlimit(resource.RLIMIT_NOFILE, (OPEN_FILES, OPEN_FILES))
        resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    return apply


def hidden_paths() -> list[str]:
    """The folders the jail covers (``core/confinement.py``, the same for workspaces)."""
    return confinement.hidden_paths()


def kept_paths(isolation: Isolation) -> list[str]:
    """What the child needs from the worker's filesystem: the interpreter with its standard library and
    virtual environment, NumPy and ONNX Runtime, and the folder of ``child.py``."""
    found = [
        sys.prefix,
        sys.base_prefix,
        os.path.dirname(os.path.dirname(os.path.realpath(isolation.python))),
        str(CHILD_PATH.parent),
    ]
    if isolation.site:
        found.append(isolation.site)
    for name in ("numpy", "onnxruntime"):
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.origin:
            found.append(str(Path(spec.origin).parent.parent))
    # "/" would keep everything: an interpreter installed at the top would otherwise undo every cover.
    return [path for path in dict.fromkeys(os.path.realpath(path) for path in found) if path != "/"]


def _command(
    arguments: Sequence[str], *, folder: Path, isolation: Isolation, hidden: Sequence[str]
) -> tuple[list[str], str]:
    """The command line and working folder that start ``python -I -B <arguments>`` confined."""
    program = [isolation.python, "-I", "-B", *arguments]
    if isolation.jail is None:
        return [*isolation.prefix, *program], str(folder)
    jail = [isolation.python, "-I", "-B", str(JAIL_PATH), "--root", str(folder)]
    jail += ["--identity", isolation.jail, "--processes", str(PROCESSES)]
    for path in hidden:
        jail += ["--hide", path]
    for path in kept_paths(isolation):
        jail += ["--keep", path]
    # The jail changes to the job's folder once it is mounted; until then "/" is a folder every identity has.
    return [*isolation.prefix, *jail, "--", *program], "/"


def sandbox_spawn(
    arguments: Sequence[str],
    *,
    folder: Path,
    isolation: Isolation,
    memory_mb: int,
    cpu_seconds: int,
    threads: int,
    extra_environment: dict[str, str] | None = None,
    hidden: Sequence[str] = (),
) -> subprocess.Popen[bytes]:
    """Start ``python -I -B <arguments>`` confined, working in ``folder`` (the job's folder; in a jail, one
    that covers ``hidden``), with pipes for stdout and stderr."""
    command, cwd = _command(arguments, folder=folder, isolation=isolation, hidden=hidden)
    return subprocess.Popen(  # noqa: S603 (fixed arguments, no shell)
        command,
        cwd=cwd,
        env=_environment(threads, extra_environment),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        close_fds=True,
        start_new_session=True,
        preexec_fn=_limits(memory_mb, cpu_seconds),
    )


def _namespace_init(pid: int) -> int | None:
    """A pidfd of the jail (the only child of ``unshare``, the init of the PID namespace), or None."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text(encoding="ascii").split()
        return os.pidfd_open(int(children[0])) if len(children) == 1 else None
    except (OSError, ValueError):
        return None


def _kill(process: subprocess.Popen[bytes], *, jailed: bool = False) -> None:
    """Kill the process group of ``process`` and, in a jail, wait until its PID namespace is gone."""
    # Once reaped, its pid (the group's id) may belong to someone else: only a live group is killed.
    if process.returncode is None:
        # Opened while ``unshare`` still lives, so the jail's pid cannot belong to another process yet.
        init = _namespace_init(process.pid) if jailed else None
        try:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            if init is not None:
                # The jail's end ends every process of its namespace, those that left the group too; the
                # pidfd turns readable only once they are all gone.
                poller = select.poll()
                poller.register(init, select.POLLIN)
                poller.poll(NAMESPACE_END_SECONDS * 1000)
        finally:
            if init is not None:
                os.close(init)
    for stream in (process.stdout, process.stderr):
        if stream is not None:
            stream.close()


# Read-only for everyone: the child reads as another user (or as the owner without capabilities), and none
# of these may be written; the folder holds nothing but copies made for this run.
READ_ONLY_FILE = 0o444
READ_ONLY_FOLDER = 0o555


def _seal(folder: Path) -> None:
    """Make everything under ``folder`` read-only: files 0444, folders 0555 (the folder itself last)."""
    for root, folders, files in os.walk(folder, topdown=False):
        for name in files:
            os.chmod(os.path.join(root, name), READ_ONLY_FILE)
        for name in folders:
            os.chmod(os.path.join(root, name), READ_ONLY_FOLDER)
    os.chmod(folder, READ_ONLY_FOLDER)


def _remove(folder: Path) -> None:
    def writable_again(function: Any, path: str, _error: Any) -> None:
        os.chmod(os.path.dirname(path), stat.S_IRWXU)
        if os.path.isdir(path):
            os.chmod(path, stat.S_IRWXU)
        function(path)

    if folder.exists():
        for root, folders, _files in os.walk(folder):
            os.chmod(root, stat.S_IRWXU)
            for name in folders:
                os.chmod(os.path.join(root, name), stat.S_IRWXU)
        shutil.rmtree(folder, onerror=writable_again)


def _folder_create() -> Path:
    """A private folder (0700) for one run; the job's sealed folder is ``JOB_FOLDER`` inside it, so that a
    process of uid 65534 outside the run's jail cannot reach it, however readable the job's files are."""
    return Path(tempfile.mkdtemp(prefix="medbroker-sandbox-"))


def _job_folder(folder: Path) -> Path:
    job = folder / JOB_FOLDER
    job.mkdir(exist_ok=True)
    return job


# ---------------------------------------------------------------------------------------------------------
# Reading the child
# ---------------------------------------------------------------------------------------------------------

LINE, TIMEOUT, ENDED, OVERSIZE = "line", "timeout", "ended", "oversize"
# Colour codes of ONNX Runtime's log lines, dropped from the messages people read.
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")


class _Reader:
    """Lines of the child's stdout, each by a deadline; the tail of its stderr for error messages."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        assert process.stdout is not None and process.stderr is not None
        self.stdout, self.stderr = process.stdout.fileno(), process.stderr.fileno()
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.stdout, selectors.EVENT_READ)
        self.selector.register(self.stderr, selectors.EVENT_READ)
        self.buffer = bytearray()
        self.stderr_tail = bytearray()
        self.stdout_open = True

    def close(self) -> None:
        self.selector.close()

    def next(self, deadline: float) -> tuple[str, bytes]:
        while True:
            newline = self.buffer.find(b"\n")
            if newline > MAX_LINE_BYTES:
                return OVERSIZE, b""
            if newline >= 0:
                line = bytes(self.buffer[:newline])
                del self.buffer[: newline + 1]
                return LINE, line
            if len(self.buffer) > MAX_LINE_BYTES:
                return OVERSIZE, b""
            if not self.stdout_open:
                return ENDED, b""
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return TIMEOUT, b""
            for key, _events in self.selector.select(timeout=remaining):
                chunk = os.read(key.fd, READ_CHUNK)
                if key.fd == self.stdout:
                    if chunk:
                        self.buffer.extend(chunk)
                    else:
                        self.stdout_open = False
                        self.selector.unregister(self.stdout)
                elif chunk:
                    self.stderr_tail = (self.stderr_tail + chunk)[-STDERR_TAIL_BYTES:]
                else:
                    self.selector.unregister(self.stderr)

    def stderr_forget(self) -> None:
        """Drop what stderr said so far: a crash's detail is what the child wrote about the current case."""
        self.stderr_tail.clear()

    def stderr_text(self) -> str:
        text = ANSI_ESCAPE.sub("", self.stderr_tail.decode("utf-8", "replace"))
        return text.strip()[-1000:]


def _ended_detail(
    process: subprocess.Popen[bytes], reader: _Reader, isolation: Isolation, *, started: bool
) -> str:
    """Why the child ended; ``started``: whether it had said anything (the jail's own failure comes
    before that, and only then is its status read as the jail's)."""
    try:
        code = process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        _kill(process, jailed=isolation.jail is not None)
        code = process.returncode
    signal_number = None
    if code is not None and code < 0:
        signal_number = -code
    elif isolation.jail is not None and code is not None and 128 < code <= 128 + 64:
        # The jail is the namespace's init: it cannot die of the child's signal, so it passes it on as
        # 128 + the signal's number, as shells do.
        signal_number = code - 128
    if isolation.jail is not None and code == JAIL_FAILED and not started:
        detail = _("격리 실행 환경을 준비하지 못했습니다.")
    elif signal_number is not None:
        try:
            name = signal.Signals(signal_number).name
        except ValueError:
            name = str(signal_number)
        detail = _("실행 프로세스가 신호 %(signal)s로 종료되었습니다(메모리·CPU 한도 초과 등).") % {
            "signal": name
        }
    else:
        detail = _("실행 프로세스가 비정상 종료되었습니다(종료 코드 %(code)s).") % {"code": code}
    tail = reader.stderr_text()
    return f"{detail} {tail}".strip()[:2000]


# ---------------------------------------------------------------------------------------------------------
# Running a model
# ---------------------------------------------------------------------------------------------------------


@dataclass
class _Case:
    case_id: str
    relative: str
    original_shape: tuple[int, ...]


@dataclass
class _Run:
    cases: list[_Case]
    manifest: dict[str, Any]
    task_type: str
    classes: int
    case_seconds: float
    progress: Progress | None
    total: int
    result: SandboxResult
    versions: dict[str, str] = field(default_factory=dict)
    # time.monotonic() past which no case runs any more (set when the first child starts).
    deadline: float = float("inf")
    run_seconds: float = 0.0

    def done(self) -> int:
        return len(self.result.outputs) + len(self.result.failures)

    def fail(self, case: _Case, reason: str, detail: str) -> None:
        self.result.failures.append({"case_id": case.case_id, "reason": reason, "detail": detail})
        self._progress()

    def record(self, case: _Case, message: dict[str, Any]) -> None:
        if "error" in message:
            self.fail(case, "error", str(message["error"])[:2000])
            return
        try:
            value = output_interpret(
                message.get("output"),
                self.manifest,
                task_type=self.task_type,
                classes=self.classes,
                original_shape=case.original_shape,
            )
        except CaseError as error:
            self.fail(case, "error", str(error))
            return
        self.result.outputs[case.case_id] = value
        self._progress()

    def _progress(self) -> None:
        if self.progress is not None:
            self.progress(self.done(), self.total)


def _cases_prepare(
    folder: Path, inputs: Sequence[tuple[str, Path]], manifest: dict[str, Any], run: _Run
) -> None:
    (folder / "cases").mkdir()
    for case_id, path in inputs:
        try:
            array, original = case_prepare(Path(path), manifest)
        except Exception as error:
            # A file the manifest's preprocessing cannot use (or a DICOM it cannot decode): the case fails,
            # with the reason for the operator, and still counts.
            run.fail(
                _Case(case_id, "", ()),
                "error",
                _("입력을 준비하지 못했습니다: %(error)s") % {"error": error},
            )
            continue
        # A name nobody can guess: the model could otherwise name the inputs (all of them, the other
        # cases' too) as files to load its constants from.
        relative = f"cases/{secrets.token_hex(16)}.npy"
        np.save(folder / relative, array, allow_pickle=False)
        run.cases.append(_Case(case_id, relative, original))


def _job_write(folder: Path, model_path: Path, run: _Run, threads: int) -> None:
    shutil.copyfile(model_path, folder / "model.onnx")
    # The child works here: an empty folder, so paths the model names relative to it lead nowhere.
    (folder / WORK_FOLDER).mkdir()
    model_input = run.manifest["input"]
    job = {
        "model": "model.onnx",
        "workdir": WORK_FOLDER,
        "threads": threads,
        "cases": [[case.case_id, case.relative] for case in run.cases],
        "input_dtype": model_input["dtype"],
        "output": {
            **run.manifest["output"],
            "spatial_shape": list(spatial_shape(run.manifest)),
            "channels_last": model_input["layout"].endswith("C"),
        },
    }
    (folder / "job.json").write_text(json.dumps(job), encoding="utf-8")


def _run_seconds(case_seconds: float, cases: int) -> float:
    """The whole run's allowance: ``case_seconds`` per case, one model load and a margin. Restarts after
    timeouts and crashes load the model again within it, so a child that is slow on purpose at every
    start cannot stretch the run."""
    return case_seconds * cases + max(LOAD_SECONDS, case_seconds) + RUN_MARGIN_SECONDS


def _rest_fail(run: _Run, position: int) -> int:
    """The run's time is over: the cases from ``position`` on fail as timeouts (they still count)."""
    detail = _("실행 전체의 제한 시간(%(seconds)s초)을 넘었습니다.") % {"seconds": round(run.run_seconds)}
    for case in run.cases[position:]:
        run.fail(case, "timeout", detail)
    return len(run.cases)


def _child_drive(
    process: subprocess.Popen[bytes], run: _Run, position: int, first_start: bool, isolation: Isolation
) -> int:
    """Read one child to its end; returns the position of the next case to run. Raises ``SandboxError``
    when the first child cannot load the model, or a child cannot start at all.

    The child says, in this order: its versions (once, optional), that the model is loaded (once), then one
    line per case. Anything else out of turn fails the case it was on: a message that could come again
    and again must not move a deadline."""
    reader = _Reader(process)
    jailed = isolation.jail is not None
    ready = versions_seen = False
    deadline = min(time.monotonic() + max(LOAD_SECONDS, run.case_seconds), run.deadline)
    try:
        while position < len(run.cases):
            event, line = reader.next(deadline)
            case = run.cases[position]
            if event == LINE:
                try:
                    message = json.loads(line)
                except ValueError:
                    message = None
                if not isinstance(message, dict):
                    _kill(process, jailed=jailed)
                    run.fail(case, "error", _("실행 프로세스의 출력을 읽을 수 없습니다."))
                    return position + 1
                if not ready and not versions_seen and isinstance(message.get("versions"), dict):
                    versions_seen = True
                    run.versions = {str(key): str(value) for key, value in message["versions"].items()}
                    continue
                if not ready and message.get("ready") is True:
                    ready = True
                    reader.stderr_forget()
                    deadline = min(time.monotonic() + run.case_seconds, run.deadline)
                    continue
                if not ready and "fatal" in message:
                    detail = str(message["fatal"])[:2000]
                    if first_start:
                        raise SandboxError(_("모델을 불러오지 못했습니다: %(detail)s") % {"detail": detail})
                    _kill(process, jailed=jailed)
                    run.fail(case, "error", detail)
                    return position + 1
                if not ready or message.get("case_id") != case.case_id:
                    _kill(process, jailed=jailed)
                    run.fail(case, "error", _("실행 프로세스의 출력 순서가 맞지 않습니다."))
                    return position + 1
                run.record(case, message)
                reader.stderr_forget()
                position += 1
                deadline = min(time.monotonic() + run.case_seconds, run.deadline)
                continue
            if event == ENDED:
                detail = _ended_detail(process, reader, isolation, started=versions_seen)
            else:
                _kill(process, jailed=jailed)
            if event == TIMEOUT and time.monotonic() >= run.deadline:
                return _rest_fail(run, position)
            if event == TIMEOUT and ready:
                run.fail(
                    case,
                    "timeout",
                    _("증례 하나의 제한 시간(%(seconds)s초)을 넘었습니다.") % {"seconds": run.case_seconds},
                )
                return position + 1
            if event == OVERSIZE:
                run.fail(case, "error", _("모델 출력이 너무 큽니다."))
                return position + 1
            if event == TIMEOUT:
                detail = _("모델을 불러오는 데 시간이 너무 오래 걸립니다.")
            if not versions_seen:
                # The child reads the model only after its versions line: nothing of the model ran yet, so
                # the sandbox itself failed to start, which no case (and no model) is to be blamed for.
                raise SandboxError(_("모델 실행 환경을 시작하지 못했습니다: %(detail)s") % {"detail": detail})
            if not ready and first_start:
                raise SandboxError(_("모델을 불러오지 못했습니다: %(detail)s") % {"detail": detail})
            run.fail(case, "error", detail)
            return position + 1
        return position
    finally:
        reader.close()
        _kill(process, jailed=jailed)


def _isolation_refusal(isolation: Isolation) -> str | None:
    """Why a run that requires isolation cannot run with ``isolation``, or None."""
    if not isolation.network_isolated:
        return _(
            "모델 실행 환경을 네트워크에서 격리할 수 없어 실행하지 않았습니다. "
            "서버에서 unshare(네트워크 네임스페이스)를 쓸 수 있는지 시스템 관리자에게 확인해 주세요."
        )
    if _worker_is_root() and not (isolation.jail == SETUID and isolation.separate_user):
        # A root worker whose child would keep root's account (its files: the secret key, the database)
        # does not run the model at all.
        return _(
            "모델 실행 환경을 별도 계정(uid 65534)의 격리 공간으로 분리할 수 없어 실행하지 않았습니다. "
            "서버에서 unshare(마운트·PID 네임스페이스)와 계정 전환을 쓸 수 있는지 시스템 관리자에게 "
            "확인해 주세요."
        )
    return None


def sandbox_run(
    *,
    model_path: Path,
    inputs: Sequence[tuple[str, Path]],
    manifest: dict[str, Any],
    case_seconds: float,
    memory_mb: int,
    threads: int,
    task_type: str,
    classes: int,
    progress: Progress | None = None,
    require_network_isolation: bool = True,
    test_hooks: dict[str, dict[str, Any]] | None = None,
) -> SandboxResult:
    """Run the model at ``model_path`` on ``inputs`` ([(case_id, file)]) in the sandbox, case by case.

    ``manifest`` is a validated manifest; ``task_type`` and ``classes`` (the number of classes) say how its
    outputs are read. ``progress(done, total)`` follows the cases. ``require_network_isolation`` (the
    setting MEDBROKER_SANDBOX_REQUIRE_NETWORK_ISOLATION) refuses a run without the full confinement this
    worker can have. ``test_hooks`` (tests only: case_id -> ``{"sleep": seconds}``, ``{"abort": True}``,
    ``{"repeat_ready": True}`` or ``{"setsid": True}``) makes the child sleep before a case, die there,
    repeat a message out of turn or leave its process group. Raises ``SandboxError`` when the confinement
    is required and missing, when the sandbox cannot start, or when the model does not load.
    """
    isolation = isolation_probe()
    refusal = _isolation_refusal(isolation)
    if require_network_isolation and refusal is not None:
        raise SandboxError(refusal)
    cpu_seconds = int((case_seconds * max(1, len(inputs)) + 60) * max(1, threads))
    result = SandboxResult()
    run = _Run(
        cases=[],
        manifest=manifest,
        task_type=task_type,
        classes=classes,
        case_seconds=case_seconds,
        progress=progress,
        total=len(inputs),
        result=result,
    )
    hidden = hidden_paths()
    folder = _folder_create()
    try:
        job = _job_folder(folder)
        _cases_prepare(job, inputs, manifest, run)
        _job_write(job, Path(model_path), run, threads)
        _seal(job)
        extra = {TEST_HOOKS_VARIABLE: json.dumps(test_hooks)} if test_hooks else None
        run.run_seconds = _run_seconds(case_seconds, len(run.cases))
        run.deadline = time.monotonic() + run.run_seconds
        position, starts = 0, 0
        while position < len(run.cases):
            starts += 1
            process = sandbox_spawn(
                [str(CHILD_PATH), "job.json", str(position), *([isolation.site] if isolation.site else [])],
                folder=job,
                isolation=isolation,
                memory_mb=memory_mb,
                cpu_seconds=cpu_seconds,
                threads=threads,
                extra_environment=extra,
                hidden=hidden,
            )
            position = _child_drive(process, run, position, first_start=starts == 1, isolation=isolation)
    finally:
        _remove(folder)
    result.environment = {
        **run.versions,
        "isolation": isolation.name,
        "network_isolated": isolation.network_isolated,
        "separate_user": isolation.separate_user,
        # The model saw only its own job's files (mount namespace) and processes (PID namespace).
        "filesystem_isolated": isolation.jail is not None,
        "limits": {
            "case_seconds": case_seconds,
            "run_seconds": run.run_seconds,
            "memory_mb": memory_mb,
            "threads": threads,
            "cpu_seconds": cpu_seconds,
            "open_files": OPEN_FILES,
            "processes": PROCESSES if isolation.jail is not None else None,
            "file_size_bytes": 0,
        },
    }
    return result


def sandbox_script_run(
    script: str,
    *,
    files: dict[str, bytes] | None = None,
    memory_mb: int = 512,
    cpu_seconds: int = 30,
    timeout: float = 60,
    isolation: Isolation | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """Run a short Python ``script`` the way a model's child runs: same confinement, limits and sealed
    folder (holding ``files``; the script works in it). For checking the sandbox itself, with code simpler
    than a model."""
    isolation = isolation or isolation_probe()
    folder = _folder_create()
    try:
        job = _job_folder(folder)
        for name, content in (files or {}).items():
            (job / name).write_bytes(content)
        _seal(job)
        process = sandbox_spawn(
            ["-c", script],
            folder=job,
            isolation=isolation,
            memory_mb=memory_mb,
            cpu_seconds=cpu_seconds,
            threads=1,
            hidden=hidden_paths(),
        )
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill(process, jailed=isolation.jail is not None)
            raise
        return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
    finally:
        _remove(folder)
