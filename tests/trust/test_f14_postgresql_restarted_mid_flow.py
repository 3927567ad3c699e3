"""F14: PostgreSQL restarted mid-flow: the service reconnects and resumes; nothing is lost.

A private PostgreSQL (tests/support/privatepg.py; the shared one is never restarted) is
stopped while a build is being deployed and reviewed, and started again. While it is down CI
gets 503 + `Retry-After` (never a 2xx without a row); afterwards every build accepted before,
during (retried) and after the restart is deployed once and the click made before the
restart counts. Without pool pre-ping and the error translation, the first statements after
the restart would be 500s; without durable jobs the deploy in flight would be lost.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from lightkube import AsyncClient

from cibot.entrypoints.worker import JobRunner, WorkerSettings
from cibot.fakeslack import FakeSlackServer
from cibot.service.errors import StoreUnavailable
from cibot.service.jobs import Job, NotifyUser
from tests.support.ci import body_of, post_build
from tests.support.fakes import FakeClock
from tests.support.flow import (
    card_saying,
    cards_of,
    dm_of,
    offered_to_all,
    press,
    ready_build,
    until,
)
from tests.support.privatepg import PrivatePostgres
from tests.support.proofs import generation, preview_name
from tests.support.rows import Rows
from tests.support.service import CibotProcess
from tests.support.shop import CHANNEL, EVERYONE, OWNERS, QA, SECRET
from tests.support.trust import IMAGE, base_config


@pytest.fixture
def private_pg() -> Iterator[PrivatePostgres]:
    with PrivatePostgres() as pg:
        yield pg


@pytest.mark.kubernetes
@pytest.mark.postgres
async def test_F14_a_postgresql_restart_mid_flow_loses_nothing_and_the_service_resumes(  # noqa: PLR0917 - the fixtures it runs against
    private_pg: PrivatePostgres,
    kubeconfig_path: Path,
    fake_slack: FakeSlackServer,
    kube: AsyncClient,
    namespace: str,
    tmp_path: Path,
) -> None:
    config: dict[str, Any] = base_config(
        private_pg.url, kubeconfig_path, fake_slack.api_url, namespace
    )
    config["jobs"]["lease_seconds"] = 3
    process = CibotProcess(config, tmp_path)
    process.upgrade_db()
    process.start()
    rows = Rows(private_pg.url)
    try:
        first = await ready_build(
            process.url, fake_slack, EVERYONE,
            project="shop", image=IMAGE, type="branch", target="before",
        )  # fmt: skip
        press(process.url, fake_slack, QA[0], "qa_approve", first)
        second = post_build(
            process.url,
            SECRET,
            body_of(project="shop", image=IMAGE, type="branch", target="during"),
        )
        assert second.status_code == 202

        private_pg.stop()
        down = post_build(
            process.url,
            SECRET,
            body_of(project="shop", image=IMAGE, type="branch", target="down"),
            webhook_id="msg_f14_down",
        )
        assert down.status_code == 503, down.text
        assert down.headers["Retry-After"].isdigit()
        await asyncio.sleep(2)  # the workers meet the outage too
        private_pg.start_again()

        retried = post_build(
            process.url,
            SECRET,
            body_of(project="shop", image=IMAGE, type="branch", target="down"),
            webhook_id="msg_f14_down",
        )
        assert retried.status_code == 202, retried.text
        after = post_build(
            process.url, SECRET, body_of(project="shop", image=IMAGE, type="branch", target="after")
        )
        assert after.status_code == 202

        ids = {
            "during": second.json()["build_id"],
            "down": retried.json()["build_id"],
            "after": after.json()["build_id"],
        }
        for build_id in ids.values():
            await card_saying(fake_slack, CHANNEL, build_id, "is ready", within=120)
            await until(fake_slack, offered_to_all(fake_slack, build_id, EVERYONE), within=60)
        await until(
            fake_slack,
            lambda s: all(dm_of(fake_slack, o, first).replies for o in OWNERS),
            within=60,
        )
        await rows.idle(within=120)
        assert rows.counts()["builds"] == 4
        assert [v["user_id"] for v in rows.all("SELECT user_id FROM verdicts")] == [QA[0]]
        for target, build_id in {**ids, "before": first}.items():
            assert len(cards_of(fake_slack, CHANNEL, build_id)) == 1, target
            assert await generation(kube, namespace, preview_name(target)) == 1
        dead = rows.all("SELECT kind, last_error FROM jobs WHERE state = 'dead'")
        assert dead == [], dead
    finally:
        process.stop()
        rows.dispose()


class _FlakyQueue:
    """A job queue (the JobQueue port, in memory) whose database goes away for one write."""

    def __init__(self, payloads: list[NotifyUser]) -> None:
        self._pending = [
            Job(i + 1, p, 1, "w", datetime(2026, 12, 1, tzinfo=UTC)) for i, p in enumerate(payloads)
        ]
        self.completed: list[int] = []
        self.outage = 1  # the next `complete` fails, as during a restart of the server

    async def claim(self, owner: str, now: datetime, lease_seconds: float) -> Job | None:
        return self._pending.pop(0) if self._pending else None

    async def extend(self, job: Job, now: datetime, lease_seconds: float) -> Job | None:
        return job

    async def complete(self, job: Job) -> bool:
        if self.outage:
            self.outage -= 1
            raise StoreUnavailable("database unavailable: ConnectionDoesNotExistError")
        self.completed.append(job.id)
        return True

    async def retry(self, job: Job, run_at: datetime, error: str) -> bool:
        return True

    async def give_up(self, job: Job, error: str) -> bool:
        return True


async def test_F14_a_worker_survives_the_database_failing_while_it_settles_a_job() -> None:
    """A job's `complete` during the outage used to end the worker's loop for good (the
    process kept serving HTTP with fewer, then no, workers). Its job is now left to its
    lease (retried later, jobs are idempotent) and the worker goes on."""
    done: list[str] = []

    async def handler(job: NotifyUser) -> None:
        done.append(job.text)

    queue = _FlakyQueue([NotifyUser("C1", "U1", "first"), NotifyUser("C1", "U1", "second")])
    settings = WorkerSettings(workers=1, lease_seconds=30, poll_interval_seconds=0.01)
    runner = JobRunner(queue, FakeClock(), {NotifyUser: handler}, settings)

    runner.start()
    for _ in range(500):
        if queue.completed:
            break
        await asyncio.sleep(0.01)
    await runner.stop()

    assert done == ["first", "second"]
    assert queue.completed == [2]
