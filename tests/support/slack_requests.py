"""Signed Slack interaction payloads (`block_actions`, `view_submission`), sent as Slack does.

A click carries a trigger id that Slack issued at that moment, and Slack's `views.open` takes
no other (the fake Slack refuses one it never issued, as Slack does). A test that sends a
click to a bot wired to a fake Slack passes `trigger_id=issued(slack, user)`; without one, the
payload carries a made-up id, fine where nothing opens a modal (unit tests, refused requests).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from typing import Any
from urllib.parse import urlencode

import httpx

from cibot.fakeslack import FakeSlackAdmin, FakeSlackServer

SIGNING_SECRET = "e2e-signing-secret"
TEAM = "T00000FAKE"
APP = "A00000CIBOT"


def issued(slack: FakeSlackServer | FakeSlackAdmin, user: str) -> str:
    """A trigger id as Slack issues it to `user`'s click: valid for 3 s, for one view."""
    if isinstance(slack, FakeSlackServer):
        return slack.state.new_trigger_id(user)
    return slack.new_trigger_id(user)


def made_up_trigger_id() -> str:
    """A trigger id Slack never issued: `views.open` refuses it (`invalid_trigger_id`)."""
    return f"{uuid.uuid4().int % 10**12}.{uuid.uuid4().hex[:8]}"


def signed_headers(
    body: str, secret: str = SIGNING_SECRET, at: float | None = None
) -> dict[str, str]:
    timestamp = str(int(at if at is not None else time.time()))
    digest = hmac.new(
        secret.encode(), f"v0:{timestamp}:{body}".encode(), hashlib.sha256
    ).hexdigest()
    return {
        "x-slack-request-timestamp": timestamp,
        "x-slack-signature": f"v0={digest}",
        "content-type": "application/x-www-form-urlencoded",
    }


def block_actions(
    user: str,
    action_id: str,
    value: str,
    channel: str,
    *,
    team: str = TEAM,
    trigger_id: str | None = None,
) -> dict[str, Any]:
    return {
        "type": "block_actions",
        "team": {"id": team, "domain": "fake"},
        "user": {"id": user, "username": user.lower(), "team_id": team},
        "api_app_id": APP,
        "token": "legacy-unused",
        "trigger_id": trigger_id or made_up_trigger_id(),
        "container": {"type": "message", "channel_id": channel, "message_ts": "1.1"},
        "channel": {"id": channel, "name": "directmessage"},
        "actions": [
            {
                "type": "button",
                "action_id": action_id,
                "block_id": "actions",
                "value": value,
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }


def home_click(
    user: str,
    action_id: str,
    value: str,
    view: dict[str, Any],
    *,
    team: str = TEAM,
    trigger_id: str | None = None,
) -> dict[str, Any]:
    """A click on a button of `user`'s Home tab, as Slack sends it: the container is the
    published view (`view`, as the fake Slack holds it), and there is no channel."""
    click = block_actions(user, action_id, value, "", team=team, trigger_id=trigger_id)
    del click["channel"]
    click["container"] = {"type": "view", "view_id": view["id"]}
    click["view"] = {**view, "app_installed_team_id": team}
    click["enterprise"] = None
    click["is_enterprise_install"] = False
    return click


def app_home_opened(
    user: str,
    *,
    event_id: str | None = None,
    tab: str = "home",
    view: dict[str, Any] | None = None,
    team: str = TEAM,
) -> dict[str, Any]:
    """The Events API's `app_home_opened`, as Slack posts it (JSON); `view` is the Home view
    Slack holds for `user`, sent along once one was published."""
    event: dict[str, Any] = {
        "type": "app_home_opened",
        "user": user,
        "channel": f"D{user[1:]}"[:11],
        "tab": tab,
        "event_ts": f"{time.time():.6f}",
    }
    if view is not None:
        event["view"] = view
    return {
        "token": "legacy-unused",
        "team_id": team,
        "api_app_id": APP,
        "event": event,
        "type": "event_callback",
        "event_id": event_id or f"Ev{uuid.uuid4().hex[:10].upper()}",
        "event_time": int(time.time()),
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": team,
                "user_id": "U0CIBOTBOT",
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
        "event_context": f"4-{uuid.uuid4().hex}",
    }


def view_submission(
    user: str,
    callback_id: str,
    private_metadata: str,
    values: dict[str, Any],
    *,
    trigger_id: str | None = None,
) -> dict[str, Any]:
    return {
        "type": "view_submission",
        "team": {"id": TEAM, "domain": "fake"},
        "user": {"id": user, "team_id": TEAM},
        "api_app_id": APP,
        "trigger_id": trigger_id or made_up_trigger_id(),
        "view": {
            "id": "V0FAKE",
            "type": "modal",
            "callback_id": callback_id,
            "private_metadata": private_metadata,
            "state": {"values": values},
        },
    }


def slash_command(
    user: str,
    text: str,
    channel: str,
    command: str = "/cibot",
    *,
    trigger_id: str | None = None,
) -> dict[str, str]:
    """The form fields Slack posts for a slash command."""
    return {
        "token": "legacy-unused",
        "team_id": TEAM,
        "team_domain": "fake",
        "channel_id": channel,
        "channel_name": "shop-builds",
        "user_id": user,
        "user_name": user.lower(),
        "command": command,
        "text": text,
        "api_app_id": APP,
        "response_url": "https://hooks.slack.invalid/commands/1",
        "trigger_id": trigger_id or made_up_trigger_id(),
    }


def encode(payload: dict[str, Any]) -> str:
    return urlencode({"payload": json.dumps(payload)})


def post_form(
    base_url: str, fields: dict[str, str], *, secret: str = SIGNING_SECRET
) -> httpx.Response:
    """POST form fields as Slack posts slash commands, signed."""
    body = urlencode(fields)
    return httpx.post(
        f"{base_url}/slack/events", content=body, headers=signed_headers(body, secret), timeout=10
    )


def post(
    base_url: str,
    payload: dict[str, Any],
    *,
    secret: str = SIGNING_SECRET,
    path: str = "/slack/events",
    at: float | None = None,
) -> httpx.Response:
    body = encode(payload)
    return httpx.post(
        f"{base_url}{path}", content=body, headers=signed_headers(body, secret, at), timeout=10
    )


def post_event(
    base_url: str,
    payload: dict[str, Any],
    *,
    secret: str = SIGNING_SECRET,
    retry: int = 0,
) -> httpx.Response:
    """POST an Events API payload as Slack does: JSON, signed; `retry` > 0 adds the headers
    of Slack's retries (`X-Slack-Retry-Num`, `X-Slack-Retry-Reason`)."""
    body = json.dumps(payload)
    headers = {**signed_headers(body, secret), "content-type": "application/json"}
    if retry:
        headers |= {"x-slack-retry-num": str(retry), "x-slack-retry-reason": "http_timeout"}
    return httpx.post(f"{base_url}/slack/events", content=body, headers=headers, timeout=10)


async def post_async(
    client: httpx.AsyncClient,
    base_url: str,
    payload: dict[str, Any],
    *,
    secret: str = SIGNING_SECRET,
) -> httpx.Response:
    body = encode(payload)
    return await client.post(
        f"{base_url}/slack/events", content=body, headers=signed_headers(body, secret)
    )
