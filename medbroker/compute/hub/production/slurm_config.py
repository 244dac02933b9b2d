"""JupyterHub on a Slurm cluster: each workspace a batch job (batchspawner's SlurmSpawner), its server in
Apptainer.

The hub runs on a submit host, as root or an account allowed ``sudo -u <user> sbatch/squeue/scancel``
(BatchSpawner's ``exec_prefix``); hub users are accounts of the cluster. Besides the shared variables
(``common.py``):

- ``MEDBROKER_APPTAINER_IMAGE``: the server's image (``/opt/images/workspace.sif``), with
  ``jupyterhub-singleuser`` and ``batchspawner-singleuser`` in it;
- ``MEDBROKER_HUB_CONNECT_URL``: the hub's API as compute nodes reach it (``http://submit-1:8081``);
- ``MEDBROKER_SLURM_PARTITION``: the GPU partition;
- ``MEDBROKER_SLURM_MAX_RUNTIME`` (default ``7-00:00:00``): the longest job, whatever is left of the grant;
- ``MEDBROKER_WORKSPACE_MEM_LIMIT`` (``64G``) and ``MEDBROKER_WORKSPACE_CPU_LIMIT`` (``8``).

The GPU type of a job is the answer's GPU model, lower-cased (``gres.conf``: ``Type=a100``). Job options
and script: ``engines.apply_slurm``.
"""

from __future__ import annotations

import contextlib
import os
from typing import TYPE_CHECKING

from jupyterhub import apihandlers

from medbroker.compute.hub.platform import apply_user_options_with
from medbroker.compute.hub.production.common import hub_common, required
from medbroker.compute.hub.production.engines import (
    SLURM_MAX_RUNTIME,
    apply_slurm,
    batchspawner_api_restricted,
    limits,
    slurm_seconds,
)

if TYPE_CHECKING:
    from traitlets.config import Config

    # JupyterHub gives its configuration files this function (and ``c``).
    def get_config() -> Config: ...


c = get_config()
environment = os.environ
hub_common(c, environment)
required(environment, "MEDBROKER_APPTAINER_IMAGE", "MEDBROKER_HUB_CONNECT_URL")
# A wrong limit stops the hub now rather than every start later.
limits(environment)
slurm_seconds(environment.get("MEDBROKER_SLURM_MAX_RUNTIME") or SLURM_MAX_RUNTIME)

# Imported for its side effect, the API the server reports its port to (batchspawner's README); missing only
# where this file is checked without the package, and then the hub itself would fail on spawner_class.
with contextlib.suppress(ImportError):
    import batchspawner  # noqa: F401
batchspawner_api_restricted(apihandlers.default_handlers)

# Compute nodes reach the hub over the cluster's network, not on loopback.
c.JupyterHub.hub_bind_url = "http://0.0.0.0:8081"
c.JupyterHub.hub_connect_url = environment["MEDBROKER_HUB_CONNECT_URL"]

# A string, so that this file loads (and is checked) where the package is not installed.
c.JupyterHub.spawner_class = "batchspawner.SlurmSpawner"
c.Spawner.apply_user_options = apply_user_options_with(apply_slurm)
# Waiting in the queue counts against the start; a GPU may be busy for a while.
c.Spawner.start_timeout = 600
c.Spawner.http_timeout = 300
