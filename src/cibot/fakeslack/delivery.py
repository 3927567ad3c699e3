"""How the fake Slack delivers what people do to the app: one function, `deliver`.

Slack sends an app events (Events API), interactions (`block_actions`, `view_submission`) and
slash commands either to its Request URL, signed, or (Socket Mode on) as envelopes down one
of its WebSocket connections (`sockets`). Which one follows the app's settings, as on Slack,
so a test or the playground says what a person did and never how it travels; everything the
fake delivers goes through here.

Over HTTP the shapes are Slack's: an interaction is a form with one `payload` field holding
JSON, a slash command is form fields, an event is a JSON body; each is signed with the app's
signing secret (`v0=` HMAC-SHA256 of `v0:{timestamp}:{body}`,
https://docs.slack.dev/authentication/verifying-requests-from-slack). Over a socket the
envelope carries the parsed payload itself.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlencode

import httpx

from cibot.fakeslack.records import JsonDict
from cibot.fakeslack.sockets import EnvelopeType, NotDelivered
from cibot.fakeslack.state import Workspace

# Interactions whose answer travels back in the ack (a modal's `response_action`); Slack sets
# `accepts_response_payload` for these and for slash commands, not for clicks or events.
_ANSWERED = frozenset({"view_submission", "block_suggestion"})


@dataclass(frozen=True)
class Delivery:
    """What came back: `via` socket or http, the HTTP status (200 for an ack), the answer
    (the ack's payload or the response body, when JSON), and the envelope's attempts."""

    via: str
    status: int
    body: JsonDict | None
    envelope_id: str | None = None
    attempts: int = 1

    def to_json(self) -> JsonDict:
        return {
            "via": self.via,
            "status": self.status,
            "body": self.body,
            "envelope_id": self.envelope_id,
            "attempts": self.attempts,
        }


def envelope_type(payload: JsonDict) -> EnvelopeType:
    """The envelope a payload travels in: a slash command's fields name the `command`."""
    if "command" in payload:
        return "slash_commands"
    if payload.get("type") == "event_callback":
        return "events_api"
    return "interactive"


async def deliver(ws: Workspace, payload: JsonDict) -> Delivery:
    """Delivers `payload` to the app as Slack would: over a socket when Socket Mode is on,
    else to the Request URL. NotDelivered when it cannot arrive (nobody connected, no URL)."""
    kind = envelope_type(payload)
    if ws.app.settings.socket_mode_enabled:
        answers = kind == "slash_commands" or payload.get("type") in _ANSWERED
        acked = await ws.sockets.send(kind, payload, accepts_response_payload=answers)
        return Delivery("socket", 200, acked.payload, acked.envelope_id, acked.attempts)
    return await _post(ws, kind, payload)


@functools.cache
def _tls() -> ssl.SSLContext:
    """One TLS context for every POST (making one reads the CA bundle: tens of ms)."""
    return ssl.create_default_context()


async def _post(ws: Workspace, kind: EnvelopeType, payload: JsonDict) -> Delivery:
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
    timestamp = str(int(time.time()))
    secret = ws.config.signing_secret.encode()
    digest = hmac.new(secret, f"v0:{timestamp}:{body}".encode(), hashlib.sha256).hexdigest()
    headers = {
        "content-type": content_type,
        "x-slack-request-timestamp": timestamp,
        "x-slack-signature": f"v0={digest}",
    }
    async with httpx.AsyncClient(timeout=10, verify=_tls()) as client:
        response = await client.post(url, content=body, headers=headers)
    try:
        answer = response.json() if response.content else None
    except ValueError:
        answer = None
    return Delivery("http", response.status_code, answer if isinstance(answer, dict) else None)
