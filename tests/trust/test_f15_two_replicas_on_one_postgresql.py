"""F15: two replicas on one PostgreSQL: every job runs once, every build is deployed once, and
when one replica is killed (-9) mid-flow the other finishes its work.

Two `cibot serve` processes, both with workers, share a database; builds and clicks are sent
to either. Jobs are claimed with `FOR UPDATE SKIP LOCKED` and leased, so no job is claimed
twice (every job ends with one attempt) and each build has one card, one DM per person and
a preview rolled once. Then replica A is killed with jobs in hand; B takes them over once
their leases expire. Without SKIP LOCKED and the lease, both replicas would run the same
jobs (two cards, two DMs, two rollouts); without lease expiry, A's jobs would never run.
"""

from __future__ import annotations

import asyncio
import copy
import time
from pathlib import Path

import pytest
from lightkube import AsyncClient

from cibot.fakeslack import FakeSlackServer
from tests.support.proofs import generation, preview_name
from tests.support.rows import Rows
from tests.support.service import CibotProcess
from tests.support.steps import (
    card_saying,
    cards_of,
    dm_of,
    dms_of,
    offered_to_all,
    post,
    press,
    until,
)
from tests.trust.conftest import CHANNEL, EVERYONE, IMAGE, OWNERS, QA, SECRET, base_config

pytestmark = [pytest.mark.kubernetes, pytest.mark.postgres]

BUILDS = 6


async def _each_once(
    slack: FakeSlackServer, kube: AsyncClient, namespace: str, builds: dict[str, str]
) -> None:
    for build_id in builds.values():
        await card_saying(slack, CHANNEL, build_id, "is ready", within=120)
        await until(slack, offered_to_all(slack, build_id, EVERYONE))
    await asyncio.sleep(1.5)
    for target, build_id in builds.items():
        assert len(cards_of(slack, CHANNEL, build_id)) == 1, target
        assert {u: len(dms_of(slack, u, build_id)) for u in EVERYONE} == dict.fromkeys(EVERYONE, 1)
        assert await generation(kube, namespace, preview_name(target)) == 1, target


async def test_F15_two_replicas_run_every_job_once_and_one_killed_leaves_its_work_to_the_other(  # noqa: PLR0917 - the fixtures it runs against
    postgres_url: str,
    kubeconfig_path: Path,
    tmp_path: Path,
    fake_slack: FakeSlackServer,
    kube: AsyncClient,
    namespace: str,
) -> None:
    config = base_config(postgres_url, kubeconfig_path, fake_slack.api_url, namespace)
    config["jobs"]["lease_seconds"] = 3
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
            response = post(
                replicas[i % 2].url,
                SECRET,
                project="shop",
                image=IMAGE,
                type="branch",
                target=target,
            )
            assert response.status_code == 202
            builds[target] = response.json()["build_id"]
        await _each_once(fake_slack, kube, namespace, builds)
        promoted = builds["spread-0"]
        press(a.url, fake_slack, QA[0], "qa_approve", promoted)
        await until(
            fake_slack, lambda s: all(dm_of(fake_slack, o, promoted).replies for o in OWNERS)
        )
        press(b.url, fake_slack, OWNERS[0], "deploy_production", promoted)
        press(a.url, fake_slack, OWNERS[1], "deploy_production", promoted)
        await until(fake_slack, lambda s: rows.build(promoted)["state"] == "promoted", within=120)
        await rows.idle(within=120)

        # Jobs due by now (the lifecycle's timers, due in a day, wait as they should).
        jobs = rows.all("SELECT kind, state, attempts, lease_owner FROM jobs WHERE run_at <= now()")
        assert {j["state"] for j in jobs} == {"done"}
        assert [j for j in jobs if j["attempts"] != 1] == [], "a job was claimed twice"
        owners = {j["kind"] for j in jobs}
        assert owners >= {
            "deploy_preview",
            "sync_build_card",
            "sync_review_dms",
            "deploy_production",
        }
        assert await generation(kube, namespace, "shop") == 1
        assert len(rows.jobs_of("deploy_production")) == 1

        # Replica A dies with work in hand, possibly between a message's post and the commit
        # of its ts: replica B then finds that message in Slack by its key, not posting again.
        late = {}
        for i in range(2):
            target = f"late-{i}"
            response = post(
                a.url, SECRET, project="shop", image=IMAGE, type="branch", target=target
            )
            late[target] = response.json()["build_id"]
        deadline = time.monotonic() + 60
        while not rows.all("SELECT id FROM jobs WHERE state = 'running'"):
            assert time.monotonic() < deadline, "replica A never took a job"
            await asyncio.sleep(0.05)
        a.kill()

        await _each_once(fake_slack, kube, namespace, late)
        await rows.idle(within=120)
        assert rows.all("SELECT kind FROM jobs WHERE state <> 'done' AND run_at <= now()") == []
    finally:
        for replica in replicas:
            replica.stop()
        rows.dispose()
