"""The fake Slack's Socket Mode, spoken to over a real WebSocket as an app would.

A raw aiohttp client stands in for the app here, so each rule of the protocol is seen on the
wire: the token type `apps.connections.open` takes, `hello`, envelopes and their acks, an
envelope sent again when not acked, `disconnect`. (tests/e2e/test_socket_mode.py runs the real
`cibot serve` over it.)
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, ClassVar
from urllib.parse import parse_qs

import aiohttp
import httpx
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from cibot.fakeslack import FakeSlackServer, WorkspaceConfig
from tests.support import slack_requests as slack_req

APP_TOKEN = "xapp-1-fake"


@pytest.fixture(scope="module")
def slack() -> Iterator[FakeSlackServer]:
    with FakeSlackServer(config=WorkspaceConfig(socket_ack_seconds=0.5)) as server:
        server.state.set_app_settings(socket_mode_enabled=True)
        yield server


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def open_url(slack: FakeSlackServer, token: str = APP_TOKEN) -> dict[str, Any]:
    client = AsyncWebClient(base_url=slack.api_url)
    try:
        answer = await client.apps_connections_open(app_token=token)
    except SlackApiError as exc:
        answer = exc.response
    assert isinstance(answer.data, dict)
    return answer.data


async def connect(slack: FakeSlackServer, http: aiohttp.ClientSession) -> Any:
    url = (await open_url(slack))["url"]
    ws = await http.ws_connect(url)
    hello = await ws.receive_json(timeout=5)
    assert hello["type"] == "hello"
    return ws


async def deliver(slack: FakeSlackServer, payload: dict[str, Any]) -> httpx.Response:
    async with httpx.AsyncClient(timeout=15) as client:
        return await client.post(f"{slack.admin_url}deliver", json={"payload": payload})


def click() -> dict[str, Any]:
    return slack_req.block_actions("U0QA1", "qa_approve", "b1", "D0QA1")


async def test_apps_connections_open_gives_an_app_token_a_loopback_websocket_url(
    slack: FakeSlackServer,
) -> None:
    answer = await open_url(slack)

    assert answer["ok"] is True
    assert answer["url"].startswith(f"ws://127.0.0.1:{slack.port}/link/?ticket=")


async def test_apps_connections_open_refuses_a_bot_token_and_bot_methods_refuse_an_app_token(
    slack: FakeSlackServer,
) -> None:
    assert (await open_url(slack, "xoxb-fake"))["error"] == "not_allowed_token_type"
    client = AsyncWebClient(token=APP_TOKEN, base_url=slack.api_url)
    with pytest.raises(SlackApiError, match="not_allowed_token_type"):
        await client.chat_postMessage(channel="C1", text="hi")
    assert (await open_url(slack, "xapp-1-unknown"))["error"] == "invalid_auth"


async def test_a_connection_is_greeted_with_hello_and_a_ticket_works_only_once(
    slack: FakeSlackServer, http: aiohttp.ClientSession
) -> None:
    url = (await open_url(slack))["url"]
    async with http.ws_connect(url) as ws:
        hello = await ws.receive_json(timeout=5)
        assert hello["num_connections"] >= 1
        assert hello["connection_info"] == {"app_id": "A00000CIBOT"}
        assert set(hello["debug_info"]) >= {"host", "approximate_connection_time"}

        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(url)
        assert refused.value.status == 403


async def test_an_envelope_acked_with_a_payload_returns_that_payload_as_the_answer(
    slack: FakeSlackServer, http: aiohttp.ClientSession
) -> None:
    command = slack_req.slash_command("U0QA1", "history shop", "C1")
    async with await connect(slack, http) as ws:
        sent = asyncio.create_task(deliver(slack, command))
        envelope = await ws.receive_json(timeout=5)
        answer = {"response_type": "ephemeral", "text": "no builds"}
        await ws.send_str(json.dumps({"envelope_id": envelope["envelope_id"], "payload": answer}))
        response = await sent

    assert envelope["type"] == "slash_commands"
    assert envelope["payload"] == command
    assert envelope["accepts_response_payload"] is True
    assert (envelope["retry_attempt"], envelope["retry_reason"]) == (0, "")
    assert response.json() | {"envelope_id": None} == {
        "via": "socket",
        "status": 200,
        "body": answer,
        "envelope_id": None,
        "attempts": 1,
    }


async def test_an_envelope_not_acked_goes_again_to_the_other_connection_with_its_retry_attempt(
    slack: FakeSlackServer, http: aiohttp.ClientSession
) -> None:
    async with await connect(slack, http) as first, await connect(slack, http) as second:
        sent = asyncio.create_task(deliver(slack, click()))
        reads = {asyncio.create_task(ws.receive_json()): ws for ws in (first, second)}
        done, _ = await asyncio.wait(reads, timeout=5, return_when=asyncio.FIRST_COMPLETED)
        got = done.pop()
        ignored = got.result()  # whoever got it does not ack
        ((still_reading, other),) = [(t, ws) for t, ws in reads.items() if t is not got]
        retried = await asyncio.wait_for(still_reading, 5)
        await other.send_str(json.dumps({"envelope_id": retried["envelope_id"]}))
        response = await sent

    assert ignored["type"] == "interactive" and ignored["accepts_response_payload"] is False
    assert retried["envelope_id"] == ignored["envelope_id"]
    assert (retried["retry_attempt"], retried["retry_reason"]) == (1, "timeout")
    assert response.json()["attempts"] == 2


async def test_each_envelope_goes_to_exactly_one_of_several_connections(
    slack: FakeSlackServer, http: aiohttp.ClientSession
) -> None:
    async def ack_all(ws: Any, seen: list[str]) -> None:
        async for message in ws:
            envelope = json.loads(message.data)
            seen.append(envelope["envelope_id"])
            await ws.send_str(json.dumps({"envelope_id": envelope["envelope_id"]}))

    seen: tuple[list[str], list[str]] = ([], [])
    async with await connect(slack, http) as first, await connect(slack, http) as second:
        readers = [
            asyncio.create_task(ack_all(ws, s)) for ws, s in zip((first, second), seen, strict=True)
        ]
        answers = [await deliver(slack, click()) for _ in range(6)]
        for reader in readers:
            reader.cancel()

    assert all(a.json()["attempts"] == 1 for a in answers)
    ids = [a.json()["envelope_id"] for a in answers]
    assert sorted(seen[0] + seen[1]) == sorted(ids), "each once, none twice"
    assert seen[0] and seen[1], "both connections took some"


async def test_disconnect_is_sent_with_its_reason_and_a_dropped_envelope_comes_again(
    slack: FakeSlackServer, http: aiohttp.ClientSession
) -> None:
    async with httpx.AsyncClient(base_url=slack.admin_url, timeout=10) as admin:
        async with await connect(slack, http) as ws:
            told = await admin.post("sockets/disconnect", json={"reason": "warning"})
            message = await ws.receive_json(timeout=5)
            refused = await admin.post("sockets/disconnect", json={"reason": "bye"})
        assert told.json() == {"connections": 1}
        assert message["type"] == "disconnect" and message["reason"] == "warning"
        assert refused.status_code == 400

        await admin.post("sockets/drop", json={"on_next_envelope": True})
        doomed = await connect(slack, http)
        sent = asyncio.create_task(deliver(slack, click()))
        closed = await doomed.receive(timeout=5)
        async with await connect(slack, http) as again:  # as the app reconnects
            retried = await again.receive_json(timeout=5)
            await again.send_str(json.dumps({"envelope_id": retried["envelope_id"]}))
            response = await sent

    assert closed.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    assert retried["retry_attempt"] == 1
    assert response.json()["attempts"] == 2


class _RequestUrl(BaseHTTPRequestHandler):
    """The app's Request URL: keeps what Slack posted, answers like a slash command."""

    seen: ClassVar[list[tuple[dict[str, str], str]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"])).decode()
        type(self).seen.append(({k.lower(): v for k, v in self.headers.items()}, body))
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"response_type": "ephemeral", "text": "over http"}')

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def request_url() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _RequestUrl)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _RequestUrl.seen = []
    yield f"http://127.0.0.1:{server.server_address[1]}/slack/events"
    server.shutdown()


async def test_with_socket_mode_off_a_delivery_is_posted_to_the_request_url_signed_as_slack_does(
    slack: FakeSlackServer, request_url: str
) -> None:
    command = slack_req.slash_command("U0QA1", "help", "C1")
    slack.state.set_app_settings(socket_mode_enabled=False, request_url=request_url)
    try:
        interaction = await deliver(slack, click())
        answered = await deliver(slack, command)
    finally:
        slack.state.set_app_settings(socket_mode_enabled=True, request_url=None)

    verifier = SignatureVerifier(WorkspaceConfig().signing_secret)
    (click_headers, click_body), (command_headers, command_body) = _RequestUrl.seen
    for headers, body in _RequestUrl.seen:
        assert verifier.is_valid_request(body, headers)
    assert json.loads(parse_qs(click_body)["payload"][0])["type"] == "block_actions"
    assert parse_qs(command_body)["command"] == ["/cibot"]
    assert interaction.json()["via"] == "http"
    assert answered.json()["body"] == {"response_type": "ephemeral", "text": "over http"}
    assert click_headers["content-type"] == command_headers["content-type"]


async def test_with_socket_mode_off_and_no_request_url_a_delivery_fails_clearly(
    slack: FakeSlackServer,
) -> None:
    slack.state.set_app_settings(socket_mode_enabled=False, request_url=None)
    try:
        response = await deliver(slack, click())
    finally:
        slack.state.set_app_settings(socket_mode_enabled=True)

    assert response.status_code == 504
    assert "no Request URL" in response.json()["error"]
