"""F16: Kubernetes down for longer than a job's attempts: no job gives up before its
deadline; a dead job's build is settled (failed, with the reason) and its slot freed;
nothing stays "in progress" for ever.

The real process: `cibot serve` reaches the shared API server through a TCP proxy that is
cut for longer than a job's attempts (few attempts and short backoffs, by config), then
restored. The preview deployed meanwhile resumes, and a production deploy clicked during the
outage goes out once the API is back, leaving the project deployable. Before, both jobs died
after their attempts: the preview stayed "deploying … retrying" and the production slot stayed
taken, so every later deploy was refused "in progress".

In process, on SQLite and PostgreSQL, with the real job runner and queue: the deadline rule
over many attempts (a moved clock), a deploy job that dies all the same (a bug, not an
outage) settling its build and slot at once, and the reconciler settling what dead jobs left
held when that settle did not happen (a process that died in between, an older version).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from lightkube import AsyncClient
from lightkube.resources.apps_v1 import Deployment

from cibot.adapters.retry import RetryPolicy
from cibot.adapters.store import migrate
from cibot.adapters.store import tables as t
from cibot.adapters.store.database import Database
from cibot.adapters.store.queue import SqlJobQueue
from cibot.adapters.store.sql import SqlStore
from cibot.domain.build import Build, BuildState
from cibot.entrypoints.worker import JobRunner, WorkerSettings
from cibot.fakeslack import FakeSlackServer
from cibot.service import preview, production, reconcile, rollouts
from cibot.service.errors import ClusterUnavailable
from cibot.service.handlers import Handler
from cibot.service.jobs import (
    PAYLOAD_TYPES,
    AnnounceDecision,
    DeployPreview,
    DeployProduction,
    JobPayload,
    JobState,
    SyncBuildCard,
    SyncReviewDMs,
)
from tests.support.fakes import FakeClock, FakeCluster
from tests.support.flow import card_saying, offered, press, ready_build, until
from tests.support.flow import report_build as signed
from tests.support.rows import Rows
from tests.support.service import CibotProcess
from tests.support.shop import CHANNEL, EVERYONE, OWNERS, SECRET
from tests.support.tcpproxy import TcpProxy, api_server_address
from tests.support.trust import IMAGE
from tests.support.usecases import PROJECT, PROJECTS, promoting, record, report


@pytest.mark.kubernetes
async def test_F16_past_its_attempts_a_preview_resumes_and_a_production_deploy_goes_out_once_the_api_returns(  # noqa: E501, PLR0917 - a sentence; the fixtures it runs against
    sqlite_config: dict[str, Any],
    tmp_path: Path,
    kubeconfig_path: Path,
    fake_slack: FakeSlackServer,
    kube: AsyncClient,
    namespace: str,
) -> None:
    sqlite_config["projects"][0]["policy"] = {"approvals_required": 0}
    # Two attempts a job, a second apart at most: without deadlines, dead within seconds.
    sqlite_config["jobs"].update(max_attempts=2, backoff_base_seconds=0.5, backoff_max_seconds=1)
    with TcpProxy(*api_server_address(kubeconfig_path)) as proxy:
        sqlite_config["kubernetes"]["kubeconfig"] = str(
            proxy.kubeconfig(kubeconfig_path, tmp_path / "via-proxy.yaml")
        )
        process = CibotProcess(sqlite_config, tmp_path)
        process.upgrade_db()
        process.start()
        rows = Rows(sqlite_config["database"]["url"])
        try:
            first = await ready_build(
                process.url, fake_slack, EVERYONE,
                project="shop", image=IMAGE, type="branch", target="main",
            )  # fmt: skip
            proxy.cut()
            press(process.url, fake_slack, OWNERS[0], "deploy_production", first)
            response = post(process.url, "registry.example.test/shop/web:2.0", "feature-x")
            second: str = response.json()["build_id"]
            await card_saying(fake_slack, CHANNEL, second, "retrying", within=30)

            await until_attempts_spent(rows, within=30)
            assert not rows.all("SELECT id FROM jobs WHERE state = 'dead'"), "nobody gave up"
            assert rows.build(first)["state"] == "promoting"
            proxy.restore()

            await until(fake_slack, lambda s: any(
                "was deployed to production by" in m.visible_text for m in s.messages(CHANNEL)
            ), within=60)  # fmt: skip
            await until(fake_slack, offered_to_owners(fake_slack, second), within=60)
            assert rows.build(second)["state"] == "ready"
            press(process.url, fake_slack, OWNERS[0], "deploy_production", second)
            await until(fake_slack, lambda s: sum(
                "was deployed to production by" in m.visible_text for m in s.messages(CHANNEL)
            ) == 2, within=60)  # fmt: skip
            production_now = await kube.get(Deployment, "shop", namespace=namespace)
            assert production_now.metadata is not None
            assert production_now.metadata.generation == 2, "both deploys went out, once each"
            assert rows.all("SELECT build_id FROM production_slots") == [{"build_id": None}]
        finally:
            process.stop()
            rows.dispose()


def post(url: str, image: str, target: str) -> Any:
    response = signed(url, SECRET, project="shop", image=image, type="branch", target=target)
    assert response.status_code == 202, response.text
    return response


def offered_to_owners(slack: FakeSlackServer, build_id: str) -> Any:
    return lambda _: all(offered(slack, o, build_id) for o in OWNERS)


async def until_attempts_spent(rows: Rows, within: float) -> None:
    """Until both deploy jobs have been tried more often than `jobs.max_attempts` allows."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        attempts = [
            r["attempts"]
            for r in rows.all(
                "SELECT attempts FROM jobs WHERE kind IN ('deploy_preview', 'deploy_production')"
                " AND state != 'done'"
            )
        ]
        if len(attempts) == 2 and min(attempts) > 2:
            return
        await asyncio.sleep(0.2)
    raise AssertionError("the deploy jobs were not retried past their attempts")


# -- in process: the real runner and queue on both databases ----------------------------


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    await migrate.upgrade_async(database_url)
    db = Database(database_url)
    yield db
    await db.dispose()


class DownCluster(FakeCluster):
    async def apply(self, manifests: object) -> None:
        raise ClusterUnavailable("Kubernetes API unavailable: connection refused")


class BrokenCluster(FakeCluster):
    """Fails in a way no retry mends (a bug): the job gives up after its attempts."""

    async def apply(self, manifests: object) -> None:
        raise RuntimeError("boom")


async def noop(_: JobPayload) -> None:
    return None


def runner(
    store: SqlStore, clock: FakeClock, cluster: FakeCluster, *, backoff: float = 0.0
) -> JobRunner:
    """The runner as `cibot serve` wires it: 2 attempts, deploys on `cluster`, messages off."""

    def bound(use_case: Any) -> Handler:
        render = lambda project, build: [{"kind": "Deployment"}]  # noqa: E731
        return partial(
            use_case, store=store, cluster=cluster, clock=clock, projects=PROJECTS, render=render
        )

    handlers: dict[type[JobPayload], Handler] = dict.fromkeys(PAYLOAD_TYPES.values(), noop)
    handlers[DeployPreview] = bound(preview.deploy_preview)
    handlers[DeployProduction] = bound(production.deploy_production)
    settings = WorkerSettings(
        workers=1, max_attempts=2, backoff=RetryPolicy(2, backoff, backoff), drain_seconds=0
    )
    on_dead = partial(reconcile.settle_dead, store=store, clock=clock, projects=PROJECTS)
    return JobRunner(SqlJobQueue(store.database), clock, handlers, settings, on_dead=on_dead)


async def jobs(store: SqlStore, kind: str) -> list[dict[str, Any]]:
    async with store.database.begin() as conn:
        rows = await conn.execute(t.jobs.select().where(t.jobs.c.kind == kind))
        return [dict(r._mapping) for r in rows]


async def get_build(store: SqlStore, build_id: str) -> Build:
    async with store.transaction() as tx:
        build = await tx.builds.get(build_id)
    assert build is not None
    return build


async def test_F16_a_deploy_is_retried_past_its_attempts_until_its_deadline_and_fails_there(
    database: Database,
) -> None:
    clock = FakeClock()
    store = SqlStore(database, clock)
    accepted = await record(store, clock, report())
    deadline = rollouts.deadline(PROJECT, clock.now())
    work = runner(store, clock, DownCluster(), backoff=60)

    for _ in range(200):
        await work.run_until_idle()
        [job] = await jobs(store, DeployPreview.kind)
        if job["state"] == JobState.DONE:
            break
        assert job["state"] == JobState.PENDING, f"gave up at {clock.now()}, before {deadline}"
        clock.advance(60)

    assert clock.now() >= deadline
    assert job["state"] == JobState.DONE and job["attempts"] > 2
    build = await get_build(store, accepted.build_id)
    assert build.state is BuildState.FAILED
    assert (
        build.reason
        == "Kubernetes stayed unreachable: Kubernetes API unavailable: connection refused"
    )


async def test_F16_a_production_deploy_whose_job_dies_goes_back_to_review_with_the_reason_and_frees_the_slot(  # noqa: E501 - a sentence
    database: Database,
) -> None:
    clock = FakeClock()
    store = SqlStore(database, clock)
    job = await promoting(store, clock)

    await runner(store, clock, BrokenCluster()).run_until_idle()

    [dead] = await jobs(store, DeployProduction.kind)
    assert dead["state"] == JobState.DEAD
    why = "ci-bot gave up after 2 attempt(s): RuntimeError: boom"
    async with store.transaction() as tx:
        decision = await tx.reviews.get_decision(job.decision_id)
        holder = await tx.production.holder("shop")
    assert decision is not None and (decision.outcome, decision.reason) == ("failed", why)
    assert holder is None, "the slot is free"
    build = await get_build(store, job.build_id)
    assert (build.state, build.reason) == (BuildState.READY, why)
    assert len(await jobs(store, AnnounceDecision.kind)) == 1, "the channel is told"
    assert await jobs(store, SyncReviewDMs.kind), "the owners' DMs are redrawn"
    again = await promoting(store, clock, build_id="b2")
    assert again.decision_id != job.decision_id, "the project is deployable again"


async def test_F16_a_preview_deploy_whose_job_dies_fails_the_build_with_the_reason(
    database: Database,
) -> None:
    clock = FakeClock()
    store = SqlStore(database, clock)
    accepted = await record(store, clock, report())

    await runner(store, clock, BrokenCluster()).run_until_idle()

    build = await get_build(store, accepted.build_id)
    assert build.state is BuildState.FAILED
    assert build.reason == "ci-bot gave up after 2 attempt(s): RuntimeError: boom"
    cards = await jobs(store, SyncBuildCard.kind)
    assert len(cards) >= 2, "the card was redrawn after the failure"


async def test_F16_the_reconciler_settles_what_dead_jobs_left_held_and_leaves_live_ones_alone(
    database: Database,
) -> None:
    clock = FakeClock()
    store = SqlStore(database, clock)
    lost = await record(store, clock, report(target="lost"), webhook_id="msg_lost")
    alive = await record(store, clock, report(target="alive"), webhook_id="msg_alive")
    deploy = await promoting(store, clock)
    async with database.begin() as conn:  # as a process that died before settling leaves them
        j = t.jobs
        dead = sa.or_(
            j.c.kind == DeployProduction.kind,
            sa.and_(j.c.kind == DeployPreview.kind, j.c.payload.contains(lost.build_id)),
        )
        await conn.execute(j.update().where(dead).values(state="dead", last_error="Boom: x"))

    settled = await reconcile.sweep(
        store=store, clock=clock, projects=PROJECTS, ledger=SqlJobQueue(database)
    )

    assert settled == 2
    why = "ci-bot gave up after 0 attempt(s): Boom: x"
    failed = await get_build(store, lost.build_id)
    assert (failed.state, failed.reason) == (BuildState.FAILED, why)
    assert (await get_build(store, alive.build_id)).state is BuildState.ACCEPTED
    back = await get_build(store, deploy.build_id)
    assert (back.state, back.reason) == (BuildState.READY, why)
    async with store.transaction() as tx:
        assert await tx.production.holder("shop") is None
    again = await reconcile.sweep(
        store=store, clock=clock, projects=PROJECTS, ledger=SqlJobQueue(database)
    )
    assert again == 0, "settled once"
