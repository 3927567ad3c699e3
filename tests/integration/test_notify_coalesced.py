"""A replica's commits wake the others with few NOTIFYs, yet every commit is followed by one.

The NOTIFY is sent after the commit, not in its transaction (an intake no longer pays a round
trip for it, nor waits for PostgreSQL's lock on the notification queue at its commit), on the
sender's own connection, one at a time; commits made while one is in flight are folded into
one more, sent after it (adapters/store/signal_sender.py). NOTIFYs are counted as another
replica sees them: the notifications a LISTEN of the test's own receives. The sender's
connection goes through a TCP proxy where a test must hold a NOTIFY in flight.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import make_url

from cibot import bootstrap
from cibot.adapters.store import migrate, signals
from cibot.adapters.store.database import Database
from cibot.adapters.store.signal_sender import SEND_SECONDS, TASK_NAME, SignalSender
from cibot.adapters.store.sql import SqlStore
from cibot.config.model import Settings
from cibot.service.jobs import SyncBuildCard
from tests.support.fakes import FakeClock
from tests.support.stores import signalling
from tests.support.tcpproxy import TcpProxy

pytestmark = pytest.mark.postgres

QUIET = 0.5  # seconds without a notification after which none is coming


def driven(url: str, driver: str = "postgresql+asyncpg", port: int | None = None) -> str:
    """`url` (the fixture's names psycopg) for another driver, or through another port."""
    parsed = make_url(url).set(drivername=driver)
    return parsed.set(port=port or parsed.port).render_as_string(hide_password=False)


@pytest.fixture
async def database(postgres_url: str) -> AsyncIterator[Database]:
    await migrate.upgrade_async(driven(postgres_url))
    db = Database(driven(postgres_url))
    yield db
    await db.dispose()


@pytest.fixture
async def heard(postgres_url: str) -> AsyncIterator[asyncio.Queue[int]]:
    """The backend pid of each notification on the channel, as another replica hears them."""
    pids = asyncio.Queue[int]()
    conn = await asyncpg.connect(driven(postgres_url, "postgresql"))
    await conn.add_listener(signals.CHANNEL, lambda _c, pid, _ch, _p: pids.put_nowait(pid))
    yield pids
    await conn.close()


async def commit_due_job(store: SqlStore, name: str = "b") -> None:
    async with store.transaction() as tx:
        await tx.jobs.enqueue(SyncBuildCard(name))


async def heard_in_all(pids: asyncio.Queue[int]) -> int:
    """How many notifications arrive until none has for QUIET seconds."""
    count = 0
    while True:
        try:
            await asyncio.wait_for(pids.get(), QUIET)
        except TimeoutError:
            return count
        count += 1


@contextmanager
def notifies_in_transactions(database: Database) -> Iterator[list[str]]:
    """The statements that mention NOTIFY among those the engine's connections execute (the
    store's transactions), and that there were statements at all."""
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, sql: str, *_: Any) -> None:
        statements.append(sql)

    event.listen(database.sync_engine, "before_cursor_execute", record)
    notifies: list[str] = []
    try:
        yield notifies
    finally:
        event.remove(database.sync_engine, "before_cursor_execute", record)
    assert statements, "the transactions were recorded"
    notifies.extend(s for s in statements if "notify" in s.lower())


def sending() -> bool:
    """Whether a sender of this process has a NOTIFY in flight or pending."""
    return any(task.get_name() == TASK_NAME for task in asyncio.all_tasks())


async def idle() -> bool:
    """Whether the senders have nothing in flight within 10 s."""
    for _ in range(1000):
        if not sending():
            return True
        await asyncio.sleep(0.01)
    return False


async def commit_and_fail(store: SqlStore) -> None:
    async with store.transaction() as tx:
        await tx.jobs.enqueue(SyncBuildCard("rolled-back"))
        raise RuntimeError("rolled back")


async def test_the_transaction_sends_no_notify_and_its_commit_is_signalled_after_it(
    database: Database, heard: asyncio.Queue[int]
) -> None:
    store = SqlStore(database, FakeClock())
    with notifies_in_transactions(database) as notifies:
        async with signalling(store):
            with pytest.raises(RuntimeError):
                await commit_and_fail(store)
            assert await heard_in_all(heard) == 0

            await commit_due_job(store)

            await asyncio.wait_for(heard.get(), 10)
    assert notifies == []


async def test_commits_made_while_a_notify_is_in_flight_are_folded_into_one_more_after_it(
    database: Database, postgres_url: str, heard: asyncio.Queue[int]
) -> None:
    """21 commits, 2 NOTIFYs: the one in flight, held by the proxy, and one after it."""
    server = make_url(postgres_url)
    assert server.host and server.port
    with TcpProxy(server.host, server.port) as proxy:
        held = Database(driven(postgres_url, port=proxy.port))
        store = SqlStore(database, FakeClock())
        try:
            async with signalling(store, held):
                await commit_due_job(store, "warm")  # the sender's connection is made
                await asyncio.wait_for(heard.get(), 10)
                assert await idle()  # its NOTIFY's answer is back: the next one will be held

                proxy.pause()
                await commit_due_job(store, "first")
                await asyncio.sleep(0.5)  # its NOTIFY is sent, and held
                folded = [commit_due_job(store, f"folded-{i}") for i in range(20)]
                # They commit without waiting for a NOTIFY, well before the held one times out.
                async with asyncio.timeout(SEND_SECONDS - 2):
                    await asyncio.gather(*folded)
                assert await heard_in_all(heard) == 0

                proxy.restore()
                await asyncio.wait_for(heard.get(), 10)  # the one held
                await asyncio.wait_for(heard.get(), 10)  # the 20 commits after it
                assert await heard_in_all(heard) == 0
        finally:
            await held.dispose()


async def test_a_sender_whose_connection_was_dropped_connects_again_and_sends(
    database: Database, heard: asyncio.Queue[int]
) -> None:
    store = SqlStore(database, FakeClock())
    async with signalling(store):
        await commit_due_job(store, "before")
        sender_pid = await asyncio.wait_for(heard.get(), 10)
        async with database.begin() as conn:
            dropped = await conn.execute(sa.select(sa.func.pg_terminate_backend(sender_pid)))
            assert dropped.scalar_one() is True
        await asyncio.sleep(0.2)  # the server has closed it

        await commit_due_job(store, "after")

        assert await asyncio.wait_for(heard.get(), 10) != sender_pid


async def test_a_notify_that_hangs_is_given_up_and_sent_again_on_a_new_connection(
    database: Database, postgres_url: str, heard: asyncio.Queue[int]
) -> None:
    """A server that stops answering (held by the proxy) past the sender's bound: the NOTIFY
    is sent again at once on a connection of its own, which the server answers once back."""
    server = make_url(postgres_url)
    assert server.host and server.port
    with TcpProxy(server.host, server.port) as proxy:
        held = Database(driven(postgres_url, port=proxy.port))
        store = SqlStore(database, FakeClock())
        sender = SignalSender(held, send_seconds=2)
        store.signal_replicas = sender.signal
        try:
            await commit_due_job(store, "warm")
            hung_pid = await asyncio.wait_for(heard.get(), 10)
            assert await idle()

            proxy.pause()
            await commit_due_job(store, "held")
            await asyncio.sleep(3)  # given up at 2 s; the new connection waits for the server
            proxy.restore()

            async with asyncio.timeout(10):
                while await heard.get() == hung_pid:  # its NOTIFY held, let through at last
                    pass
        finally:
            await sender.aclose()
            await held.dispose()


async def disconnected(database: Database, pid: int) -> bool:
    """Whether the backend `pid` is gone within 5 s (a closed connection's backend ends soon
    after, not at once)."""
    query = sa.text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid")
    for _ in range(50):
        async with database.begin() as conn:
            if (await conn.execute(query, {"pid": pid})).scalar_one() == 0:
                return True
        await asyncio.sleep(0.1)
    return False


async def test_closing_sends_what_is_pending_then_leaves_no_task_nor_connection(
    database: Database, heard: asyncio.Queue[int]
) -> None:
    store = SqlStore(database, FakeClock())
    async with signalling(store) as sender:
        await commit_due_job(store, "warm")
        sender_pid = await asyncio.wait_for(heard.get(), 10)
        await commit_due_job(store, "last")

        await sender.aclose()  # at once: its NOTIFY has not been sent yet

        assert await heard_in_all(heard) == 1
        assert await disconnected(database, sender_pid)
        await commit_due_job(store, "after-close")  # signals nothing, starts nothing
        assert not sending()
        assert await heard_in_all(heard) == 0


KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:9"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
"""


async def test_the_parts_of_a_replica_signal_after_their_commits_and_close_their_sender(
    database: Database, postgres_url: str, heard: asyncio.Queue[int], tmp_path: Path
) -> None:
    """What `cibot serve` is built of (bootstrap.py), with or without workers: its commits
    are signalled, not in their transactions, and `aclose` leaves no connection behind."""
    kubeconfig = tmp_path / "kubeconfig"  # a cluster nobody calls here
    kubeconfig.write_text(KUBECONFIG)
    settings = Settings.model_validate(
        {"database": {"url": postgres_url}, "kubernetes": {"kubeconfig": str(kubeconfig)}}
    )
    parts = bootstrap.build(settings)
    try:
        with notifies_in_transactions(parts.database) as notifies:
            await commit_due_job(parts.store)
            sender_pid = await asyncio.wait_for(heard.get(), 10)
        assert notifies == []
    finally:
        await parts.aclose()
    assert await disconnected(database, sender_pid)
