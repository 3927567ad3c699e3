"""Steps of the flow as a person would take them, for end-to-end tests that start their own
`cibot serve` (tests/support/steps.py has the build-scoped ones for a shared server).

CI reports a build (signed), the fake Slack shows each person's messages, people press
buttons (real signed `block_actions`) and type `/cibot` commands (signed slash commands).
"""

from __future__ import annotations

from collections.abc import Callable

import httpx

from cibot.fakeslack import FakeSlackServer, Message, Workspace
from tests.support import slack_requests as slack_req
from tests.support.ci import body_of, post_build
from tests.support.service import CibotProcess

SECRET = "e2e-webhook-secret"
IMAGE = "registry.example.test/shop/web:2.0"


async def until(
    slack: FakeSlackServer, check: Callable[[Workspace], bool], within: float = 30
) -> None:
    await slack.state.wait_for_async(check, within=within)


def dm(slack: FakeSlackServer, user: str) -> Message:
    """The one DM `user` has; fails if they have none or several."""
    messages = slack.state.dm_messages(user)
    assert len(messages) == 1, f"{user} has {len(messages)} DMs"
    return messages[0]


def dm_of(slack: FakeSlackServer, user: str, build_id: str) -> Message | None:
    """`user`'s DM about one build, if they have one."""
    return next((m for m in slack.state.dm_messages(user) if build_id in m.visible_text), None)


def action_ids(message: Message | None) -> list[str]:
    return [b.action_id or "" for b in message.buttons] if message else []


def send_build(
    cibot: CibotProcess,
    *,
    target: str = "main",
    image: str = IMAGE,
    build_type: str = "branch",
    secret: str = SECRET,
    fields: dict[str, object] | None = None,
) -> httpx.Response:
    """Report a build of project `shop` as CI does; `fields` adds author, build_number, …"""
    body = body_of(project="shop", image=image, type=build_type, target=target, **(fields or {}))
    return post_build(cibot.url, secret, body)


async def ready_build(
    cibot: CibotProcess,
    slack: FakeSlackServer,
    people: tuple[str, ...],
    *,
    target: str = "main",
    image: str = IMAGE,
    fields: dict[str, object] | None = None,
) -> str:
    """Send a build and wait until each of `people` has a DM about it."""
    response = send_build(cibot, target=target, image=image, fields=fields)
    assert response.status_code == 202, response.text
    build_id: str = response.json()["build_id"]
    await until(slack, lambda s: all(
        any(build_id in m.visible_text for m in s.dm_messages(u)) for u in people
    ), within=60)  # fmt: skip
    return build_id


def press(
    cibot: CibotProcess,
    slack: FakeSlackServer,
    user: str,
    action_id: str,
    value: str,
    *,
    channel: str | None = None,
) -> httpx.Response:
    """Click a button as `user`, from their DM (or `channel`)."""
    where = channel or slack.state.dm_channel(user) or "D0NOTADM"
    trigger_id = slack_req.issued(slack, user)
    payload = slack_req.block_actions(user, action_id, value, where, trigger_id=trigger_id)
    response = slack_req.post(cibot.url, payload)
    assert response.status_code == 200, response.text
    return response


def slash(cibot: CibotProcess, user: str, text: str, channel: str = "C0E2E0CHAN") -> str:
    """Type `/cibot <text>` as `user`; the ephemeral answer's text."""
    response = slack_req.post_form(cibot.url, slack_req.slash_command(user, text, channel))
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer.get("response_type") == "ephemeral", answer
    texts = [answer.get("text", "")]
    texts += [b.get("text", {}).get("text", "") for b in answer.get("blocks") or []]
    return "\n".join(t for t in texts if t)
