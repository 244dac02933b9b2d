"""The platform's side of JupyterHub: its REST API client, the shared secrets, the OAuth client the hub signs
in with, and the environment the hub process is started with.

Three secrets link the two, each derived from the secret key unless set (so a one-machine installation
needs no configuration and no two installations share one):

- the **service token** (``MEDBROKER_HUB_API_TOKEN``): the platform's token on the hub, for the service
  ``medbroker`` whose role has the scopes ``admin:users`` (the hub creates a user only with it) and
  ``servers`` (start and stop servers), nothing else: no tokens, no access to a user's server;
- the **platform token** (``MEDBROKER_HUB_PLATFORM_TOKEN``): the hub's token on the platform, accepted by
  ``POST /api/v1/compute/hub/authorize`` only;
- the **OAuth client secret** (``MEDBROKER_HUB_OAUTH_CLIENT_SECRET``) of the hub's OpenID Connect client.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import sys
from pathlib import Path
from typing import Any

import requests
from django.conf import settings
from django.contrib.auth.hashers import check_password
from django.db import transaction
from django.utils.translation import gettext as _
from oauth2_provider.models import Application

from medbroker.audit.services import audit_record
from medbroker.core import confinement, jail

HUB_CLIENT_ID = "medbroker-jupyterhub"
# The hub service that the platform is, and the configuration the local hub runs with.
HUB_SERVICE_NAME = "medbroker"
HUB_CONFIG = Path(__file__).resolve().parent.parent / "hub" / "jupyterhub_config.py"
HUB_TIMEOUT_SECONDS = 30
PAGE_SIZE = 200
# The platform's own environment the hub process gets; everything else it is given by name.
PASSED_ENVIRONMENT = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "HOME", "USER", "LOGNAME", "VIRTUAL_ENV")


class HubError(Exception):
    """The hub could not be reached or answered with an error; ``message`` is for people."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def hub_secret(name: str) -> str:
    """The secret ``name`` (``api_token``, ``platform_token``, ``oauth_client_secret``): the setting, else an
    HMAC of the secret key."""
    configured = {
        "api_token": settings.MEDBROKER_HUB_API_TOKEN,
        "platform_token": settings.MEDBROKER_HUB_PLATFORM_TOKEN,
        "oauth_client_secret": settings.MEDBROKER_HUB_OAUTH_CLIENT_SECRET,
    }[name]
    if configured:
        return str(configured)
    return hmac.new(
        settings.SECRET_KEY.encode(), f"medbroker-hub:{name}".encode(), hashlib.sha256
    ).hexdigest()


def platform_token_valid(presented: str) -> bool:
    return bool(presented) and hmac.compare_digest(presented.encode(), hub_secret("platform_token").encode())


def hub_oauth_callback_url() -> str:
    return f"{settings.MEDBROKER_HUB_URL.rstrip('/')}/hub/oauth_callback"


def hub_oauth_application_ensure() -> Application:
    """The hub's OpenID Connect client, made or brought up to date with the settings: a confidential client
    of the authorisation-code flow (with PKCE), tokens signed RS256, and no consent page, since the hub is
    the platform's own workspace and the person has just asked for it. A change is written to the audit
    log (who may sign people in, and where they are sent back to)."""
    wanted = {
        "name": "JupyterHub (작업 공간)",
        "client_type": Application.CLIENT_CONFIDENTIAL,
        "authorization_grant_type": Application.GRANT_AUTHORIZATION_CODE,
        "redirect_uris": hub_oauth_callback_url(),
        "skip_authorization": True,
        "algorithm": Application.RS256_ALGORITHM,
    }
    secret = hub_secret("oauth_client_secret")
    with transaction.atomic():
        application = Application.objects.select_for_update().filter(client_id=HUB_CLIENT_ID).first()
        if application is not None:
            changed = sorted(name for name, value in wanted.items() if getattr(application, name) != value)
            if not check_password(secret, application.client_secret):
                changed.append("client_secret")
            if not changed:
                return application
        else:
            application = Application(client_id=HUB_CLIENT_ID)
            changed = ["created"]
        for name, value in wanted.items():
            setattr(application, name, value)
        application.client_secret = secret
        application.hash_client_secret = True
        application.save()
        audit_record(
            action="compute.hub_client_registered",
            target=application,
            summary="작업 공간 허브의 로그인 연결(OpenID Connect 클라이언트) 등록",
            data={"client_id": HUB_CLIENT_ID, "changed": changed, "redirect_uris": wanted["redirect_uris"]},
        )
    return application


def workspace_kept_paths() -> list[str]:
    """What the JupyterLab server needs from under a hidden folder: the interpreter and its packages."""
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.dirname(os.path.realpath(sys.executable))}
    return sorted(os.path.realpath(path) for path in paths)


def hub_process_environment(
    *, platform_url: str, hub_port: int, proxy_api_port: int, idle_minutes: int | None = None
) -> dict[str, str]:
    """The environment ``jupyterhub -f hub/jupyterhub_config.py`` runs with (read by that file only)."""
    state = Path(settings.MEDBROKER_HUB_STATE_DIR)
    state.mkdir(parents=True, exist_ok=True)
    Path(settings.MEDBROKER_WORKSPACE_ROOT).mkdir(parents=True, exist_ok=True)
    idle = settings.MEDBROKER_WORKSPACE_IDLE_MINUTES if idle_minutes is None else idle_minutes
    values = {
        "MEDBROKER_PLATFORM_URL": platform_url.rstrip("/"),
        "MEDBROKER_HUB_URL": settings.MEDBROKER_HUB_URL.rstrip("/"),
        "MEDBROKER_HUB_PORT": str(hub_port),
        "MEDBROKER_HUB_PROXY_API_PORT": str(proxy_api_port),
        "MEDBROKER_HUB_STATE_DIR": str(state),
        "MEDBROKER_HUB_API_TOKEN": hub_secret("api_token"),
        "MEDBROKER_HUB_PLATFORM_TOKEN": hub_secret("platform_token"),
        "MEDBROKER_HUB_OAUTH_CLIENT_ID": HUB_CLIENT_ID,
        "MEDBROKER_HUB_OAUTH_CLIENT_SECRET": hub_secret("oauth_client_secret"),
        "MEDBROKER_HUB_PROXY_COMMAND": settings.MEDBROKER_HUB_PROXY_COMMAND,
        "MEDBROKER_HUB_IDLE_SECONDS": str(max(idle, 1) * 60),
        "MEDBROKER_WORKSPACE_ROOT": str(settings.MEDBROKER_WORKSPACE_ROOT),
        "MEDBROKER_WORKSPACE_HIDE": os.pathsep.join(confinement.hidden_paths()),
        "MEDBROKER_WORKSPACE_DATA_ROOTS": os.pathsep.join(
            str(root) for root in settings.MEDBROKER_SCAN_ROOTS
        ),
        "MEDBROKER_WORKSPACE_KEEP": os.pathsep.join(workspace_kept_paths()),
        "MEDBROKER_WORKSPACE_JAIL": str(Path(jail.__file__).resolve()),
        "MEDBROKER_WORKSPACE_REQUIRE_CONFINEMENT": "1"
        if settings.MEDBROKER_WORKSPACE_REQUIRE_CONFINEMENT
        else "0",
        "MEDBROKER_WORKSPACE_FONTS": str(
            settings.BASE_DIR / "medbroker" / "static" / "vendor" / "krds" / "fonts"
        ),
        "MEDBROKER_WORKSPACE_SINGLEUSER": str(Path(sys.executable).with_name("jupyterhub-singleuser")),
        "CONFIGPROXY_AUTH_TOKEN": hmac.new(
            settings.SECRET_KEY.encode(), b"medbroker-hub:proxy", hashlib.sha256
        ).hexdigest(),
    }
    # Only what the hub needs: not the platform's secret key, database address or storage keys.
    environment = {key: os.environ[key] for key in PASSED_ENVIRONMENT if key in os.environ}
    environment.update(values)
    environment["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), environment.get("PATH", "")])
    return environment


class HubClient:
    """JupyterHub's REST API, with the platform's service token; every error becomes a ``HubError``."""

    def __init__(self, api_url: str, token: str, *, timeout: float = HUB_TIMEOUT_SECONDS) -> None:
        self.api_url = api_url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"token {token}"

    def _request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        try:
            return self.session.request(method, f"{self.api_url}{path}", timeout=self.timeout, **kwargs)
        except requests.RequestException as error:
            raise HubError(
                _("JupyterHub에 연결하지 못했습니다: %(error)s") % {"error": error.__class__.__name__}
            ) from None

    @staticmethod
    def _message(response: requests.Response) -> str:
        try:
            return str(response.json().get("message") or response.reason)
        except ValueError:
            return response.reason or str(response.status_code)

    def _fail(self, response: requests.Response, what: str) -> HubError:
        """``what`` failed: the hub's own message after it (the platform's refusal, when the hub asked)."""
        return HubError(f"{what}: {self._message(response)}", status=response.status_code)

    def user_ensure(self, name: str) -> None:
        response = self._request("GET", f"/users/{name}")
        if response.status_code == 200:
            return
        if response.status_code != 404:
            raise self._fail(response, _("허브 사용자를 확인하지 못했습니다"))
        response = self._request("POST", f"/users/{name}")
        if response.status_code not in (201, 409):
            raise self._fail(response, _("허브 사용자를 만들지 못했습니다"))

    def server_start(self, name: str, options: dict[str, Any]) -> int:
        """Ask the hub to start ``name``'s server; 201 (started) or 202 (starting). A refusal of the hub's
        own check (our ``authorize`` answer) comes back as a HubError with its message."""
        response = self._request("POST", f"/users/{name}/server", json=options)
        if response.status_code in (201, 202):
            return response.status_code
        raise self._fail(response, _("작업 공간을 시작하지 못했습니다"))

    def server_stop(self, name: str) -> None:
        """Stop ``name``'s server; a server that is not there (any more) is not an error."""
        response = self._request("DELETE", f"/users/{name}/server")
        if response.status_code in (202, 204, 400, 404):
            return
        raise self._fail(response, _("작업 공간을 중지하지 못했습니다"))

    def servers(self) -> dict[str, dict[str, Any]]:
        """Users with a default server started or starting: ``{name: {"ready": bool, "pending": str|None}}``.

        Page by page: the hub caps a page (``api_page_max_limit``), and a server missing from the list would
        be taken for one that stopped."""
        found: dict[str, dict[str, Any]] = {}
        offset = 0
        while True:
            response = self._request(
                "GET",
                "/users",
                params={"state": "active", "offset": offset, "limit": PAGE_SIZE},
                headers={"Accept": "application/jupyterhub-pagination+json"},
            )
            if response.status_code != 200:
                raise self._fail(response, _("작업 공간 목록을 읽지 못했습니다"))
            try:
                page = response.json()
                users, following = page["items"], page["_pagination"]["next"]
            except (ValueError, KeyError, TypeError):
                raise HubError(_("작업 공간 목록을 읽지 못했습니다: 허브의 답을 읽을 수 없습니다.")) from None
            for user in users:
                server = (user.get("servers") or {}).get("")
                if server is not None:
                    found[user["name"]] = {
                        "ready": bool(server.get("ready")),
                        "pending": server.get("pending"),
                    }
            if not following:
                return found
            offset = int(following["offset"])

    def server_present(self, name: str) -> bool:
        """Whether ``name`` has a default server started or starting on the hub."""
        response = self._request("GET", f"/users/{name}")
        if response.status_code == 404:
            return False
        if response.status_code != 200:
            raise self._fail(response, _("작업 공간 상태를 읽지 못했습니다"))
        try:
            return "" in (response.json().get("servers") or {})
        except (ValueError, AttributeError):
            raise HubError(_("작업 공간 상태를 읽지 못했습니다: 허브의 답을 읽을 수 없습니다.")) from None


def hub_client() -> HubClient:
    return HubClient(settings.MEDBROKER_HUB_API_URL, hub_secret("api_token"))
