"""F15: two replicas on one PostgreSQL: every job runs once, every build is deployed once, and
when one replica is killed (-9) mid-flow the other finishes its work.

Two `cibot serve` processes, both with workers, share a database; builds and clicks are sent
to either. Jobs are claimed with `FOR UPDATE SKIP LOCKED` and leased, so no job is claimed
twice (a job tried more than once has the failure that sent it back recorded, as the runner
does for a Slack call that failed) and each build has one card, one DM per person and a
preview rolled once. Then replica A is killed with jobs in hand; B takes them over once
their leases expire. Without SKIP LOCKED and the lease, both replicas would run the same
jobs (two cards, two DMs, two rollouts); without lease expiry, A's jobs would never run.

Six spread builds, or `CIBOT_SOAK_BUILDS` under scripts/soak, whose census
(tests/support/soak.py) counts the builds sent, 5xx answers, and the cards, DMs, rollouts and
jobs found missing (lost) or twice (doubled). With more builds than the default, the fake
workspace's rate limits are relaxed (the soak is about replicas, F18 proves Slack's tiers), the
lease is longer (a thousand builds on two cores can hold an event loop past a 3 s lease, and a
lease taken over is then counted as a job claimed twice, which is what this test forbids), and
a build is counted lost only once the queue has settled without it: late is not lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import time
from pathlib import Path
from typing import Any

import pytest
from lightkube import AsyncClient

from cibot.fakeslack import FakeSlackServer
from tests.support import soak
from tests.support.flow import (
    cards_of,
    dm_of,
    dms_of,
    offered_to_all,
    press,
    report_build,
    until,
)
from tests.support.proofs import generation_or_none, preview_name
from tests.support.rows import Rows
from tests.support.service import CibotProcess
from tests.support.shop import CHANNEL, EVERYONE, OWNERS, QA, SECRET
from tests.support.trust import IMAGE, base_config

pytestmark = [pytest.mark.kubernetes, pytest.mark.postgres]

BUILDS = soak.budget("CIBOT_SOAK_BUILDS", 6)
SOAKING = BUILDS > 6
LEASE_SECONDS = 15 if SOAKING else 3
SETTLE = 120 + BUILDS * 0.5  # seconds for the queue to drain after the last card awaited
STALL = 120  # seconds without one more build ready before the rest count as lost


async def _while_progressing(slack: FakeSlackServer, waiting: set[str]) -> None:
    """Wait until every build's card says it is ready and everyone is offered its buttons, for
    as long as builds keep getting there: STALL seconds without one more is a stall, and what
    is still waiting then is counted as lost by the caller. Slack's tiers set the pace here,
    not the machine: ci-bot paces each replica's posts to one channel at about one a second
    and its `chat.update`s at 50 a minute (adapters/slack/pacing.py), so a thousand builds in
    one channel take tens of minutes however fast the rest is, and a fixed wait per card would
    count the tail of the queue as lost."""
    progress = time.monotonic()
    while waiting and time.monotonic() - progress < STALL:
        texts = [m.visible_text for m in slack.state.messages(CHANNEL)]
        ready = {b for b in waiting if any(b in t and "is ready" in t for t in texts)}
        done = {b for b in ready if offered_to_all(slack, b, EVERYONE)(slack.state)}
        if done:
            waiting -= done
            progress = time.monotonic()
        await asyncio.sleep(0.2 if len(waiting) < 20 else 2)


async def _each_once(  # noqa: PLR0917 - what it checks, and where
    slack: FakeSlackServer,
    kube: AsyncClient,
    namespace: str,
    builds: dict[str, str],
    census: soak.Census,
    rows: Rows,
) -> None:
    """Each build has one card saying it is ready, one DM per person and one rollout; what
    is missing or there twice is counted before the asserts, once the queue has settled."""
    await _while_progressing(slack, set(builds.values()))
    with contextlib.suppress(AssertionError):  # a queue that never settles fails below
        await rows.idle(within=SETTLE)
    await asyncio.sleep(1.5)
    found: dict[str, Any] = {}
    for target, build_id in builds.items():
        cards = cards_of(slack, CHANNEL, build_id)
        ready = any("is ready" in c.visible_text for c in cards)
        found[target] = (
            census.effect(len(cards) if ready else 0),
            {u: census.effect(len(dms_of(slack, u, build_id))) for u in EVERYONE},
            census.effect(await generation_or_none(kube, namespace, preview_name(target))),
        )
    for target, (cards_seen, dms, rolled) in found.items():
        assert cards_seen == 1, target
        assert dms == dict.fromkeys(EVERYONE, 1), target
        assert rolled == 1, target


async def test_F15_two_replicas_run_every_job_once_and_one_killed_leaves_its_work_to_the_other(  # noqa: PLR0917 - the fixtures it runs against
    postgres_url: str,
    kubeconfig_path: Path,
    tmp_path: Path,
    fake_slack: FakeSlackServer,
    kube: AsyncClient,
    namespace: str,
    census: soak.Census,
) -> None:
    census.suite, census.database = "two replicas (F15)", "postgresql"
    if SOAKING:
        fake_slack.state.limits.relax()
    config = base_config(postgres_url, kubeconfig_path, fake_slack.api_url, namespace)
    config["jobs"]["lease_seconds"] = LEASE_SECONDS
    a = CibotProcess(copy.deepcopy(config), tmp_path)
    a.upgrade_db()
    a.start()
    b = CibotProcess(copy.deepcopy(config), tmp_path).start()
    replicas = (a, b)
    rows = Rows(postgres_url)
    try:
        builds = {}
        for i in range(BUILDS):
            target = f"spread-{i}"
            response = report_build(
                replicas[i % 2].url,
                SECRET,
                project="shop",
                image=IMAGE,
                type="branch",
                target=target,
            )
            census.case()
            assert census.answered(response.status_code) == 202
            builds[target] = response.json()["build_id"]
        await _each_once(fake_slack, kube, namespace, builds, census, rows)
        promoted = builds["spread-0"]
        census.answered(press(a.url, fake_slack, QA[0], "qa_approve", promoted).status_code)
        await until(
            fake_slack, lambda s: all(dm_of(fake_slack, o, promoted).replies for o in OWNERS)
        )
        for replica, owner in ((b, OWNERS[0]), (a, OWNERS[1])):
            clicked = press(replica.url, fake_slack, owner, "deploy_production", promoted)
            census.answered(clicked.status_code)
        await until(fake_slack, lambda s: rows.build(promoted)["state"] == "promoted", within=120)
        await rows.idle(within=SETTLE)

        # Jobs due by now (the lifecycle's timers, due in a day, wait as they should).
        jobs = rows.all(
            "SELECT id, kind, state, attempts, last_error FROM jobs WHERE run_at <= now()"
        )
        census.lost += len([j for j in jobs if j["state"] != "done"])
        # A job tried again after a failure has that failure recorded (a Slack call that timed
        # out on a loaded machine, say); one tried again with none was taken from a worker
        # that was still running it: the double claim this test forbids.
        taken_over = [j for j in jobs if j["attempts"] > 1 and not j["last_error"]]
        census.doubled += sum(j["attempts"] - 1 for j in taken_over)
        assert {j["state"] for j in jobs} == {"done"}
        assert taken_over == [], "a job was claimed twice"
        assert [j for j in jobs if j["attempts"] < 1] == []
        owners = {j["kind"] for j in jobs}
        assert owners >= {
            "deploy_preview",
            "sync_build_card",
            "sync_review_dms",
            "deploy_production",
        }
        assert census.effect(await generation_or_none(kube, namespace, "shop")) == 1
        assert census.effect(len(rows.jobs_of("deploy_production"))) == 1

        # Replica A dies with work in hand, possibly between a message's post and the commit
        # of its ts: replica B then finds that message in Slack by its key, not posting again.
        late = {}
        for i in range(2):
            target = f"late-{i}"
            response = report_build(
                a.url, SECRET, project="shop", image=IMAGE, type="branch", target=target
            )
            census.case()
            assert census.answered(response.status_code) == 202
            late[target] = response.json()["build_id"]
        deadline = time.monotonic() + 60
        while not rows.all("SELECT id FROM jobs WHERE state = 'running'"):
            assert time.monotonic() < deadline, "replica A never took a job"
            await asyncio.sleep(0.05)
        a.kill()

        await _each_once(fake_slack, kube, namespace, late, census, rows)
        await rows.idle(within=120)
        left = rows.all("SELECT kind FROM jobs WHERE state <> 'done' AND run_at <= now()")
        census.lost += len(left)
        assert left == []
    finally:
        for replica in replicas:
            replica.stop()
        rows.dispose()
