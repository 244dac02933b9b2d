"""The platform's answer turned into one engine's mounts, devices and limits.

Each ``apply_*`` is the ``apply(spawner, answer)`` of ``platform.apply_user_options_with``: it runs after
the platform allowed the start, and before the engine's ``start``. They only set spawner attributes, so
they need none of the engine packages and are tested with a plain namespace.

What the start request asked for (``user_options``) is never read: the GPU, the datasets and the end come
from the answer alone. Where an engine reads ``user_options`` itself (KubeSpawner's profiles, BatchSpawner's
template variables), they are replaced by the answer's profile before ``start``.

A spawner object lives on between starts of the same user, so every function sets all it owns again and
drops what a previous start left (a dataset the grant no longer covers must not stay mounted).
"""

from __future__ import annotations

import copy
import json
import math
import os
import posixpath
import re
import shlex
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from medbroker.compute.hub.platform import refusal_error

# Dataset folder names are made by the platform (``12-chest-ct``); paths go into systemd properties (space-
# and colon-separated), Kubernetes objects and a shell script, so both are held to characters that mean
# nothing in any of them.
DATASET_NAME = re.compile(r"[\w-]+")
DATASET_PATH = re.compile(r"/[\w./-]*")
HUB_USER = re.compile(r"\w[\w.-]*")
DATA_FOLDER = "data"
KUBE_HOME = "/home/jovyan"  # the docker-stacks images' user, whose home the server starts in
KUBE_VOLUME = "medbroker-data"
KUBE_GPU = "nvidia.com/gpu"
SLURM_MAX_RUNTIME = "7-00:00:00"
SLURM_DURATION = re.compile(r"(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?")


def _environment(environment: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if environment is None else environment


def _broken(detail: str) -> Exception:
    # The answer or the hub's own settings are wrong, not the person's request: shown, and nothing starts.
    return refusal_error(500, f"작업 공간을 준비하지 못했습니다: {detail}")


def datasets(answer: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``(path, name)`` of each granted dataset, checked; refuses the start on anything unexpected."""
    found = []
    for dataset in answer.get("datasets") or []:
        path, name = str(dataset["path"]), str(dataset["name"])
        if not DATASET_NAME.fullmatch(name):
            raise _broken(f"데이터 폴더 이름이 올바르지 않습니다 ({name[:40]}).")
        if not DATASET_PATH.fullmatch(path) or posixpath.normpath(path) != path or path == "/":
            raise _broken(f"데이터 경로가 올바르지 않습니다 ({path[:80]}).")
        found.append((path, name))
    return found


def seconds_left(answer: Mapping[str, Any], now: datetime | None = None) -> int:
    """Whole seconds from ``now`` to the grant's end (``answer["ends_at"]``); refuses when none are left."""
    ends = datetime.fromisoformat(str(answer["ends_at"]))
    left = math.floor((ends - (now or datetime.now(UTC))).total_seconds())
    if left <= 0:
        raise refusal_error(403, "데이터 이용 기간이 끝났습니다.")
    return left


def limits(environment: Mapping[str, str]) -> tuple[str | None, float | None]:
    """Memory (``64G``) and CPUs (``8``) one workspace may use, when the deployment sets them."""
    memory = environment.get("MEDBROKER_WORKSPACE_MEM_LIMIT") or None
    cpus = environment.get("MEDBROKER_WORKSPACE_CPU_LIMIT") or None
    return memory, float(cpus) if cpus else None


def _limited(spawner: Any, environment: Mapping[str, str]) -> None:
    # Spawner's own traits (bytes from "64G", a float); left as configured where the variable is not set.
    memory, cpus = limits(environment)
    if memory is not None:
        spawner.mem_limit = memory
    if cpus is not None:
        spawner.cpu_limit = cpus


def _without_visible_devices(spawner: Any) -> None:
    # The scheduler picks the device and sets the variable itself; the platform's index (the GPU's place on
    # a node the scheduler may not choose) would hide the one it gives.
    environment = dict(spawner.environment)
    environment.pop("CUDA_VISIBLE_DEVICES", None)
    spawner.environment = environment


def _options_pinned(spawner: Any, answer: Mapping[str, Any]) -> None:
    # The engine reads user_options after this; it must see the profile the platform granted and nothing
    # else (the launch token is spent already).
    spawner.user_options = {"profile": answer["gpu"]["profile"]}


# ---------------------------------------------------------------------------------------------------------
# systemd (jupyterhub-systemdspawner), one GPU server
# ---------------------------------------------------------------------------------------------------------

SYSTEMD_PROPERTIES = (
    "BindReadOnlyPaths",
    "TemporaryFileSystem",
    "DevicePolicy",
    "DeviceAllow",
    "RuntimeMaxSec",
)


def apply_systemd(
    spawner: Any,
    answer: Mapping[str, Any],
    *,
    now: datetime | None = None,
    environment: Mapping[str, str] | None = None,
) -> None:
    """The server as a transient unit of its own: a dynamic user (no account on the server, nothing of
    other users reachable), its own /tmp, the granted datasets bound read-only under ``~/data/<name>``, the
    allocated GPU the only one it can open, and a ``RuntimeMaxSec`` that ends it at the grant's end even if
    the platform is away.

    With ``DynamicUser`` the home is ``/var/lib/<user>`` (SystemdSpawner's ``StateDirectory``); ``/home`` is
    read-only there. ``MEDBROKER_WORKSPACE_HIDE`` (folders, ``:``-separated) are covered with an empty
    read-only tmpfs: the data roots, where every other company's datasets are, and the platform's storage.
    The bind mounts still reach their folders, since systemd takes their sources from outside the unit's
    namespace. ``MEDBROKER_WORKSPACE_MEM_LIMIT`` and ``MEDBROKER_WORKSPACE_CPU_LIMIT`` limit the unit.
    ``CUDA_VISIBLE_DEVICES`` is in the answer's environment already.
    """
    environment = _environment(environment)
    granted = datasets(answer)
    user = str(spawner.user.name)
    if not HUB_USER.fullmatch(user):
        raise _broken(f"허브 사용자 이름을 경로로 쓸 수 없습니다 ({user[:40]}).")
    home = f"/var/lib/{user}"
    gpu = int(answer["gpu"]["index"])

    spawner.dynamic_users = True
    spawner.isolate_tmp = True
    # PrivateDevices would take /dev/nvidia* away as well; DevicePolicy and DeviceAllow close the rest.
    spawner.isolate_devices = False
    spawner.disable_user_sudo = True
    # "-": under a hidden folder the source is not there at all, which is as read-only as it gets.
    spawner.readonly_paths = [f"-{path}" for path, _ in granted]
    _limited(spawner, environment)

    properties = {
        key: value for key, value in spawner.unit_extra_properties.items() if key not in SYSTEMD_PROPERTIES
    }
    if granted:
        properties["BindReadOnlyPaths"] = " ".join(
            f"{path}:{home}/{DATA_FOLDER}/{name}" for path, name in granted
        )
    hidden = [path for path in environment.get("MEDBROKER_WORKSPACE_HIDE", "").split(os.pathsep) if path]
    if hidden:
        properties["TemporaryFileSystem"] = " ".join(f"{path}:ro" for path in hidden)
    properties["DevicePolicy"] = "closed"
    properties["DeviceAllow"] = [f"/dev/nvidia{gpu} rw", "/dev/nvidiactl rw", "/dev/nvidia-uvm rw"]
    properties["RuntimeMaxSec"] = str(seconds_left(answer, now))
    spawner.unit_extra_properties = properties


# ---------------------------------------------------------------------------------------------------------
# Kubernetes (jupyterhub-kubespawner)
# ---------------------------------------------------------------------------------------------------------


def kubernetes_profiles(raw: str) -> list[dict[str, Any]]:
    """``KubeSpawner.profile_list`` from ``MEDBROKER_GPU_PROFILES``: one profile a GPU type, each asking for
    one GPU of the device plugin on the nodes its ``node_selector`` picks (``tolerations`` too, where GPU
    nodes are tainted)."""
    profiles = []
    for entry in json.loads(raw):
        override: dict[str, Any] = {
            "node_selector": dict(entry.get("node_selector") or {}),
            "extra_resource_limits": {KUBE_GPU: "1"},
            "extra_resource_guarantees": {KUBE_GPU: "1"},
        }
        if entry.get("tolerations"):
            override["tolerations"] = list(entry["tolerations"])
        profile = {
            "slug": str(entry["slug"]),
            "display_name": str(entry.get("display_name") or entry["slug"]),
            "kubespawner_override": override,
        }
        if entry.get("description"):
            profile["description"] = str(entry["description"])
        profiles.append(profile)
    return profiles


def apply_kubernetes(
    spawner: Any,
    answer: Mapping[str, Any],
    *,
    environment: Mapping[str, str] | None = None,
) -> None:
    """The pod on a node of the granted GPU type, with one GPU, the granted datasets read-only under
    ``/home/jovyan/data/<name>`` and the workspace's memory and CPU limits.

    The profile is the one of ``spawner.profile_list`` whose slug is the answer's ``gpu.profile``; its
    override is applied here, and ``user_options`` is set to that profile only, so that KubeSpawner's own
    profile loading (in ``start``, from ``user_options``) applies the same one again and never one the
    request named. The datasets come from ``hostPath`` (the data folders mounted on every GPU node at the
    same path) or, when ``MEDBROKER_DATA_PVC`` names a claim, from its ``subPath`` under
    ``MEDBROKER_DATA_PVC_ROOT`` (the folder the claim's volume is). ``CUDA_VISIBLE_DEVICES`` is removed:
    the device plugin gives the pod its GPU.
    """
    environment = _environment(environment)
    granted = datasets(answer)
    slug = answer["gpu"]["profile"]
    profile = next((entry for entry in spawner.profile_list or [] if entry.get("slug") == slug), None)
    if profile is None:
        raise _broken(f"허브에 GPU 종류 {slug}의 설정이 없습니다.")
    for key, value in profile.get("kubespawner_override", {}).items():
        setattr(spawner, key, copy.deepcopy(value))
    _options_pinned(spawner, answer)

    volumes = [volume for volume in spawner.volumes if not volume.get("name", "").startswith(KUBE_VOLUME)]
    mounts = [mount for mount in spawner.volume_mounts if not mount.get("name", "").startswith(KUBE_VOLUME)]
    claim = environment.get("MEDBROKER_DATA_PVC")
    if claim and granted:
        root = environment.get("MEDBROKER_DATA_PVC_ROOT", "")
        if not root.startswith("/"):
            raise _broken("MEDBROKER_DATA_PVC_ROOT가 설정되지 않았습니다.")
        volumes.append({"name": KUBE_VOLUME, "persistentVolumeClaim": {"claimName": claim, "readOnly": True}})
        for path, name in granted:
            relative = posixpath.relpath(path, root)
            if relative == "." or relative.startswith(".."):
                raise _broken(f"데이터 경로가 {root} 밖에 있습니다 ({path[:80]}).")
            mounts.append(
                {
                    "name": KUBE_VOLUME,
                    "mountPath": f"{KUBE_HOME}/{DATA_FOLDER}/{name}",
                    "subPath": relative,
                    "readOnly": True,
                }
            )
    else:
        for number, (path, name) in enumerate(granted):
            volume = f"{KUBE_VOLUME}-{number}"
            # "Directory": a folder missing on the node fails the start instead of appearing empty.
            volumes.append({"name": volume, "hostPath": {"path": path, "type": "Directory"}})
            mounts.append(
                {"name": volume, "mountPath": f"{KUBE_HOME}/{DATA_FOLDER}/{name}", "readOnly": True}
            )
    spawner.volumes = volumes
    spawner.volume_mounts = mounts

    _limited(spawner, environment)
    _without_visible_devices(spawner)


# ---------------------------------------------------------------------------------------------------------
# Slurm (batchspawner), servers in Apptainer
# ---------------------------------------------------------------------------------------------------------

# SlurmSpawner's own script, with the job named for the platform, strict bash, and the server inside
# Apptainer; ``{{ ... }}`` are BatchSpawner's variables (``req_*`` without the prefix, and ``cmd``).
SLURM_SCRIPT_HEAD = """#!/bin/bash
#SBATCH --output={{homedir}}/medbroker_workspace_%j.log
#SBATCH --job-name=medbroker-workspace
#SBATCH --chdir={{homedir}}
#SBATCH --export={{keepvars}}
#SBATCH --get-user-env=L
{% if partition %}#SBATCH --partition={{partition}}
{% endif %}{% if runtime %}#SBATCH --time={{runtime}}
{% endif %}{% if memory %}#SBATCH --mem={{memory}}
{% endif %}{% if nprocs %}#SBATCH --cpus-per-task={{nprocs}}
{% endif %}{% if options %}#SBATCH {{options}}
{% endif %}
set -euo pipefail

trap 'echo SIGTERM received' TERM
{{prologue}}
"""
SLURM_SCRIPT_TAIL = """
echo "jupyterhub-singleuser ended gracefully"
{{epilogue}}
"""


def slurm_duration(seconds: int) -> str:
    """Slurm's ``D-HH:MM:SS``."""
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{days}-{hours:02d}:{minutes:02d}:{seconds:02d}"


def slurm_seconds(duration: str) -> int:
    """Seconds in a Slurm time (``MM``, ``MM:SS``, ``HH:MM:SS``, ``D-HH``, ``D-HH:MM``, ``D-HH:MM:SS``)."""
    match = SLURM_DURATION.fullmatch(duration.strip())
    if match is None:
        raise _broken(f"Slurm 시간 형식이 아닙니다 ({duration[:40]}).")
    days, first, second, third = match.groups()
    parts = [int(part) for part in (first, second, third) if part is not None]
    if days is not None:
        weights = [3600, 60, 1][: len(parts)]
        return int(days) * 86400 + sum(part * weight for part, weight in zip(parts, weights, strict=True))
    weights = {1: [60], 2: [60, 1], 3: [3600, 60, 1]}[len(parts)]
    return sum(part * weight for part, weight in zip(parts, weights, strict=True))


def slurm_gres_type(model: str) -> str:
    """The GPU model as a gres type (``A100`` → ``a100``), as ``gres.conf``'s ``Type=`` must name it."""
    return re.sub(r"[^a-z0-9]+", "-", model.lower()).strip("-")


def slurm_batch_script(granted: list[tuple[str, str]], image: str) -> str:
    """The job script: the server in ``apptainer exec --nv --contain`` with each dataset bound read-only
    under ``~/data/<name>``. ``--contain`` keeps the host's ``/tmp``, ``/var/tmp`` and ``/dev`` (but the GPU
    ``--nv`` adds) out and binds the home only as ``--home`` names it; what stays is the site's own ``bind
    path`` list of ``apptainer.conf``, which must name no data folder. The environment is kept (no
    ``--cleanenv``): the server needs the hub's variables."""
    targets = [f"{{{{homedir}}}}/{DATA_FOLDER}/{name}" for _, name in granted]
    lines = [f"mkdir -p {target}" for target in targets]
    command = ["apptainer exec --nv --contain --home {{homedir}}"]
    command += [f"--bind {path}:{target}:ro" for (path, _), target in zip(granted, targets, strict=True)]
    command += [shlex.quote(image), "{{cmd}}"]
    lines.append(" \\\n    ".join(command))
    return SLURM_SCRIPT_HEAD + "\n".join(lines) + "\n" + SLURM_SCRIPT_TAIL


def apply_slurm(
    spawner: Any,
    answer: Mapping[str, Any],
    *,
    now: datetime | None = None,
    environment: Mapping[str, str] | None = None,
) -> None:
    """A job asking for one GPU of the granted model (``--gres=gpu:<model>:1``), for the time left of the
    grant in whole minutes (Slurm counts minutes: rounding up would run past the end; at least one, at most
    ``MEDBROKER_SLURM_MAX_RUNTIME``), in ``MEDBROKER_SLURM_PARTITION``, with the workspace's memory and
    CPUs, its server in ``MEDBROKER_APPTAINER_IMAGE`` with the datasets bound read-only.

    ``user_options`` is set to the answer's profile only: BatchSpawner passes it into the script's
    variables, where nothing else of the request belongs. ``CUDA_VISIBLE_DEVICES`` is removed: Slurm sets
    it for the GPU it gives.
    """
    environment = _environment(environment)
    granted = datasets(answer)
    image = environment.get("MEDBROKER_APPTAINER_IMAGE")
    if not image:
        raise _broken("MEDBROKER_APPTAINER_IMAGE가 설정되지 않았습니다.")
    gres = slurm_gres_type(str(answer["gpu"]["model"]))
    if not gres:
        raise _broken("GPU 모델 이름이 없습니다.")
    cap = slurm_seconds(environment.get("MEDBROKER_SLURM_MAX_RUNTIME") or SLURM_MAX_RUNTIME)
    runtime = min(max(60, seconds_left(answer, now) // 60 * 60), cap)
    memory, cpus = limits(environment)

    spawner.req_options = f"--gres=gpu:{gres}:1"
    spawner.req_runtime = slurm_duration(runtime)
    spawner.req_partition = environment.get("MEDBROKER_SLURM_PARTITION", "")
    spawner.req_memory = memory or ""
    spawner.req_nprocs = str(math.ceil(cpus)) if cpus else ""
    spawner.batch_script = slurm_batch_script(granted, image)
    _options_pinned(spawner, answer)
    _without_visible_devices(spawner)


def batchspawner_port(data: Any) -> int:
    """The one thing ``batchspawner-singleuser`` reports (``{"port": N}``), checked."""
    port = data.get("port") if isinstance(data, dict) else None
    if not isinstance(data, dict) or set(data) != {"port"} or type(port) is not int or not 0 < port < 65536:
        raise ValueError("only the server's port may be reported")
    return port


def batchspawner_api_restricted(handlers: list[Any]) -> None:
    """Replace BatchSpawner's ``/api/batchspawner`` handler in ``handlers`` (JupyterHub's API handlers).

    BatchSpawner's own sets any attribute of the spawner the request names, and the server's token, which
    the person holds inside the workspace, is enough to call it: ``batch_cancel_cmd`` or ``exec_prefix``
    would be run by the hub. This one takes the port, which is all the server reports.
    """
    from jupyterhub.apihandlers import APIHandler
    from tornado import web

    class PortHandler(APIHandler):
        @web.authenticated
        def post(self) -> None:
            token = self.get_auth_token()
            spawners = getattr(self.current_user, "spawners", {})
            spawner = next((each for each in spawners.values() if each.api_token == token), None)
            try:
                port = batchspawner_port(self.get_json_body())
            except ValueError as error:
                raise web.HTTPError(400, str(error)) from None
            if spawner is None:
                raise web.HTTPError(404, "no server of this token")
            spawner.port = port
            self.set_status(201)
            self.finish(json.dumps({"message": "BatchSpawner data configured"}))

    for number, handler in enumerate(handlers):
        if handler[0] == r"/api/batchspawner":
            handlers[number] = (handler[0], PortHandler)
