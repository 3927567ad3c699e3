"""F18: Slack's rate-limit tiers. Calls are paced per method; a fan-out and the redraws that
follow finish in about the least time the tiers allow, with a handful of 429s at most, no job
dead, nothing lost or doubled.

The fake Slack runs with Slack's default tiers (cibot/fakeslack/limits.py). A smaller team
than the benchmark's (10 QA, 2 owners) still meets the real arithmetic: ten approvals at once
put ten thread replies into each owner's DM, where chat.postMessage allows a short burst and
then one a second; the approvals' redraws and the deploy's drain chat.update's Tier 3 budget
(50 a minute), so the deploy's redraw is paced. Sent as fast as the connection allows (as
before the pacer), each call past a limit drew a 429 and a retry.
"""

from __future__ import annotations

import asyncio
import time

from cibot.adapters.clock import SystemClock
from cibot.adapters.slack.pacing import TIERS, Pacer, Tier
from cibot.domain.policy import Policy
from cibot.domain.project import Project
from cibot.domain.review import Action
from cibot.fakeslack import Channel, FakeSlackServer, User, Workspace
from cibot.fakeslack.limits import PER_CHANNEL_POST, TIER_3, Limit
from cibot.service import review
from cibot.service.messages import UPDATE_CONCURRENCY
from tests.support.inprocess import running_bot

CHANNEL = "C0F18DEPLOY"
QA = tuple(f"U0F18QA{i:02d}" for i in range(10))
OWNERS = ("U0F18OWN1", "U0F18OWN2")
EVERYONE = (*QA, *OWNERS)
PROJECT = Project(
    id="shop",
    name="Shop",
    url="https://shop.example.com",
    channel=CHANNEL,
    qa=frozenset(QA),
    owners=frozenset(OWNERS),
    namespace="shop",
)
CLOCK = SystemClock()
ALLOWANCE = 3.0  # seconds for everything that is not waiting on a limit (jobs, the loop)


def least_seconds(calls: int, level: float, per_minute: float) -> float:
    """The least time `calls` calls take through a bucket holding `level` tokens now."""
    return max(0.0, calls - level) * 60.0 / per_minute


def workspace(everyone: tuple[str, ...] = EVERYONE) -> FakeSlackServer:
    users = [User(u, u.lower()) for u in everyone]
    return FakeSlackServer(users=users, channels=[Channel(CHANNEL, "deploys", frozenset(everyone))])


def replies_of(ws: Workspace, owner: str) -> int:
    return sum(len(m.replies) for m in ws.dm_messages(owner))


async def test_F18_approvals_and_a_deploy_by_a_team_are_paced_within_slacks_tiers(
    sqlite_url: str,
) -> None:
    with workspace() as slack:  # Slack's tiers: nothing relaxed
        async with running_bot(sqlite_url, slack, {PROJECT.id: PROJECT}) as bot:
            build_id = await bot.report(PROJECT, "f18")
            await slack.state.wait_for_async(
                lambda s: all(len(s.dm_messages(u)) == 1 for u in EVERYONE), within=30
            )
            await bot.idle()
            owner_dms = [slack.state.dm_channel(o) for o in OWNERS]
            levels = [slack.state.limits.level("chat.postMessage", dm) for dm in owner_dms]

            approvals_at = time.time()
            await asyncio.gather(
                *(
                    review.click(
                        bot.store, CLOCK, bot.projects, review.Click(build_id, u, Action.APPROVE)
                    )
                    for u in QA
                )
            )
            await slack.state.wait_for_async(
                lambda s: all(replies_of(s, o) == len(QA) for o in OWNERS), within=60
            )
            replies_done = max(
                c.time for c in slack.state.calls("chat.postMessage") if c.args.get("thread_ts")
            )
            await bot.idle()

            update_level = slack.state.limits.level("chat.update")
            deploy_at = time.time()
            await review.click(
                bot.store,
                CLOCK,
                bot.projects,
                review.Click(build_id, OWNERS[0], Action.DEPLOY),
            )
            await slack.state.wait_for_async(
                lambda s: all("Deployed to production" in _dm(s, o) for o in OWNERS), within=90
            )
            await bot.idle()
            redraws = [c for c in slack.state.calls("chat.update") if c.time >= deploy_at]
            redrawn = max(c.time for c in redraws)

            dead = await bot.jobs("dead")
            limited = [c for c in slack.state.calls() if c.status == 429]

    # Nothing lost or doubled: one DM each, one reply per verdict under each owner's DM.
    assert {u: len(slack.state.dm_messages(u)) for u in EVERYONE} == dict.fromkeys(EVERYONE, 1)
    assert [replies_of(slack.state, o) for o in OWNERS] == [len(QA)] * len(OWNERS)
    assert all("Approved" in _dm(slack.state, q) for q in QA)
    assert dead == []
    assert len(limited) <= 3, f"{len(limited)} 429s: {[c.method for c in limited]}"
    # About the least time the tiers allow.
    least_replies = max(
        least_seconds(len(QA), level, PER_CHANNEL_POST.per_minute) for level in levels
    )
    least_redraw = least_seconds(len(redraws), update_level, TIER_3.per_minute)
    assert least_replies >= 5, "the replies really met chat.postMessage's channel limit"
    assert replies_done - approvals_at <= least_replies * 1.25 + ALLOWANCE
    assert redrawn - deploy_at <= least_redraw * 1.25 + ALLOWANCE


def _dm(ws: Workspace, user: str) -> str:
    return "\n".join(m.visible_text for m in ws.dm_messages(user))


BIG_QA = tuple(f"U0F18BIG{i:02d}" for i in range(30))
BIG_TEAM = (*BIG_QA, *OWNERS)
NO_QUORUM = Project(
    id="shop",
    name="Shop",
    url="https://shop.example.com",
    channel=CHANNEL,
    qa=frozenset(BIG_QA),
    owners=frozenset(OWNERS),
    namespace="shop",
    policy=Policy(approvals_required=0),
)
# chat.update at Tier 3's arithmetic, ten times as fast (600 a minute, a burst of 5), on the
# fake and in the bot's pacer alike: the test is about which redraws are sent, not Slack's pace.
QUICK_UPDATE = 600, 5


async def test_F18_a_redraw_overtaken_by_a_newer_state_leaves_the_rest_to_the_newer_one(
    sqlite_url: str,
) -> None:
    with workspace(BIG_TEAM) as slack:
        slack.state.limits.set_limit("chat.update", Limit(*QUICK_UPDATE))
        pacer = Pacer(tiers={**TIERS, "chat.update": Tier(*QUICK_UPDATE)})
        async with running_bot(sqlite_url, slack, {NO_QUORUM.id: NO_QUORUM}, pacer=pacer) as bot:
            build_id = await bot.report(NO_QUORUM, "f18-overtaken")
            await slack.state.wait_for_async(
                lambda s: all(len(s.dm_messages(u)) == 1 for u in BIG_TEAM), within=30
            )
            await bot.idle()
            deploy_at = time.time()
            # The click queues a redraw of every DM ("being deployed"); the deploy, instant here,
            # moves the build on before or while it goes out, and queues a redraw of its own.
            await review.click(
                bot.store, CLOCK, bot.projects, review.Click(build_id, OWNERS[0], Action.DEPLOY)
            )
            await slack.state.wait_for_async(
                lambda s: all(_deployed(s, u) for u in BIG_TEAM), within=60
            )
            await bot.idle()
            dms = {slack.state.dm_channel(u) for u in BIG_TEAM}
            redraws = [
                c
                for c in slack.state.calls("chat.update")
                if c.ok and c.time >= deploy_at and c.args.get("channel") in dms
            ]
            dead = await bot.jobs("dead")

    assert all(_deployed(slack.state, u) for u in BIG_TEAM), "every DM ends right"
    assert dead == []
    # Each DM is drawn once in the newer state; of the overtaken redraw, only the sends under
    # way when the build moved on (the job's updates at once, and the burst that went at once).
    assert len(redraws) <= len(BIG_TEAM) + UPDATE_CONCURRENCY + QUICK_UPDATE[1], len(redraws)


def _deployed(ws: Workspace, user: str) -> bool:
    text = _dm(ws, user)
    return "Deployed to production by" in text or "Already deployed to production" in text
