"""The steps of the flow against a running `cibot serve` shared by several tests.

Every helper looks only at messages that carry one build's id, so tests that share one
server (and one fake Slack) never read each other's cards or DMs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import httpx

from cibot.fakeslack import FakeSlackServer, Message, Workspace
from tests.support import slack_requests as slack_req
from tests.support.ci import body_of, post_build


async def until(
    slack: FakeSlackServer, check: Callable[[Workspace], bool], within: float = 60
) -> None:
    await slack.state.wait_for_async(check, within=within)


def cards_of(slack: FakeSlackServer, channel: str, build_id: str) -> list[Message]:
    return [m for m in slack.state.messages(channel) if build_id in m.visible_text]


async def card_saying(
    slack: FakeSlackServer, channel: str, build_id: str, text: str, within: float = 60
) -> Message:
    def found() -> Message | None:
        return next((m for m in cards_of(slack, channel, build_id) if text in m.visible_text), None)

    await until(slack, lambda _: found() is not None, within)
    message = found()
    assert message is not None
    return message


def _offers(message: Message, build_id: str) -> bool:
    return any(b.value == build_id for b in message.buttons)


def dms_of(slack: FakeSlackServer, user: str, build_id: str) -> list[Message]:
    """The DMs about one build: those whose buttons carry its id, or (once their buttons are
    gone) those first seen with them; any DM naming it when none ever had buttons."""
    mine = slack.state.dm_messages(user)
    for m in mine:
        if _offers(m, build_id):
            _SEEN.setdefault((id(slack), user, build_id), set()).add(m.ts)
    seen = _SEEN.get((id(slack), user, build_id), set())
    if seen:
        return [m for m in mine if m.ts in seen]
    return [m for m in mine if build_id in m.visible_text]


_SEEN: dict[tuple[int, str, str], set[str]] = {}


def dm_of(slack: FakeSlackServer, user: str, build_id: str) -> Message:
    found = dms_of(slack, user, build_id)
    assert len(found) == 1, f"{user} has {len(found)} DMs about {build_id}"
    return found[0]


def offered(slack: FakeSlackServer, user: str, build_id: str) -> bool:
    """`user` has a DM with buttons for this build (what a ready build sends)."""
    return any(_offers(m, build_id) for m in slack.state.dm_messages(user)) and bool(
        dms_of(slack, user, build_id)
    )


def offered_to_all(
    slack: FakeSlackServer, build_id: str, people: Iterable[str]
) -> Callable[[Workspace], bool]:
    """A condition for `until`: each of `people` has a DM offering this build's buttons."""
    people = tuple(people)
    return lambda _: all(offered(slack, u, build_id) for u in people)


def post(url: str, secret: str, **fields: Any) -> httpx.Response:
    """A signed build notification; `webhook_id` and `timestamp` go to the headers."""
    webhook_id = fields.pop("webhook_id", None)
    return post_build(url, secret, body_of(**fields), webhook_id=webhook_id)


async def ready_build(
    url: str, slack: FakeSlackServer, secret: str, people: Iterable[str], **fields: Any
) -> str:
    """Post a build and wait until everyone in `people` has their DM about it."""
    response = post(url, secret, **fields)
    assert response.status_code == 202, response.text
    build_id: str = response.json()["build_id"]
    everyone = tuple(people)
    await until(slack, offered_to_all(slack, build_id, everyone))
    return build_id


def press(
    url: str, slack: FakeSlackServer, user: str, action_id: str, value: str, **kwargs: Any
) -> httpx.Response:
    channel = slack.state.dm_channel(user) or "D0NOTADM"
    trigger_id = slack_req.issued(slack, user)
    payload = slack_req.block_actions(user, action_id, value, channel, trigger_id=trigger_id)
    response = slack_req.post(url, payload, **kwargs)
    assert response.status_code == 200, response.text
    return response
