"""JupyterHub on one GPU server: each workspace a transient systemd unit (jupyterhub-systemdspawner).

Run as root (SystemdSpawner starts units with ``systemd-run``), with the shared variables (``common.py``)
and these:

- ``MEDBROKER_WORKSPACE_SINGLEUSER``: absolute path of ``jupyterhub-singleuser`` (default: beside this
  Python), readable and executable by any user, since each workspace runs as a dynamic user;
- ``MEDBROKER_WORKSPACE_MEM_LIMIT`` (``64G``) and ``MEDBROKER_WORKSPACE_CPU_LIMIT`` (``8``): per workspace;
- ``MEDBROKER_WORKSPACE_HIDE``: folders (``:``-separated) that no workspace may see: the data roots, where
  every company's datasets are, and the platform's own storage. Granted datasets are bound in all the same.

Mounts, devices and the end of each unit: ``engines.apply_systemd``.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

from medbroker.compute.hub.platform import apply_user_options_with
from medbroker.compute.hub.production.common import hub_common
from medbroker.compute.hub.production.engines import apply_systemd, limits

if TYPE_CHECKING:
    from traitlets.config import Config

    # JupyterHub gives its configuration files this function (and ``c``).
    def get_config() -> Config: ...


c = get_config()
environment = os.environ
hub_common(c, environment)
# A wrong limit stops the hub now rather than every start later.
limits(environment)

# A string, so that this file loads (and is checked) where the package is not installed.
c.JupyterHub.spawner_class = "systemdspawner.SystemdSpawner"
c.Spawner.apply_user_options = apply_user_options_with(apply_systemd)
c.Spawner.cmd = [
    environment.get(
        "MEDBROKER_WORKSPACE_SINGLEUSER",
        os.path.join(os.path.dirname(sys.executable), "jupyterhub-singleuser"),
    )
]
c.Spawner.start_timeout = 120
# Not PYTHONPATH: it may name the platform's checkout, which is none of the workspace's business.
c.Spawner.env_keep = ["PATH", "LANG", "LC_ALL", "VIRTUAL_ENV"]
# Also set by apply_systemd at every start; here so that the unit is never started without them.
c.SystemdSpawner.dynamic_users = True
c.SystemdSpawner.isolate_tmp = True
c.SystemdSpawner.isolate_devices = False
c.SystemdSpawner.disable_user_sudo = True
c.SystemdSpawner.default_shell = "/bin/bash"
c.SystemdSpawner.unit_name_template = "medbroker-workspace-{USERNAME}"
