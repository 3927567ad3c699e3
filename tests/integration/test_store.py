"""The SQL store and job queue on real SQLite and PostgreSQL: the guarantees jobs rely on."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from cibot.adapters.store import migrate
from cibot.adapters.store.database import Database
from cibot.adapters.store.queue import SqlJobQueue
from cibot.adapters.store.sql import SqlStore
from cibot.domain.build import Build, BuildState, BuildType
from cibot.entrypoints.worker import JobRunner, WorkerSettings
from cibot.service.errors import StoreConflict
from cibot.service.jobs import DeployPreview, Job, SyncBuildCard, SyncReviewDMs
from cibot.service.ports import Delivery, MessageRef
from tests.support.fakes import FakeClock


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[Database]:
    await migrate.upgrade_async(database_url)
    database = Database(database_url)
    yield database
    await database.dispose()


def a_build(
    clock: FakeClock, build_id: str = "b1", state: BuildState = BuildState.ACCEPTED
) -> Build:
    now = clock.now()
    return Build(build_id, "shop", BuildType.BRANCH, "main", "r.example/a:1", state, now, now)


async def test_a_build_round_trips_with_its_times_in_utc(engine: Database) -> None:
    clock = FakeClock()
    store = SqlStore(engine, clock)
    async with store.transaction() as tx:
        await tx.builds.add(a_build(clock))
    async with store.transaction() as tx:
        loaded = await tx.builds.get("b1")
    assert loaded == a_build(clock)


async def test_a_move_applies_only_from_the_expected_state(engine: Database) -> None:
    clock = FakeClock()
    store = SqlStore(engine, clock)
    before = a_build(clock)
    async with store.transaction() as tx:
        await tx.builds.add(before)
    deploying = before.moved_to(BuildState.DEPLOYING, clock.now())
    async with store.transaction() as tx:
        assert await tx.builds.move(before, deploying)
    async with store.transaction() as tx:
        assert not await tx.builds.move(before, before.moved_to(BuildState.FAILED, clock.now()))
        assert (await tx.builds.get("b1")) == deploying


async def test_a_failed_unit_of_work_leaves_nothing_behind(engine: Database) -> None:
    clock = FakeClock()
    store = SqlStore(engine, clock)

    async def crash_before_commit() -> None:
        async with store.transaction() as tx:
            await tx.builds.add(a_build(clock))
            await tx.jobs.enqueue(SyncBuildCard("b1"))
            raise RuntimeError("crash before commit")

    with pytest.raises(RuntimeError):
        await crash_before_commit()
    async with store.transaction() as tx:
        assert await tx.builds.get("b1") is None
    assert await SqlJobQueue(engine).claim("w", clock.now(), 30) is None


async def test_a_second_delivery_with_the_same_id_is_a_conflict(engine: Database) -> None:
    store = SqlStore(engine, FakeClock())
    async with store.transaction() as tx:
        await tx.deliveries.add(Delivery("shop", "msg_1", "abc", "b1"))

    async def add_again() -> None:
        async with store.transaction() as tx:
            await tx.deliveries.add(Delivery("shop", "msg_1", "def", "b2"))

    with pytest.raises(StoreConflict):
        await add_again()


async def test_message_refs_are_kept_per_build_role_and_user(engine: Database) -> None:
    store = SqlStore(engine, FakeClock())
    async with store.transaction() as tx:
        await tx.messages.save("b1", "card", MessageRef("C1", "1.1"))
        await tx.messages.save("b1", "dm", MessageRef("D1", "2.2"), user="U1")
    async with store.transaction() as tx:
        assert await tx.messages.get("b1", "card") == MessageRef("C1", "1.1")
        assert await tx.messages.get("b1", "dm", "U1") == MessageRef("D1", "2.2")
        assert await tx.messages.get("b1", "dm", "U2") is None


async def test_jobs_of_one_queue_run_one_at_a_time_in_order(engine: Database) -> None:
    clock = FakeClock()
    store, queue = SqlStore(engine, clock), SqlJobQueue(engine)
    async with store.transaction() as tx:
        await tx.jobs.enqueue(DeployPreview("b1", "shop/env"))
        await tx.jobs.enqueue(DeployPreview("b2", "shop/env"))
        await tx.jobs.enqueue(DeployPreview("b3", "shop/other"))

    first = await queue.claim("w1", clock.now(), 30)
    second = await queue.claim("w2", clock.now(), 30)
    nothing = await queue.claim("w3", clock.now(), 30)

    assert first is not None and first.payload == DeployPreview("b1", "shop/env")
    assert second is not None and second.payload == DeployPreview("b3", "shop/other")
    assert nothing is None, "b2 waits until b1 of the same environment is done"
    assert await queue.complete(first)
    after = await queue.claim("w3", clock.now(), 30)
    assert after is not None and after.payload == DeployPreview("b2", "shop/env")


async def test_a_job_waits_while_pending_and_due_with_the_very_same_payload(
    engine: Database,
) -> None:
    clock = FakeClock()
    store, queue = SqlStore(engine, clock), SqlJobQueue(engine)
    async with store.transaction() as tx:
        await tx.jobs.enqueue(SyncReviewDMs("b1"))
        await tx.jobs.enqueue(SyncReviewDMs("b2"), run_at=clock.now() + timedelta(minutes=1))

    async def waiting(payload: SyncReviewDMs) -> bool:
        async with store.transaction() as tx:
            return await tx.jobs.waiting(payload)

    before = [await waiting(SyncReviewDMs("b1")), await waiting(SyncReviewDMs("b1", "U1"))]
    later = await waiting(SyncReviewDMs("b2"))
    running = await queue.claim("w", clock.now(), 30)

    assert before == [True, False], "the same payload only, not another user's redraw"
    assert not later, "not yet due"
    assert running is not None and running.payload == SyncReviewDMs("b1")
    assert not await waiting(SyncReviewDMs("b1")), "running is no longer waiting"


async def test_an_expired_lease_is_taken_over_and_the_old_worker_cannot_settle_it(
    engine: Database,
) -> None:
    clock = FakeClock()
    store, queue = SqlStore(engine, clock), SqlJobQueue(engine)
    async with store.transaction() as tx:
        await tx.jobs.enqueue(SyncBuildCard("b1"))
    lost = await queue.claim("dead-worker", clock.now(), 30)
    assert lost is not None
    assert await queue.claim("w2", clock.now(), 30) is None, "leased: nobody else runs it"

    clock.advance(31)
    taken = await queue.claim("w2", clock.now(), 30)

    assert taken is not None and taken.id == lost.id and taken.attempts == 2
    assert not await queue.complete(lost)
    assert await queue.extend(lost, clock.now(), 30) is None
    assert await queue.complete(taken)


async def test_a_retried_job_waits_for_its_backoff(engine: Database) -> None:
    clock = FakeClock()
    store, queue = SqlStore(engine, clock), SqlJobQueue(engine)
    async with store.transaction() as tx:
        await tx.jobs.enqueue(SyncBuildCard("b1"))
    job = await queue.claim("w", clock.now(), 30)
    assert job is not None

    assert await queue.retry(job, clock.now() + timedelta(seconds=5), "Slack 503")

    assert await queue.claim("w", clock.now(), 30) is None
    clock.advance(5)
    again = await queue.claim("w", clock.now(), 30)
    assert again is not None and again.attempts == 2


async def test_concurrent_claimers_never_get_the_same_job(engine: Database) -> None:
    clock = FakeClock()
    store, queue = SqlStore(engine, clock), SqlJobQueue(engine)
    async with store.transaction() as tx:
        for i in range(30):
            await tx.jobs.enqueue(SyncBuildCard(f"b{i}"))

    async def drain(worker: str) -> list[int]:
        got = []
        while (job := await queue.claim(worker, clock.now(), 30)) is not None:
            got.append(job.id)
            assert await queue.complete(job)
        return got

    results = await asyncio.gather(*(drain(f"w{i}") for i in range(5)))

    claimed = [job_id for ids in results for job_id in ids]
    assert len(claimed) == 30
    assert len(set(claimed)) == 30


async def test_a_job_interrupted_by_a_graceful_stop_is_handed_back_at_once(
    engine: Database,
) -> None:
    clock = FakeClock()
    store, queue = SqlStore(engine, clock), SqlJobQueue(engine)
    async with store.transaction() as tx:
        await tx.jobs.enqueue(SyncBuildCard("b1"))
    started = asyncio.Event()

    async def never_ends(_: SyncBuildCard) -> None:
        started.set()
        await asyncio.Event().wait()

    settings = WorkerSettings(workers=1, drain_seconds=0)
    runner = JobRunner(queue, clock, {SyncBuildCard: never_ends}, settings)
    runner.start()
    await asyncio.wait_for(started.wait(), 10)

    await runner.stop()

    again = await queue.claim("another-replica", clock.now(), 30)
    assert again is not None and again.payload == SyncBuildCard("b1")


class CountedClaims(SqlJobQueue):
    """The real queue, counting the claims made on it (each one a write transaction)."""

    def __init__(self, database: Database) -> None:
        super().__init__(database)
        self.claims = 0

    async def claim(self, owner: str, now: datetime, lease_seconds: float) -> Job | None:
        self.claims += 1
        return await super().claim(owner, now, lease_seconds)


async def four_sleeping_workers(
    engine: Database, clock: FakeClock, ran: asyncio.Queue[str]
) -> tuple[SqlStore, CountedClaims, JobRunner]:
    """Four workers that have each claimed once, found nothing, and sleep (poll: 60 s)."""
    store, queue = SqlStore(engine, clock), CountedClaims(engine)

    async def handler(job: SyncBuildCard) -> None:
        await ran.put(job.build_id)

    settings = WorkerSettings(workers=4, poll_interval_seconds=60)
    runner = JobRunner(queue, clock, {SyncBuildCard: handler}, settings)
    store.on_commit = runner.wake
    runner.start()
    for _ in range(500):
        if queue.claims == 4:
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)  # each sleeps right after its empty claim
    assert queue.claims == 4
    return store, queue, runner


async def test_a_commit_with_one_due_job_wakes_one_worker_not_all(engine: Database) -> None:
    clock, ran = FakeClock(), asyncio.Queue[str]()
    store, queue, runner = await four_sleeping_workers(engine, clock, ran)
    try:
        async with store.transaction() as tx:
            await tx.jobs.enqueue(SyncBuildCard("b1"))

        assert await asyncio.wait_for(ran.get(), 10) == "b1"  # long before the 60 s poll
        await asyncio.sleep(0.2)
        # The woken worker's claim, and its next one that finds nothing: no herd of four.
        assert queue.claims == 4 + 2
    finally:
        await runner.stop()


async def test_a_commit_with_only_a_later_job_wakes_nobody(engine: Database) -> None:
    clock, ran = FakeClock(), asyncio.Queue[str]()
    store, queue, runner = await four_sleeping_workers(engine, clock, ran)
    try:
        async with store.transaction() as tx:
            await tx.jobs.enqueue(SyncBuildCard("later"), run_at=clock.now() + timedelta(hours=1))
            await tx.jobs.enqueue(SyncBuildCard("now-1"))
            await tx.jobs.enqueue(SyncBuildCard("now-2"))

        got = {await asyncio.wait_for(ran.get(), 10) for _ in range(2)}
        await asyncio.sleep(0.2)
        assert got == {"now-1", "now-2"}
        assert ran.empty()
        # Two woken for the two due jobs; each claims once more and finds only the timer.
        assert queue.claims == 4 + 2 * 2
    finally:
        await runner.stop()


async def test_work_a_poll_finds_brings_in_one_more_worker_until_none_is_left(
    engine: Database,
) -> None:
    """Jobs another replica committed (no count of them reaches this process): the worker
    whose poll interval passes first finds one and wakes the next sleeper, and so on, so all
    of them run at once, not each after another worker's own poll interval (two seconds
    later here: the jobs hold their workers, so the first cannot run them all)."""
    clock, ran = FakeClock(), asyncio.Queue[str]()
    store, queue = SqlStore(engine, clock), CountedClaims(engine)
    settings = WorkerSettings(workers=4, poll_interval_seconds=4)
    release = asyncio.Event()

    async def handler(job: SyncBuildCard) -> None:  # held until all three run: one worker each
        await ran.put(job.build_id)
        await release.wait()

    runner = JobRunner(queue, clock, {SyncBuildCard: handler}, settings)
    loop = asyncio.get_running_loop()
    runner.start()
    try:
        await asyncio.sleep(2)
        runner.wake(3)  # three wake to nothing: they sleep again until ~6 s, the fourth until ~4 s
        for _ in range(500):
            if queue.claims == 4 + 3:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        assert queue.claims == 4 + 3
        async with store.transaction() as tx:  # another replica's store: no `on_commit` here
            for name in ("e1", "e2", "e3"):
                await tx.jobs.enqueue(SyncBuildCard(name))

        got = []
        for _ in range(3):
            got.append(await asyncio.wait_for(ran.get(), 10))
            if len(got) == 1:
                first = loop.time()
        assert sorted(got) == ["e1", "e2", "e3"]
        assert loop.time() - first < 1.0, "all three went with the first, not two seconds later"
        release.set()
        await asyncio.sleep(0.2)
        # Four empty claims at the start, three at the wake; then at most: three that found a
        # job, one that ended the chain, and each finder's next one, after its job, finding
        # nothing (fewer when a finder took the next job before a woken worker did).
        assert queue.claims <= 4 + 3 + 3 + 1 + 3
    finally:
        await runner.stop()


async def test_the_newest_build_of_a_target_is_never_a_stale_one(engine: Database) -> None:
    clock = FakeClock()
    store = SqlStore(engine, clock)
    async with store.transaction() as tx:
        await tx.builds.add(replace(a_build(clock, "b12"), build_number=12))
    clock.advance(1)
    async with store.transaction() as tx:
        await tx.builds.add(replace(a_build(clock, "b11", BuildState.STALE), build_number=11))

    async with store.transaction() as tx:
        summary = await tx.builds.target_summary("shop", BuildType.BRANCH, "main")

    assert (summary.newest_build_id, summary.highest_build_number) == ("b12", 12)
