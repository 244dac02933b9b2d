"""What every production hub has in common, whatever runs its servers: sign-in through the platform, the
platform's service and the idle culler with their roles, where the hub keeps its state.

The sign-in, services and roles are the local configuration's (``../common.py``); what differs comes from
running for real:

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
from collections.abc import Mapping
from typing import TYPE_CHECKING

from medbroker.compute.hub.common import hub_shared

if TYPE_CHECKING:
    from traitlets.config import Config

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
    hub_url = environment["MEDBROKER_HUB_URL"].rstrip("/")
    state = environment.get("MEDBROKER_HUB_STATE_DIR", "/srv/jupyterhub")

    c.JupyterHub.bind_url = environment.get("MEDBROKER_HUB_BIND_URL", "http://127.0.0.1:8000")
    # Behind the reverse proxy the hub would see http and its own port; links and redirects must carry
    # the address people and the platform use.
    c.JupyterHub.public_url = f"{hub_url}/"
    c.JupyterHub.db_url = environment.get(
        "MEDBROKER_HUB_DB_URL", f"sqlite:///{os.path.join(state, 'jupyterhub.sqlite')}"
    )
    c.JupyterHub.cookie_secret_file = os.path.join(state, "jupyterhub_cookie_secret")
    c.JupyterHub.pid_file = os.path.join(state, "jupyterhub.pid")
    c.JupyterHub.cleanup_servers = False

    hub_shared(c, environment)
