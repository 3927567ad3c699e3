"""The Chat adapter over the real slack_sdk against the fake Slack: posts carry their key,
and a post whose answer was lost is found again instead of being made twice."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from cibot.adapters.retry import NO_RETRY
from cibot.adapters.slack.chat import SlackChat, web_client
from cibot.fakeslack import Channel, FakeSlackServer, User
from cibot.service.views import Notice

CHANNEL = "C0CHATTEST"
OWNER = "U0OWNER"


@pytest.fixture
async def slack() -> AsyncIterator[tuple[FakeSlackServer, SlackChat]]:
    users = [User(OWNER, "owner")]
    with FakeSlackServer(users=users, channels=[Channel(CHANNEL, "deploys")]) as server:
        client = web_client("xoxb-fake", server.api_url, NO_RETRY)
        yield server, SlackChat(client)
        if client.session is not None:
            await client.session.close()


async def test_a_keyed_post_a_dm_and_a_reply_are_found_again_by_their_key(
    slack: tuple[FakeSlackServer, SlackChat],
) -> None:
    server, chat = slack
    since = datetime.now(UTC) - timedelta(seconds=1)

    card = await chat.post(CHANNEL, Notice("card"), key="b1/card/")
    dm = await chat.post_dm(OWNER, Notice("dm"), key="b1/owner_dm/U0OWNER")
    reply = await chat.reply(card, Notice("reply"), key="b1/reply:U0QA/")

    assert await chat.find_posted(CHANNEL, "b1/card/", since) == card
    assert await chat.find_posted(OWNER, "b1/owner_dm/U0OWNER", since) == dm
    assert await chat.find_posted(CHANNEL, "b1/reply:U0QA/", since, thread=card) == reply
    assert await chat.find_posted(CHANNEL, "b1/other/", since) is None
    later = datetime.now(UTC) + timedelta(minutes=5)
    assert await chat.find_posted(CHANNEL, "b1/card/", later) is None, "only since the try"
    stored = server.state.message(CHANNEL, card.ts)
    assert stored is not None and stored.metadata == {
        "event_type": "cibot_post",
        "event_payload": {"key": "b1/card/"},
    }
