"""Replicas on one PostgreSQL wake each other: a commit that makes jobs due signals every
listening replica (LISTEN/NOTIFY, sent after the commit: test_notify_coalesced.py), whose
sleeping workers then look at once, not at their next poll. The listening connection comes
back when the server drops it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
import sqlalchemy as sa

from cibot.adapters.store import migrate, signals
from cibot.adapters.store import tables as t
from cibot.adapters.store.database import Database
from cibot.adapters.store.queue import SqlJobQueue
from cibot.adapters.store.signals import JobSignals
from cibot.adapters.store.sql import SqlStore
from cibot.entrypoints.worker import JobRunner, WorkerSettings
from cibot.service.jobs import SyncBuildCard
from tests.support.fakes import FakeClock
from tests.support.stores import signalling

pytestmark = pytest.mark.postgres


@pytest.fixture
async def database(postgres_url: str) -> AsyncIterator[Database]:
    url = postgres_url.replace("postgresql://", "postgresql+asyncpg://", 1)
    await migrate.upgrade_async(url)
    db = Database(url)
    yield db
    await db.dispose()


async def listening_replica(
    database: Database, ran: asyncio.Queue[str]
) -> tuple[JobRunner, JobSignals]:
    """A replica's runner (four workers, asleep, polling every 60 s) and its listener."""

    async def handler(job: SyncBuildCard) -> None:
        await ran.put(job.build_id)

    settings = WorkerSettings(workers=4, poll_interval_seconds=60)
    runner = JobRunner(SqlJobQueue(database), FakeClock(), {SyncBuildCard: handler}, settings)
    runner.start()
    listener = JobSignals(database, runner.nudge)
    listener.start()
    await asyncio.sleep(0.5)  # the workers' first claims found nothing; the listener is on
    return runner, listener


async def test_another_replicas_commit_wakes_this_ones_sleeping_workers_at_once(
    database: Database,
) -> None:
    ran = asyncio.Queue[str]()
    runner, listener = await listening_replica(database, ran)
    # The other replica, on an engine of its own: its count of jobs due stays there.
    other = Database(database.sync_engine.url.render_as_string(hide_password=False))
    elsewhere = SqlStore(other, FakeClock())
    try:
        async with signalling(elsewhere):
            async with elsewhere.transaction() as tx:
                for name in ("n1", "n2", "n3"):
                    await tx.jobs.enqueue(SyncBuildCard(name))

            got = {await asyncio.wait_for(ran.get(), 10) for _ in range(3)}  # not at 60 s
        assert got == {"n1", "n2", "n3"}
    finally:
        await listener.stop()
        await runner.stop()
        await other.dispose()


async def enqueue_and_fail(store: SqlStore) -> None:
    async with store.transaction() as tx:
        await tx.jobs.enqueue(SyncBuildCard("never"))
        raise RuntimeError("rolled back")


async def test_a_replica_is_not_woken_by_its_own_signal_but_by_anothers(
    database: Database,
) -> None:
    """Its own commit woke its workers already: its own NOTIFY would be a look for nothing."""
    heard, witnessed = asyncio.Queue[None](), asyncio.Queue[None]()
    store = SqlStore(database, FakeClock())
    other = Database(database.sync_engine.url.render_as_string(hide_password=False))
    elsewhere = SqlStore(other, FakeClock())
    async with signalling(store) as sender, signalling(elsewhere):
        listener = JobSignals(database, lambda: heard.put_nowait(None), sender.server_pid)
        witness = JobSignals(database, lambda: witnessed.put_nowait(None))  # hears them all
        listener.start()
        witness.start()
        try:
            for queue in (heard, witnessed):
                await asyncio.wait_for(queue.get(), 10)  # the look each takes on connecting
            async with store.transaction() as tx:
                await tx.jobs.enqueue(SyncBuildCard("mine"))
            await asyncio.wait_for(witnessed.get(), 10)  # the NOTIFY went out
            await asyncio.sleep(0.5)
            assert heard.empty(), "woken by its own signal"

            async with elsewhere.transaction() as tx:
                await tx.jobs.enqueue(SyncBuildCard("theirs"))
            await asyncio.wait_for(heard.get(), 10)
        finally:
            await listener.stop()
            await witness.stop()
            await other.dispose()


async def test_neither_a_rollback_nor_a_job_due_later_signals(database: Database) -> None:
    heard = asyncio.Queue[None]()
    listener = JobSignals(database, lambda: heard.put_nowait(None))
    listener.start()
    try:
        await asyncio.wait_for(heard.get(), 10)  # the look it has taken on connecting
        clock = FakeClock()
        store = SqlStore(database, clock)
        async with signalling(store):
            with pytest.raises(RuntimeError):
                await enqueue_and_fail(store)
            async with store.transaction() as tx:
                later = clock.now() + timedelta(hours=1)
                await tx.jobs.enqueue(SyncBuildCard("later"), run_at=later)
            await asyncio.sleep(0.5)
            assert heard.empty()

            async with store.transaction() as tx:
                await tx.jobs.enqueue(SyncBuildCard("now"))

            await asyncio.wait_for(heard.get(), 10)
    finally:
        await listener.stop()


async def test_the_listener_comes_back_when_the_server_drops_its_connection(
    database: Database,
) -> None:
    ran = asyncio.Queue[str]()
    runner, listener = await listening_replica(database, ran)
    try:
        async with database.begin() as conn:
            killed = await conn.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND query LIKE :listen"
                ),
                {"listen": f'LISTEN "{signals.CHANNEL}"%'},
            )
            assert killed.all() == [(True,)]
        await asyncio.sleep(signals.RETRY_SECONDS + 1)  # it notices, waits, reconnects

        store = SqlStore(database, FakeClock())
        async with signalling(store):
            async with store.transaction() as tx:
                await tx.jobs.enqueue(SyncBuildCard("after"))

            assert await asyncio.wait_for(ran.get(), 10) == "after"
    finally:
        await listener.stop()
        await runner.stop()


async def test_a_dead_job_revived_from_the_cli_signals_the_replicas(database: Database) -> None:
    """`cibot jobs retry` runs in a process of its own: its revive is signalled too."""
    clock = FakeClock()
    async with SqlStore(database, clock).transaction() as tx:
        await tx.jobs.enqueue(SyncBuildCard("dead"))
    async with database.begin() as conn:
        await conn.execute(t.jobs.update().values(state="dead"))
    [dead] = await SqlJobQueue(database).unfinished([SyncBuildCard.kind])
    heard = asyncio.Queue[None]()
    listener = JobSignals(database, lambda: heard.put_nowait(None))
    listener.start()
    try:
        await asyncio.wait_for(heard.get(), 10)  # the look it has taken on connecting

        assert await SqlJobQueue(database).revive(dead.id, clock.now()) is not None

        await asyncio.wait_for(heard.get(), 10)
    finally:
        await listener.stop()
