"""What the fake Slack sends to the bot: every request goes through `Delivery.deliver`.

Slack posts clicks, modal submissions, slash commands and events to the app's Request URL,
signed with the app's signing secret (`v0=` + hex HMAC-SHA256 of `v0:{timestamp}:{body}`,
https://docs.slack.dev/authentication/verifying-requests-from-slack), and reads the app's
answer from the HTTP response (a slash command's text, a modal's `response_action`). One
function does that, so a transport of another kind (Socket Mode) replaces it in one place.

The playground also plays CI: `notify_build` signs a build notification as `cibot notify`
does (Standard Webhooks), so a person can start the flow without a terminal.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx

from cibot.adapters import webhooks

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

    def __init__(self, bot: Bot | None = None, timeout: float = 10.0) -> None:
        self.bot = bot
        self._timeout = timeout

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
        body = urlencode({"payload": json.dumps(payload)})
        return await self.deliver(body, "application/x-www-form-urlencoded")

    async def command(self, fields: Mapping[str, str]) -> Answer:
        """A slash command: its fields, form-encoded."""
        return await self.deliver(urlencode(fields), "application/x-www-form-urlencoded")

    async def event(self, envelope: Mapping[str, Any]) -> Answer:
        """An Events API callback: JSON."""
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
            async with httpx.AsyncClient(timeout=self._timeout) as client:
                response = await client.post(url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return Answer(0, f"ci-bot could not be reached at {url}: {exc!r}")
        return Answer(response.status_code, response.text)
