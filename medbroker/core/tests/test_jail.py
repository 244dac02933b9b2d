"""The jail's workspace mode, as a workspace server sees it: the granted folders only, read-only under
``data/``, a home folder it can write, a ``/tmp`` of its own, the other datasets and the host's ``/tmp`` out of
sight, and no power to undo any of it. Run in both identities (uid 65534 as root; a user namespace
otherwise); the sealed mode is exercised by the evaluation sandbox's tests.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from medbroker.core import jail
from medbroker.core.testing import service_missing

NAMESPACES = ("--ipc", "--mount", "--pid", "--fork", "--kill-child", "--mount-proc")

PROBE = r"""
import ctypes, errno, json, os, sys
home, other, marker = sys.argv[1], sys.argv[2], sys.argv[3]
seen = {"uid": os.getuid(), "gid": os.getgid(), "cwd": os.getcwd()}
seen["data"] = sorted(os.listdir(os.path.join(home, "data")))
seen["readme"] = open(os.path.join(home, "data", "chest", "README.txt")).read()
def attempt(action):
    try:
        action()
        return "ok"
    except OSError as error:
        return errno.errorcode[error.errno]
seen["write_data"] = attempt(lambda: open(os.path.join(home, "data", "chest", "x.txt"), "w").close())
seen["add_beside"] = attempt(lambda: os.mkdir(os.path.join(home, "data", "more")))
seen["write_home"] = attempt(lambda: open(os.path.join(home, "notes.txt"), "w").write("memo"))
seen["write_tmp"] = attempt(lambda: open("/tmp/scratch", "w").write("scratch"))
seen["other_dataset"] = os.path.exists(other)
seen["host_tmp_marker"] = os.path.exists(marker)
libc = ctypes.CDLL(None, use_errno=True)
result = libc.mount(None, os.path.join(home, "data", "chest").encode(), None, 0x20 | 0x1000, None)
seen["remount_rw"] = "ok" if result == 0 else errno.errorcode[ctypes.get_errno()]
print(json.dumps(seen))
"""


def _workspace_jail(
    identity: str, home: Path, extra: list[str], program: list[str]
) -> subprocess.CompletedProcess[str]:
    """Run ``python -I -c PROGRAM...`` in the jail's workspace mode, as a workspace is started: the caller's
    home covered (the interpreter may live under it, in a folder uid 65534 could not enter) and the
    interpreter bound back."""
    prefix = (
        ["unshare", *NAMESPACES]
        if identity == jail.SETUID
        else ["unshare", "--user", "--map-root-user", *NAMESPACES]
    )
    command = [*prefix, sys.executable, "-I", "-B", jail.__file__, "--mode", "workspace"]
    command += [
        "--root",
        str(home),
        "--data",
        str(home / "data"),
        "--identity",
        identity,
        "--processes",
        "64",
    ]
    if str(Path.home()) != "/":
        command += ["--hide", str(Path.home())]
    for path in {sys.prefix, sys.base_prefix, os.path.dirname(os.path.realpath(sys.executable))}:
        command += ["--keep", path]
    command += [*extra, "--", sys.executable, "-I", "-c", *program]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


@pytest.fixture(params=[jail.SETUID, jail.USER_NAMESPACE])
def identity(request: pytest.FixtureRequest) -> str:
    if shutil.which("unshare") is None:
        service_missing("unshare (util-linux) is not installed")
    if request.param == jail.SETUID and os.geteuid() != 0:
        pytest.skip("only root starts the jail as uid 65534")
    return str(request.param)


def test_a_workspace_sees_its_granted_folders_only_and_cannot_write_them(
    identity: str, tmp_path: Path
) -> None:
    datasets = tmp_path / "datasets"
    (datasets / "chest-xray").mkdir(parents=True)
    (datasets / "chest-xray" / "README.txt").write_text("chest x-ray\n")
    (datasets / "endoscopy").mkdir()
    home = tmp_path / "workspaces" / "applicant"
    (home / "data").mkdir(parents=True)
    marker = Path("/tmp") / f"host-marker-{os.getpid()}"  # noqa: S108 (a file the jail must hide)
    marker.write_text("host")
    if identity == jail.SETUID:
        os.chown(home, 65534, 65534)
    extra = ["--hide", str(datasets), "--hide", str(tmp_path / "workspaces")]
    extra += ["--bind", f"{datasets / 'chest-xray'}:chest"]
    try:
        result = _workspace_jail(
            identity, home, extra, [PROBE, str(home), str(datasets / "endoscopy"), str(marker)]
        )
    finally:
        marker.unlink()
    if result.returncode == jail.FAILED and "unshare" in result.stderr:
        service_missing(f"the jail ({identity}) does not work here: {result.stderr.strip()}")
    assert result.returncode == 0, result.stderr

    seen = json.loads(result.stdout)

    assert seen == {
        "uid": 65534,
        "gid": 65534,
        "cwd": str(home),
        "data": ["chest"],
        "readme": "chest x-ray\n",
        "write_data": "EROFS",
        "add_beside": "EROFS",
        "write_home": "ok",
        "write_tmp": "ok",
        "other_dataset": False,
        "host_tmp_marker": False,
        "remount_rw": "EPERM",
    }
    assert (home / "notes.txt").read_text() == "memo"
    assert not (datasets / "chest-xray" / "x.txt").exists()
    # The folders under data/ live in the jail's own tmpfs: nothing of them is left on the host.
    assert os.listdir(home / "data") == []


def test_the_jail_refuses_a_bind_that_is_not_source_and_name(tmp_path: Path) -> None:
    with pytest.raises(jail.JailError, match="is not SOURCE:NAME"):
        jail.filesystem_prepare(
            str(tmp_path), [], [], mode=jail.WORKSPACE, data=str(tmp_path / "data"), binds=["x/y"]
        )
    with pytest.raises(jail.JailError, match="needs --data"):
        jail.filesystem_prepare(str(tmp_path), [], [], mode=jail.WORKSPACE, binds=[f"{tmp_path}:a"])
    with pytest.raises(jail.JailError, match="names 'a' twice"):
        jail.filesystem_prepare(
            str(tmp_path),
            [],
            [],
            mode=jail.WORKSPACE,
            data=str(tmp_path / "d"),
            binds=[f"{tmp_path}:a", f"{tmp_path}:a"],
        )


def test_a_dataset_folder_that_leads_outside_the_data_roots_is_not_bound(
    identity: str, tmp_path: Path
) -> None:
    # A folder of the scan root replaced by a link to a hidden folder (the hub's secrets, say).
    roots = tmp_path / "datasets"
    roots.mkdir()
    secrets = tmp_path / "var" / "hub"
    secrets.mkdir(parents=True)
    (secrets / "jupyterhub_cookie_secret").write_text("secret")
    (roots / "ds1").symlink_to(secrets)
    home = tmp_path / "home"
    home.mkdir()
    if identity == jail.SETUID:
        os.chown(home, 65534, 65534)

    result = _workspace_jail(
        identity,
        home,
        ["--hide", str(tmp_path / "var"), "--bind", f"{roots / 'ds1'}:ds1", "--within", str(roots)],
        ["print('started')"],
    )

    assert (result.returncode, result.stdout) == (jail.FAILED, "")
    assert result.stderr == f"jail: --bind source {secrets} is outside the allowed folders\n"


def test_a_link_in_place_of_the_data_folder_is_refused(identity: str, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (home / "data").symlink_to(elsewhere)
    if identity == jail.SETUID:
        os.chown(home, 65534, 65534)

    result = _workspace_jail(identity, home, [], ["print('started')"])

    assert (result.returncode, result.stdout) == (jail.FAILED, "")
    assert result.stderr == f"jail: --data {home / 'data'} is not a folder\n"


def test_a_masked_device_reads_as_dev_null(identity: str, tmp_path: Path) -> None:
    # Another company's GPU (a file standing in for /dev/nvidia1 here, where the jail can see it) is covered
    # with /dev/null.
    home = tmp_path / "home"
    home.mkdir()
    device = home / "nvidia1"
    device.write_text("the other company's GPU")
    if identity == jail.SETUID:
        os.chown(home, 65534, 65534)

    result = _workspace_jail(
        identity, home, ["--mask", str(device)], [f"print(repr(open({str(device)!r}).read()))"]
    )

    assert (result.returncode, result.stdout, result.stderr) == (0, "''\n", "")
    assert device.read_text() == "the other company's GPU"
