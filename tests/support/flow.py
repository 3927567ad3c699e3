"""The steps of the flow as a person would take them, against a running `cibot serve`.

CI reports a build (signed), the fake Slack shows each person's cards and DMs, people press
buttons (real signed `block_actions`) and type `/cibot` commands (signed slash commands).

Every lookup by build id reads only the messages of that build, so tests that share one server
(and one fake Slack, as the trust suite does) never read each other's cards or DMs; `dm` is for
a test with a server of its own, where a person has one DM.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import httpx

from cibot.fakeslack import FakeSlackServer, Message, Workspace
from tests.support import slack_requests as slack_req
from tests.support.ci import body_of, post_build
from tests.support.shop import CHANNEL, SECRET

IMAGE = "registry.example.test/shop/web:2.0"
"""The image `send_build` and `ready_build` report unless told another."""

_SHOP_BUILD = {"project": "shop", "image": IMAGE, "type": "branch", "target": "main"}


async def until(
    slack: FakeSlackServer, check: Callable[[Workspace], bool], within: float = 60
) -> None:
    """Wait until `check` holds of the fake Slack's state; `TimeoutError` after `within` s."""
    await slack.state.wait_for_async(check, within=within)


# -- what people see -----------------------------------------------------------------------


def dm(slack: FakeSlackServer, user: str) -> Message:
    """The one DM `user` has; fails if they have none or several."""
    messages = slack.state.dm_messages(user)
    assert len(messages) == 1, f"{user} has {len(messages)} DMs"
    return messages[0]


def _offers(message: Message, build_id: str) -> bool:
    return any(b.value == build_id for b in message.buttons)


_SEEN: dict[tuple[int, str, str], set[str]] = {}


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


def dm_of(slack: FakeSlackServer, user: str, build_id: str) -> Message:
    """`user`'s one DM about this build; fails if they have none or several."""
    found = dms_of(slack, user, build_id)
    assert len(found) == 1, f"{user} has {len(found)} DMs about {build_id}"
    return found[0]


def action_ids(message: Message) -> list[str]:
    return [b.action_id or "" for b in message.buttons]


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


# -- what CI and people do -----------------------------------------------------------------


def report_build(url: str, secret: str, **fields: Any) -> httpx.Response:
    """A signed build notification of exactly these fields; `webhook_id` goes to the headers."""
    webhook_id = fields.pop("webhook_id", None)
    return post_build(url, secret, body_of(**fields), webhook_id=webhook_id)


def send_build(url: str, *, secret: str = SECRET, **fields: Any) -> httpx.Response:
    """Report a branch build of `main` of project `shop` as CI does; `fields` change or add
    to these (`target`, `image`, `author`, `build_number`, …)."""
    return report_build(url, secret, **{**_SHOP_BUILD, **fields})


async def ready_build(
    url: str, slack: FakeSlackServer, people: Iterable[str], *, secret: str = SECRET, **fields: Any
) -> str:
    """Send a build (as `send_build`) and wait until each of `people` has a DM offering it."""
    response = send_build(url, secret=secret, **fields)
    assert response.status_code == 202, response.text
    build_id: str = response.json()["build_id"]
    await until(slack, offered_to_all(slack, build_id, people))
    return build_id


def press(
    url: str,
    slack: FakeSlackServer,
    user: str,
    action_id: str,
    value: str,
    *,
    channel: str | None = None,
) -> httpx.Response:
    """Click a button as `user`, from their DM (or `channel`); Slack's 200 is asserted."""
    where = channel or slack.state.dm_channel(user) or "D0NOTADM"
    trigger_id = slack_req.issued(slack, user)
    payload = slack_req.block_actions(user, action_id, value, where, trigger_id=trigger_id)
    response = slack_req.post(url, payload)
    assert response.status_code == 200, response.text
    return response


def slash(url: str, user: str, text: str, channel: str = CHANNEL) -> str:
    """Type `/cibot <text>` as `user`; the ephemeral answer's text."""
    response = slack_req.post_form(url, slack_req.slash_command(user, text, channel))
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer.get("response_type") == "ephemeral", answer
    texts = [answer.get("text", "")]
    texts += [b.get("text", {}).get("text", "") for b in answer.get("blocks") or []]
    return "\n".join(t for t in texts if t)
