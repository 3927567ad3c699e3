"""Publishing Home tabs on the real store and job queue (SQLite and PostgreSQL): coalesced,
spaced, never twice for one change on two runners (replicas), and never lost to a change
that lands while a publish runs or to a publish cut off by a crash.

A change here is what the service makes: a build reported by CI (`intake`, audited
`build.accepted`), whose transaction the store's `before_commit` hook extends with the
Home tabs to publish. Slack is the in-memory fake at the Chat port: these tests are about
when and how often `views.publish` is called, and what each publish read.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from functools import partial

import pytest
import sqlalchemy as sa

from cibot.adapters.clock import SystemClock
from cibot.adapters.store import tables as t
from cibot.adapters.store.queue import SqlJobQueue
from cibot.adapters.store.sql import SqlStore
from cibot.entrypoints.worker import JobRunner, WorkerSettings
from cibot.service import home
from cibot.service.handlers import Handler
from cibot.service.jobs import PAYLOAD_TYPES, JobPayload, PublishHome
from cibot.service.ports import Clock
from cibot.service.views import HomeView
from tests.support.fakes import FakeChat, FakeClock
from tests.support.stores import migrated_store
from tests.support.usecases import PROJECTS, record, report

QA, OWNER = "U0QA", "U0OWNER"


class CountingChat(FakeChat):
    """Records each person's Home publishes, and how many ran at once (a short call)."""

    def __init__(self) -> None:
        super().__init__()
        self.running = 0
        self.most_at_once = 0

    async def publish_home(self, user: str, view: object) -> None:
        self.running += 1
        self.most_at_once = max(self.most_at_once, self.running)
        try:
            await asyncio.sleep(0.01)
            await super().publish_home(user, view)
        finally:
            self.running -= 1

    def of(self, user: str) -> list[HomeView]:
        return [v for u, v in self.homes if u == user and isinstance(v, HomeView)]


async def noop(_: JobPayload) -> None:
    return None


def runner(
    store: SqlStore, clock: Clock, chat: FakeChat, workers: int = 2, poll: float = 0.05
) -> JobRunner:
    handlers: dict[type[JobPayload], Handler] = dict.fromkeys(PAYLOAD_TYPES.values(), noop)
    handlers[PublishHome] = partial(
        home.publish_home, store=store, clock=clock, chat=chat, projects=PROJECTS
    )
    settings = WorkerSettings(workers=workers, lease_seconds=30, poll_interval_seconds=poll)
    return JobRunner(SqlJobQueue(store.database), clock, handlers, settings)


@pytest.fixture
async def clock() -> FakeClock:
    return FakeClock()


async def with_hook(store: SqlStore, clock: Clock, every: timedelta = home.EVERY) -> SqlStore:
    store.before_commit = partial(home.audited, projects=PROJECTS, clock=clock, every=every)
    return store


@pytest.fixture
async def store(database_url: str, clock: FakeClock) -> AsyncIterator[SqlStore]:
    async with migrated_store(database_url, clock) as migrated:
        yield await with_hook(migrated, clock)


async def a_build_arrives(store: SqlStore, clock: Clock, target: str) -> None:
    await record(store, clock, report(target=target), webhook_id=f"msg_{target}")


def previews(view: HomeView) -> set[str]:
    return {b.target for p in view.projects for b in p.previews}


async def test_many_changes_before_the_publish_runs_give_one_publish_per_person(
    store: SqlStore, clock: FakeClock
) -> None:
    chat = CountingChat()
    jobs = runner(store, clock, chat)
    for user in (QA, OWNER):
        await home.opened(store, clock, user, f"Ev-{user}")
    await jobs.run_until_idle()
    clock.advance(1)

    for index in range(10):
        await a_build_arrives(store, clock, f"t{index}")
    await jobs.run_until_idle()
    early = len(chat.homes)
    clock.advance(home.EVERY.total_seconds())
    await jobs.run_until_idle()

    assert early == 2, "none sooner than EVERY after the last one began"
    for user in (QA, OWNER):
        opened, changed = chat.of(user)
        assert previews(opened) == set()
        assert previews(changed) == {f"t{i}" for i in range(10)}, "one publish read them all"


async def test_a_change_that_lands_while_a_publish_runs_gets_a_publish_of_its_own(
    store: SqlStore, clock: FakeClock
) -> None:
    class ChangeMeanwhile(CountingChat):
        async def publish_home(self, user: str, view: object) -> None:
            if not self.homes:  # the first publish has read; now a build arrives
                await a_build_arrives(store, clock, "meanwhile")
            await super().publish_home(user, view)

    chat = ChangeMeanwhile()
    jobs = runner(store, clock, chat)
    await home.opened(store, clock, QA, "Ev1")

    await jobs.run_until_idle()
    clock.advance(home.EVERY.total_seconds())
    await jobs.run_until_idle()

    first, second = chat.of(QA)
    assert "meanwhile" not in previews(first)
    assert "meanwhile" in previews(second)


async def test_a_publish_cut_off_by_a_crash_is_run_again_by_another_runner(
    store: SqlStore, clock: FakeClock
) -> None:
    await home.opened(store, clock, QA, "Ev1")
    queue = SqlJobQueue(store.database)
    died = await queue.claim("replica-that-dies", clock.now(), lease_seconds=30)
    assert died is not None and isinstance(died.payload, PublishHome)
    async with store.transaction() as tx:  # it began (and unmarked the person), then died
        await tx.homes.take(QA, clock.now())
    chat = CountingChat()

    clock.advance(31)  # the lease runs out
    await runner(store, clock, chat).run_until_idle()

    assert len(chat.of(QA)) == 1


async def wait_until_idle(store: SqlStore, within: float = 30) -> None:
    """Until no job is pending or running (a publish due later counts: it is waited for)."""
    jobs = t.jobs
    busy = sa.select(sa.func.count()).where(jobs.c.state.in_(["pending", "running"]))
    for _ in range(int(within / 0.05)):
        async with store.database.begin() as conn:
            if not (await conn.execute(busy)).scalar():
                return
        await asyncio.sleep(0.05)
    raise TimeoutError("jobs still pending")


async def test_two_runners_publish_once_per_change_and_the_last_publish_has_everything(
    database_url: str,
) -> None:
    clock = SystemClock()
    every = timedelta(seconds=0.5)
    async with migrated_store(database_url, clock) as store:
        await with_hook(store, clock, every)
        chat = CountingChat()
        replicas = [runner(store, clock, chat, workers=2, poll=0.02) for _ in range(2)]
        for replica in replicas:
            replica.start()
        try:
            for user in (QA, OWNER):
                await home.opened(store, clock, user, f"Ev-{user}")
            await wait_until_idle(store)
            await asyncio.sleep(every.total_seconds())
            await a_build_arrives(store, clock, "one")
            await wait_until_idle(store)
            after_one = {u: len(chat.of(u)) for u in (QA, OWNER)}

            await asyncio.gather(*(a_build_arrives(store, clock, f"b{i}") for i in range(20)))
            await wait_until_idle(store)
        finally:
            for replica in replicas:
                await replica.stop()

    assert after_one == {QA: 2, OWNER: 2}, "the opening's publish, then one for the change"
    for user in (QA, OWNER):
        burst = chat.of(user)[2:]
        assert 1 <= len(burst) <= 2, "20 changes at once: one publish, or two if one had begun"
        assert previews(burst[-1]) == {"one", *(f"b{i}" for i in range(20))}
    assert chat.most_at_once == 1, "Home publishes run one at a time, whatever the replicas"


async def test_a_persons_publishes_are_spaced_by_every_from_the_last_one_begun(
    store: SqlStore, clock: FakeClock
) -> None:
    chat = CountingChat()
    jobs = runner(store, clock, chat)
    await home.opened(store, clock, QA, "Ev1")
    await jobs.run_until_idle()
    begun = clock.now()

    await a_build_arrives(store, clock, "soon")
    async with store.database.begin() as conn:
        [run_at] = (
            await conn.execute(
                sa.select(t.jobs.c.run_at).where(
                    t.jobs.c.kind == PublishHome.kind, t.jobs.c.state == "pending"
                )
            )
        ).scalars()

    assert run_at == begun + home.EVERY
