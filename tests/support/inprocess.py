"""ci-bot in this process, for rows about Slack: the real store (SQLite), the real job runner,
the real Slack adapter (slack_sdk, pacing) against a fake Slack over HTTP; only Kubernetes is
the in-memory fake at its port, since these rows are not about it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import aiohttp
import sqlalchemy as sa

from cibot.adapters.clock import SystemClock
from cibot.adapters.kubernetes.cluster import KubeCluster
from cibot.adapters.retry import RetryPolicy
from cibot.adapters.slack.chat import SlackChat, web_client
from cibot.adapters.slack.pacing import Pacer
from cibot.adapters.store.database import Database
from cibot.adapters.store.queue import SqlJobQueue
from cibot.adapters.store.sql import SqlStore
from cibot.bootstrap import RENDERERS
from cibot.domain.build import BuildType
from cibot.domain.project import Project
from cibot.entrypoints.worker import JobRunner, WorkerSettings
from cibot.fakeslack import FakeSlackServer
from cibot.service import intake
from cibot.service.handlers import Dependencies, job_handlers
from tests.support.fakes import FakeCluster
from tests.support.stores import migrated_store


@dataclass
class Bot:
    store: SqlStore
    runner: JobRunner
    chat: SlackChat
    projects: Mapping[str, Project]
    database_url: str

    async def report(self, project: Project, target: str) -> str:
        report = intake.BuildReport(
            image=f"registry.example.test/{project.id}/web:1", type=BuildType.BRANCH, target=target
        )
        accepted = await intake.record_build(
            store=self.store,
            clock=SystemClock(),
            project=project,
            report=report,
            webhook_id=f"msg_{target}",
            body_sha256=target,
        )
        return accepted.build_id

    async def idle(self, within: float = 60.0) -> None:
        """Until no job is running or due (timed jobs far in the future do not count)."""
        deadline = time.monotonic() + within
        while True:
            now = datetime.now(UTC)
            live = await self.jobs("running") + await self.jobs("pending")
            if not [j for j in live if j["state"] == "running" or _aware(j["run_at"]) <= now]:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"jobs still busy: {live}")
            await asyncio.sleep(0.1)

    async def jobs(self, state: str) -> list[dict[str, Any]]:
        database = Database(self.database_url)
        try:
            async with database.begin() as conn:
                rows = await conn.execute(
                    sa.text(
                        "SELECT kind, state, attempts, last_error, run_at FROM jobs"
                        " WHERE state = :s"
                    ),
                    {"s": state},
                )
                return [dict(r._mapping) for r in rows]
        finally:
            await database.dispose()


def _aware(value: Any) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@asynccontextmanager
async def running_bot(
    url: str,
    slack: FakeSlackServer,
    projects: Mapping[str, Project],
    workers: int = 4,
    pacer: Pacer | None = None,
) -> AsyncIterator[Bot]:
    clock = SystemClock()
    policy = RetryPolicy(attempts=5, base_seconds=0.2, max_seconds=2.0)
    async with migrated_store(url, clock) as store:
        session = aiohttp.ClientSession()
        client = web_client("xoxb-fake", slack.api_url, policy, session=session)
        chat = SlackChat(client, pacer=pacer or Pacer(), policy=policy)
        cluster = cast(KubeCluster, FakeCluster())  # duck-typed at the Cluster port
        needs = Dependencies(store, cluster, chat, clock, projects, render=RENDERERS)
        handlers = job_handlers(needs)
        settings = WorkerSettings(
            workers=workers,
            lease_seconds=30,
            max_attempts=8,
            backoff=RetryPolicy(8, 0.2, 2.0),
            poll_interval_seconds=0.1,
        )
        runner = JobRunner(SqlJobQueue(store.database), clock, handlers, settings)
        store.on_commit = runner.wake
        runner.start()
        try:
            yield Bot(store, runner, chat, projects, url)
        finally:
            await runner.stop()
            await session.close()
