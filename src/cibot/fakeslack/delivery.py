"""How the fake Slack delivers what people do to the app: every way out goes through here.

Slack sends an app events (Events API), interactions (`block_actions`, `view_submission`) and
slash commands either to its Request URL, signed, or (Socket Mode on) as envelopes down one
of its WebSocket connections (`sockets`). Which one follows the app's settings, as on Slack,
so a test or the playground says what a person did and never how it travels.

Over HTTP the shapes are Slack's: an interaction is a form with one `payload` field holding
JSON, a slash command is form fields, an event is a JSON body; each is signed with the app's
signing secret (`v0=` HMAC-SHA256 of `v0:{timestamp}:{body}`,
https://docs.slack.dev/authentication/verifying-requests-from-slack). Over a socket the
envelope carries the parsed payload itself, and the ack carries the answer.

Two callers: `deliver(ws, payload)` sends to the app's own settings (its Request URL and the
workspace's signing secret: the tests' and `/_fake/deliver`'s way), and the playground's
`Delivery` sends to the `Bot` it was connected to (`cibot serve`'s own fake), over the socket
when Socket Mode is on. The playground also plays CI: `Delivery.notify_build` signs a build
notification as `cibot notify` does (Standard Webhooks).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx

from cibot.adapters import webhooks
from cibot.fakeslack.records import JsonDict, JsonRecord
from cibot.fakeslack.sockets import EnvelopeType, NotDelivered
from cibot.fakeslack.state import Workspace

EVENTS_PATH = "/slack/events"
BUILD_PATH = "/build-complete"


@dataclass(frozen=True)
class Bot:
    """Where the app behind this workspace listens, and the secrets it checks."""

    url: str  # the bot's root, e.g. http://127.0.0.1:8080
    signing_secret: str
    webhook_secret: str | None = None  # what CI signs build notifications with
    projects: tuple[str, ...] = ()  # the project ids the build form offers

    def to_json(self) -> dict[str, Any]:
        """What the playground may show: never the secrets."""
        return {"url": self.url, "projects": list(self.projects), "ci": bool(self.webhook_secret)}


@dataclass(frozen=True)
class Answer:
    """The bot's HTTP answer to one request (status 0: it could not be reached)."""

    status: int
    text: str

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def json(self) -> dict[str, Any] | None:
        """The answer's JSON object, or None when it is empty or not an object."""
        try:
            parsed = json.loads(self.text) if self.text.strip() else None
        except ValueError:
            return None
        return parsed if isinstance(parsed, dict) else None


class NotConnected(Exception):
    """The fake does not know where the bot is (no `Bot` given)."""


def slack_signature_headers(body: str, secret: str, at: float | None = None) -> dict[str, str]:
    """The two headers Slack signs a request with."""
    timestamp = str(int(time.time() if at is None else at))
    digest = hmac.new(
        secret.encode(), f"v0:{timestamp}:{body}".encode(), hashlib.sha256
    ).hexdigest()
    return {"x-slack-request-timestamp": timestamp, "x-slack-signature": f"v0={digest}"}


class Delivery:
    """Sends what Slack sends to the bot, signed, and reads the bot's answer."""

    def __init__(
        self, workspace: Workspace | None = None, bot: Bot | None = None, timeout: float = 10.0
    ) -> None:
        self.workspace = workspace
        self.bot = bot
        self._timeout = timeout

    def _over_socket(self) -> Workspace | None:
        ws = self.workspace
        return ws if ws is not None and ws.app.settings.socket_mode_enabled else None

    async def _by_socket(self, ws: Workspace, payload: Mapping[str, Any]) -> Answer:
        """Down a Socket Mode connection: the ack's payload is the answer."""
        try:
            done = await deliver(ws, dict(payload))
        except NotDelivered as exc:
            return Answer(0, f"ci-bot did not take it over Socket Mode: {exc}")
        return Answer(done.status, json.dumps(done.body) if done.body else "")

    def _target(self) -> Bot:
        if self.bot is None:
            raise NotConnected("the fake Slack does not know where ci-bot is (no bot configured)")
        return self.bot

    async def deliver(self, body: str, content_type: str) -> Answer:
        """POST one signed request to the bot's Request URL, as Slack does (the one way out)."""
        bot = self._target()
        headers = {
            **slack_signature_headers(body, bot.signing_secret),
            "content-type": content_type,
        }
        return await self._post(f"{bot.url.rstrip('/')}{EVENTS_PATH}", body.encode(), headers)

    async def interaction(self, payload: Mapping[str, Any]) -> Answer:
        """A `block_actions` or `view_submission`: form-encoded `payload=<json>`."""
        if ws := self._over_socket():
            return await self._by_socket(ws, payload)
        body = urlencode({"payload": json.dumps(payload)})
        return await self.deliver(body, "application/x-www-form-urlencoded")

    async def command(self, fields: Mapping[str, str]) -> Answer:
        """A slash command: its fields, form-encoded."""
        if ws := self._over_socket():
            return await self._by_socket(ws, fields)
        return await self.deliver(urlencode(fields), "application/x-www-form-urlencoded")

    async def event(self, envelope: Mapping[str, Any]) -> Answer:
        """An Events API callback: JSON."""
        if ws := self._over_socket():
            return await self._by_socket(ws, envelope)
        return await self.deliver(json.dumps(envelope), "application/json")

    async def notify_build(self, fields: Mapping[str, Any]) -> Answer:
        """A build notification as CI sends it (`cibot notify`): JSON, Standard Webhooks."""
        bot = self._target()
        if not bot.webhook_secret:
            raise NotConnected("the fake Slack was given no webhook secret to sign builds with")
        body = json.dumps(dict(fields), separators=(",", ":")).encode()
        headers = {**webhooks.headers(bot.webhook_secret, body), "content-type": "application/json"}
        return await self._post(f"{bot.url.rstrip('/')}{BUILD_PATH}", body, headers)

    async def _post(self, url: str, body: bytes, headers: dict[str, str]) -> Answer:
        try:
            async with httpx.AsyncClient(timeout=self._timeout, verify=_tls()) as client:
                response = await client.post(url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return Answer(0, f"ci-bot could not be reached at {url}: {exc!r}")
        return Answer(response.status_code, response.text)


# Interactions whose answer travels back in the ack (a modal's `response_action`); Slack sets
# `accepts_response_payload` for these and for slash commands, not for clicks or events.
_ANSWERED = frozenset({"view_submission", "block_suggestion"})


@dataclass(frozen=True)
class Delivered(JsonRecord):
    """What came back: `via` socket or http, the HTTP status (200 for an ack), the answer
    (the ack's payload or the response body, when JSON), and the envelope's attempts."""

    via: str
    status: int
    body: JsonDict | None
    envelope_id: str | None = None
    attempts: int = 1


def envelope_type(payload: JsonDict) -> EnvelopeType:
    """The envelope a payload travels in: a slash command's fields name the `command`."""
    if "command" in payload:
        return "slash_commands"
    if payload.get("type") == "event_callback":
        return "events_api"
    return "interactive"


async def deliver(ws: Workspace, payload: JsonDict) -> Delivered:
    """Delivers `payload` to the app as Slack would: over a socket when Socket Mode is on,
    else to the Request URL. NotDelivered when it cannot arrive (nobody connected, no URL)."""
    kind = envelope_type(payload)
    if ws.app.settings.socket_mode_enabled:
        answers = kind == "slash_commands" or payload.get("type") in _ANSWERED
        acked = await ws.sockets.send(kind, payload, accepts_response_payload=answers)
        return Delivered("socket", 200, acked.payload, acked.envelope_id, acked.attempts)
    return await _post(ws, kind, payload)


@functools.cache
def _tls() -> ssl.SSLContext:
    """One TLS context for every POST (making one reads the CA bundle: tens of ms)."""
    return ssl.create_default_context()


async def _post(ws: Workspace, kind: EnvelopeType, payload: JsonDict) -> Delivered:
    url = ws.app.settings.request_url
    if url is None:
        raise NotDelivered("the app has no Request URL and Socket Mode is off")
    if kind == "events_api":
        body, content_type = json.dumps(payload), "application/json"
    elif kind == "slash_commands":
        body, content_type = urlencode(payload), "application/x-www-form-urlencoded"
    else:
        body = urlencode({"payload": json.dumps(payload)})
        content_type = "application/x-www-form-urlencoded"
    headers = {
        **slack_signature_headers(body, ws.config.signing_secret),
        "content-type": content_type,
    }
    async with httpx.AsyncClient(timeout=10, verify=_tls()) as client:
        response = await client.post(url, content=body, headers=headers)
    try:
        answer = response.json() if response.content else None
    except ValueError:
        answer = None
    return Delivered("http", response.status_code, answer if isinstance(answer, dict) else None)
