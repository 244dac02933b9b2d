"""The first program inside a confinement's namespaces: it builds the confined program's view of the
filesystem, then starts the program under an identity without any power over it.

Two programs run in it. An evaluation's model (``--mode sealed``, the default): ``evaluations``' runner
starts it as ``unshare --net --ipc --mount --pid --fork --kill-child --mount-proc -- python -I -B jail.py
OPTIONS -- COMMAND...``. A company's JupyterLab workspace (``--mode workspace``): the hub's spawner starts it
the same way but with the network (the server must reach the hub), a writable home folder and the granted
datasets bound read-only under one data folder. Either way the jail is root of the new namespaces (real root
when the caller is root; root of a user namespace of the caller's account otherwise) and trusted: it runs
before any untrusted code, with arguments only the caller wrote. Standard library only, no project code.

1. Mount events stop propagating (``/`` becomes recursively private): nothing done here reaches the host.
2. ``/tmp`` is hidden like the folders below, but for the ``--root`` folder (the job's sealed inputs and
   model, or the workspace's home), which stays at its own path: read-only and not executable when sealed,
   writable in a workspace, which also gets an empty writable ``/tmp`` of its own. The host's ``/tmp``,
   with other runs' folders and whatever sockets live there, is out of sight, even when the project itself
   lives under ``/tmp``.
3. Each ``--hide`` folder (``/run``, ``/var/lib``, the project's data folders, ...) is covered by a small
   empty read-only tmpfs: the database, the test sets, other companies' models and data and every Unix
   socket under them (PostgreSQL's among them) can no longer be reached by path. A ``--keep`` path the child
   needs (the interpreter, NumPy, ONNX Runtime, JupyterLab) that lies under a hidden folder is bound back,
   read-only, at its place.
4. ``--data FOLDER`` (a workspace) becomes a small read-only tmpfs holding one folder per ``--bind
   SOURCE:NAME``, where SOURCE is bound read-only: exactly the granted datasets, opened before anything was
   hidden (and, with ``--within``, only from inside the data roots), and no way to write to them or to add
   anything beside them. Each ``--mask`` path (the GPUs not allocated) is covered with ``/dev/null``.
5. It forks. The child enters a user namespace of its own and becomes uid/gid 65534 there: the host's
   uid 65534 without supplementary groups (``--identity setuid``, when root), or the caller's account
   (``--identity userns``); either way without any capability over the mounts above. It sets
   no_new_privs (no set-user-ID program can give anything back) and a limit on its processes, counted in
   its own namespace, then executes COMMAND in the root folder.
6. This process stays as the namespace's init: it reaps orphans and, when COMMAND ends, exits with its
   status (128 + the signal's number when a signal ended it). The end of the init ends every process of the
   PID namespace, including those that left COMMAND's session or process group; and ``unshare
   --kill-child`` ends the init when the caller kills ``unshare``. The child cannot prevent either: it
   cannot signal or trace a process of another account, nor undo a setting of one.

Any failure before COMMAND starts ends the jail with status 125 and a line on stderr: nothing runs in a
half-built jail.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import resource
import signal
import sys

FAILED = 125
NOBODY = 65534
SETUID, USER_NAMESPACE = "setuid", "userns"
HOST_TMP = "/tmp"  # noqa: S108 (the host's shared temporary folder, hidden from the model)
HIDING_TMPFS = "size=1m,mode=0755"
# A workspace's own /tmp: writable by everyone in it (the sticky bit keeps one process's files its own).
WORKSPACE_TMPFS = "size=512m,mode=1777"
SEALED, WORKSPACE = "sealed", "workspace"
# What callers cover in every jail: where services keep their sockets and state, and people their files. /tmp is
# covered too, all but the job's folder (``jail.HOST_TMP``).
ALWAYS_HIDDEN = (
    "/run",
    "/var/run",
    "/var/lib",
    "/var/tmp",  # noqa: S108 (a folder to cover, not to use)
    "/home",
    "/srv",
    "/dev/shm",  # noqa: S108 (a folder to cover, not to use)
    "/mnt",
    "/media",
)


MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MS_NOATIME = 0x400
MS_NODIRATIME = 0x800
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 0x40000
MS_RELATIME = 0x200000
CLONE_NEWUSER = 0x10000000
PR_SET_NO_NEW_PRIVS = 38
PR_GET_NO_NEW_PRIVS = 39
# statvfs flags and the mount flags a read-only remount must keep: in a user namespace, the flags of mounts
# inherited from the host are locked, and a remount that drops one of them is refused.
KEPT_FLAGS = (
    (os.ST_NOSUID, MS_NOSUID),
    (os.ST_NODEV, MS_NODEV),
    (os.ST_NOEXEC, MS_NOEXEC),
    (os.ST_NOATIME, MS_NOATIME),
    (os.ST_NODIRATIME, MS_NODIRATIME),
    (os.ST_RELATIME, MS_RELATIME),
)

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = (ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p)
_libc.prctl.argtypes = (ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong)
_libc.unshare.argtypes = (ctypes.c_int,)


class JailError(Exception):
    pass


def _check(result: int, what: str) -> None:
    if result != 0:
        number = ctypes.get_errno()
        raise JailError(f"{what}: {os.strerror(number)}")


def _encoded(value: str | None) -> bytes | None:
    return None if value is None else os.fsencode(value)


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    result = _libc.mount(_encoded(source), _encoded(target), _encoded(fstype), flags, _encoded(data))
    _check(result, f"mount {source or ''} on {target}")


def _read_only(target: str, extra: int = 0) -> None:
    """Remount the bind mount at ``target`` read-only, keeping the flags it has (plus ``extra``)."""
    current = os.statvfs(target).f_flag
    kept = 0
    for statvfs_flag, mount_flag in KEPT_FLAGS:
        if current & statvfs_flag:
            kept |= mount_flag
    _mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | kept | extra)


def _within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def _place_create(path: str, directory: bool) -> None:
    """Create ``path`` (and the folders above it) in a fresh tmpfs, as a mount point."""
    parent = os.path.dirname(path)
    os.makedirs(parent if not directory else path, mode=0o755, exist_ok=True)
    if not directory and not os.path.exists(path):
        with open(path, "wb"):
            pass


def _hide(
    folder: str, kept: dict[str, int], *, writable: bool = False, own: frozenset[str] = frozenset()
) -> None:
    """Cover ``folder`` with an empty tmpfs, binding back the kept paths under it, read-only but for the
    ``own`` ones (a workspace's home); the tmpfs itself is read-only unless ``writable`` (a workspace's
    ``/tmp``)."""
    if os.path.islink(folder) or not os.path.isdir(folder):
        # A link (``/var/run`` -> ``/run``) is hidden where it leads; a path that is not here needs nothing.
        return
    inside = sorted(path for path in kept if _within(path, folder))
    flags = MS_NOSUID | MS_NODEV | MS_NOEXEC
    if writable:
        _mount("tmpfs", folder, "tmpfs", flags, WORKSPACE_TMPFS)
        for path in inside:
            _place_create(path, directory=os.path.isdir(f"/proc/self/fd/{kept[path]}"))
            _mount(f"/proc/self/fd/{kept[path]}", path, None, MS_BIND | MS_REC)
            if path not in own:
                _read_only(path)
        return
    _mount("tmpfs", folder, "tmpfs", flags | (0 if inside else MS_RDONLY), HIDING_TMPFS)
    for path in inside:
        descriptor = kept[path]
        _place_create(path, directory=os.path.isdir(f"/proc/self/fd/{descriptor}"))
        # Through the descriptor opened before anything was hidden: the path itself now leads into the tmpfs.
        _mount(f"/proc/self/fd/{descriptor}", path, None, MS_BIND | MS_REC)
        if path not in own:
            _read_only(path)
    if inside:
        _mount(None, folder, None, MS_REMOUNT | MS_BIND | MS_RDONLY | flags)


def _outermost(paths: list[str]) -> list[str]:
    """The paths that lie under no other one: binding a folder brings what is under it."""
    chosen: list[str] = []
    for path in sorted(set(paths), key=len):
        if not any(_within(path, other) for other in chosen):
            chosen.append(path)
    return chosen


def _data_mount(data: str, binds: list[tuple[str, int]]) -> None:
    """Make ``data`` a read-only tmpfs with one read-only bind per ``(name, descriptor)``."""
    # The home folder is the workspace's to write: a link put there must not move the mount elsewhere.
    if os.path.islink(data) or (os.path.exists(data) and not os.path.isdir(data)):
        raise JailError(f"--data {data} is not a folder")
    os.makedirs(data, mode=0o755, exist_ok=True)
    _mount("tmpfs", data, "tmpfs", MS_NOSUID | MS_NODEV, HIDING_TMPFS)
    for name, descriptor in binds:
        target = os.path.join(data, name)
        os.mkdir(target, 0o755)
        _mount(f"/proc/self/fd/{descriptor}", target, None, MS_BIND | MS_REC)
        _read_only(target)
    _mount(None, data, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, HIDING_TMPFS)


def _mask(path: str) -> None:
    """Cover the device or file at ``path`` with ``/dev/null`` (another company's GPU, say)."""
    if os.path.islink(path) or not os.path.exists(path) or os.path.isdir(path):
        return
    _mount("/dev/null", path, None, MS_BIND)


def _binds_open(binds: list[str], root: str, data: str | None, within: list[str]) -> list[tuple[str, int]]:
    """Descriptors of the ``SOURCE:NAME`` folders, opened while their paths still lead to them; each must
    lie, links followed, inside one of the ``within`` folders (when given): a dataset folder replaced by a
    link cannot bring a hidden folder back."""
    if binds and data is None:
        raise JailError("--bind needs --data")
    opened: list[tuple[str, int]] = []
    for bind in binds:
        source, separator, name = bind.rpartition(":")
        if not separator or not source or not name or "/" in name or name in {".", ".."}:
            raise JailError(f"--bind {bind!r} is not SOURCE:NAME")
        if any(name == seen for seen, _ in opened):
            raise JailError(f"--bind names {name!r} twice")
        source = os.path.realpath(source)
        if not os.path.isdir(source):
            raise JailError(f"--bind source {source} is not a folder")
        descriptor = os.open(source, os.O_PATH | os.O_CLOEXEC | os.O_DIRECTORY)
        # Where the descriptor really leads, after the open: no link swapped in between can move it.
        opened_at = os.readlink(f"/proc/self/fd/{descriptor}")
        if within and not any(_within(opened_at, os.path.realpath(folder)) for folder in within):
            os.close(descriptor)
            raise JailError(f"--bind source {opened_at} is outside the allowed folders")
        opened.append((name, descriptor))
    if data is not None and not _within(os.path.normpath(data), root):
        raise JailError(f"--data {data} is not inside {root}")
    return opened


def filesystem_prepare(
    root: str,
    hidden: list[str],
    keep: list[str],
    *,
    mode: str = SEALED,
    data: str | None = None,
    binds: list[str] | None = None,
    within: list[str] | None = None,
    masks: list[str] | None = None,
) -> str:
    """Build the confined program's view of the filesystem; the root folder's path, where it works."""
    if mode not in (SEALED, WORKSPACE):
        raise JailError(f"unknown mode {mode!r}")
    os.umask(0o022)
    root = os.path.realpath(root)
    if not os.path.isdir(root):
        raise JailError(f"the root folder {root} is not a folder")
    opened = _binds_open(binds or [], root, data, within or [])
    kept: dict[str, int] = {}
    for path in _outermost([os.path.realpath(path) for path in [*keep, root]]):
        if os.path.exists(path):
            kept[path] = os.open(path, os.O_PATH | os.O_CLOEXEC)
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    # A mount of its own, so that it can be made read-only whether or not a hidden folder holds it.
    _mount(root, root, None, MS_BIND | MS_REC)
    # Outer folders first: a folder hidden inside another one is then already gone, unless it was kept.
    for folder in sorted({os.path.normpath(path) for path in [*hidden, HOST_TMP]}, key=len):
        if folder == "/":
            raise JailError("refusing to hide /")
        _hide(
            folder,
            kept,
            writable=mode == WORKSPACE and folder == HOST_TMP,
            own=frozenset({root}) if mode == WORKSPACE else frozenset(),
        )
    for descriptor in kept.values():
        os.close(descriptor)
    if mode == SEALED:
        _read_only(root, MS_NOEXEC)
    if data is not None:
        _data_mount(os.path.join(root, os.path.relpath(os.path.normpath(data), root)), opened)
    for _, descriptor in opened:
        os.close(descriptor)
    for path in masks or []:
        _mask(path)
    os.chdir(root)
    return root


def _user_namespace_enter() -> None:
    """(A worker that is not root.) A user namespace where this process is uid/gid 65534, mapped to the
    worker's account, with no capability over the mounts."""
    outer_uid, outer_gid = os.getuid(), os.getgid()
    _check(_libc.unshare(CLONE_NEWUSER), "unshare(CLONE_NEWUSER)")
    for name, content in (
        ("setgroups", "deny"),
        ("uid_map", f"{NOBODY} {outer_uid} 1"),
        ("gid_map", f"{NOBODY} {outer_gid} 1"),
    ):
        with open(f"/proc/self/{name}", "w", encoding="ascii") as handle:
            handle.write(content)


def _ids_map(child: int) -> None:
    """(Root.) Map uid/gid 65534 of the child's new user namespace to the host's 65534: a process may not
    map other ids than its own, root of the parent namespace may."""
    for name in ("uid_map", "gid_map"):
        with open(f"/proc/{child}/{name}", "w", encoding="ascii") as handle:
            handle.write(f"{NOBODY} {NOBODY} 1")


def identity_drop(
    identity: str, processes: int, mapped: int | None = None, announce: int | None = None
) -> None:
    """Become uid/gid 65534 in a user namespace of this child's own, with no_new_privs and at most
    ``processes`` processes.

    The user namespace of its own makes the process limit count this sandbox's processes only: uid 65534
    is shared by every sandbox (and by the host's own "nobody" processes), and one sandbox's processes must
    not use up another's. With SETUID, the jail (root of the parent namespace) writes the child's id maps
    once the child says, on ``announce``, that its namespace exists; it answers on ``mapped``."""
    if identity == SETUID:
        if mapped is None or announce is None:
            raise JailError("no channel to the jail")
        _check(_libc.unshare(CLONE_NEWUSER), "unshare(CLONE_NEWUSER)")
        os.write(announce, b"1")
        if os.read(mapped, 1) != b"1":
            raise JailError("the user namespace's ids were not mapped")
        # Capabilities of the new namespace, for the last time: supplementary groups go, then the ids.
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)
    elif identity == USER_NAMESPACE:
        _user_namespace_enter()
    else:
        raise JailError(f"unknown identity {identity!r}")
    if os.getresuid() != (NOBODY,) * 3 or os.getresgid() != (NOBODY,) * 3:
        raise JailError("the identity did not change to 65534")
    _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(PR_SET_NO_NEW_PRIVS)")
    if _libc.prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1:
        raise JailError("no_new_privs is not set")
    # After the change of identity: the count is the new account's, in its namespace.
    resource.setrlimit(resource.RLIMIT_NPROC, (processes, processes))


def _arguments(argv: list[str]) -> tuple[dict[str, list[str]], list[str]]:
    if "--" not in argv:
        raise JailError("no command after --")
    split = argv.index("--")
    options: dict[str, list[str]] = {
        "--root": [],
        "--hide": [],
        "--keep": [],
        "--identity": [],
        "--processes": [],
        "--mode": [],
        "--data": [],
        "--bind": [],
        "--within": [],
        "--mask": [],
    }
    pending = argv[:split]
    if len(pending) % 2:
        raise JailError("every option takes one value")
    for name, value in zip(pending[::2], pending[1::2], strict=True):
        if name not in options:
            raise JailError(f"unknown option {name}")
        options[name].append(value)
    if len(options["--root"]) != 1 or len(options["--identity"]) != 1 or len(options["--processes"]) != 1:
        raise JailError("--root, --identity and --processes are required once")
    if len(options["--mode"]) > 1 or len(options["--data"]) > 1:
        raise JailError("--mode and --data are given at most once")
    command = argv[split + 1 :]
    if not command:
        raise JailError("no command after --")
    return options, command


def _signals_forward(child: int) -> None:
    """Pass a request to stop on to COMMAND, so it can shut down cleanly (a workspace's server saves its
    state); the caller reaches COMMAND only through the jail: ``unshare`` ignores these signals while it
    waits, and an init gets from outside its namespace only the signals it handles."""

    def forward(number: int, _frame: object) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, number)

    for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(number, forward)


def _init(child: int) -> int:
    """Reap every process of the namespace until ``child`` ends; its exit status."""
    while True:
        pid, status = os.wait()
        if pid == child:
            code = os.waitstatus_to_exitcode(status)
            return code if code >= 0 else 128 - code


def main(argv: list[str]) -> int:
    try:
        options, command = _arguments(argv)
        filesystem_prepare(
            options["--root"][0],
            options["--hide"],
            options["--keep"],
            mode=(options["--mode"] or [SEALED])[0],
            data=options["--data"][0] if options["--data"] else None,
            binds=options["--bind"],
            within=options["--within"],
            masks=options["--mask"],
        )
        identity, processes = options["--identity"][0], int(options["--processes"][0])
    except (JailError, OSError, ValueError) as error:
        sys.stderr.write(f"jail: {error}\n")
        return FAILED
    sys.stdout.flush()
    # The child announces its user namespace on one pipe; the jail answers on the other once it has
    # mapped the ids (SETUID only; unused otherwise).
    announce_read, announce_write = os.pipe()
    mapped_read, mapped_write = os.pipe()
    child = os.fork()
    if child == 0:
        try:
            os.close(announce_read)
            os.close(mapped_write)
            identity_drop(identity, processes, mapped=mapped_read, announce=announce_write)
            os.close(mapped_read)
            os.close(announce_write)
            os.execv(command[0], command)  # noqa: S606 (the runner's command, no shell)
        except (JailError, OSError, ValueError) as error:
            sys.stderr.write(f"jail: {error}\n")
            sys.stderr.flush()
        os._exit(FAILED)
    os.close(announce_write)
    os.close(mapped_read)
    _signals_forward(child)
    try:
        if identity == SETUID and os.read(announce_read, 1) == b"1":
            _ids_map(child)
            os.write(mapped_write, b"1")
    except OSError as error:
        # The child reads the end of the pipe, and ends without running anything.
        sys.stderr.write(f"jail: {error}\n")
    finally:
        os.close(announce_read)
        os.close(mapped_write)
    return _init(child)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
