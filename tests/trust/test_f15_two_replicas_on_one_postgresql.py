"""F15: two replicas on one PostgreSQL: every job runs once, every build is deployed once, and
when one replica is killed (-9) mid-flow the other finishes its work.

Two `cibot serve` processes, both with workers, share a database; builds and clicks are sent
to either. Jobs are claimed with `FOR UPDATE SKIP LOCKED` and leased, so no job is claimed
twice (every job ends with one attempt) and each build has one card, one DM per person and
a preview rolled once. Then replica A is killed with jobs in hand; B takes them over once
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
    card_saying,
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
    try:
        for build_id in builds.values():
            await card_saying(slack, CHANNEL, build_id, "is ready", within=120)
            await until(slack, offered_to_all(slack, build_id, EVERYONE))
    except TimeoutError:
        pass  # the builds not ready are counted as lost below, and fail the asserts
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
        jobs = rows.all("SELECT kind, state, attempts, lease_owner FROM jobs WHERE run_at <= now()")
        census.lost += len([j for j in jobs if j["state"] != "done"])
        census.doubled += sum(j["attempts"] - 1 for j in jobs if j["attempts"] > 1)
        assert {j["state"] for j in jobs} == {"done"}
        assert [j for j in jobs if j["attempts"] != 1] == [], "a job was claimed twice"
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
