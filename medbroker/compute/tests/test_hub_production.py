"""The production hub configurations (``compute/hub/production``): they load as JupyterHub loads them, with
the platform's sign-in, services and roles, and each engine turns the platform's answer into exactly the
mounts, devices, limits and end it should, whatever the start request asked for.

No engine package (systemdspawner, kubespawner, batchspawner) is needed: the spawners are plain
namespaces, and the configurations name their spawner classes as strings.
"""

from __future__ import annotations

import asyncio
import copy
import json
import sys
import types
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import jinja2
import pytest
from jupyterhub import apihandlers
from jupyterhub.apihandlers import APIHandler
from jupyterhub.app import JupyterHub
from jupyterhub.spawner import Spawner
from oauthenticator.generic import GenericOAuthenticator
from tornado import web
from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

from medbroker.compute.hub import platform
from medbroker.compute.hub.production.engines import (
    apply_kubernetes,
    apply_slurm,
    apply_systemd,
    batchspawner_port,
    kubernetes_profiles,
    slurm_duration,
    slurm_seconds,
)

PRODUCTION = Path(platform.__file__).resolve().parent / "production"
KST = timezone(timedelta(hours=9))
# 2 days 13:59:59 before the grant's last second.
NOW = datetime(2025, 11, 26, 10, 0, 0, tzinfo=KST)
LEFT = 2 * 86400 + 13 * 3600 + 59 * 60 + 59

ANSWER: dict[str, Any] = {
    "allowed": True,
    "workspace": 17,
    "user": "company",
    "setting": "online",
    "company": "메디비전랩",
    "agreement": "AG-2025-0003",
    "datasets": [
        {"name": "12-chest-ct", "title": "흉부 CT", "path": "/srv/medbroker/data/chest-ct", "grant": 5},
        {"name": "15-brain-mri", "title": "뇌 MRI", "path": "/srv/medbroker/data/brain-mri", "grant": 6},
    ],
    "gpu": {
        "allocation": 3,
        "profile": "a100-80gb",
        "model": "A100",
        "memory_gb": 80,
        "node": "gpu-a",
        "index": 2,
    },
    "ends_at": "2025-11-28T23:59:59+09:00",
    "environment": {
        "CUDA_VISIBLE_DEVICES": "2",
        "MEDBROKER_AGREEMENT": "AG-2025-0003",
        "MEDBROKER_GRANT_ENDS_AT": "2025-11-28T23:59:59+09:00",
    },
}
A100_SELECTOR = {"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB"}
H100_SELECTOR = {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}
GPU_PROFILES = json.dumps(
    [
        {"slug": "a100-80gb", "display_name": "A100 80GB", "node_selector": A100_SELECTOR},
        {
            "slug": "h100-80gb",
            "display_name": "H100 80GB",
            "description": "Hopper",
            "node_selector": H100_SELECTOR,
            "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
        },
    ]
)
HUB_ENVIRONMENT = {
    "MEDBROKER_PLATFORM_URL": "https://medbroker.example.org/",
    "MEDBROKER_HUB_URL": "https://hub.medbroker.example.org",
    "MEDBROKER_HUB_API_TOKEN": "service-token",
    "MEDBROKER_HUB_OAUTH_CLIENT_ID": "medbroker-jupyterhub",
    "MEDBROKER_HUB_OAUTH_CLIENT_SECRET": "client-secret",
    "MEDBROKER_HUB_PLATFORM_TOKEN": "platform-token",
    "MEDBROKER_HUB_IDLE_SECONDS": "5400",
    "MEDBROKER_GPU_PROFILES": GPU_PROFILES,
    "MEDBROKER_WORKSPACE_IMAGE": "quay.io/jupyter/pytorch-notebook:cuda12-2025-11-24",
    "MEDBROKER_HUB_CONNECT_URL": "http://hub.medbroker.svc:8081",
    "MEDBROKER_APPTAINER_IMAGE": "/opt/images/workspace.sif",
}
OPTIONAL = (
    "MEDBROKER_HUB_BIND_URL",
    "MEDBROKER_HUB_STATE_DIR",
    "MEDBROKER_HUB_DB_URL",
    "MEDBROKER_KUBE_NAMESPACE",
    "MEDBROKER_WORKSPACE_SINGLEUSER",
    "MEDBROKER_WORKSPACE_MEM_LIMIT",
    "MEDBROKER_WORKSPACE_CPU_LIMIT",
    "MEDBROKER_WORKSPACE_HIDE",
    "MEDBROKER_SLURM_MAX_RUNTIME",
)
CONFIGS = {
    "systemd_config.py": "systemdspawner.SystemdSpawner",
    "kubernetes_config.py": "kubespawner.KubeSpawner",
    "slurm_config.py": "batchspawner.SlurmSpawner",
}
LIMITS = {"MEDBROKER_WORKSPACE_MEM_LIMIT": "64G", "MEDBROKER_WORKSPACE_CPU_LIMIT": "8"}


@pytest.fixture
def hub_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in HUB_ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    for name in OPTIONAL:
        monkeypatch.delenv(name, raising=False)


def load(name: str) -> Config:
    return PyFileConfigLoader(name, path=str(PRODUCTION)).load_config()


def answer(**changes: Any) -> dict[str, Any]:
    return {**copy.deepcopy(ANSWER), **changes}


# ---------------------------------------------------------------------------------------------------------
# The configuration files
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "spawner_class"), CONFIGS.items())
def test_configuration_loads_with_platform_sign_in_services_and_roles(
    hub_environment: None, name: str, spawner_class: str
) -> None:
    config = load(name)

    assert config.JupyterHub.spawner_class == spawner_class
    assert callable(config.Spawner.apply_user_options)
    assert config.JupyterHub.authenticator_class == "generic-oauth"
    oauth = config.GenericOAuthenticator
    assert oauth.authorize_url == "https://medbroker.example.org/o/authorize/"
    assert oauth.token_url == "https://medbroker.example.org/o/token/"
    assert oauth.userdata_url == "https://medbroker.example.org/o/userinfo/"
    assert oauth.oauth_callback_url == "https://hub.medbroker.example.org/hub/oauth_callback"
    assert oauth.client_id == "medbroker-jupyterhub"
    assert oauth.client_secret == "client-secret"
    assert oauth.allowed_groups == {"applicants"}
    assert oauth.admin_groups == set()
    assert oauth.manage_groups is True
    assert oauth.enable_pkce is True
    assert config.JupyterHub.services == [
        {"name": "medbroker", "api_token": "service-token"},
        {
            "name": "idle-culler",
            "command": [sys.executable, "-m", "jupyterhub_idle_culler", "--timeout=5400", "--cull-every=60"],
        },
    ]
    assert config.JupyterHub.load_roles == [
        {"name": "medbroker-platform", "scopes": ["admin:users", "servers"], "services": ["medbroker"]},
        {
            "name": "idle-culler",
            "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
            "services": ["idle-culler"],
        },
    ]
    assert config.JupyterHub.public_url == "https://hub.medbroker.example.org/"
    assert config.JupyterHub.bind_url == "http://127.0.0.1:8000"
    assert config.JupyterHub.db_url == "sqlite:////srv/jupyterhub/jupyterhub.sqlite"
    assert config.JupyterHub.cookie_secret_file == "/srv/jupyterhub/jupyterhub_cookie_secret"
    assert config.JupyterHub.cleanup_servers is False
    assert config.JupyterHub.allow_named_servers is False
    assert config.JupyterHub.default_url == "/hub/home"
    assert config.Spawner.default_url == "/lab"
    assert "service-token" not in (PRODUCTION / name).read_text()


@pytest.mark.parametrize("name", CONFIGS)
def test_jupyterhub_accepts_the_loaded_values(hub_environment: None, name: str) -> None:
    config = load(name)
    # The spawner packages are not here; every other value goes through JupyterHub's own traits.
    del config.JupyterHub["spawner_class"]

    hub = JupyterHub(config=config)
    spawner = Spawner(config=config)
    authenticator = GenericOAuthenticator(config=config)

    assert hub.public_url == "https://hub.medbroker.example.org/"
    assert hub.cleanup_servers is False
    assert hub.authenticator_class is GenericOAuthenticator
    assert spawner.apply_user_options is config.Spawner.apply_user_options
    assert authenticator.userdata_url == "https://medbroker.example.org/o/userinfo/"


@pytest.mark.parametrize("missing", ["MEDBROKER_HUB_PLATFORM_TOKEN", "MEDBROKER_HUB_OAUTH_CLIENT_SECRET"])
def test_configuration_refuses_to_load_without_a_secret(
    hub_environment: None, monkeypatch: pytest.MonkeyPatch, missing: str
) -> None:
    monkeypatch.delenv(missing)

    with pytest.raises(RuntimeError, match=missing):
        load("systemd_config.py")


@pytest.mark.parametrize("name", CONFIGS)
def test_configuration_refuses_to_load_with_a_wrong_limit(
    hub_environment: None, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    monkeypatch.setenv("MEDBROKER_WORKSPACE_CPU_LIMIT", "eight")

    with pytest.raises(ValueError, match="eight"):
        load(name)


def test_systemd_configuration(hub_environment: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDBROKER_WORKSPACE_SINGLEUSER", "/opt/workspace/bin/jupyterhub-singleuser")

    config = load("systemd_config.py")

    assert config.Spawner.cmd == ["/opt/workspace/bin/jupyterhub-singleuser"]
    assert config.SystemdSpawner.dynamic_users is True
    assert config.SystemdSpawner.isolate_tmp is True
    assert config.SystemdSpawner.isolate_devices is False
    assert config.SystemdSpawner.disable_user_sudo is True
    assert config.SystemdSpawner.unit_name_template == "medbroker-workspace-{USERNAME}"
    assert "PYTHONPATH" not in config.Spawner.env_keep


def test_kubernetes_configuration_has_one_gpu_profile_per_type(hub_environment: None) -> None:
    config = load("kubernetes_config.py")

    assert config.KubeSpawner.profile_list == [
        {
            "slug": "a100-80gb",
            "display_name": "A100 80GB",
            "kubespawner_override": {
                "node_selector": A100_SELECTOR,
                "extra_resource_limits": {"nvidia.com/gpu": "1"},
                "extra_resource_guarantees": {"nvidia.com/gpu": "1"},
            },
        },
        {
            "slug": "h100-80gb",
            "display_name": "H100 80GB",
            "kubespawner_override": {
                "node_selector": H100_SELECTOR,
                "extra_resource_limits": {"nvidia.com/gpu": "1"},
                "extra_resource_guarantees": {"nvidia.com/gpu": "1"},
                "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
            },
            "description": "Hopper",
        },
    ]
    assert config.KubeSpawner.image == "quay.io/jupyter/pytorch-notebook:cuda12-2025-11-24"
    assert config.JupyterHub.hub_bind_url == "http://0.0.0.0:8081"
    assert config.JupyterHub.hub_connect_url == "http://hub.medbroker.svc:8081"
    assert config.KubeSpawner.automount_service_account_token is False


def test_slurm_configuration_takes_the_port_only_from_servers(
    hub_environment: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Upstream:
        pass

    handlers: list[Any] = [(r"/api/users", object), (r"/api/batchspawner", Upstream)]
    monkeypatch.setattr(apihandlers, "default_handlers", handlers)
    monkeypatch.setitem(sys.modules, "batchspawner", types.ModuleType("batchspawner"))

    config = load("slurm_config.py")

    assert config.JupyterHub.hub_connect_url == "http://hub.medbroker.svc:8081"
    assert config.Spawner.start_timeout == 600
    assert handlers[0] == (r"/api/users", object)
    assert handlers[1][0] == r"/api/batchspawner"
    assert handlers[1][1] is not Upstream
    assert issubclass(handlers[1][1], APIHandler)


def test_batchspawner_port_is_all_a_server_may_report() -> None:
    assert batchspawner_port({"port": 43121}) == 43121
    for data in (
        {"port": 43121, "batch_cancel_cmd": "scancel {job_id}; touch /pwned"},
        {"exec_prefix": "sh -c"},
        {"port": "43121"},
        {"port": True},
        {"port": 0},
        {"port": 70000},
        [43121],
        None,
    ):
        with pytest.raises(ValueError, match="port"):
            batchspawner_port(data)


def test_the_hook_merges_the_answer_environment_before_the_engine_removes_the_gpu_index(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked: list[tuple[str, str, dict[str, Any]]] = []

    async def platform_authorize(user: str, server: str, user_options: dict[str, Any]) -> dict[str, Any]:
        asked.append((user, server, user_options))
        return answer()

    monkeypatch.setattr(platform, "platform_authorize", platform_authorize)
    spawner = kube_spawner(user_options={"launch": "token", "profile": "a100-80gb"})
    hook = platform.apply_user_options_with(
        lambda spawner, answer: apply_kubernetes(spawner, answer, environment={})
    )

    asyncio.run(hook(spawner, {"launch": "token", "profile": "a100-80gb"}))

    assert asked == [("company", "", {"launch": "token", "profile": "a100-80gb"})]
    assert spawner.medbroker == ANSWER
    assert spawner.environment == {
        "LANG": "C.UTF-8",
        "MEDBROKER_AGREEMENT": "AG-2025-0003",
        "MEDBROKER_GRANT_ENDS_AT": "2025-11-28T23:59:59+09:00",
    }
    assert spawner.node_selector == A100_SELECTOR


# ---------------------------------------------------------------------------------------------------------
# systemd
# ---------------------------------------------------------------------------------------------------------


def systemd_spawner() -> types.SimpleNamespace:
    return types.SimpleNamespace(
        user=types.SimpleNamespace(name="company"),
        name="",
        environment={"CUDA_VISIBLE_DEVICES": "2"},
        user_options={"launch": "token", "profile": "a100-80gb"},
        unit_extra_properties={"Nice": "5"},
        readonly_paths=None,
        mem_limit=None,
        cpu_limit=None,
        dynamic_users=False,
        isolate_tmp=False,
        isolate_devices=True,
        disable_user_sudo=False,
    )


def test_systemd_binds_the_datasets_read_only_and_allows_only_the_allocated_gpu() -> None:
    spawner = systemd_spawner()

    apply_systemd(spawner, answer(), now=NOW, environment=LIMITS)

    assert spawner.unit_extra_properties == {
        "Nice": "5",
        "BindReadOnlyPaths": (
            "/srv/medbroker/data/chest-ct:/var/lib/company/data/12-chest-ct "
            "/srv/medbroker/data/brain-mri:/var/lib/company/data/15-brain-mri"
        ),
        "DevicePolicy": "closed",
        "DeviceAllow": ["/dev/nvidia2 rw", "/dev/nvidiactl rw", "/dev/nvidia-uvm rw"],
        "RuntimeMaxSec": str(LEFT),
    }
    assert spawner.readonly_paths == ["-/srv/medbroker/data/chest-ct", "-/srv/medbroker/data/brain-mri"]
    assert spawner.mem_limit == "64G"
    assert spawner.cpu_limit == 8.0
    assert spawner.dynamic_users is True
    assert spawner.isolate_tmp is True
    assert spawner.isolate_devices is False
    assert spawner.disable_user_sudo is True
    # The platform's index is the device on this server: the wrapper's merge stands.
    assert spawner.environment == {"CUDA_VISIBLE_DEVICES": "2"}


def test_systemd_hides_the_data_roots_and_forgets_what_an_earlier_start_had() -> None:
    spawner = systemd_spawner()
    apply_systemd(spawner, answer(), now=NOW, environment={})
    later = answer(datasets=ANSWER["datasets"][1:], gpu={**ANSWER["gpu"], "index": 0})

    apply_systemd(
        spawner,
        later,
        now=NOW + timedelta(days=2),
        environment={"MEDBROKER_WORKSPACE_HIDE": "/srv/medbroker/data:/srv/medbroker/platform"},
    )

    assert spawner.unit_extra_properties == {
        "Nice": "5",
        "BindReadOnlyPaths": "/srv/medbroker/data/brain-mri:/var/lib/company/data/15-brain-mri",
        "TemporaryFileSystem": "/srv/medbroker/data:ro /srv/medbroker/platform:ro",
        "DevicePolicy": "closed",
        "DeviceAllow": ["/dev/nvidia0 rw", "/dev/nvidiactl rw", "/dev/nvidia-uvm rw"],
        "RuntimeMaxSec": str(LEFT - 2 * 86400),
    }
    assert spawner.readonly_paths == ["-/srv/medbroker/data/brain-mri"]
    # Not set by the deployment: what the configuration has stays.
    assert spawner.mem_limit is None
    assert spawner.cpu_limit is None


def test_systemd_refuses_a_grant_that_has_ended() -> None:
    spawner = systemd_spawner()

    with pytest.raises(web.HTTPError) as refused:
        apply_systemd(spawner, answer(), now=datetime(2025, 11, 29, 0, 0, 0, tzinfo=KST), environment={})

    assert refused.value.status_code == 403
    assert refused.value.jupyterhub_message == "데이터 이용 기간이 끝났습니다."  # type: ignore[attr-defined]
    assert spawner.unit_extra_properties == {"Nice": "5"}


@pytest.mark.parametrize(
    "dataset",
    [
        {"name": "12-chest-ct", "path": "/srv/medbroker/data/chest ct"},
        {"name": "12-chest-ct", "path": "/srv/medbroker/data/chest-ct:/etc"},
        {"name": "12-chest-ct", "path": "/srv/medbroker/data/../platform"},
        {"name": "12-chest-ct", "path": "srv/medbroker/data/chest-ct"},
        {"name": "12-chest-ct", "path": "/"},
        {"name": "../escape", "path": "/srv/medbroker/data/chest-ct"},
        {"name": "a b", "path": "/srv/medbroker/data/chest-ct"},
    ],
)
def test_every_engine_refuses_a_dataset_it_cannot_mount_safely(dataset: dict[str, str]) -> None:
    broken = answer(datasets=[dataset])
    attempts = (
        lambda: apply_systemd(systemd_spawner(), broken, now=NOW, environment={}),
        lambda: apply_kubernetes(kube_spawner(), broken, environment={}),
        lambda: apply_slurm(slurm_spawner(), broken, now=NOW, environment=SLURM_ENVIRONMENT),
    )
    for attempt in attempts:
        with pytest.raises(web.HTTPError) as refused:
            attempt()
        assert refused.value.status_code == 500


# ---------------------------------------------------------------------------------------------------------
# Kubernetes
# ---------------------------------------------------------------------------------------------------------

HOME_VOLUME = {"name": "home", "persistentVolumeClaim": {"claimName": "claim-company"}}
HOME_MOUNT = {"name": "home", "mountPath": "/home/jovyan"}


def kube_spawner(**changes: Any) -> types.SimpleNamespace:
    spawner = types.SimpleNamespace(
        user=types.SimpleNamespace(name="company"),
        name="",
        profile_list=kubernetes_profiles(GPU_PROFILES),
        environment={"LANG": "C.UTF-8"},
        user_options={"launch": "token", "profile": "a100-80gb"},
        node_selector={},
        extra_resource_limits={},
        extra_resource_guarantees={},
        volumes=[HOME_VOLUME],
        volume_mounts=[HOME_MOUNT],
        mem_limit=None,
        cpu_limit=None,
    )
    for key, value in changes.items():
        setattr(spawner, key, value)
    return spawner


def test_kubernetes_mounts_the_datasets_read_only_on_a_node_of_the_granted_gpu() -> None:
    spawner = kube_spawner(environment={"LANG": "C.UTF-8", **ANSWER["environment"]})

    apply_kubernetes(spawner, answer(), environment=LIMITS)

    assert spawner.node_selector == A100_SELECTOR
    assert spawner.extra_resource_limits == {"nvidia.com/gpu": "1"}
    assert spawner.extra_resource_guarantees == {"nvidia.com/gpu": "1"}
    assert spawner.volumes == [
        HOME_VOLUME,
        {
            "name": "medbroker-data-0",
            "hostPath": {"path": "/srv/medbroker/data/chest-ct", "type": "Directory"},
        },
        {
            "name": "medbroker-data-1",
            "hostPath": {"path": "/srv/medbroker/data/brain-mri", "type": "Directory"},
        },
    ]
    assert spawner.volume_mounts == [
        HOME_MOUNT,
        {"name": "medbroker-data-0", "mountPath": "/home/jovyan/data/12-chest-ct", "readOnly": True},
        {"name": "medbroker-data-1", "mountPath": "/home/jovyan/data/15-brain-mri", "readOnly": True},
    ]
    assert spawner.mem_limit == "64G"
    assert spawner.cpu_limit == 8.0
    assert spawner.environment == {
        "LANG": "C.UTF-8",
        "MEDBROKER_AGREEMENT": "AG-2025-0003",
        "MEDBROKER_GRANT_ENDS_AT": "2025-11-28T23:59:59+09:00",
    }
    # KubeSpawner loads the profile of user_options again in start: the granted one, and nothing else.
    assert spawner.user_options == {"profile": "a100-80gb"}


def test_kubernetes_ignores_the_gpu_the_request_named() -> None:
    granted = kube_spawner()
    forged = kube_spawner(user_options={"launch": "token", "profile": "h100-80gb"})

    apply_kubernetes(granted, answer(), environment=LIMITS)
    apply_kubernetes(forged, answer(), environment=LIMITS)

    assert vars(forged) == vars(granted)
    assert forged.node_selector == A100_SELECTOR
    assert forged.user_options == {"profile": "a100-80gb"}
    assert not hasattr(forged, "tolerations")


def test_kubernetes_takes_the_datasets_from_a_claim_and_forgets_an_earlier_start() -> None:
    spawner = kube_spawner()
    apply_kubernetes(spawner, answer(), environment={})
    environment = {
        "MEDBROKER_DATA_PVC": "medbroker-datasets",
        "MEDBROKER_DATA_PVC_ROOT": "/srv/medbroker/data",
    }

    apply_kubernetes(spawner, answer(datasets=ANSWER["datasets"][1:]), environment=environment)

    assert spawner.volumes == [
        HOME_VOLUME,
        {
            "name": "medbroker-data",
            "persistentVolumeClaim": {"claimName": "medbroker-datasets", "readOnly": True},
        },
    ]
    assert spawner.volume_mounts == [
        HOME_MOUNT,
        {
            "name": "medbroker-data",
            "mountPath": "/home/jovyan/data/15-brain-mri",
            "subPath": "brain-mri",
            "readOnly": True,
        },
    ]


def test_kubernetes_refuses_a_dataset_outside_the_claim() -> None:
    environment = {"MEDBROKER_DATA_PVC": "medbroker-datasets", "MEDBROKER_DATA_PVC_ROOT": "/srv/other"}

    with pytest.raises(web.HTTPError) as refused:
        apply_kubernetes(kube_spawner(), answer(), environment=environment)

    assert refused.value.status_code == 500


def test_kubernetes_refuses_a_gpu_type_the_hub_has_no_profile_for() -> None:
    spawner = kube_spawner(profile_list=kubernetes_profiles(GPU_PROFILES)[1:])

    with pytest.raises(web.HTTPError) as refused:
        apply_kubernetes(spawner, answer(), environment={})

    assert refused.value.status_code == 500
    assert "a100-80gb" in refused.value.jupyterhub_message  # type: ignore[attr-defined]
    assert spawner.volumes == [HOME_VOLUME]


# ---------------------------------------------------------------------------------------------------------
# Slurm
# ---------------------------------------------------------------------------------------------------------

SLURM_ENVIRONMENT = {
    **LIMITS,
    "MEDBROKER_APPTAINER_IMAGE": "/opt/images/workspace.sif",
    "MEDBROKER_SLURM_PARTITION": "gpu",
    "MEDBROKER_SLURM_MAX_RUNTIME": "7-00:00:00",
}


def slurm_spawner() -> types.SimpleNamespace:
    return types.SimpleNamespace(
        user=types.SimpleNamespace(name="company"),
        name="",
        environment={"CUDA_VISIBLE_DEVICES": "2", "MEDBROKER_AGREEMENT": "AG-2025-0003"},
        user_options={"launch": "token", "profile": "a100-80gb", "options": "--uid=0"},
        req_options="",
        req_runtime="",
        req_partition="",
        req_memory="",
        req_nprocs="",
        batch_script="",
    )


def render(spawner: types.SimpleNamespace) -> str:
    """The script as BatchSpawner submits it: ``req_*`` without the prefix, the command, the user options."""
    variables = {key[4:]: value for key, value in vars(spawner).items() if key.startswith("req_")}
    variables |= {
        "homedir": "/home/company",
        "keepvars": "PATH,JUPYTERHUB_API_TOKEN",
        "prologue": "",
        "epilogue": "",
    }
    variables["cmd"] = "batchspawner-singleuser jupyterhub-singleuser"
    variables |= spawner.user_options
    return jinja2.Template(spawner.batch_script).render(**variables)


def test_slurm_asks_for_one_gpu_of_the_model_until_the_grant_ends() -> None:
    spawner = slurm_spawner()

    apply_slurm(spawner, answer(), now=NOW, environment=SLURM_ENVIRONMENT)

    assert spawner.req_options == "--gres=gpu:a100:1"
    # 2-13:59:59 left; Slurm counts whole minutes, so the job ends before the grant, not after.
    assert spawner.req_runtime == "2-13:59:00"
    assert spawner.req_partition == "gpu"
    assert spawner.req_memory == "64G"
    assert spawner.req_nprocs == "8"
    assert spawner.user_options == {"profile": "a100-80gb"}
    assert spawner.environment == {"MEDBROKER_AGREEMENT": "AG-2025-0003"}
    assert render(spawner) == (
        "#!/bin/bash\n"
        "#SBATCH --output=/home/company/medbroker_workspace_%j.log\n"
        "#SBATCH --job-name=medbroker-workspace\n"
        "#SBATCH --chdir=/home/company\n"
        "#SBATCH --export=PATH,JUPYTERHUB_API_TOKEN\n"
        "#SBATCH --get-user-env=L\n"
        "#SBATCH --partition=gpu\n"
        "#SBATCH --time=2-13:59:00\n"
        "#SBATCH --mem=64G\n"
        "#SBATCH --cpus-per-task=8\n"
        "#SBATCH --gres=gpu:a100:1\n"
        "\n"
        "set -euo pipefail\n"
        "\n"
        "trap 'echo SIGTERM received' TERM\n"
        "\n"
        "mkdir -p /home/company/data/12-chest-ct\n"
        "mkdir -p /home/company/data/15-brain-mri\n"
        "apptainer exec --nv --contain --home /home/company \\\n"
        "    --bind /srv/medbroker/data/chest-ct:/home/company/data/12-chest-ct:ro \\\n"
        "    --bind /srv/medbroker/data/brain-mri:/home/company/data/15-brain-mri:ro \\\n"
        "    /opt/images/workspace.sif \\\n"
        "    batchspawner-singleuser jupyterhub-singleuser\n"
        "\n"
        'echo "jupyterhub-singleuser ended gracefully"\n'
    )


def test_slurm_runtime_is_capped_and_at_least_one_minute() -> None:
    capped, short = slurm_spawner(), slurm_spawner()

    apply_slurm(
        capped, answer(), now=NOW, environment={**SLURM_ENVIRONMENT, "MEDBROKER_SLURM_MAX_RUNTIME": "1-00"}
    )
    apply_slurm(
        short, answer(), now=datetime(2025, 11, 28, 23, 59, 30, tzinfo=KST), environment=SLURM_ENVIRONMENT
    )

    assert capped.req_runtime == "1-00:00:00"
    assert short.req_runtime == "0-00:01:00"


def test_slurm_refuses_without_an_image() -> None:
    with pytest.raises(web.HTTPError) as refused:
        apply_slurm(slurm_spawner(), answer(), now=NOW, environment=LIMITS)

    assert refused.value.status_code == 500


def test_slurm_times() -> None:
    assert slurm_duration(LEFT) == "2-13:59:59"
    assert slurm_duration(60) == "0-00:01:00"
    assert slurm_seconds("7-00:00:00") == 7 * 86400
    assert slurm_seconds("1-02") == 86400 + 2 * 3600
    assert slurm_seconds("1-02:03") == 86400 + 2 * 3600 + 3 * 60
    assert slurm_seconds("02:03:04") == 2 * 3600 + 3 * 60 + 4
    assert slurm_seconds("90:30") == 90 * 60 + 30
    assert slurm_seconds("90") == 90 * 60
    with pytest.raises(web.HTTPError):
        slurm_seconds("a week")


def test_default_now_is_the_present() -> None:
    spawner = systemd_spawner()
    ends = datetime.now(UTC) + timedelta(hours=1)

    apply_systemd(spawner, answer(ends_at=ends.isoformat()), environment={})

    assert 3590 <= int(spawner.unit_extra_properties["RuntimeMaxSec"]) <= 3600
