"""Group commit of signed intakes: fewer commits than builds, and nothing given up for it.

The real app served by uvicorn over HTTP, real signed requests, the real store on SQLite and
on PostgreSQL. Commits are counted by a SQLAlchemy event on the engine (`commit`), builds by
reading the tables afterwards. What must hold:
  * N concurrent intakes are N committed builds, each with its jobs, in fewer than N commits
    (else nothing was grouped);
  * a request that fails inside a batch (a webhook id reused for another body) is refused
    alone, and what it wrote is undone with it, while the others of its batch commit;
  * the same webhook id twice, in one batch or across two, is one build and one answer;
  * a commit that fails answers every request of its batch with an error, none with a 202.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import uvicorn
from sqlalchemy import event
from sqlalchemy.exc import OperationalError

from cibot.adapters import webhooks
from cibot.adapters.clock import SystemClock
from cibot.adapters.store import migrate
from cibot.adapters.store.database import Database
from cibot.adapters.store.sql import SqlStore
from cibot.domain.build import Build, BuildState, BuildType
from cibot.entrypoints.web.app import create_app
from cibot.entrypoints.web.metrics import Metrics
from cibot.entrypoints.web.signed import Intake
from cibot.service.errors import StoreUnavailable
from cibot.service.group_commit import GroupCommit
from cibot.service.jobs import SyncBuildCard
from cibot.service.ports import Transaction
from tests.support.usecases import PROJECT

SECRET = "group-commit-secret"
BURST = 40


@dataclass
class Served:
    url: str
    database: Database
    commits: list[int]  # one entry per commit the engine made
    savepoints: list[str]  # one entry per SAVEPOINT statement

    async def scalar(self, sql: str, **params: Any) -> Any:
        async with self.database.begin() as conn:
            return (await conn.execute(sa.text(sql), params)).scalar()


async def _ready() -> bool:
    return True


@pytest.fixture
async def served(database_url: str) -> AsyncIterator[Served]:
    await migrate.upgrade_async(database_url)
    database = Database(database_url)
    store = SqlStore(database, SystemClock())
    intake = Intake(store, SystemClock(), {PROJECT.id: PROJECT}, (SECRET,), 16384)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(create_app(intake, Metrics(), _ready), log_config=None)
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:  # noqa: ASYNC110 - uvicorn offers no event for it
        await asyncio.sleep(0.01)
    commits: list[int] = []

    def counted(_conn: Any) -> None:
        commits.append(1)

    savepoints: list[str] = []

    def statement(_conn: Any, _cursor: Any, sql: str, *_: Any) -> None:
        if sql.startswith("SAVEPOINT"):
            savepoints.append(sql)

    event.listen(database.sync_engine, "commit", counted)
    event.listen(database.sync_engine, "before_cursor_execute", statement)
    try:
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        yield Served(url, database, commits, savepoints)
    finally:
        event.remove(database.sync_engine, "before_cursor_execute", statement)
        event.remove(database.sync_engine, "commit", counted)
        server.should_exit = True
        await serving
        sock.close()
        await database.dispose()


def _signed(target: str, webhook_id: str, image: str = "r.example/shop:1") -> dict[str, Any]:
    body = json.dumps(
        {"project": "shop", "image": image, "type": "branch", "target": target}
    ).encode()
    headers = {
        **webhooks.headers(SECRET, body, msg_id=webhook_id),
        "content-type": "application/json",
    }
    return {"content": body, "headers": headers}


async def _burst(url: str, requests: list[dict[str, Any]]) -> list[httpx.Response]:
    """All at once, each on its own connection."""
    limits = httpx.Limits(max_connections=len(requests))
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:
        return list(await asyncio.gather(*(client.post("/build-complete", **r) for r in requests)))


async def test_concurrent_intakes_are_all_committed_in_fewer_commits_than_builds(
    served: Served,
) -> None:
    requests = [
        _signed(f"burst-{i % 8}", f"msg_burst_{i}", f"r.example/shop:{i}") for i in range(BURST)
    ]
    served.commits.clear()
    served.savepoints.clear()

    answers = await _burst(served.url, requests)

    assert [a.status_code for a in answers] == [202] * BURST
    ids = {a.json()["build_id"] for a in answers}
    assert len(ids) == BURST
    commits = len(served.commits)
    assert await served.scalar("SELECT count(*) FROM builds") == BURST
    assert await served.scalar("SELECT count(*) FROM webhook_deliveries") == BURST
    deploys = "SELECT count(*) FROM jobs WHERE kind = 'deploy_preview'"
    assert await served.scalar(deploys) == BURST  # each build with its jobs
    assert 1 <= commits < BURST, f"{commits} commits for {BURST} builds: nothing was grouped"
    assert served.savepoints == [], "with nothing failing, a batch runs without savepoints"


async def test_a_request_alone_is_its_own_transaction_without_a_savepoint(
    served: Served,
) -> None:
    (answer,) = await _burst(served.url, [_signed("alone", "msg_alone")])
    (again,) = await _burst(served.url, [_signed("alone", "msg_alone", "r.example/shop:2")])

    assert answer.status_code == 202 and again.status_code == 422
    assert await served.scalar("SELECT count(*) FROM builds") == 1
    assert served.savepoints == []


async def test_a_request_refused_inside_a_batch_does_not_sink_the_others(served: Served) -> None:
    first = await _burst(served.url, [_signed("reused", "msg_reused")])
    assert first[0].status_code == 202
    good = [_signed(f"good-{i}", f"msg_good_{i}") for i in range(BURST)]
    bad = [_signed("reused", "msg_reused", f"r.example/shop:other-{i}") for i in range(4)]
    served.commits.clear()

    answers = await _burst(served.url, good[:20] + bad + good[20:])

    codes = [a.status_code for a in answers]
    assert codes == [202] * 20 + [422] * 4 + [202] * 20
    assert all(a.json()["field"] == "webhook-id" for a in answers[20:24])
    assert await served.scalar("SELECT count(*) FROM builds") == 1 + BURST
    assert len(served.commits) < BURST
    assert served.savepoints, "the batch with a failing request was run again in savepoints"


async def test_the_same_webhook_id_in_one_batch_or_two_is_one_build(served: Served) -> None:
    twice = [_signed("twice", "msg_twice")] * 6
    spread = [_signed(f"other-{i}", f"msg_other_{i}") for i in range(BURST)]

    answers = await _burst(served.url, spread[:20] + twice + spread[20:])
    again = await _burst(served.url, [_signed("twice", "msg_twice")] * 3)

    replayed = {a.json()["build_id"] for a in answers[20:26] + again}
    assert [a.status_code for a in answers + again] == [202] * (BURST + 9)
    assert len(replayed) == 1
    twice_rows = "SELECT count(*) FROM builds WHERE target = 'twice'"
    assert await served.scalar(twice_rows) == 1
    assert await served.scalar("SELECT count(*) FROM builds") == 1 + BURST


async def test_a_failed_commit_answers_every_request_of_its_batch_with_an_error(
    served: Served,
) -> None:
    def refuse(_conn: Any) -> None:
        raise OperationalError("COMMIT", {}, Exception("disk I/O error"))

    event.listen(served.database.sync_engine, "commit", refuse)
    try:
        answers = await _burst(
            served.url, [_signed(f"lost-{i}", f"msg_lost_{i}") for i in range(BURST)]
        )
    finally:
        event.remove(served.database.sync_engine, "commit", refuse)

    assert {a.status_code for a in answers} == {503}
    assert await served.scalar("SELECT count(*) FROM builds") == 0
    assert await served.scalar("SELECT count(*) FROM webhook_deliveries") == 0


def _build(build_id: str) -> Build:
    now = datetime.now(UTC)
    return Build(
        build_id, "shop", BuildType.BRANCH, build_id, "r.example/shop:1",
        BuildState.ACCEPTED, now, now,
    )  # fmt: skip


async def test_a_unit_that_fails_after_writing_is_undone_alone(database_url: str) -> None:
    """The savepoint, on the store itself: what a failing unit wrote (a row, and the job and
    audit rows buffered for the end of the transaction) is gone; its neighbours' is not."""
    await migrate.upgrade_async(database_url)
    database = Database(database_url)
    commits: list[int] = []
    event.listen(database.sync_engine, "commit", lambda _conn: commits.append(1))
    group = GroupCommit(SqlStore(database, SystemClock()))

    async def unit(tx: Transaction, build_id: str, fail: bool) -> str:
        await tx.builds.add(_build(build_id))
        await tx.jobs.enqueue(SyncBuildCard(build_id))
        if fail:
            raise StoreUnavailable("this unit's own failure")
        return build_id

    try:
        results = await asyncio.gather(
            *(group.run(partial(unit, build_id=f"u{i}", fail=i % 3 == 1)) for i in range(9)),
            return_exceptions=True,
        )
        committed = len(commits)
        async with database.begin() as conn:
            builds = (await conn.execute(sa.text("SELECT id FROM builds ORDER BY id"))).scalars()
            jobs = (await conn.execute(sa.text("SELECT count(*) FROM jobs"))).scalar()
            kept = list(builds)
    finally:
        await database.dispose()

    assert [r if isinstance(r, str) else type(r) for r in results] == [
        "u0",
        StoreUnavailable,
        "u2",
        "u3",
        StoreUnavailable,
        "u5",
        "u6",
        StoreUnavailable,
        "u8",
    ]
    assert kept == ["u0", "u2", "u3", "u5", "u6", "u8"]
    assert jobs == 6
    assert committed == 1
