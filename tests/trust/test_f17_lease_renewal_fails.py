"""F17: a lease renewal fails (a database blip): the work is fenced, no job runs twice, and a
production decision is settled once, with one release.

Two job runners ("replicas") share one real database (SQLite and PostgreSQL). The first
one's lease renewals fail, once or for good, as when its connection to the database breaks.
Its handler must not run on without a lease: a renewal that fails is tried again while the
lease still holds, and when it cannot be renewed in time the work is cancelled before the
lease runs out, so the other replica, which takes the job over once it expires, never runs
it at the same time. Should two runs of one production deploy overlap all the same, the
decision is settled by a compare-and-set: one outcome, one release, one announcement.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

import pytest
import sqlalchemy as sa

from cibot.adapters.clock import SystemClock
from cibot.adapters.store import migrate
from cibot.adapters.store import tables as t
from cibot.adapters.store.database import Database
from cibot.adapters.store.queue import SqlJobQueue
from cibot.adapters.store.sql import SqlStore
from cibot.domain.build import BuildState
from cibot.entrypoints.worker import JobRunner, WorkerSettings
from cibot.service import production
from cibot.service.audit import AuditAction
from cibot.service.jobs import AnnounceDecision, Job, SyncBuildCard
from tests.support.fakes import FakeClock, FakeCluster
from tests.support.usecases import PROJECTS, promoting

LEASE = 1.5  # seconds; renewals every LEASE / 3


class BlippingQueue(SqlJobQueue):
    """The real queue, whose next `failures` lease renewals fail as a broken connection does.

    With no end to the failures, the replica is cut from the database for good: once a
    renewal has failed, its claims fail too.
    """

    def __init__(self, database: Database, failures: float) -> None:
        super().__init__(database)
        self.failures = failures
        self.failed = 0

    async def claim(self, owner: str, now: datetime, lease_seconds: float) -> Job | None:
        if self.failed and self.failures == float("inf"):
            raise ConnectionResetError("connection reset by peer")
        return await super().claim(owner, now, lease_seconds)

    async def extend(self, job: Job, now: datetime, lease_seconds: float) -> Job | None:
        if self.failures > 0:
            self.failures -= 1
            self.failed += 1
            raise ConnectionResetError("connection reset by peer")
        return await super().extend(job, now, lease_seconds)


@dataclass
class Run:
    replica: str
    started: float
    ended: float | None = None
    finished: bool = False  # ran to its end (not cancelled)


@dataclass
class Runs:
    runs: list[Run] = field(default_factory=list)

    def handler(self, replica: str, seconds: float) -> Callable[[Any], Coroutine[Any, Any, None]]:
        async def work(_: SyncBuildCard) -> None:
            run = Run(replica, time.monotonic())
            self.runs.append(run)
            try:
                await asyncio.sleep(seconds)
                run.finished = True
            finally:
                run.ended = time.monotonic()

        return work

    def overlapping(self) -> list[tuple[str, str]]:
        now = time.monotonic()
        return [
            (a.replica, b.replica)
            for i, a in enumerate(self.runs)
            for b in self.runs[i + 1 :]
            if a.started < (b.ended or now) and b.started < (a.ended or now)
        ]


@pytest.fixture
async def databases(database_url: str) -> AsyncIterator[tuple[Database, Database]]:
    """Two connections to one database, one per replica."""
    await migrate.upgrade_async(database_url)
    first, second = Database(database_url), Database(database_url)
    yield first, second
    await first.dispose()
    await second.dispose()


async def two_replicas_run_one_job(
    databases: tuple[Database, Database], failures: float
) -> tuple[Runs, BlippingQueue, SqlJobQueue]:
    """Replica A claims a job that takes 2.5 leases; its renewals fail `failures` times.
    Replica B starts once A runs it, and polls for work. Returns once the job is done."""
    clock, runs = SystemClock(), Runs()
    queue_a, queue_b = BlippingQueue(databases[0], failures), SqlJobQueue(databases[1])
    async with SqlStore(databases[0], clock).transaction() as tx:
        await tx.jobs.enqueue(SyncBuildCard("b1"))
    settings = WorkerSettings(workers=1, lease_seconds=LEASE, poll_interval_seconds=0.05)
    a = JobRunner(queue_a, clock, {SyncBuildCard: runs.handler("A", 2.5 * LEASE)}, settings)
    b = JobRunner(queue_b, clock, {SyncBuildCard: runs.handler("B", 0.2)}, settings)
    a.start()
    try:
        for _ in range(200):
            if runs.runs:
                break
            await asyncio.sleep(0.01)
        b.start()
        for _ in range(200):  # 10 s: the job takes at most A's run and then B's
            if any(r.finished for r in runs.runs) and all(r.ended for r in runs.runs):
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(LEASE)  # time enough for a second, wrongful run to begin
    finally:
        await a.stop()
        await b.stop()
    return runs, queue_a, queue_b


async def test_F17_a_renewal_that_fails_once_is_tried_again_and_the_job_runs_once(
    databases: tuple[Database, Database],
) -> None:
    runs, queue_a, _ = await two_replicas_run_one_job(databases, failures=1)

    assert queue_a.failed == 1, "the database blip happened"
    assert runs.overlapping() == [], "no job runs twice at the same time"
    assert [(r.replica, r.finished) for r in runs.runs] == [("A", True)]


async def test_F17_a_renewal_that_keeps_failing_cancels_the_work_before_the_lease_runs_out(
    databases: tuple[Database, Database],
) -> None:
    runs, queue_a, queue_b = await two_replicas_run_one_job(databases, failures=float("inf"))

    assert queue_a.failed >= 1
    first = runs.runs[0]
    assert (first.replica, first.finished) == ("A", False), "A's work was cancelled"
    assert first.ended is not None and first.ended - first.started < LEASE, "within its lease"
    assert runs.overlapping() == [], "B took the job over only once A had stopped"
    assert [(r.replica, r.finished) for r in runs.runs] == [("A", False), ("B", True)]
    assert await queue_b.claim("anyone", SystemClock().now(), 30) is None, "done, once"


async def test_F17_two_overlapping_runs_of_one_production_deploy_settle_it_once_with_one_release(
    databases: tuple[Database, Database],
) -> None:
    clock = FakeClock()
    store = SqlStore(databases[0], clock)
    job = await promoting(store, clock)
    both_waiting = asyncio.Barrier(2)

    async def side_by_side() -> None:  # both runs reach the end of the rollout together
        await both_waiting.wait()

    cluster = FakeCluster(before_wait=side_by_side)
    deploy = partial(
        production.deploy_production,
        store=store,
        cluster=cluster,
        clock=clock,
        projects=PROJECTS,
        render=lambda project, build: [{"kind": "Deployment"}],
    )

    await asyncio.wait_for(asyncio.gather(deploy(job), deploy(job)), 30)

    async with store.transaction() as tx:
        decision = await tx.reviews.get_decision(job.decision_id)
        build = await tx.builds.get(job.build_id)
        releases = await tx.releases.of_project("shop")
        audit = await tx.audit.events("shop")
    assert decision is not None and decision.outcome == "deployed"
    assert build is not None and build.state is BuildState.PROMOTED
    assert len(releases) == 1, "one release, so Roll back goes where it should"
    assert [e.action for e in audit].count(AuditAction.PRODUCTION_DEPLOYED) == 1
    assert len(await jobs_of(store, AnnounceDecision.kind)) == 1


async def jobs_of(store: SqlStore, kind: str) -> list[str]:
    async with store.database.begin() as conn:
        rows = await conn.execute(sa.select(t.jobs.c.payload).where(t.jobs.c.kind == kind))
        return [r.payload for r in rows]
