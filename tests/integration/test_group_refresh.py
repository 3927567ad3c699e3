"""The chain of group refreshes survives its jobs dying: real job runner, real store.

On SQLite and PostgreSQL. A refresh job that fails past its attempts is marked dead by the
runner, but it queued its successor first; and when a chain is broken anyway, the keeper
every replica runs schedules the current period's refresh again.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from functools import partial

import pytest
import sqlalchemy as sa

from cibot.adapters.retry import RetryPolicy
from cibot.adapters.store import migrate
from cibot.adapters.store.database import Database
from cibot.adapters.store.queue import SqlJobQueue
from cibot.adapters.store.sql import SqlStore
from cibot.entrypoints.periodic import Keeper
from cibot.entrypoints.worker import JobRunner, WorkerSettings
from cibot.service import groups
from cibot.service.jobs import RefreshGroups
from tests.support.fakes import FakeChat, FakeClock
from tests.support.usecases import PROJECT

PERIOD = 300
PROJECTS = {PROJECT.id: replace(PROJECT, qa=frozenset({"S0QA"}))}


class Broken(FakeChat):
    async def group_members(self, group_id: str) -> frozenset[str]:
        raise RuntimeError("an answer nobody expected")


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[Database]:
    await migrate.upgrade_async(database_url)
    database = Database(database_url)
    yield database
    await database.dispose()


async def refresh_jobs(engine: Database) -> dict[str, str]:
    """dedupe key -> state of every refresh job."""
    async with engine.begin() as conn:
        rows = await conn.execute(
            sa.text("SELECT dedupe_key, state FROM jobs WHERE kind = 'refresh_groups'")
        )
        return {str(r.dedupe_key): str(r.state) for r in rows}


def runner(engine: Database, store: SqlStore, clock: FakeClock, chat: FakeChat) -> JobRunner:
    handler = partial(
        groups.refresh_groups, store=store, chat=chat, clock=clock, projects=PROJECTS, period=PERIOD
    )
    settings = WorkerSettings(workers=1, max_attempts=1, backoff=RetryPolicy(1, 0, 0))
    return JobRunner(SqlJobQueue(engine), clock, {RefreshGroups: handler}, settings)


async def test_a_refresh_job_that_dies_leaves_its_successor_and_the_keeper_mends_a_broken_chain(
    engine: Database,
) -> None:
    clock = FakeClock()
    store = SqlStore(engine, clock)
    slot = int(clock.now().timestamp() // PERIOD)
    await groups.schedule(store, clock, PROJECTS, PERIOD)

    await runner(engine, store, clock, Broken()).run_until_idle()

    assert await refresh_jobs(engine) == {
        f"refresh_groups:{slot}": "dead",
        f"refresh_groups:{slot + 1}": "pending",
    }

    # The chain broken anyway: the successor is gone too, and three periods pass.
    async with engine.begin() as conn:
        await conn.execute(sa.text("UPDATE jobs SET state = 'dead' WHERE state = 'pending'"))
    clock.advance(3 * PERIOD)
    keeper = Keeper(
        [("refresh_groups", 0.01, partial(groups.schedule, store, clock, PROJECTS, PERIOD))]
    )
    keeper.start()
    await asyncio.sleep(0.2)
    await keeper.stop()

    assert (await refresh_jobs(engine))[f"refresh_groups:{slot + 3}"] == "pending"
    await runner(
        engine, store, clock, FakeChat(groups={"S0QA": frozenset({"U0ANN"})})
    ).run_until_idle()
    async with store.transaction() as tx:
        snapshot = (await tx.groups.snapshots(["S0QA"]))["S0QA"]
    assert snapshot.members == {"U0ANN"}
    assert clock.now() - snapshot.read_at < timedelta(seconds=1)
    assert (await refresh_jobs(engine))[f"refresh_groups:{slot + 4}"] == "pending"
