"""The hub asks the platform before every start (``Spawner.apply_user_options``).

The platform started the server with ``user_options`` holding a one-time launch token and the GPU profile it
allocated; the hub sends both back with the user's name to ``POST /api/v1/compute/hub/authorize`` (the
platform token) and gets what the server may have: the granted datasets (name, title, folder), the GPU, the
end of the grant. Anything else (a start from the hub's own page, a forged profile, a token of another
user, a grant that ended meanwhile) is refused with the platform's Korean message, and nothing starts.

The answer is kept on the spawner (``spawner.medbroker``) for the engine's own ``apply`` function, which
turns it into mounts and resource requests (``spawner.py`` here, ``production/*`` at scale).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

from tornado import web
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

AUTHORIZE_PATH = "/api/v1/compute/hub/authorize"
# The platform's own refusal codes the hub passes on as 403; any other failure is the platform being away.
REFUSED = 403


def platform_url() -> str:
    return os.environ["MEDBROKER_PLATFORM_URL"].rstrip("/")


def refusal_error(status: int, message: str) -> web.HTTPError:
    """An error whose message the hub shows as it is, on its page and in its API's answer."""
    error = web.HTTPError(status, message.replace("%", "%%"))
    error.jupyterhub_message = message  # type: ignore[attr-defined]
    return error


async def platform_authorize(user: str, server: str, user_options: dict[str, Any]) -> dict[str, Any]:
    """The platform's answer for this start; raises ``web.HTTPError`` (403 refused, 503 unreachable)."""
    request = HTTPRequest(
        platform_url() + AUTHORIZE_PATH,
        method="POST",
        headers={
            "Authorization": f"Bearer {os.environ['MEDBROKER_HUB_PLATFORM_TOKEN']}",
            "Content-Type": "application/json",
        },
        body=json.dumps({"user": user, "server": server, "user_options": user_options or {}}),
        request_timeout=30,
    )
    try:
        response = await AsyncHTTPClient().fetch(request)
    except HTTPClientError as error:
        raise refusal_error(
            503, f"플랫폼이 작업 공간 시작을 확인해 주지 못했습니다 ({error.code})."
        ) from None
    except OSError as error:
        raise refusal_error(503, f"플랫폼에 연결하지 못했습니다 ({error.__class__.__name__}).") from None
    answer: dict[str, Any] = json.loads(response.body)
    if not answer.get("allowed"):
        raise refusal_error(REFUSED, str(answer.get("message") or "작업 공간을 시작할 수 없습니다."))
    return answer


def apply_user_options_with(
    apply: Callable[[Any, dict[str, Any]], None],
) -> Callable[[Any, dict[str, Any]], Any]:
    """``c.Spawner.apply_user_options``: ask the platform, then let the engine's ``apply(spawner, answer)``
    set mounts, GPU and limits."""

    async def apply_user_options(spawner: Any, user_options: dict[str, Any]) -> None:
        answer = await platform_authorize(spawner.user.name, spawner.name or "", user_options or {})
        spawner.medbroker = answer
        environment = dict(spawner.environment)
        environment.update(answer.get("environment") or {})
        spawner.environment = environment
        apply(spawner, answer)

    return apply_user_options
