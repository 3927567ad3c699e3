"""The daily prune on the real store (SQLite and PostgreSQL): what goes, and what must stay.

Old deliveries and finished jobs go; pending jobs stay whatever their age. Message slots go
only where nothing can redraw their message (a closed, superseded or stale build), never
the announcement of a project's newest release, and never those of a build still in play;
the audit trail stays whole. Every kind goes in batches, several here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from functools import partial

import pytest
import sqlalchemy as sa

from cibot.adapters.store import migrate
from cibot.adapters.store.database import Database
from cibot.adapters.store.queue import SqlJobQueue
from cibot.adapters.store.sql import SqlStore
from cibot.domain.build import Build, BuildState, BuildType
from cibot.domain.release import Release, ReleaseKind
from cibot.domain.review import Action, Decision
from cibot.entrypoints.worker import JobRunner, WorkerSettings
from cibot.service import retention
from cibot.service.audit import AuditAction
from cibot.service.handlers import Handler
from cibot.service.jobs import JobPayload, PruneRetention, SyncBuildCard
from cibot.service.ports import AuditEvent, Delivery, MessageRef
from tests.support.fakes import FakeClock

OLD = 100  # days ago: past every default retention


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[Database]:
    await migrate.upgrade_async(database_url)
    database = Database(database_url)
    yield database
    await database.dispose()


async def rows(engine: Database, query: str) -> list[tuple[object, ...]]:
    async with engine.begin() as conn:
        return [tuple(r) for r in await conn.execute(sa.text(query))]


def a_build(clock: FakeClock, build_id: str, state: BuildState) -> Build:
    now = clock.now()
    return Build(build_id, "shop", BuildType.BRANCH, build_id, "r.example/a:1", state, now, now)


async def seed_old_rows(engine: Database, clock: FakeClock) -> None:
    """Everything written `OLD` days ago, as the store writes it."""
    store = SqlStore(engine, clock)
    async with store.transaction() as tx:
        for i in range(1200):
            await tx.deliveries.add(Delivery("shop", f"msg_old_{i}", "0" * 64, "b"))
        for state in ("closed", "superseded", "stale", "ready", "promoted"):
            await tx.builds.add(a_build(clock, state, BuildState(state)))
            await tx.messages.save(state, "card", MessageRef("C0SHOP", f"1.{state}"))
        await tx.builds.add(a_build(clock, "released", BuildState.CLOSED))  # promoted, then closed
        for build_id in ("closed", "released"):
            decision = await tx.reviews.add_decision(
                Decision(build_id, Action.DEPLOY, "U0O", clock.now())
            )
            await tx.messages.save(build_id, f"announce:{decision.id}", MessageRef("C0SHOP", "2"))
            await tx.releases.add(
                Release("shop", build_id, "r@sha256:1", "sha256:1", ReleaseKind.PROMOTION,
                        "U0O", clock.now(), decision_id=decision.id)
            )  # fmt: skip
        await tx.messages.save("", "freeze:k1", MessageRef("C0SHOP", "3.1"))
        await tx.audit.append(AuditEvent(clock.now(), AuditAction.BUILD_ACCEPTED, "shop", "closed"))
        for i in range(700):
            await tx.jobs.enqueue(SyncBuildCard(f"done-{i}"))
        await tx.jobs.enqueue(SyncBuildCard("still-pending"))
    async with engine.begin() as conn:
        await conn.execute(
            sa.text("UPDATE jobs SET state = 'done' WHERE payload NOT LIKE '%still-pending%'")
        )


async def test_the_daily_prune_deletes_old_rows_that_nothing_needs_and_keeps_the_rest(
    engine: Database,
) -> None:
    clock = FakeClock()
    clock.advance(-OLD * 86400)
    await seed_old_rows(engine, clock)
    clock.advance(OLD * 86400)
    store = SqlStore(engine, clock)
    async with store.transaction() as tx:
        await tx.deliveries.add(Delivery("shop", "msg_new", "0" * 64, "b"))
        await tx.builds.add(a_build(clock, "recent", BuildState.CLOSED))
        await tx.messages.save("recent", "card", MessageRef("C0SHOP", "4.1"))
    today = retention.day_of(clock.now())

    await retention.prune_retention(
        PruneRetention(today), store=store, clock=clock, retention=retention.Retention()
    )

    assert await rows(engine, "SELECT webhook_id FROM webhook_deliveries") == [("msg_new",)]
    jobs = await rows(engine, "SELECT kind, state FROM jobs ORDER BY id")
    assert jobs == [("sync_build_card", "pending"), ("prune_retention", "pending")]
    kept = await rows(engine, "SELECT build_id, role FROM slack_messages ORDER BY build_id, role")
    assert [(b, str(r).split(":")[0]) for b, r in kept] == [
        ("promoted", "card"),  # may be rolled back to: its card may change again
        ("ready", "card"),  # in review
        ("recent", "card"),  # closed, but not long enough ago
        ("released", "announce"),  # the newest release: the next one redraws it
    ]
    audit = await rows(engine, "SELECT action FROM audit_events ORDER BY id")
    assert audit == [("build.accepted",), ("retention.pruned",)]
    async with store.transaction() as tx:
        (event,) = await tx.audit.events(None, limit=1)
    assert event.detail == {"deliveries": 1200, "finished_jobs": 700, "slack_messages": 5}


async def _nothing(_: object) -> None:
    return None


async def test_the_daily_job_runs_once_a_day_queues_tomorrows_and_null_keeps_rows_for_ever(
    engine: Database,
) -> None:
    clock = FakeClock()
    clock.advance(-OLD * 86400)
    await seed_old_rows(engine, clock)
    clock.advance(OLD * 86400)
    store = SqlStore(engine, clock)
    today = retention.day_of(clock.now())
    forever = retention.Retention(deliveries=None, finished_jobs=None, slack_messages=None)
    prune = partial(retention.prune_retention, store=store, clock=clock, retention=forever)
    handlers: dict[type[JobPayload], Handler] = {PruneRetention: prune, SyncBuildCard: _nothing}
    runner = JobRunner(SqlJobQueue(engine), clock, handlers, WorkerSettings())

    for _replica in range(2):  # each replica's keeper schedules today's, and runs what is due
        await retention.schedule(store, clock)
        await runner.run_until_idle()

    assert len(await rows(engine, "SELECT 1 FROM webhook_deliveries")) == 1200
    daily = await rows(
        engine, "SELECT dedupe_key, state FROM jobs WHERE kind = 'prune_retention' ORDER BY id"
    )
    assert daily == [
        (f"prune_retention:{today}", "done"),
        (f"prune_retention:{today + 1}", "pending"),
    ]
    pruned = "SELECT 1 FROM audit_events WHERE action = 'retention.pruned'"
    assert await rows(engine, pruned) == [], "nothing deleted, nothing recorded"
