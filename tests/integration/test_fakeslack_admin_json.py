"""The admin API's JSON, as recorded: a refactor of the fake's records must leave it alone.

A seeded workspace goes through one of each thing the records hold (a post, an update, a
thread reply, an ephemeral, a modal, a Home tab, a refused call, an armed fault), then every
admin route that returns records is read over HTTP. The text of each answer, with the values
that change from run to run (timestamps, view ids, hashes, trigger ids, times) masked, must
match `fakeslack_admin_golden.json` key for key and in order. `CIBOT_REGENERATE_GOLDEN=1`
records it.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from cibot.fakeslack import Channel, FakeSlackServer, User

GOLDEN = Path(__file__).with_name("fakeslack_admin_golden.json")
QA = User("U01QA", "quinn", "Quinn QA", "quinn@example.com")
OWNER = User("U03OWNER", "olga", email="olga@example.com")
DEPLOYS = Channel("C0123456789", "shop-deploys", frozenset({QA.id, OWNER.id}))
BUTTONS: list[dict[str, Any]] = [
    {"type": "section", "text": {"type": "mrkdwn", "text": "*main* is ready"}},
    {
        "type": "actions",
        "elements": [
            {
                "type": "button",
                "action_id": "qa_approve",
                "value": "42",
                "style": "primary",
                "text": {"type": "plain_text", "text": "Approve"},
            }
        ],
    },
]
MODAL = {
    "type": "modal",
    "title": {"type": "plain_text", "text": "Reject"},
    "blocks": [{"type": "section", "text": {"type": "plain_text", "text": "Why?"}}],
}
HOME = {"type": "home", "blocks": BUTTONS}
ROUTES = ("state", "messages?channel=C0123456789", "dm?user=U01QA", "ephemerals?user=U03OWNER")
MASKS = [
    (re.compile(r"^\d{10}\.\d{6}$"), "<ts>"),
    (re.compile(r"^V[0-9A-F]{10}$"), "<view id>"),
    (re.compile(r"^\d{10}\.[0-9a-f]{8}$"), "<hash>"),
    (re.compile(r"^\d{10}\.\d+\.[0-9a-f]{32}$"), "<trigger id>"),
]


def _masked(value: Any, key: str = "") -> Any:
    if isinstance(value, dict):
        return {k: _masked(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v) for v in value]
    if key == "time" and isinstance(value, float):
        return "<time>"
    if key == "block_id" and isinstance(value, str):
        return "<block id>"
    if isinstance(value, str):
        for pattern, mask in MASKS:
            if pattern.match(value):
                return mask
    return value


def _exercise(slack: FakeSlackServer) -> None:
    client = WebClient(token="xoxb-fake", base_url=slack.api_url)
    posted = client.chat_postMessage(
        channel=DEPLOYS.id,
        text="ready",
        blocks=BUTTONS,
        metadata={"event_type": "x", "event_payload": {"k": 1}},
    )
    client.chat_update(channel=DEPLOYS.id, ts=posted["ts"], text="approved", blocks=BUTTONS[:1])
    client.chat_postMessage(channel=DEPLOYS.id, thread_ts=posted["ts"], text="a reply")
    client.chat_postMessage(channel=QA.id, text="your turn", blocks=BUTTONS)
    client.chat_postEphemeral(channel=DEPLOYS.id, user=OWNER.id, text="not you", blocks=BUTTONS)
    client.views_open(trigger_id=slack.state.new_trigger_id(QA.id), view=MODAL)
    client.views_publish(user_id=OWNER.id, view=HOME)
    slack.faults.server_error(method="auth.test", status=502)
    with pytest.raises(SlackApiError):
        client.auth_test()
    slack.faults.rate_limit(2, retry_after=3, method="views.open")  # still armed when read


def test_the_admin_routes_answer_the_recorded_json() -> None:
    with FakeSlackServer(users=[QA, OWNER], channels=[DEPLOYS]) as slack:
        _exercise(slack)
        with httpx.Client(base_url=slack.admin_url, timeout=10) as admin:
            answers = {route: admin.get(route).json() for route in ROUTES}
            answers["calls"] = admin.get("calls").json()
            answers["home?user=U03OWNER"] = admin.get("home?user=U03OWNER").json()

    text = json.dumps(_masked(answers), indent=1, ensure_ascii=False)
    if os.environ.get("CIBOT_REGENERATE_GOLDEN"):
        GOLDEN.write_text(text + "\n", encoding="utf-8")
    assert text + "\n" == GOLDEN.read_text(encoding="utf-8")
