"""The sandbox: confinement (no network, limits, read-only inputs, the jail's filesystem and processes), the
runner's handling of slow, crashing and hostile models, and the manifest's preprocessing and output checks.

The confinement is checked with short Python scripts run exactly as a model's child is (same command prefix,
jail, limits and sealed folder): what they can and cannot do is what a model's runtime could and could not
do. The jail's checks run in both of its modes: as uid 65534 (a root worker) and in a user namespace (a
worker that is not root).
"""

from __future__ import annotations

import ast
import base64
import ctypes
import functools
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import uuid
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pydicom
import pytest
from django.conf import settings as django_settings
from onnx import TensorProto, helper
from pydicom.dataset import FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

from medbroker.core.errors import DomainError
from medbroker.core.testing import service_missing
from medbroker.evaluations import testdata
from medbroker.evaluations.sandbox import runner
from medbroker.evaluations.sandbox.manifest import (
    CaseError,
    case_preprocess,
    manifest_validate,
    mask_resize,
    output_interpret,
)
from medbroker.evaluations.sandbox.runner import (
    CHILD_PATH,
    JAIL_PATH,
    NO_ISOLATION,
    Isolation,
    SandboxError,
    sandbox_run,
    sandbox_script_run,
)

CLASSIFIER = manifest_validate(testdata.CLASSIFIER_MANIFEST, task_type="binary")
ROOT_JAIL, USER_NAMESPACE_JAIL = "namespaces-uid-65534", "user-namespace-jail"


@functools.cache
def _working_candidate(name: str) -> Isolation | None:
    for candidate in runner._candidates():
        if candidate.name == name and runner.isolation_check(candidate):
            return candidate
    return None


@pytest.fixture(params=[ROOT_JAIL, USER_NAMESPACE_JAIL])
def jailed(request: pytest.FixtureRequest) -> Isolation:
    """The jail in each of its modes: as uid 65534 (a root worker's) and in a user namespace (a worker's
    that is not root)."""
    if request.param == ROOT_JAIL and os.geteuid() != 0:
        pytest.skip("only a root worker starts the jail as uid 65534")
    found = _working_candidate(request.param)
    if found is None:
        service_missing(f"the sandbox's jail ({request.param}) does not work on this machine")
    assert found is not None
    return found


@pytest.fixture
def listening() -> Iterator[int]:
    """A TCP server on the host's loopback, listening: what a model would try to reach."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    try:
        yield server.getsockname()[1]
    finally:
        server.close()


def _connect_script(port: int) -> str:
    return (
        "import json, socket\n"
        "s = socket.socket()\n"
        "s.settimeout(2)\n"
        "try:\n"
        f"    s.connect(('127.0.0.1', {port}))\n"
        "    print(json.dumps({'connected': True}))\n"
        "except OSError as error:\n"
        "    print(json.dumps({'connected': False, 'errno': error.errno}))\n"
    )


def _json(completed: Any) -> dict[str, Any]:
    assert completed.returncode == 0, completed.stderr.decode()
    return dict(json.loads(completed.stdout.decode().strip().splitlines()[-1]))


def _attempts_script(attempts: dict[str, str]) -> str:
    """A script that runs each statement and prints {name: "done" or the errno of its OSError}."""
    lines = ["import ctypes, json, os, socket", "attempts = {}"]
    for name, statement in attempts.items():
        lines += [
            "try:",
            f"    {statement}",
            f"    attempts[{name!r}] = 'done'",
            "except OSError as error:",
            f"    attempts[{name!r}] = error.errno",
        ]
    lines.append("print(json.dumps(attempts))")
    return "\n".join(lines) + "\n"


def _processes_with(marker: str) -> list[str]:
    """The host's processes whose command line or environment holds ``marker``."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        for name in ("cmdline", "environ"):
            try:
                content = Path(f"/proc/{pid}/{name}").read_bytes()
            except OSError:
                continue
            if marker.encode() in content:
                found.append(pid)
                break
    return found


def _case_files(folder: Path, values: list[float], size: int = 32) -> list[tuple[str, Path]]:
    inputs = []
    for index, value in enumerate(values):
        path = folder / f"case{index}.npy"
        np.save(path, np.full((size, size), value, dtype=np.float32))
        inputs.append((f"K{index + 1:02d}", path))
    return inputs


def _model(tmp_path: Path, content: bytes, name: str = "model.onnx") -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


def _run(model: Path, inputs: list[tuple[str, Path]], **options: Any) -> runner.SandboxResult:
    settings: dict[str, Any] = {
        "manifest": CLASSIFIER,
        "case_seconds": 30,
        "memory_mb": 1024,
        "threads": 1,
        "task_type": "binary",
        "classes": 2,
        **options,
    }
    return sandbox_run(model_path=model, inputs=inputs, **settings)


# ---------------------------------------------------------------------------------------------------------
# Confinement
# ---------------------------------------------------------------------------------------------------------


def test_the_network_is_unreachable_from_the_sandbox(jailed: Isolation, listening: int) -> None:
    # The same script outside the sandbox reaches the server: the refusal below is the sandbox's doing.
    assert _json(sandbox_script_run(_connect_script(listening), isolation=NO_ISOLATION)) == {
        "connected": True
    }

    seen = _json(sandbox_script_run(_connect_script(listening), isolation=jailed))

    # ENETUNREACH: a new network namespace has only a loopback interface, and it is down.
    assert seen == {"connected": False, "errno": 101}


def test_the_sandbox_sees_only_a_loopback_interface(jailed: Isolation) -> None:
    script = "import json, socket\nprint(json.dumps(sorted(n for _, n in socket.if_nameindex())))"

    completed = sandbox_script_run(script, isolation=jailed)

    assert json.loads(completed.stdout) == ["lo"]


def test_the_limits_environment_and_identity_of_the_child(isolation: Isolation) -> None:
    script = (
        "import json, os, resource\n"
        "limits = {name: resource.getrlimit(getattr(resource, name)) for name in\n"
        "          ('RLIMIT_AS', 'RLIMIT_CPU', 'RLIMIT_NOFILE', 'RLIMIT_FSIZE', 'RLIMIT_CORE')}\n"
        "print(json.dumps({'limits': limits, 'environment': sorted(os.environ), 'uid': os.geteuid(),\n"
        "                  'files': sorted(os.listdir('.')), 'stdin': os.read(0, 10).decode()}))\n"
    )

    seen = _json(
        sandbox_script_run(
            script, files={"case.npy": b"x"}, isolation=isolation, memory_mb=768, cpu_seconds=45
        )
    )

    assert seen["limits"] == {
        "RLIMIT_AS": [768 * 1024 * 1024] * 2,
        "RLIMIT_CPU": [45, 45],
        "RLIMIT_NOFILE": [64, 64],
        "RLIMIT_FSIZE": [0, 0],
        "RLIMIT_CORE": [0, 0],
    }
    # PATH and the thread counts, nothing of the worker's environment (no secrets, no settings module);
    # LC_CTYPE is Python's own, set at start-up when the locale is C (PEP 538).
    assert sorted(set(seen["environment"]) - {"LC_CTYPE"}) == [
        "MKL_NUM_THREADS",
        "OMP_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
        "PATH",
    ]
    # It works in the job's folder, and stdin is closed.
    assert (seen["files"], seen["stdin"]) == (["case.npy"], "")
    # uid 65534 for real, or as seen inside a user namespace; root only in the last resort's namespace.
    assert seen["uid"] == (0 if isolation.name == "user-namespace-root" else 65534)


def test_the_jail_sets_no_new_privs_a_process_limit_and_its_own_processes(jailed: Isolation) -> None:
    script = (
        "import json, os, resource\n"
        "status = dict(line.split(':', 1) for line in open('/proc/self/status') if ':' in line)\n"
        "print(json.dumps({'ids': [os.getresuid(), os.getresgid(), os.getgroups()],\n"
        "                  'no_new_privs': status['NoNewPrivs'].strip(),\n"
        "                  'capabilities': status['CapEff'].strip(),\n"
        "                  'uid_map': open('/proc/self/uid_map').read().split(),\n"
        "                  'processes': resource.getrlimit(resource.RLIMIT_NPROC),\n"
        "                  'visible': sorted(int(pid) for pid in os.listdir('/proc') if pid.isdigit()),\n"
        "                  'cwd': os.getcwd()}))\n"
    )

    seen = _json(sandbox_script_run(script, isolation=jailed))

    assert seen == {
        "ids": [[65534] * 3, [65534] * 3, []],
        "no_new_privs": "1",
        "capabilities": "0000000000000000",
        # A user namespace of its own, where 65534 is the host's 65534 (as root) or the worker's account
        # (root of the jail's own user namespace).
        "uid_map": ["65534", "65534" if jailed.jail == runner.SETUID else "0", "1"],
        "processes": [64, 64],
        # Its own PID namespace: the jail (its init) and itself, none of the host's processes.
        "visible": [1, 2],
        "cwd": seen["cwd"],
    }
    # The job's own folder, at its own path under the host's temporary folder.
    within = Path(seen["cwd"]).relative_to(Path(tempfile.gettempdir()).resolve())
    assert within.parts[0].startswith("medbroker-sandbox-")


@pytest.fixture
def nobody_elsewhere() -> Iterator[None]:
    """Three processes of uid 65534 outside the sandbox (as root): they must not count against its limit."""
    if os.geteuid() != 0:
        yield
        return
    sleepers = [
        subprocess.Popen(["sleep", "600"], user=65534, group=65534, extra_groups=[], start_new_session=True)
        for _ in range(3)
    ]
    try:
        yield
    finally:
        for sleeper in sleepers:
            sleeper.kill()
            sleeper.wait()


def test_the_process_limit_stops_a_fork_bomb(jailed: Isolation, nobody_elsewhere: None) -> None:
    if jailed.jail == runner.USER_NAMESPACE and os.geteuid() == 0:
        # The kernel exempts root's own account from RLIMIT_NPROC, and in this mode the child is the
        # worker's account; a root worker does not use this mode (it requires the jail as uid 65534).
        pytest.skip("RLIMIT_NPROC does not bind a user namespace of root's account")
    script = (
        "import json, os, time\n"
        "started, refused = 0, None\n"
        "for _ in range(200):\n"
        "    try:\n"
        "        pid = os.fork()\n"
        "    except OSError as error:\n"
        "        refused = error.errno\n"
        "        break\n"
        "    if pid == 0:\n"
        "        time.sleep(60)\n"
        "        os._exit(0)\n"
        "    started += 1\n"
        "print(json.dumps({'refused': refused, 'started': started}))\n"
    )

    seen = _json(sandbox_script_run(script, isolation=jailed))

    # EAGAIN at the 64th fork: 64 processes with the script itself, whatever else runs as uid 65534 (the
    # count is the sandbox's own user namespace's); the sleeping ones end with the run (PID namespace).
    assert seen == {"refused": 11, "started": 63}


def test_a_process_that_leaves_the_session_does_not_outlive_the_run(jailed: Isolation) -> None:
    marker = f"medbroker-escape-{uuid.uuid4().hex}"
    script = (
        "import json, os, sys\n"
        "read, write = os.pipe()\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    os.close(read)\n"
        "    os.set_inheritable(write, True)\n"
        "    code = 'import os, sys, time; os.write(int(sys.argv[1]), b\"x\"); time.sleep(600)'\n"
        f"    os.execv(sys.executable, [sys.executable, '-c', code, str(write), {marker!r}])\n"
        "os.close(write)\n"
        "started = os.read(read, 1) == b'x'\n"
        "print(json.dumps({'started': started, 'session': os.getsid(0)}))\n"
    )

    seen = _json(sandbox_script_run(script, isolation=jailed))

    # The escaped process was running in a session of its own when the script ended; the end of the
    # jail's PID namespace took it along.
    assert seen["started"] is True
    assert _processes_with(marker) == []


def test_the_inputs_are_read_only(isolation: Isolation, tmp_path: Path) -> None:
    if not isolation.separate_user:
        service_missing(f"the sandbox here ({isolation.name}) keeps the worker's account: no uid 65534")
    outside = Path(tempfile.gettempdir()) / f"medbroker-sandbox-escape-{tmp_path.name}"
    script = (
        _attempts_script(
            {
                "overwrite": "open('case.npy', 'r+b').write(b'x')",
                "create": "open('new.txt', 'wb')",
                "delete": "os.unlink('case.npy')",
                "chmod": "os.chmod('case.npy', 0o666)",
                "rename": "os.rename('case.npy', 'moved.npy')",
                "tmp": f"open({str(outside)!r}, 'wb', buffering=0).write(b'x')",
            }
        )
        + "print(json.dumps({'content': open('case.npy', 'rb').read().decode(), 'files': os.listdir('.')}))\n"
    )

    try:
        completed = sandbox_script_run(script, files={"case.npy": b"original"}, isolation=isolation)
    finally:
        outside.unlink(missing_ok=True)
    attempts, after = (json.loads(line) for line in completed.stdout.decode().splitlines())

    if isolation.jail is not None:
        # The job's folder is mounted read-only: EROFS, but for a file the modes refuse first (EACCES);
        # /tmp is the job's folder.
        assert attempts == {
            "overwrite": 13,
            "create": 30,
            "delete": 30,
            "chmod": 30,
            "rename": 30,
            "tmp": 30,
        }
    else:
        # EACCES or EPERM for each; /tmp is open to anyone, but the file size limit is 0: EFBIG on writing.
        assert attempts == {
            "overwrite": 13,
            "create": 13,
            "delete": 13,
            "chmod": 1,
            "rename": 13,
            "tmp": 27,
        }
    assert after == {"content": "original", "files": ["case.npy"]}


@pytest.fixture
def hidden_var_dir(settings: Any) -> Iterator[Path]:
    """VAR_DIR in a folder no other covered path holds (next to the project), with a file and a listening
    Unix socket in it: the database and a local service's socket, as a model would look for them."""
    try:
        folder = Path(tempfile.mkdtemp(prefix="medbroker-test-var-", dir=Path(settings.BASE_DIR).parent))
    except OSError as error:
        pytest.skip(f"no folder next to the project: {error}")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        (folder / "medbroker.sqlite3").write_bytes(b"reference standard")
        folder.chmod(0o755)
        (folder / "medbroker.sqlite3").chmod(0o644)
        server.bind(str(folder / "db.sock"))
        (folder / "db.sock").chmod(0o777)
        server.listen(1)
        settings.VAR_DIR = folder
        yield folder
    finally:
        server.close()
        shutil.rmtree(folder)


def _reach_script(folder: Path) -> str:
    return _attempts_script(
        {
            "read": f"open({str(folder / 'medbroker.sqlite3')!r}, 'rb').read()",
            "connect": f"socket.socket(socket.AF_UNIX).connect({str(folder / 'db.sock')!r})",
            "list": f"attempts['listing'] = sorted(os.listdir({str(folder)!r}))",
        }
    )


def test_the_child_cannot_reach_files_or_sockets_of_the_hidden_folders(
    jailed: Isolation, hidden_var_dir: Path
) -> None:
    # Outside the jail, uid 65534 reads the file and connects: only the jail stands in the way.
    assert _json(sandbox_script_run(_reach_script(hidden_var_dir), isolation=NO_ISOLATION)) == {
        "read": "done",
        "connect": "done",
        "listing": ["db.sock", "medbroker.sqlite3"],
        "list": "done",
    }

    seen = _json(sandbox_script_run(_reach_script(hidden_var_dir), isolation=jailed))

    # ENOENT for both. The folder itself is there, empty (an empty tmpfs covers it), or, when it lies in the
    # host's /tmp (a project under /tmp), not there at all.
    if hidden_var_dir.parent == Path(tempfile.gettempdir()).resolve():
        assert seen == {"read": 2, "connect": 2, "list": 2}
    else:
        assert seen == {"read": 2, "connect": 2, "listing": [], "list": "done"}


def test_the_child_sees_nothing_of_the_hosts_tmp(jailed: Isolation) -> None:
    visible = Path(tempfile.gettempdir()) / f"medbroker-host-{uuid.uuid4().hex}"
    visible.write_bytes(b"another run's model")
    visible.chmod(0o644)
    script = _attempts_script(
        {"read": f"open({str(visible)!r}, 'rb').read()", "list": "attempts['tmp'] = os.listdir('/tmp')"}
    )

    try:
        seen = _json(sandbox_script_run(script, files={"case.npy": b"x"}, isolation=jailed))
    finally:
        visible.unlink()

    # Of /tmp only the job's own folder shows (and the folders leading to the project, when it lives there).
    job = [name for name in seen["tmp"] if name.startswith("medbroker-sandbox-")]
    project = Path(django_settings.BASE_DIR).resolve()
    leading = [project.parts[2]] if project.parts[1:2] == ("tmp",) and len(project.parts) > 2 else []
    assert (seen["read"], seen["list"], len(job), sorted(set(seen["tmp"]) - set(job))) == (
        2,
        "done",
        1,
        leading,
    )


def test_the_child_sees_no_shared_memory_of_the_host(jailed: Isolation) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    key = int.from_bytes(os.urandom(3), "big") + 1
    segment = libc.shmget(key, 4096, 0o1000 | 0o666)  # IPC_CREAT, readable and writable by anyone
    assert segment >= 0, ctypes.get_errno()
    script = (
        "import ctypes, json\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        f"found = libc.shmget({key}, 0, 0)\n"
        "print(json.dumps({'found': found >= 0, 'errno': 0 if found >= 0 else ctypes.get_errno()}))\n"
    )
    try:
        outside = _json(sandbox_script_run(script, isolation=NO_ISOLATION))
        seen = _json(sandbox_script_run(script, isolation=jailed))
    finally:
        libc.shmctl(segment, 0, None)  # IPC_RMID

    assert outside == {"found": True, "errno": 0}
    # ENOENT: an IPC namespace of its own.
    assert seen == {"found": False, "errno": 2}


def test_the_hidden_folders_cannot_be_uncovered(jailed: Isolation) -> None:
    script = (
        "import ctypes, json, os\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "def unmount():\n"
        "    return 'done' if libc.umount2(b'/run', 2) == 0 else ctypes.get_errno()\n"
        "seen = {'umount': unmount()}\n"
        # A user namespace of its own gives capabilities, but over a copy of the mounts where the inherited
        # ones are locked together.
        "seen['unshare'] = 'done' if libc.unshare(0x10000000 | 0x20000) == 0 else ctypes.get_errno()\n"
        "seen['umount_in_user_namespace'] = unmount()\n"
        "seen['run'] = os.listdir('/run')\n"
        "print(json.dumps(seen))\n"
    )

    seen = _json(sandbox_script_run(script, isolation=jailed))

    # EPERM without capabilities; EINVAL for a locked mount.
    assert seen == {"umount": 1, "unshare": "done", "umount_in_user_namespace": 22, "run": []}


def test_a_root_worker_never_falls_back_to_its_own_account(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    user_namespace = _working_candidate(USER_NAMESPACE_JAIL)
    if user_namespace is None:
        service_missing("the sandbox's jail in a user namespace does not work on this machine")
    assert user_namespace is not None
    monkeypatch.setattr(runner, "_worker_is_root", lambda: True)
    monkeypatch.setattr(runner, "isolation_probe", lambda: user_namespace)
    spawned: list[Any] = []
    spawn = runner.sandbox_spawn

    def recording(*args: Any, **kwargs: Any) -> Any:
        spawned.append(args)
        return spawn(*args, **kwargs)

    monkeypatch.setattr(runner, "sandbox_spawn", recording)
    model = _model(tmp_path, testdata.tiny_classifier_model_bytes())
    inputs = _case_files(tmp_path, [0.5])

    with pytest.raises(SandboxError) as error:
        _run(model, inputs)

    assert str(error.value).startswith(
        "모델 실행 환경을 별도 계정(uid 65534)의 격리 공간으로 분리할 수 없어 실행하지 않았습니다."
    )
    assert spawned == []
    # A developer's machine, where isolation is optional, runs it and says so.
    result = _run(model, inputs, require_network_isolation=False)
    assert result.outputs == {"K01": 0.5}
    assert (result.environment["isolation"], result.environment["separate_user"]) == (
        USER_NAMESPACE_JAIL,
        False,
    )


def test_the_probe_keeps_a_success_only(monkeypatch: pytest.MonkeyPatch, isolation: Isolation) -> None:
    candidates = runner._candidates
    monkeypatch.setattr(runner, "_probed", None)
    monkeypatch.setattr(runner, "_candidates", lambda: [])

    assert runner.isolation_probe() == NO_ISOLATION

    # The failure was not kept: the next call probes again, and keeps what works.
    monkeypatch.setattr(runner, "_candidates", candidates)
    assert runner.isolation_probe() == isolation
    if not runner._complete(isolation):
        service_missing(f"the sandbox here ({isolation.name}) is not the strongest this account can have")

    def failing() -> list[Isolation]:
        raise AssertionError("probed again")

    monkeypatch.setattr(runner, "_candidates", failing)
    assert runner.isolation_probe() == isolation


def test_as_root_a_weaker_confinement_is_probed_again(monkeypatch: pytest.MonkeyPatch) -> None:
    user_namespace = _working_candidate(USER_NAMESPACE_JAIL)
    if user_namespace is None:
        service_missing("the sandbox's jail in a user namespace does not work on this machine")
    monkeypatch.setattr(runner, "_probed", None)
    monkeypatch.setattr(runner, "_worker_is_root", lambda: True)
    monkeypatch.setattr(runner, "_candidates", lambda: [user_namespace])

    assert runner.isolation_probe() == user_namespace
    assert runner._probed is None


def test_a_required_isolation_that_is_missing_refuses_to_run(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(runner, "isolation_probe", lambda: NO_ISOLATION)
    spawned: list[Any] = []
    monkeypatch.setattr(runner, "sandbox_spawn", lambda *args, **kwargs: spawned.append(args))
    model = _model(tmp_path, testdata.tiny_classifier_model_bytes())

    with pytest.raises(SandboxError) as error:
        _run(model, _case_files(tmp_path, [0.5]))

    assert str(error.value).startswith("모델 실행 환경을 네트워크에서 격리할 수 없어 실행하지 않았습니다.")
    assert spawned == []


def test_without_isolation_allowed_the_run_says_so(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(runner, "isolation_probe", lambda: NO_ISOLATION)
    model = _model(tmp_path, testdata.tiny_classifier_model_bytes())

    result = _run(model, _case_files(tmp_path, [0.5]), require_network_isolation=False)

    assert result.outputs == {"K01": 0.5}
    assert (result.environment["network_isolated"], result.environment["isolation"]) == (False, "none")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    return imported


def test_the_child_imports_neither_django_nor_the_project() -> None:
    assert _imports(CHILD_PATH) == {
        "__future__",
        "base64",
        "json",
        "os",
        "platform",
        "sys",
        "time",
        "zlib",
        "typing",
        "numpy",
        "onnxruntime",
    }


def test_the_jail_imports_the_standard_library_only() -> None:
    assert _imports(JAIL_PATH) == {"__future__", "contextlib", "ctypes", "os", "resource", "signal", "sys"}


# ---------------------------------------------------------------------------------------------------------
# Running models
# ---------------------------------------------------------------------------------------------------------


def test_a_model_runs_case_by_case(isolation: Isolation, tmp_path: Path) -> None:
    model = _model(tmp_path, testdata.tiny_classifier_model_bytes())
    values = [0.1, 0.45, 0.5, 0.9]
    seen: list[tuple[int, int]] = []

    result = _run(
        model, _case_files(tmp_path, values), progress=lambda done, total: seen.append((done, total))
    )

    expected = {
        f"K{index + 1:02d}": testdata.classifier_probability(np.full((32, 32), value, dtype=np.float32))
        for index, value in enumerate(values)
    }
    # ONNX Runtime sums and exponentiates in float32, in its own order.
    assert result.outputs == pytest.approx(expected, abs=1e-5)
    assert result.failures == []
    assert seen == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert result.environment["network_isolated"] is True
    assert result.environment["isolation"] == isolation.name
    assert result.environment["limits"] == {
        "case_seconds": 30,
        # 30 s per case, one load (120 s) and a margin of 60 s.
        "run_seconds": 4 * 30 + 120 + 60,
        "memory_mb": 1024,
        "threads": 1,
        "cpu_seconds": 4 * 30 + 60,
        "open_files": 64,
        "processes": 64 if isolation.jail else None,
        "file_size_bytes": 0,
    }
    assert result.environment["filesystem_isolated"] is (isolation.jail is not None)
    assert set(result.environment) >= {"python", "numpy", "onnxruntime"}


def test_the_same_model_gives_the_same_outputs(isolation: Isolation, tmp_path: Path) -> None:
    model = _model(tmp_path, testdata.tiny_classifier_model_bytes())
    inputs = _case_files(tmp_path, [0.2, 0.4, 0.6, 0.8])

    first, second = _run(model, inputs), _run(model, inputs)

    assert first.outputs == second.outputs


def test_a_case_past_its_time_fails_and_the_others_still_run(
    isolation: Isolation, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folders: list[Path] = []
    create = runner._folder_create

    def recording() -> Path:
        folders.append(create())
        return folders[-1]

    monkeypatch.setattr(runner, "_folder_create", recording)
    model = _model(tmp_path, testdata.tiny_classifier_model_bytes())
    inputs = _case_files(tmp_path, [0.2, 0.4, 0.6, 0.8])
    # Passed along with the hooks, in the child's environment: how its processes are found on the host.
    marker = f"medbroker-marker-{uuid.uuid4().hex}"

    result = _run(model, inputs, case_seconds=1, test_hooks={"K02": {"sleep": 30}, marker: {}})

    assert sorted(result.outputs) == ["K01", "K03", "K04"]
    assert result.failures == [
        {"case_id": "K02", "reason": "timeout", "detail": "증례 하나의 제한 시간(1초)을 넘었습니다."}
    ]
    # The sleeping child was killed, not left behind, and the folder is gone.
    assert not folders[0].exists()
    assert _processes_with(marker) == []


def test_a_child_that_leaves_its_process_group_is_still_killed_at_its_timeout(
    jailed: Isolation, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Killing the process group misses a child that moved to a session of its own: the end of the jail's
    # PID namespace does not.
    monkeypatch.setattr(runner, "isolation_probe", lambda: jailed)
    model = _model(tmp_path, testdata.tiny_classifier_model_bytes())
    inputs = _case_files(tmp_path, [0.2, 0.4])
    marker = f"medbroker-marker-{uuid.uuid4().hex}"

    result = _run(
        model,
        inputs,
        case_seconds=1,
        require_network_isolation=False,
        test_hooks={"K01": {"setsid": True, "sleep": 600}, marker: {}},
    )

    assert list(result.outputs) == ["K02"]
    assert result.failures == [
        {"case_id": "K01", "reason": "timeout", "detail": "증례 하나의 제한 시간(1초)을 넘었습니다."}
    ]
    assert _processes_with(marker) == []


def test_a_child_that_dies_fails_its_case_only(isolation: Isolation, tmp_path: Path) -> None:
    model = _model(tmp_path, testdata.tiny_classifier_model_bytes())
    inputs = _case_files(tmp_path, [0.2, 0.4, 0.6])

    result = _run(model, inputs, test_hooks={"K02": {"abort": True}})

    assert sorted(result.outputs) == ["K01", "K03"]
    assert result.failures == [
        {
            "case_id": "K02",
            "reason": "error",
            "detail": "실행 프로세스가 신호 SIGABRT로 종료되었습니다(메모리·CPU 한도 초과 등).",
        }
    ]


def test_a_child_that_says_ready_again_fails_its_case(isolation: Isolation, tmp_path: Path) -> None:
    # "ready" once more, every 0.1 s, forever: were it taken each time, the case's deadline would never come.
    model = _model(tmp_path, testdata.tiny_classifier_model_bytes())
    inputs = _case_files(tmp_path, [0.2, 0.4, 0.6])

    result = _run(model, inputs, test_hooks={"K02": {"repeat_ready": True}})

    assert sorted(result.outputs) == ["K01", "K03"]
    assert result.failures == [
        {"case_id": "K02", "reason": "error", "detail": "실행 프로세스의 출력 순서가 맞지 않습니다."}
    ]


def test_past_the_runs_deadline_the_remaining_cases_time_out(
    isolation: Isolation, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A run of 3 s in all, and a first case that sleeps far past it (its own deadline is 30 s away).
    monkeypatch.setattr(runner, "_run_seconds", lambda case_seconds, cases: 3.0)
    model = _model(tmp_path, testdata.tiny_classifier_model_bytes())
    inputs = _case_files(tmp_path, [0.2, 0.4, 0.6])

    result = _run(model, inputs, test_hooks={"K01": {"sleep": 60}})

    assert result.outputs == {}
    assert result.failures == [
        {"case_id": case_id, "reason": "timeout", "detail": "실행 전체의 제한 시간(3초)을 넘었습니다."}
        for case_id in ("K01", "K02", "K03")
    ]
    assert result.environment["limits"]["run_seconds"] == 3.0


def _external_data_model(location: str) -> bytes:
    """A model whose only constant is read from the file ``location`` ("external data"), and returned."""
    constant = TensorProto(name="constant", data_type=TensorProto.UINT8, dims=[16])
    constant.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", "0"), ("length", "16")):
        entry = constant.external_data.add()
        entry.key, entry.value = key, value
    graph = helper.make_graph(
        [helper.make_node("Identity", ["constant"], ["probability"])],
        "leak",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 1, 32, 32])],
        [helper.make_tensor_value_info("probability", TensorProto.UINT8, [16])],
        initializer=[constant],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    return bytes(model.SerializeToString())


@pytest.mark.parametrize("location", ["job.json", "../job.json", "model.onnx"])
def test_a_model_cannot_load_the_jobs_files_as_its_constants(
    isolation: Isolation, tmp_path: Path, location: str
) -> None:
    model = _model(tmp_path, _external_data_model(location))

    with pytest.raises(SandboxError) as error:
        _run(model, _case_files(tmp_path, [0.5]))

    # The child works in an empty folder: ONNX Runtime finds no such file there, and refuses to leave it.
    assert str(error.value).startswith("모델을 불러오지 못했습니다: Fail: [ONNXRuntimeError]")
    assert "External data path" in str(error.value)


def test_the_inputs_have_names_nobody_can_guess(tmp_path: Path) -> None:
    names = []
    for attempt in ("first", "second"):
        folder = tmp_path / attempt
        folder.mkdir()
        run = runner._Run(
            cases=[],
            manifest=CLASSIFIER,
            task_type="binary",
            classes=2,
            case_seconds=1,
            progress=None,
            total=2,
            result=runner.SandboxResult(),
        )
        runner._cases_prepare(folder, _case_files(tmp_path, [0.2, 0.4]), CLASSIFIER, run)
        names.append([case.relative for case in run.cases])
        assert sorted(os.listdir(folder / "cases")) == sorted(Path(name).name for name in names[-1])

    for name in names[0] + names[1]:
        assert re.fullmatch(r"cases/[0-9a-f]{32}\.npy", name)
    assert len(set(names[0] + names[1])) == 4


def test_a_jail_that_cannot_be_built_runs_nothing(
    isolation: Isolation, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if isolation.jail is None:
        service_missing(f"the sandbox here ({isolation.name}) has no jail")
    # Covering "/" would hide everything: the jail stops before the model's program starts.
    monkeypatch.setattr(runner, "hidden_paths", lambda: ["/"])
    model = _model(tmp_path, testdata.tiny_classifier_model_bytes())

    with pytest.raises(SandboxError) as error:
        _run(model, _case_files(tmp_path, [0.5]))

    assert str(error.value) == (
        "모델 실행 환경을 시작하지 못했습니다: 격리 실행 환경을 준비하지 못했습니다. jail: refusing to hide /"
    )


def test_a_model_beyond_the_memory_limit_fails_those_cases(isolation: Isolation, tmp_path: Path) -> None:
    # Black cases allocate nothing; a white one asks for 4 GB.
    model = _model(tmp_path, testdata.hostile_model_bytes("memory"))
    inputs = _case_files(tmp_path, [0.0, 1.0, 0.0, 1.0])

    result = _run(model, inputs, memory_mb=512)

    expected = testdata.classifier_probability(np.zeros((32, 32), dtype=np.float32))
    assert result.outputs == pytest.approx({"K01": expected, "K03": expected}, abs=1e-5)
    assert [(row["case_id"], row["reason"]) for row in result.failures] == [
        ("K02", "error"),
        ("K04", "error"),
    ]
    assert "Failed to allocate memory" in result.failures[0]["detail"]


def test_a_model_that_does_not_load_stops_the_run(isolation: Isolation, tmp_path: Path) -> None:
    model = _model(tmp_path, testdata.hostile_model_bytes("garbage"))

    with pytest.raises(SandboxError) as error:
        _run(model, _case_files(tmp_path, [0.5]))

    assert str(error.value).startswith("모델을 불러오지 못했습니다: InvalidProtobuf")


def test_an_output_that_breaks_the_manifest_fails_the_case(isolation: Isolation, tmp_path: Path) -> None:
    model = _model(tmp_path, testdata.hostile_model_bytes("nan"))

    result = _run(model, _case_files(tmp_path, [0.5, 0.6]))

    assert result.outputs == {}
    assert result.failures == [
        {
            "case_id": case_id,
            "reason": "error",
            "detail": "모델 출력이 비어 있거나 NaN 또는 무한대 값이 있습니다.",
        }
        for case_id in ("K01", "K02")
    ]


def _wide_output_model() -> bytes:
    """A model whose output is 2,000 numbers: a long line for the runner to read."""
    nodes = [
        helper.make_node("ReduceMean", ["image"], ["mean"], axes=[2, 3], keepdims=1),
        helper.make_node("Expand", ["mean", "wide"], ["probability"]),
    ]
    graph = helper.make_graph(
        nodes,
        "wide",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 1, 32, 32])],
        [helper.make_tensor_value_info("probability", TensorProto.FLOAT, None)],
        initializer=[helper.make_tensor("wide", TensorProto.INT64, [2], [1, 2000])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    return bytes(model.SerializeToString())


def test_an_output_line_over_the_cap_fails_the_case(
    isolation: Isolation, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runner, "MAX_LINE_BYTES", 4000)
    model = _model(tmp_path, _wide_output_model())

    result = _run(model, _case_files(tmp_path, [0.25, 0.5]))

    assert result.outputs == {}
    assert result.failures == [
        {"case_id": case_id, "reason": "error", "detail": "모델 출력이 너무 큽니다."}
        for case_id in ("K01", "K02")
    ]


def test_a_case_that_cannot_be_prepared_fails_before_the_model_runs(
    isolation: Isolation, tmp_path: Path
) -> None:
    model = _model(tmp_path, testdata.tiny_classifier_model_bytes())
    inputs = _case_files(tmp_path, [0.5, 0.5])
    np.save(inputs[0][1], np.zeros((2, 3, 32, 32), dtype=np.float32))

    result = _run(model, inputs)

    assert list(result.outputs) == ["K02"]
    assert result.failures == [
        {
            "case_id": "K01",
            "reason": "error",
            "detail": "입력을 준비하지 못했습니다: 입력 배열의 차원(4)이 모델 입력(공간 2차원)과 맞지 않습니다.",
        }
    ]


def test_the_test_hooks_reach_the_child_only_when_a_test_passes_them(
    isolation: Isolation, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    environments: list[Any] = []
    spawn = runner.sandbox_spawn

    def recording(*args: Any, **kwargs: Any) -> Any:
        environments.append(kwargs["extra_environment"])
        return spawn(*args, **kwargs)

    monkeypatch.setattr(runner, "sandbox_spawn", recording)
    model = _model(tmp_path, testdata.tiny_classifier_model_bytes())

    _run(model, _case_files(tmp_path, [0.5]))

    assert environments == [None]


def test_segmentation_and_detection_models(isolation: Isolation, tmp_path: Path) -> None:
    image = np.full((64, 64), 0.2, dtype=np.float32)
    image[20:40, 10:30] = 0.9
    path = tmp_path / "big.npy"
    np.save(path, image)
    segmentation = manifest_validate(testdata.SEGMENTATION_MANIFEST, task_type="segmentation")
    detection = manifest_validate(testdata.DETECTION_MANIFEST, task_type="detection")

    masks = _run(
        _model(tmp_path, testdata.segmentation_model_bytes(), "segmentation.onnx"),
        [("S1", path)],
        manifest=segmentation,
        task_type="segmentation",
        classes=1,
    )
    boxes = _run(
        _model(tmp_path, testdata.detection_model_bytes(), "detection.onnx"),
        [("D1", path)],
        manifest=detection,
        task_type="detection",
        classes=1,
    )

    # The 64×64 case went in as 32×32; the mask comes back at the case's own size.
    mask = masks.outputs["S1"]
    assert (mask.shape, mask.dtype, int(mask.sum())) == ((64, 64), np.uint8, 400)
    assert np.array_equal(mask, (image > 0.5).astype(np.uint8))
    # The brightest pixel of the resized image (its first, at row 10 column 5) in the case's pixels.
    assert boxes.outputs == {"D1": [[6.0, 16.0, 10.0, 10.0, pytest.approx(0.9)]]}


# ---------------------------------------------------------------------------------------------------------
# The manifest
# ---------------------------------------------------------------------------------------------------------


def test_a_manifest_is_completed_with_defaults() -> None:
    manifest = {"input": {"shape": [1, 3, 224, 224]}, "output": {"type": "logits"}}

    assert manifest_validate(manifest, task_type="multiclass") == {
        "input": {
            "shape": [1, 3, 224, 224],
            "layout": "NCHW",
            "dtype": "float32",
            "normalisation": {"type": "none"},
            "window": None,
        },
        "output": {"type": "logits", "positive_index": 1, "threshold": 0.5},
    }


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        (None, "모델 설명서(manifest)를 입력해 주세요."),
        ({"input": {"shape": [1, 1, 32, 32]}}, "모델 설명서에 output 항목이 없습니다."),
        (
            {"input": {"shape": [1, 1, 32, 32]}, "output": {"type": "boxes"}},
            "probability, logit, softmax, logits",
        ),
        ({"input": {"shape": [2, 1, 32, 32]}, "output": {"type": "logit"}}, "배치 크기(N)는 1"),
        ({"input": {"shape": [1, 32]}, "output": {"type": "logit"}}, "3~5개의 양의 정수"),
        ({"input": {"shape": [1, 1, 32, 32], "layout": "NCL"}, "output": {"type": "logit"}}, "layout"),
        ({"input": {"shape": [1, 1, 8192, 8192]}, "output": {"type": "logit"}}, "입력 크기가 너무 큽니다."),
        (
            {"input": {"shape": [1, 1, 32, 32], "dtype": "int64"}, "output": {"type": "logit"}},
            "float32, float16, uint8",
        ),
        (
            {
                "input": {"shape": [1, 1, 32, 32], "normalisation": {"type": "zscore", "std": 0}},
                "output": {"type": "logit"},
            },
            "std는 0보다",
        ),
        (
            {"input": {"shape": [1, 1, 32, 32], "window": {"center": 40}}, "output": {"type": "logit"}},
            "window.width",
        ),
        ({"input": {"shape": [1, 1, 32, 32]}, "output": {"type": "logit", "threshold": 2}}, "0과 1 사이"),
        (
            {"input": {"shape": [1, 1, 32, 32]}, "output": {"type": "logit"}, "extra": 1},
            "알 수 없는 항목이 있습니다: extra",
        ),
    ],
)
def test_manifest_problems(manifest: Any, message: str) -> None:
    with pytest.raises(DomainError) as error:
        manifest_validate(manifest, task_type="binary")

    assert (error.value.code, error.value.field) == ("manifest_invalid", "manifest")
    assert message in str(error.value)


def _manifest(**input_options: Any) -> dict[str, Any]:
    return manifest_validate(
        {"input": {"shape": [1, 1, 4, 4], **input_options}, "output": {"type": "probability"}},
        task_type="binary",
    )


def test_preprocessing_windows_normalises_and_resizes(tmp_path: Path) -> None:
    path = tmp_path / "case.npy"
    array = np.arange(64, dtype=np.float64).reshape(8, 8) * 10 - 100  # -100 .. 530 "HU"
    np.save(path, array)

    windowed = case_preprocess(
        path,
        _manifest(shape=[1, 1, 8, 8], window={"center": 100, "width": 200}, normalisation={"type": "minmax"}),
    )
    scaled = case_preprocess(
        path, _manifest(shape=[1, 1, 8, 8], normalisation={"type": "scale", "scale": 10})
    )
    zscored = case_preprocess(
        path, _manifest(shape=[1, 1, 8, 8], normalisation={"type": "zscore", "mean": 100, "std": 50})
    )
    resized = case_preprocess(path, _manifest(shape=[1, 4, 4, 3], layout="NHWC"))

    assert windowed.dtype == np.float32 and windowed.shape == (1, 1, 8, 8)
    np.testing.assert_allclose(windowed[0, 0], (np.clip(array, 0, 200) - 0) / 200, rtol=1e-6)
    np.testing.assert_allclose(scaled[0, 0], array / 10, rtol=1e-6)
    np.testing.assert_allclose(zscored[0, 0], (array - 100) / 50, rtol=1e-6)
    from scipy import ndimage

    expected = ndimage.zoom(array, 0.5, order=1)
    assert resized.shape == (1, 4, 4, 3)
    for channel in range(3):
        np.testing.assert_allclose(resized[0, :, :, channel], expected, rtol=1e-6)


def test_preprocessing_reads_dicom_in_hounsfield_units(tmp_path: Path) -> None:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    dataset = pydicom.Dataset()
    dataset.file_meta = meta
    dataset.SOPClassUID, dataset.SOPInstanceUID = CTImageStorage, meta.MediaStorageSOPInstanceUID
    dataset.Rows = dataset.Columns = 4
    dataset.SamplesPerPixel = 1
    dataset.PhotometricInterpretation = "MONOCHROME2"
    dataset.BitsAllocated = dataset.BitsStored = 16
    dataset.HighBit = 15
    dataset.PixelRepresentation = 0
    dataset.RescaleSlope = 2
    dataset.RescaleIntercept = -1024
    stored = np.arange(16, dtype=np.uint16).reshape(4, 4) * 100
    dataset.PixelData = stored.tobytes()
    path = tmp_path / "case.dcm"
    dataset.save_as(path, enforce_file_format=True)

    prepared = case_preprocess(path, _manifest())

    np.testing.assert_array_equal(prepared[0, 0], stored.astype(np.float32) * 2 - 1024)


def _mask_payload(mask: np.ndarray) -> dict[str, Any]:
    return {
        "shape": list(mask.shape),
        "dtype": "uint8",
        "data": base64.b64encode(zlib.compress(mask.astype(np.uint8).tobytes())).decode(),
    }


def test_outputs_are_read_as_the_manifest_says() -> None:
    def binary(output: dict[str, Any], raw: Any) -> Any:
        manifest = manifest_validate({"input": {"shape": [1, 1, 4, 4]}, "output": output}, task_type="binary")
        return output_interpret(raw, manifest, task_type="binary", classes=2, original_shape=(4, 4))

    assert binary({"type": "probability"}, [[0.25]]) == 0.25
    assert binary({"type": "probability", "positive_index": 0}, [[0.25, 0.75]]) == 0.25
    assert binary({"type": "logit"}, [[0.0]]) == 0.5
    assert binary({"type": "softmax"}, [[0.3, 0.7]]) == 0.7
    assert binary({"type": "logits"}, [[0.0, np.log(3.0)]]) == pytest.approx(0.75)
    multiclass = manifest_validate(
        {"input": {"shape": [1, 1, 4, 4]}, "output": {"type": "logits"}}, task_type="multiclass"
    )
    assert output_interpret(
        [[0.0, 0.0, np.log(2.0)]], multiclass, task_type="multiclass", classes=3, original_shape=(4, 4)
    ) == pytest.approx([0.25, 0.25, 0.5])
    boxes = manifest_validate(
        {"input": {"shape": [1, 1, 4, 4]}, "output": {"type": "boxes"}}, task_type="detection"
    )
    assert output_interpret(
        [[[1, 1, 2, 2, 0.3], [0, 0, 1, 1, 0.9]]],
        boxes,
        task_type="detection",
        classes=1,
        original_shape=(8, 12),
    ) == [[0.0, 0.0, 3.0, 2.0, 0.9], [3.0, 2.0, 6.0, 4.0, 0.3]]
    masks = manifest_validate(
        {"input": {"shape": [1, 1, 2, 2]}, "output": {"type": "mask_labels"}}, task_type="segmentation"
    )
    mask = output_interpret(
        _mask_payload(np.array([[0, 1], [1, 0]])),
        masks,
        task_type="segmentation",
        classes=1,
        original_shape=(4, 4),
    )
    assert mask.tolist() == [[0, 0, 1, 1], [0, 0, 1, 1], [1, 1, 0, 0], [1, 1, 0, 0]]


@pytest.mark.parametrize(
    ("task_type", "output", "raw", "message"),
    [
        ("binary", {"type": "probability"}, [[1.5]], "모델 출력 확률이 0과 1 사이가 아닙니다"),
        ("binary", {"type": "probability"}, [[float("nan")]], "NaN 또는 무한대"),
        ("binary", {"type": "probability"}, "text", "숫자 배열이 아닙니다"),
        ("binary", {"type": "softmax", "positive_index": 5}, [[0.5, 0.5]], "positive_index"),
        ("multiclass", {"type": "softmax"}, [[0.5, 0.5]], "모델 출력 크기(2)가 클래스 수(3)와 다릅니다."),
        ("detection", {"type": "boxes"}, [[1, 2, 3]], "5개 값의 묶음"),
        ("detection", {"type": "boxes"}, [[1, 2, -3, 4, 0.5]], "너비와 높이는 0 이상"),
        (
            "segmentation",
            {"type": "mask_labels"},
            {"shape": [3, 3], "dtype": "uint8", "data": ""},
            "분할 출력 크기",
        ),
        (
            "segmentation",
            {"type": "mask_labels"},
            {
                "shape": [4, 4],
                "dtype": "uint8",
                "data": base64.b64encode(zlib.compress(b"\x00" * 17)).decode(),
            },
            "분할 출력의 크기가 맞지 않습니다.",
        ),
    ],
)
def test_outputs_that_break_the_manifest(
    task_type: str, output: dict[str, Any], raw: Any, message: str
) -> None:
    manifest = manifest_validate({"input": {"shape": [1, 1, 4, 4]}, "output": output}, task_type=task_type)

    with pytest.raises(CaseError) as error:
        output_interpret(raw, manifest, task_type=task_type, classes=3, original_shape=(4, 4))

    assert message in str(error.value)


def test_a_mask_bomb_is_not_decompressed_past_its_size() -> None:
    manifest = manifest_validate(
        {"input": {"shape": [1, 1, 4, 4]}, "output": {"type": "mask_labels"}}, task_type="segmentation"
    )
    bomb = {
        "shape": [4, 4],
        "dtype": "uint8",
        "data": base64.b64encode(zlib.compress(b"\x00" * 50_000_000)).decode(),
    }

    with pytest.raises(CaseError) as error:
        output_interpret(bomb, manifest, task_type="segmentation", classes=1, original_shape=(4, 4))

    assert str(error.value) == "분할 출력의 크기가 맞지 않습니다."


def test_masks_resize_by_nearest_neighbour() -> None:
    mask = np.array([[1, 2], [3, 4]], dtype=np.uint8)

    assert mask_resize(mask, (4, 4)).tolist() == [[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]]
    assert mask_resize(mask_resize(mask, (4, 4)), (2, 2)).tolist() == mask.tolist()
    assert mask_resize(mask, (2, 2)) is mask


def test_the_test_models_are_valid_onnx() -> None:
    for content in (
        testdata.tiny_classifier_model_bytes(),
        testdata.multiclass_model_bytes(),
        testdata.segmentation_model_bytes(),
        testdata.detection_model_bytes(),
        testdata.hostile_model_bytes("memory"),
        testdata.hostile_model_bytes("nan"),
    ):
        model = onnx.load_from_string(content)
        onnx.checker.check_model(model)
        assert (model.ir_version, model.opset_import[0].version) == (8, 17)
