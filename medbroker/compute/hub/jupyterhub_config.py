"""JupyterHub on one machine, for the demo and the tests: ``medbroker hub`` starts it with the environment
``compute/services/hub.py`` builds (``hub_process_environment``); nothing here is read from anywhere else.

- Sign-in: the platform is the OpenID Connect provider (oauthenticator's generic authenticator); hub users
  and groups come from its claims, and only the ``applicants`` group (company members) is admitted.
- Starts: only the platform starts servers (service ``medbroker``, scopes ``admin:users`` and ``servers``),
  and every start is checked with the platform first (``platform.py``).
- Servers: ``ConfinedLocalSpawner`` (``spawner.py``) behind ``configurable-http-proxy`` (npm), on loopback.
- Idle servers are stopped by ``jupyterhub-idle-culler`` after ``MEDBROKER_HUB_IDLE_SECONDS``.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from medbroker.compute.hub.common import hub_shared
from medbroker.compute.hub.spawner import apply_user_options

if TYPE_CHECKING:
    from traitlets.config import Config

    # JupyterHub gives its configuration files this function (and ``c``).
    def get_config() -> Config: ...


c = get_config()

environment = os.environ
hub_url = environment["MEDBROKER_HUB_URL"]
state = environment["MEDBROKER_HUB_STATE_DIR"]

c.JupyterHub.bind_url = hub_url
c.JupyterHub.hub_bind_url = f"http://127.0.0.1:{environment['MEDBROKER_HUB_PORT']}"
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{environment['MEDBROKER_HUB_PROXY_API_PORT']}"
c.ConfigurableHTTPProxy.command = [environment["MEDBROKER_HUB_PROXY_COMMAND"]]
c.ConfigurableHTTPProxy.pid_file = os.path.join(state, "jupyterhub-proxy.pid")
c.JupyterHub.db_url = f"sqlite:///{os.path.join(state, 'jupyterhub.sqlite')}"
c.JupyterHub.cookie_secret_file = os.path.join(state, "jupyterhub_cookie_secret")
c.JupyterHub.pid_file = os.path.join(state, "jupyterhub.pid")
c.JupyterHub.cleanup_servers = True

hub_shared(c, environment)

c.JupyterHub.spawner_class = "medbroker.compute.hub.spawner.ConfinedLocalSpawner"
c.Spawner.apply_user_options = apply_user_options
c.Spawner.cmd = [environment["MEDBROKER_WORKSPACE_SINGLEUSER"]]
c.Spawner.args = ["--LabApp.custom_css=True"]
c.Spawner.start_timeout = 120
# A stopped workspace's server gets this long to shut down cleanly before it is killed.
c.Spawner.interrupt_timeout = 10
c.Spawner.term_timeout = 5
c.Spawner.env_keep = ["PATH", "LANG", "LC_ALL", "VIRTUAL_ENV"]
c.ConfinedLocalSpawner.workspace_root = environment["MEDBROKER_WORKSPACE_ROOT"]
c.ConfinedLocalSpawner.data_roots = [
    path for path in environment["MEDBROKER_WORKSPACE_DATA_ROOTS"].split(os.pathsep) if path
]
c.ConfinedLocalSpawner.jail_path = environment["MEDBROKER_WORKSPACE_JAIL"]
c.ConfinedLocalSpawner.hidden = [
    path for path in environment["MEDBROKER_WORKSPACE_HIDE"].split(os.pathsep) if path
]
c.ConfinedLocalSpawner.kept = [
    path for path in environment["MEDBROKER_WORKSPACE_KEEP"].split(os.pathsep) if path
]
c.ConfinedLocalSpawner.fonts = environment.get("MEDBROKER_WORKSPACE_FONTS", "")
c.ConfinedLocalSpawner.require_confinement = environment.get("MEDBROKER_WORKSPACE_REQUIRE_CONFINEMENT") != "0"
