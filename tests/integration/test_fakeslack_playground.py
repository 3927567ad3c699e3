"""The playground's requests to the bot are Slack's: signed, with the fields Slack sends.

A recording bot stands in for ci-bot (the browser test drives the real one); the playground's
routes are called as its page calls them. Signatures are checked with slack_sdk's verifier and
the build form's with ci-bot's webhook verifier.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import aiohttp
import httpx
import pytest
import uvicorn
from slack_sdk import WebClient
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cibot.adapters import webhooks
from cibot.fakeslack import Bot, Channel, FakeSlackServer, User

SIGNING, WEBHOOK = "playground-signing-secret", "playground-webhook-secret"
CHANNEL, QA, OTHER = "C0PLAY", "U0QA1", "U0OTHER"


@dataclass
class Recorder:
    """A bot that records what it is sent and answers what the test sets."""

    requests: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)
    answer: Any = None  # JSON to answer with; None: an empty 200

    async def endpoint(self, request: Request) -> Response:
        self.requests.append((request.url.path, dict(request.headers), await request.body()))
        if self.answer is None:
            return Response(status_code=200)
        return JSONResponse(self.answer)

    def last(self) -> tuple[str, dict[str, str], bytes]:
        return self.requests[-1]


@pytest.fixture
def bot() -> Iterator[tuple[Recorder, str]]:
    recorder = Recorder()
    routes = [
        Route(p, recorder.endpoint, methods=["POST"]) for p in ("/slack/events", "/build-complete")
    ]
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(Starlette(routes=routes), log_config=None, lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])))
    thread.start()
    while not server.started:
        time.sleep(0.01)
    yield recorder, f"http://127.0.0.1:{sock.getsockname()[1]}"
    server.should_exit = True
    thread.join(5)
    sock.close()


@pytest.fixture
def slack(bot: tuple[Recorder, str]) -> Iterator[FakeSlackServer]:
    users = [User(QA, "quinn", "Quinn"), User(OTHER, "sam", "Sam")]
    channels = [Channel(CHANNEL, "play", members=frozenset({QA}))]
    with FakeSlackServer(users=users, channels=channels) as server:
        server.connect(Bot(bot[1], SIGNING, WEBHOOK, ("shop",)))
        yield server


def play(slack: FakeSlackServer, route: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{slack.url}/_play/{route}", json=body, timeout=10)


def signed_payload(recorder: Recorder) -> dict[str, Any]:
    path, headers, body = recorder.last()
    assert path == "/slack/events"
    assert SignatureVerifier(SIGNING).is_valid_request(body, headers)
    assert headers["content-type"] == "application/x-www-form-urlencoded"
    payload: dict[str, Any] = json.loads(dict(parse_qsl(body.decode()))["payload"])
    return payload


BUTTONS = (
    {"type": "section", "text": {"type": "mrkdwn", "text": "Review *it*"}},
    {
        "type": "actions",
        "block_id": "review",
        "elements": [
            {
                "type": "button",
                "text": {"type": "plain_text", "text": "Reject"},
                "action_id": "qa_reject",
                "value": "build-1",
                "style": "danger",
            }
        ],
    },
)
MODAL = {
    "type": "modal",
    "callback_id": "qa_reject_reason",
    "private_metadata": "build-1|C0PLAY",
    "title": {"type": "plain_text", "text": "Reject build"},
    "submit": {"type": "plain_text", "text": "Reject"},
    "blocks": [
        {
            "type": "input",
            "block_id": "reason",
            "label": {"type": "plain_text", "text": "Reason"},
            "element": {"type": "plain_text_input", "action_id": "reason_input"},
        }
    ],
}


def test_a_click_is_a_signed_block_actions_whose_trigger_id_opens_a_modal(
    slack: FakeSlackServer, bot: tuple[Recorder, str]
) -> None:
    recorder = bot[0]
    message = slack.state.post_message(CHANNEL, text="review", blocks=BUTTONS)
    click = {"user": QA, "channel": CHANNEL, "ts": message.ts, "block_id": "review"}
    answer = play(slack, "click", {**click, "action_id": "qa_reject"})
    assert answer.json()["status"] == 200
    payload = signed_payload(recorder)
    assert payload["type"] == "block_actions"
    assert payload["user"] == {
        "id": QA,
        "username": "quinn",
        "name": "quinn",
        "team_id": "T00000FAKE",
    }
    assert payload["team"]["id"] == "T00000FAKE" and payload["api_app_id"] == "A00000CIBOT"
    assert payload["token"]
    assert payload["container"]["message_ts"] == message.ts
    assert payload["container"]["channel_id"] == CHANNEL
    assert payload["channel"] == {"id": CHANNEL, "name": "play"}
    assert payload["message"]["ts"] == message.ts
    assert payload["message"]["blocks"][1]["block_id"] == "review"
    assert payload["response_url"].startswith(slack.url)
    (action,) = payload["actions"]
    assert {k: action[k] for k in ("action_id", "block_id", "value", "type", "style")} == {
        "action_id": "qa_reject",
        "block_id": "review",
        "value": "build-1",
        "type": "button",
        "style": "danger",
    }
    assert float(action["action_ts"]) > 0
    # Slack issued the trigger id: views.open takes it (once), as it would within 3 s.
    client = WebClient(token="xoxb-fake", base_url=slack.api_url)
    opened = client.views_open(trigger_id=payload["trigger_id"], view=MODAL)
    assert opened["ok"] and slack.state.open_modal(QA) is not None
    # The response_url answers the person who clicked, and no one else.
    httpx.post(payload["response_url"], json={"text": "only for you"}, timeout=5)
    assert [e.text for e in slack.state.ephemerals(QA)] == ["only for you"]


def test_a_click_on_nothing_the_person_sees_is_refused_before_the_bot(
    slack: FakeSlackServer, bot: tuple[Recorder, str]
) -> None:
    message = slack.state.post_message(CHANNEL, text="review", blocks=BUTTONS)
    base = {"channel": CHANNEL, "ts": message.ts, "block_id": "review"}
    assert (
        play(slack, "click", {**base, "user": OTHER, "action_id": "qa_reject"}).status_code == 404
    )
    assert play(slack, "click", {**base, "user": QA, "action_id": "made_up"}).status_code == 404
    assert play(slack, "click", {**base, "user": "U0NOBODY", "action_id": "x"}).status_code == 404
    assert httpx.post(f"{slack.url}/_play/click", content=b"[", timeout=5).status_code == 400
    assert bot[0].requests == []


def test_a_submission_carries_what_was_typed_and_closes_the_modal_unless_the_bot_says_errors(
    slack: FakeSlackServer, bot: tuple[Recorder, str]
) -> None:
    recorder = bot[0]
    view = slack.state.open_view(slack.state.new_trigger_id(QA), MODAL)
    typed = {"reason": {"reason_input": "it <b>breaks</b>"}}
    recorder.answer = {"response_action": "errors", "errors": {"reason": "Say more"}}
    answer = play(slack, "submit", {"user": QA, "view_id": view.id, "values": typed}).json()
    assert answer["errors"] == {"reason": "Say more"}
    assert slack.state.open_modal(QA) is not None
    payload = signed_payload(recorder)
    assert payload["type"] == "view_submission"
    assert payload["user"]["id"] == QA and payload["trigger_id"]
    assert payload["view"]["id"] == view.id
    assert payload["view"]["callback_id"] == "qa_reject_reason"
    assert payload["view"]["private_metadata"] == "build-1|C0PLAY"
    assert payload["view"]["state"]["values"] == {
        "reason": {"reason_input": {"type": "plain_text_input", "value": "it <b>breaks</b>"}}
    }
    recorder.answer = None
    play(slack, "submit", {"user": QA, "view_id": view.id, "values": typed})
    assert slack.state.open_modal(QA) is None


def test_a_typed_slash_command_is_slacks_signed_form_and_its_answer_is_for_the_typist(
    slack: FakeSlackServer, bot: tuple[Recorder, str]
) -> None:
    recorder = bot[0]
    recorder.answer = {"response_type": "ephemeral", "text": "history of *shop*"}
    play(slack, "command", {"user": QA, "channel": CHANNEL, "text": "/cibot history shop"})
    path, headers, body = recorder.last()
    assert path == "/slack/events"
    assert SignatureVerifier(SIGNING).is_valid_request(body, headers)
    form = dict(parse_qsl(body.decode()))
    assert form["command"] == "/cibot" and form["text"] == "history shop"
    assert form["user_id"] == QA and form["channel_id"] == CHANNEL
    assert form["team_id"] == "T00000FAKE" and form["trigger_id"] and form["response_url"]
    assert [e.text for e in slack.state.ephemerals(QA)] == ["history of *shop*"]
    assert slack.state.messages(CHANNEL) == []


def test_the_build_form_sends_a_notification_signed_as_ci_signs_it(
    slack: FakeSlackServer, bot: tuple[Recorder, str]
) -> None:
    recorder = bot[0]
    fields = {"project": "shop", "image": "r/web:1", "type": "branch", "target": "main"}
    assert play(slack, "build", fields).json()["status"] == 200
    path, headers, body = recorder.last()
    assert path == "/build-complete"
    assert webhooks.verify([WEBHOOK], headers, body, time.time())
    assert json.loads(body) == fields
    assert play(slack, "build", {**fields, "image": ""}).status_code == 400


def test_without_a_bot_the_playground_says_so(slack: FakeSlackServer) -> None:
    slack.app.delivery.bot = None
    answer = play(slack, "build", {"project": "shop", "image": "i", "type": "tag", "target": "v1"})
    assert answer.status_code == 503
    assert "does not know where ci-bot is" in answer.json()["error"]
    page = httpx.get(f"{slack.url}/", timeout=5)
    assert page.status_code == 200 and "play.js" in page.text


def test_a_click_on_the_home_tab_names_the_view_and_no_channel(
    slack: FakeSlackServer, bot: tuple[Recorder, str]
) -> None:
    home = slack.state.publish_home(QA, {"type": "home", "blocks": list(BUTTONS)}, hash=None)
    click = {"user": QA, "view_id": home.id, "block_id": "review", "action_id": "qa_reject"}
    assert play(slack, "click", click).json()["status"] == 200
    payload = signed_payload(bot[0])
    assert payload["container"] == {"type": "view", "view_id": home.id}
    assert payload["view"]["id"] == home.id and payload["view"]["type"] == "home"
    assert "channel" not in payload and "response_url" not in payload
    assert payload["actions"][0]["value"] == "build-1"
    elsewhere = {**click, "view_id": "V0NOTHERS"}
    assert play(slack, "click", elsewhere).status_code == 404


async def test_with_socket_mode_on_a_typed_command_goes_down_the_socket_not_to_the_url(
    slack: FakeSlackServer, bot: tuple[Recorder, str]
) -> None:
    """The playground sends what a person does the way the app's settings say, as Slack does:
    with Socket Mode on, as an envelope to a connected socket; the ack's payload is the answer."""
    recorder = bot[0]
    slack.state.set_app_settings(socket_mode_enabled=True)
    opened = await AsyncWebClient(base_url=slack.api_url).apps_connections_open(
        app_token=min(slack.state.config.app_tokens)
    )
    async with aiohttp.ClientSession() as http, http.ws_connect(opened["url"]) as ws:
        assert (await ws.receive_json(timeout=5))["type"] == "hello"
        typed = {"user": QA, "channel": CHANNEL, "text": "/cibot history shop"}
        sent = asyncio.create_task(asyncio.to_thread(play, slack, "command", typed))
        envelope = await ws.receive_json(timeout=10)
        answer = {"response_type": "ephemeral", "text": "history over the socket"}
        await ws.send_json({"envelope_id": envelope["envelope_id"], "payload": answer})
        assert (await sent).status_code == 200

    assert envelope["type"] == "slash_commands" and envelope["accepts_response_payload"]
    assert envelope["payload"]["command"] == "/cibot"
    assert envelope["payload"]["text"] == "history shop"
    assert envelope["payload"]["user_id"] == QA
    assert recorder.requests == [], "nothing went to the Request URL"
    assert [e.text for e in slack.state.ephemerals(QA)] == ["history over the socket"]
