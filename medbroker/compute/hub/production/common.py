"""What every production hub has in common, whatever runs its servers: sign-in through the platform, the
platform's service and the idle culler with their roles, where the hub keeps its state.

It is the local configuration's (``../jupyterhub_config.py``) sign-in, services and roles, with two
differences that come from running for real:

- the hub sits behind a TLS-terminating reverse proxy: it listens on ``MEDBROKER_HUB_BIND_URL`` and is
  known by its public address ``MEDBROKER_HUB_URL``;
- servers outlive a restart of the hub (``cleanup_servers`` off): an upgrade of the hub must not end every
  company's work. A grant that ends meanwhile is still enforced by the engine (``engines.py``) and by the
  platform's reconciler.

Variables read here (every production configuration):

- ``MEDBROKER_PLATFORM_URL``: the platform, the OpenID Connect provider and the hub's check before starts.
- ``MEDBROKER_HUB_URL``: the hub's public address (``https://hub.example.org``), as the platform has it.
- ``MEDBROKER_HUB_API_TOKEN``: the platform's token on the hub (service ``medbroker``).
- ``MEDBROKER_HUB_PLATFORM_TOKEN``: the hub's token on the platform (read by ``platform.py`` at each start).
- ``MEDBROKER_HUB_OAUTH_CLIENT_ID`` (default ``medbroker-jupyterhub``, the client the platform registers)
  and ``MEDBROKER_HUB_OAUTH_CLIENT_SECRET``.
- ``MEDBROKER_HUB_IDLE_SECONDS`` (default 3600): idle servers are stopped after this.
- ``MEDBROKER_HUB_BIND_URL`` (default ``http://127.0.0.1:8000``): where the hub's proxy listens.
- ``MEDBROKER_HUB_STATE_DIR`` (default ``/srv/jupyterhub``): cookie secret, pid file, SQLite database.
- ``MEDBROKER_HUB_DB_URL`` (default SQLite in the state folder).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from traitlets.config import Config

# The client the platform registers for the hub (``compute/services/hub.py``); repeated, not imported, so
# that the hub's process needs no Django.
HUB_CLIENT_ID = "medbroker-jupyterhub"
REQUIRED = (
    "MEDBROKER_PLATFORM_URL",
    "MEDBROKER_HUB_URL",
    "MEDBROKER_HUB_API_TOKEN",
    "MEDBROKER_HUB_OAUTH_CLIENT_SECRET",
    # Not used here: without it every start would be refused, so the hub should not come up at all.
    "MEDBROKER_HUB_PLATFORM_TOKEN",
)


def required(environment: Mapping[str, str], *names: str) -> None:
    """Stop the hub at start when a deployment value is missing, naming it, rather than at the first use."""
    missing = [name for name in names if not environment.get(name)]
    if missing:
        raise RuntimeError(
            f"The hub needs {', '.join(missing)} (medbroker/compute/hub/production/README.md)."
        )


def hub_common(c: Config, environment: Mapping[str, str]) -> None:
    """Set on ``c`` (the configuration JupyterHub loads) what every production hub shares."""
    required(environment, *REQUIRED)
    platform = environment["MEDBROKER_PLATFORM_URL"].rstrip("/")
    hub_url = environment["MEDBROKER_HUB_URL"].rstrip("/")
    state = environment.get("MEDBROKER_HUB_STATE_DIR", "/srv/jupyterhub")
    idle_seconds = int(environment.get("MEDBROKER_HUB_IDLE_SECONDS", "3600"))

    c.JupyterHub.bind_url = environment.get("MEDBROKER_HUB_BIND_URL", "http://127.0.0.1:8000")
    # Behind the reverse proxy the hub would see http and its own port; links and redirects must carry
    # the address people and the platform use.
    c.JupyterHub.public_url = f"{hub_url}/"
    c.JupyterHub.db_url = environment.get(
        "MEDBROKER_HUB_DB_URL", f"sqlite:///{os.path.join(state, 'jupyterhub.sqlite')}"
    )
    c.JupyterHub.cookie_secret_file = os.path.join(state, "jupyterhub_cookie_secret")
    c.JupyterHub.pid_file = os.path.join(state, "jupyterhub.pid")
    # The platform decides who works where: the hub's own home page offers nothing to start.
    c.JupyterHub.default_url = "/hub/home"
    c.JupyterHub.allow_named_servers = False
    c.JupyterHub.cleanup_servers = False

    c.JupyterHub.authenticator_class = "generic-oauth"
    c.GenericOAuthenticator.client_id = environment.get("MEDBROKER_HUB_OAUTH_CLIENT_ID", HUB_CLIENT_ID)
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
                f"--timeout={idle_seconds}",
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

    c.Spawner.default_url = "/lab"
    c.Spawner.http_timeout = 120
