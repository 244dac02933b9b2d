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
import sys
from typing import TYPE_CHECKING

from medbroker.compute.hub.spawner import apply_user_options

if TYPE_CHECKING:
    from traitlets.config import Config

    # JupyterHub gives its configuration files this function (and ``c``).
    def get_config() -> Config: ...


c = get_config()

environment = os.environ
platform = environment["MEDBROKER_PLATFORM_URL"]
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
# The platform decides who works where: the hub's own home page offers nothing to start.
c.JupyterHub.default_url = "/hub/home"
c.JupyterHub.allow_named_servers = False
c.JupyterHub.cleanup_servers = True

c.JupyterHub.authenticator_class = "generic-oauth"
c.GenericOAuthenticator.client_id = environment["MEDBROKER_HUB_OAUTH_CLIENT_ID"]
c.GenericOAuthenticator.client_secret = environment["MEDBROKER_HUB_OAUTH_CLIENT_SECRET"]
c.GenericOAuthenticator.oauth_callback_url = f"{hub_url}/hub/oauth_callback"
c.GenericOAuthenticator.authorize_url = f"{platform}/o/authorize/"
c.GenericOAuthenticator.token_url = f"{platform}/o/token/"
c.GenericOAuthenticator.userdata_url = f"{platform}/o/userinfo/"
c.GenericOAuthenticator.scope = ["openid", "profile"]
c.GenericOAuthenticator.username_claim = "preferred_username"
c.GenericOAuthenticator.enable_pkce = True
c.GenericOAuthenticator.manage_groups = True
c.GenericOAuthenticator.auth_state_groups_key = "oauth_user.groups"
c.GenericOAuthenticator.allowed_groups = {"applicants"}
c.GenericOAuthenticator.admin_groups = set()
c.GenericOAuthenticator.login_service = "의료데이터 중개 플랫폼"
c.GenericOAuthenticator.auto_login = True

c.JupyterHub.services = [
    {"name": "medbroker", "api_token": environment["MEDBROKER_HUB_API_TOKEN"]},
    {
        "name": "idle-culler",
        "command": [
            sys.executable,
            "-m",
            "jupyterhub_idle_culler",
            f"--timeout={environment['MEDBROKER_HUB_IDLE_SECONDS']}",
            "--cull-every=60",
        ],
    },
]
c.JupyterHub.load_roles = [
    # Creating a hub user needs admin:users; starting and stopping servers needs servers. Nothing else:
    # the platform holds no user's token and cannot reach into a server.
    {"name": "medbroker-platform", "scopes": ["admin:users", "servers"], "services": ["medbroker"]},
    {
        "name": "idle-culler",
        "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
        "services": ["idle-culler"],
    },
]

c.JupyterHub.spawner_class = "medbroker.compute.hub.spawner.ConfinedLocalSpawner"
c.Spawner.apply_user_options = apply_user_options
c.Spawner.cmd = [environment["MEDBROKER_WORKSPACE_SINGLEUSER"]]
c.Spawner.default_url = "/lab"
c.Spawner.args = ["--LabApp.custom_css=True"]
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 120
# A stopped workspace's server gets this long to shut down cleanly before it is killed.
c.Spawner.interrupt_timeout = 10
c.Spawner.term_timeout = 5
c.Spawner.env_keep = ["PATH", "LANG", "LC_ALL", "VIRTUAL_ENV"]
c.ConfinedLocalSpawner.home_dir_template = os.path.join(environment["MEDBROKER_WORKSPACE_ROOT"], "{username}")
c.ConfinedLocalSpawner.jail_path = environment["MEDBROKER_WORKSPACE_JAIL"]
c.ConfinedLocalSpawner.hidden = [
    path for path in environment["MEDBROKER_WORKSPACE_HIDE"].split(os.pathsep) if path
]
c.ConfinedLocalSpawner.kept = [
    path for path in environment["MEDBROKER_WORKSPACE_KEEP"].split(os.pathsep) if path
]
c.ConfinedLocalSpawner.fonts = environment.get("MEDBROKER_WORKSPACE_FONTS", "")
c.ConfinedLocalSpawner.require_confinement = environment.get("MEDBROKER_WORKSPACE_REQUIRE_CONFINEMENT") != "0"
