"""JupyterHub on Kubernetes: each workspace a pod (jupyterhub-kubespawner) on a node of its GPU type.

The hub runs in the cluster (a service account allowed to manage pods in ``MEDBROKER_KUBE_NAMESPACE``),
with the shared variables (``common.py``) and these:

- ``MEDBROKER_GPU_PROFILES``: JSON list, one entry a GPU type the platform allocates:
  ``[{"slug": "a100-80gb", "display_name": "A100 80GB",
  "node_selector": {"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB"}}]``; ``slug`` is the platform's
  profile of that type (``<model>-<memory>gb``), ``tolerations`` may be added where GPU nodes are tainted;
- ``MEDBROKER_WORKSPACE_IMAGE``: the server's image (``quay.io/jupyter/pytorch-notebook:cuda12-...``);
- ``MEDBROKER_HUB_CONNECT_URL``: the hub's API as pods reach it (``http://hub.medbroker.svc:8081``);
- ``MEDBROKER_KUBE_NAMESPACE`` (default: the hub's own);
- ``MEDBROKER_DATA_PVC`` and ``MEDBROKER_DATA_PVC_ROOT``: the claim holding the datasets and the folder it
  is on the data server; without them the datasets are ``hostPath`` folders, at the same path on every
  GPU node;
- ``MEDBROKER_WORKSPACE_MEM_LIMIT`` (``64G``) and ``MEDBROKER_WORKSPACE_CPU_LIMIT`` (``8``).

``profile_list`` is for the hub's own start page only, which the platform never uses: which profile a pod
gets is decided by ``engines.apply_kubernetes`` from the platform's answer, never from the request.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from medbroker.compute.hub.platform import apply_user_options_with
from medbroker.compute.hub.production.common import hub_common, required
from medbroker.compute.hub.production.engines import apply_kubernetes, kubernetes_profiles, limits

if TYPE_CHECKING:
    from traitlets.config import Config

    # JupyterHub gives its configuration files this function (and ``c``).
    def get_config() -> Config: ...


c = get_config()
environment = os.environ
hub_common(c, environment)
required(environment, "MEDBROKER_GPU_PROFILES", "MEDBROKER_WORKSPACE_IMAGE", "MEDBROKER_HUB_CONNECT_URL")
# A wrong limit stops the hub now rather than every start later.
limits(environment)

# Pods reach the hub through its service, not on loopback.
c.JupyterHub.hub_bind_url = "http://0.0.0.0:8081"
c.JupyterHub.hub_connect_url = environment["MEDBROKER_HUB_CONNECT_URL"]

# A string, so that this file loads (and is checked) where the package is not installed.
c.JupyterHub.spawner_class = "kubespawner.KubeSpawner"
c.Spawner.apply_user_options = apply_user_options_with(apply_kubernetes)
c.KubeSpawner.profile_list = kubernetes_profiles(environment["MEDBROKER_GPU_PROFILES"])
c.KubeSpawner.image = environment["MEDBROKER_WORKSPACE_IMAGE"]
if environment.get("MEDBROKER_KUBE_NAMESPACE"):
    c.KubeSpawner.namespace = environment["MEDBROKER_KUBE_NAMESPACE"]
# Pulling a CUDA image onto a fresh GPU node takes minutes.
c.KubeSpawner.start_timeout = 600
# A workspace has no business with the cluster's API.
c.KubeSpawner.service_account = None
c.KubeSpawner.automount_service_account_token = False
