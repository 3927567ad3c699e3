"""F2: Slack answers 5xx or drops the connection on a post: retried with backoff; once a
`ts` is stored, every later change is an update of that message.

Without the server-error and connection retry handlers the job would fail at once (and be
retried by the runner, fine); without storing the `ts` and updating, the card would be
posted again on each change. Here: one card, updated in place, after 5xx and drops on both
the post and an update.
"""

from __future__ import annotations

import pytest

from cibot.fakeslack import FakeSlackServer
from tests.support.flow import card_saying, cards_of, report_build
from tests.support.shop import CHANNEL, SECRET
from tests.support.trust import IMAGE, Shared, unique

pytestmark = pytest.mark.kubernetes


def _posts_to_channel(slack: FakeSlackServer, since: float) -> list[int]:
    return [
        c.status
        for c in slack.state.calls("chat.postMessage")
        if c.time >= since and c.args.get("channel") == CHANNEL
    ]


async def test_F2_a_card_post_after_5xx_and_a_drop_is_posted_once_and_then_only_updated(
    shared: Shared,
) -> None:
    slack = shared.slack
    await shared.rows.idle()
    since = slack.state.calls()[-1].time if slack.state.calls() else 0.0
    slack.faults.server_error(2, status=503, method="chat.postMessage")
    slack.faults.drop(1, method="chat.postMessage")
    slack.faults.drop(1, method="chat.update")
    slack.faults.server_error(1, status=502, method="chat.update")

    response = report_build(
        shared.url, SECRET, project="shop", image=IMAGE, type="branch", target=unique("f2")
    )
    build_id = response.json()["build_id"]

    card = await card_saying(slack, CHANNEL, build_id, "is ready", within=90)
    await shared.rows.idle()
    assert len(cards_of(slack, CHANNEL, build_id)) == 1
    assert card.update_count >= 1
    assert slack.faults.pending() == [], "every armed fault was served"
    served = [c.fault for c in slack.state.calls() if c.time >= since and c.fault]
    assert len(served) == 5
    posts = _posts_to_channel(slack, since)
    assert posts.count(200) == 1, f"the card was posted once, then updated: {posts}"
    refs = shared.rows.all(
        "SELECT ts FROM slack_messages WHERE build_id = :b AND role = 'card'", b=build_id
    )
    assert [r["ts"] for r in refs] == [card.ts]
