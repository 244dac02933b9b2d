"""What every hub of the platform sets, the one-machine hub (``jupyterhub_config.py``) and the production ones
(``production/``): sign-in through the platform, the platform's service and the idle culler with their
roles, and the platform's say over where people land and what servers exist.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from traitlets.config import Config

# The client the platform registers for the hub (``compute/services/hub.py``); repeated, not imported, so
# that the hub's process needs no Django.
HUB_CLIENT_ID = "medbroker-jupyterhub"


def hub_shared(c: Config, environment: Mapping[str, str]) -> None:
    """Set on ``c`` (the configuration JupyterHub loads) what every hub of the platform shares."""
    platform = environment["MEDBROKER_PLATFORM_URL"].rstrip("/")
    hub_url = environment["MEDBROKER_HUB_URL"].rstrip("/")
    idle_seconds = int(environment.get("MEDBROKER_HUB_IDLE_SECONDS", "3600"))

    # The platform decides who works where: the hub's own home page offers nothing to start.
    c.JupyterHub.default_url = "/hub/home"
    c.JupyterHub.allow_named_servers = False

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
    # Signing out of the platform signs out of the hub, which then sends the person back to the platform.
    c.GenericOAuthenticator.logout_redirect_url = f"{platform}/accounts/login/"
    # A closed-room PC is shared: a forgotten hub sign-in lasts a working day, not the default two weeks.
    c.JupyterHub.cookie_max_age_days = 1

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
