"""F1: Slack answers 429 with `Retry-After` during DMs: ci-bot waits at least that long,
retries, and each person still gets exactly one DM (one reply).

The fake Slack rate-limits `chat.postMessage`. Without the rate-limit retry handler the
first 429 would fail the job (and the retried job re-post what had gone through); without
honouring `Retry-After` the retry would come early and be limited again.
"""

from __future__ import annotations

import asyncio

import pytest

from cibot.fakeslack import ApiCall, FakeSlackServer
from tests.support.flow import cards_of, dm_of, dms_of, offered_to_all, press, report_build, until
from tests.support.shop import CHANNEL, EVERYONE, OWNERS, QA, SECRET
from tests.support.trust import IMAGE, Shared, unique

pytestmark = pytest.mark.kubernetes

RETRY_AFTER = 2


def _waits(slack: FakeSlackServer, since: float) -> list[tuple[str, float]]:
    """For each rate-limited call since `since`: its channel, and the wait before its retry."""
    calls = [c for c in slack.state.calls("chat.postMessage") if c.time >= since]
    waits = []
    for i, call in enumerate(calls):
        if call.status != 429:
            continue
        retry = next((c for c in calls[i + 1 :] if _same(c, call)), None)
        assert retry is not None, (
            f"a rate-limited post to {call.args.get('channel')} was never retried"
        )
        waits.append((str(call.args.get("channel")), retry.time - call.time))
    return waits


def _same(a: ApiCall, b: ApiCall) -> bool:
    keys = ("channel", "thread_ts")
    return all(a.args.get(k) == b.args.get(k) for k in keys)


async def test_F1_dms_rate_limited_are_retried_after_retry_after_and_each_person_gets_one(
    shared: Shared,
) -> None:
    slack = shared.slack
    await shared.rows.idle()
    since = slack.state.calls()[-1].time if slack.state.calls() else 0.0
    slack.faults.rate_limit(2, retry_after=RETRY_AFTER, method="chat.postMessage")

    response = report_build(
        shared.url, SECRET, project="shop", image=IMAGE, type="branch", target=unique("f1")
    )
    build_id = response.json()["build_id"]

    await until(slack, offered_to_all(slack, build_id, EVERYONE), within=90)
    await shared.rows.idle()
    await asyncio.sleep(1)
    assert {u: len(dms_of(slack, u, build_id)) for u in EVERYONE} == dict.fromkeys(EVERYONE, 1)
    assert len(cards_of(slack, CHANNEL, build_id)) == 1
    waits = _waits(slack, since)
    assert len(waits) == 2, "every armed 429 was served"
    assert all(wait >= RETRY_AFTER for _, wait in waits), waits


async def test_F1_verdict_replies_rate_limited_wait_and_each_owner_gets_exactly_one(
    shared: Shared,
) -> None:
    slack = shared.slack
    response = report_build(
        shared.url, SECRET, project="shop", image=IMAGE, type="branch", target=unique("f1")
    )
    build_id = response.json()["build_id"]
    await until(slack, offered_to_all(slack, build_id, EVERYONE), within=90)
    await shared.rows.idle()
    since = slack.state.calls()[-1].time
    slack.faults.rate_limit(2, retry_after=RETRY_AFTER, method="chat.postMessage")

    press(shared.url, slack, QA[0], "qa_approve", build_id)  # one thread reply per owner

    await until(slack, lambda s: all(dm_of(slack, o, build_id).replies for o in OWNERS), within=60)
    await shared.rows.idle()
    assert [len(dm_of(slack, o, build_id).replies) for o in OWNERS] == [1, 1]
    waits = _waits(slack, since)
    assert sorted(c for c, _ in waits) == sorted(dm_of(slack, o, build_id).channel for o in OWNERS)
    assert all(wait >= RETRY_AFTER for _, wait in waits), waits


async def test_F1_a_rate_limit_that_outlasts_the_clients_retries_still_delays_the_next_try(
    shared: Shared,
) -> None:
    """Three 429s in a row exhaust the Slack adapter's tries (3 here): the send fails, and is
    tried again within the job (only the sends that failed), after `Retry-After` too. (Before
    the adapter paced calls, the job itself was retried, and that retry used to come after the
    job backoff alone, a fraction of a second: found by this test.)"""
    slack = shared.slack
    response = report_build(
        shared.url, SECRET, project="shop", image=IMAGE, type="branch", target=unique("f1")
    )
    build_id = response.json()["build_id"]
    await until(slack, offered_to_all(slack, build_id, EVERYONE), within=90)
    await shared.rows.idle()
    since = slack.state.calls()[-1].time
    slack.faults.rate_limit(6, retry_after=3, method="chat.postMessage")  # 3 for each owner

    press(shared.url, slack, QA[1], "qa_approve", build_id)

    await until(slack, lambda s: all(dm_of(slack, o, build_id).replies for o in OWNERS), within=90)
    await shared.rows.idle()
    assert [len(dm_of(slack, o, build_id).replies) for o in OWNERS] == [1, 1]
    waits = _waits(slack, since)
    assert len(waits) == 6
    assert all(wait >= 3 for _, wait in waits), waits
    jobs = shared.rows.jobs_of("post_verdict_replies", build_id)
    assert [j["attempts"] for j in jobs] == [1], "tried again within the job, not the job"
