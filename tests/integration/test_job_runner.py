"""The real job runner on the real queue (SQLite and PostgreSQL), with fakes at the other
ports: what it guarantees beyond one job at a time."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from functools import partial
from typing import Any

import pytest
import sqlalchemy as sa
import structlog

from cibot.adapters.retry import RetryPolicy
from cibot.adapters.store import migrate
from cibot.adapters.store import tables as t
from cibot.adapters.store.database import Database
from cibot.adapters.store.queue import SqlJobQueue
from cibot.adapters.store.sql import SqlStore
from cibot.entrypoints import logs
from cibot.entrypoints.worker import JobRunner, WorkerSettings
from cibot.service import messages, production
from cibot.service.errors import ClusterUnavailable
from cibot.service.handlers import Handler
from cibot.service.jobs import (
    PAYLOAD_TYPES,
    AnnounceDecision,
    DeployPreview,
    JobPayload,
    SyncBuildCard,
    decode,
)
from cibot.service.ports import MessageRef
from tests.support.fakes import FakeChat, FakeClock, FakeCluster
from tests.support.usecases import PROJECTS, promoting, record, report


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    await migrate.upgrade_async(database_url)
    db = Database(database_url)
    yield db
    await db.dispose()


async def noop(_: JobPayload) -> None:
    return None


class SlowChat(FakeChat):
    """Slack takes a moment to answer a post: long enough for a second run to begin."""

    async def post(self, channel: str, view: object, key: str | None = None) -> MessageRef:
        await asyncio.sleep(0.3)
        return await super().post(channel, view, key)


async def test_an_announcement_is_posted_once_when_two_runs_of_it_race(database: Database) -> None:
    clock = FakeClock()
    store = SqlStore(database, clock)
    job = await promoting(store, clock)
    await production.deploy_production(
        job, store=store, cluster=FakeCluster(), clock=clock, projects=PROJECTS,
        render=lambda project, build: [{"kind": "Deployment"}],
    )  # fmt: skip
    async with database.begin() as conn:
        kind = AnnounceDecision.kind
        [row] = (await conn.execute(t.jobs.select().where(t.jobs.c.kind == kind))).all()
    async with store.transaction() as tx:  # e.g. its redraw, queued while it is being posted
        await tx.jobs.enqueue(decode(row.kind, row.payload))
    chat = SlowChat()
    handlers: dict[type[JobPayload], Handler] = dict.fromkeys(PAYLOAD_TYPES.values(), noop)
    handlers[AnnounceDecision] = partial(
        messages.announce_decision, store=store, clock=clock, chat=chat, projects=PROJECTS
    )
    runner = JobRunner(
        SqlJobQueue(database), clock, handlers, WorkerSettings(workers=2, drain_seconds=5)
    )

    runner.start()
    try:
        for _ in range(100):
            async with database.begin() as conn:
                unfinished = await conn.execute(
                    sa.select(sa.func.count()).where(t.jobs.c.state.in_(["pending", "running"]))
                )
            if not unfinished.scalar():
                break
            await asyncio.sleep(0.1)
    finally:
        await runner.stop()

    assert len(chat.posts) == 1, "one announcement in the channel"
    assert len(chat.updates) == 1, "the second run redrew it"


async def test_a_drain_lets_the_job_in_flight_finish_and_claims_nothing_more(
    database: Database,
) -> None:
    clock = FakeClock()
    store = SqlStore(database, clock)
    async with store.transaction() as tx:
        await tx.jobs.enqueue(SyncBuildCard("b1"))
    started, finished = asyncio.Event(), []

    async def card(job: SyncBuildCard) -> None:
        started.set()
        await asyncio.sleep(0.3)
        finished.append(job.build_id)

    settings = WorkerSettings(workers=2, drain_seconds=5, poll_interval_seconds=0.05)
    runner = JobRunner(SqlJobQueue(database), clock, {SyncBuildCard: card}, settings)
    store.on_commit = runner.wake
    runner.start()
    await asyncio.wait_for(started.wait(), 10)

    runner.drain()  # SIGTERM
    await asyncio.sleep(0.05)
    async with store.transaction() as tx:
        await tx.jobs.enqueue(SyncBuildCard("b2"))  # another replica's, due now
    await runner.stop()

    assert finished == ["b1"], "the job in flight finished; nothing new was started"
    async with database.begin() as conn:
        rows = (await conn.execute(sa.select(t.jobs.c.state, t.jobs.c.attempts))).all()
    assert sorted((r.state, r.attempts) for r in rows) == [("done", 1), ("pending", 0)]


@pytest.fixture
def json_logs(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """The service's logging (JSON) into a buffer, read back as dicts; pytest's own after."""
    buffer = io.StringIO()
    monkeypatch.setattr(sys, "stderr", buffer)  # where `configure` sends the log
    root = logging.getLogger()
    handlers, level, config = root.handlers[:], root.level, structlog.get_config()
    root.handlers.clear()  # pytest's own: `configure` would close them
    logs.configure("info", "json")
    yield lambda: [json.loads(line) for line in buffer.getvalue().splitlines() if line]
    root.handlers[:], root.level = handlers, level
    structlog.configure(**config)


async def test_every_log_line_of_a_builds_work_names_the_build_and_its_project(
    database: Database, json_logs: Callable[[], list[dict[str, Any]]]
) -> None:
    clock = FakeClock()
    store = SqlStore(database, clock)
    accepted = await record(store, clock, report())
    tries: list[int] = []

    async def deploy(job: DeployPreview) -> None:
        structlog.get_logger("cibot.service.preview").info("applying")
        logging.getLogger("slack_sdk").warning("a library's own line")
        tries.append(1)
        if len(tries) == 1:
            raise ClusterUnavailable("connection refused")  # the runner logs the retry

    handlers: dict[type[JobPayload], Handler] = dict.fromkeys(PAYLOAD_TYPES.values(), noop)
    handlers[DeployPreview] = deploy
    settings = WorkerSettings(workers=1, backoff=RetryPolicy(8, 0, 0), drain_seconds=0)
    runner = JobRunner(SqlJobQueue(database), clock, handlers, settings)

    await runner.run_until_idle()

    lines = json_logs()
    assert len(tries) == 2
    assert {line["event"] for line in lines} >= {"applying", "a library's own line", "job.retry"}
    assert all(
        (line.get("build_id"), line.get("project")) == (accepted.build_id, "shop") for line in lines
    ), lines
