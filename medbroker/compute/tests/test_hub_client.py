"""The hub's REST client, against the hub's answers as JupyterHub gives them (no hub here)."""

from __future__ import annotations

from typing import Any

import pytest

from medbroker.compute.services.hub import HubClient, HubError


class Answer:
    def __init__(self, status_code: int, body: Any) -> None:
        self.status_code = status_code
        self.body = body
        self.reason = "Error"

    def json(self) -> Any:
        if isinstance(self.body, Exception):
            raise self.body
        return self.body


def _user(name: str, *, server: bool = True, ready: bool = True) -> dict[str, Any]:
    servers = {"": {"ready": ready, "pending": None if ready else "spawn"}} if server else {}
    return {"name": name, "servers": servers}


def _client(monkeypatch: pytest.MonkeyPatch, answers: list[Answer]) -> tuple[HubClient, list[dict[str, Any]]]:
    client = HubClient("http://hub.test/hub/api", "token")
    asked: list[dict[str, Any]] = []

    def request(method: str, path: str, **kwargs: Any) -> Answer:
        asked.append({"method": method, "path": path, **kwargs})
        return answers.pop(0)

    monkeypatch.setattr(client, "_request", request)
    return client, asked


def test_servers_reads_every_page_the_hub_gives(monkeypatch: pytest.MonkeyPatch) -> None:
    # The hub caps a page (api_page_max_limit): a server on the second page must not look stopped.
    first = {
        "items": [_user("a"), _user("b", server=False)],
        "_pagination": {"next": {"offset": 2, "limit": 2}},
    }
    second = {"items": [_user("c", ready=False)], "_pagination": {"next": None}}
    client, asked = _client(monkeypatch, [Answer(200, first), Answer(200, second)])

    assert client.servers() == {
        "a": {"ready": True, "pending": None},
        "c": {"ready": False, "pending": "spawn"},
    }
    assert [call["params"]["offset"] for call in asked] == [0, 2]
    assert asked[0]["headers"] == {"Accept": "application/jupyterhub-pagination+json"}


@pytest.mark.parametrize("answer", [Answer(200, ValueError("not JSON")), Answer(200, [_user("a")])])
def test_an_answer_the_client_cannot_read_is_a_hub_error(
    monkeypatch: pytest.MonkeyPatch, answer: Answer
) -> None:
    client, _asked = _client(monkeypatch, [answer])

    with pytest.raises(HubError) as error:
        client.servers()

    assert error.value.message == "작업 공간 목록을 읽지 못했습니다: 허브의 답을 읽을 수 없습니다."


@pytest.mark.parametrize(
    ("answer", "present"),
    [
        (Answer(200, _user("a")), True),
        (Answer(200, _user("a", server=False)), False),
        (Answer(404, {}), False),
    ],
)
def test_server_present(monkeypatch: pytest.MonkeyPatch, answer: Answer, present: bool) -> None:
    client, asked = _client(monkeypatch, [answer])

    assert client.server_present("a") is present
    assert asked == [{"method": "GET", "path": "/users/a"}]
