"""F12: Slack retries a request (`X-Slack-Retry-Num`): it is processed once.

A slow answer makes Slack deliver the same payload again with `X-Slack-Retry-Num` and
`X-Slack-Retry-Reason`. Every click is a compare-and-set on the build (and verdicts are
unique per build and user), so the retries change nothing: one close, one decision, one
preview deletion. Without that, each retry would record another decision and queue
another deletion.
"""

from __future__ import annotations

import httpx
import pytest

from tests.support import slack_requests as slack_req
from tests.support.flow import dm_of, ready_build, until
from tests.support.shop import EVERYONE, OWNERS
from tests.support.trust import IMAGE, STRANGER, Shared, unique

pytestmark = pytest.mark.kubernetes


async def test_F12_a_click_delivered_three_times_by_slack_retries_closes_the_build_once(
    shared: Shared,
) -> None:
    slack = shared.slack
    build_id = await ready_build(
        shared.url, slack, EVERYONE,
        project="shop", image=IMAGE, type="branch", target=unique("f12"),
    )  # fmt: skip
    body = slack_req.encode(
        slack_req.block_actions(
            OWNERS[0],
            "close_build",
            build_id,
            dm_of(slack, OWNERS[0], build_id).channel,
            trigger_id=slack_req.issued(slack, OWNERS[0]),  # one click: Slack retries it as is
        )
    )

    answers = []
    for attempt in range(3):
        headers = slack_req.signed_headers(body)
        if attempt:
            headers |= {"x-slack-retry-num": str(attempt), "x-slack-retry-reason": "http_timeout"}
        answers.append(httpx.post(f"{shared.url}/slack/events", content=body, headers=headers))

    assert [r.status_code for r in answers] == [200, 200, 200]
    await until(slack, lambda s: not dm_of(slack, OWNERS[1], build_id).buttons)
    await shared.rows.idle()
    decisions = shared.rows.all("SELECT action FROM decisions WHERE build_id = :b", b=build_id)
    assert [d["action"] for d in decisions] == ["close"]
    assert len(shared.rows.jobs_of("delete_preview", build_id)) == 1
    closed = [a for a in shared.rows.audit("build.closed") if a["build_id"] == build_id]
    assert len(closed) == 1


async def test_F12_an_app_home_opened_delivered_again_by_slack_retries_publishes_once(
    shared: Shared,
) -> None:
    """Slack's retries of an event carry its `event_id`: the first delivery publishes the
    person's Home tab; the retries, arriving after that publish, queue nothing more."""
    slack, rows = shared.slack, shared.rows

    def publishes() -> int:
        return sum(STRANGER in j["payload"] for j in rows.jobs_of("publish_home"))

    shown = slack.state.home_view(STRANGER)
    before, version = publishes(), shown.version if shown else 0
    event = slack_req.app_home_opened(STRANGER, event_id=f"Ev{unique('f12')}"[:20])

    first = slack_req.post_event(shared.url, event)
    await until(slack, lambda s: (v := s.home_view(STRANGER)) is not None and v.version > version)
    retries = [slack_req.post_event(shared.url, event, retry=n) for n in (1, 2)]
    await rows.idle()

    assert [r.status_code for r in (first, *retries)] == [200, 200, 200]
    assert publishes() == before + 1
