"""The store's one way into either database: `async with database.begin() as conn`.

PostgreSQL goes through SQLAlchemy's async engine (asyncpg): a pool with pre-ping, so a
restarted server is reconnected to transparently.

SQLite is driven *synchronously on the event loop thread*. A statement on a local SQLite
file takes microseconds, while every aiosqlite call is a round trip to a worker thread
(about 0.15 ms, several per statement): a build intake of a dozen statements spent ~10 ms
hopping threads. Blocking the loop for microseconds is the better trade, on two conditions
that hold here: only one transaction runs at a time in the process (an asyncio lock, so
nobody ever waits on SQLite's file lock inside the loop), and the database is not shared
with another busy process (SQLite is the single-replica backend; use PostgreSQL for more).
WAL keeps readers from blocking the writer; `BEGIN IMMEDIATE` takes the write lock up front.
When another process holds that lock anyway (a backup, a CLI), the wait for it is a loop of
short tries and sleeps on the event loop, never one long blocking wait (TRUST F10).

SQLAlchemy's asyncio extension (which loads its ORM too) is imported only for PostgreSQL:
on SQLite it would add a tenth of the start of `cibot serve` for nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, CursorResult, Dialect, Engine, make_url
from sqlalchemy.exc import OperationalError

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

SQLITE_BUSY_TIMEOUT_MS = 5000  # how long a transaction waits for SQLite's write lock, in all
SQLITE_LOCK_POLL_MS = 20  # each try for it blocks the loop at most this long; then it sleeps
PG_LOCK_TIMEOUT_MS = 5000
T = TypeVar("T")


class Conn(Protocol):
    """What the store needs of a connection, on either backend."""

    @property
    def dialect(self) -> Dialect: ...

    async def execute(self, statement: Any, parameters: Any = None) -> CursorResult[Any]: ...

    async def run_sync(self, fn: Callable[[Connection], T]) -> T: ...


class _LoopConnection:
    """A sync SQLAlchemy connection behind the async `Conn` interface (SQLite only)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    @property
    def dialect(self) -> Dialect:
        return self._conn.dialect

    async def execute(self, statement: Any, parameters: Any = None) -> CursorResult[Any]:
        return self._conn.execute(statement, parameters)

    async def run_sync(self, fn: Callable[[Connection], T]) -> T:
        return fn(self._conn)


class Database:
    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        parsed = make_url(url)
        self.backend = parsed.get_backend_name()
        self._sync: Engine | None = None
        self._async: AsyncEngine | None = None
        self._gate: asyncio.Lock | None = None
        if self.backend == "sqlite":
            self._sync = sa.create_engine(
                parsed.set(drivername="sqlite+pysqlite"),
                connect_args={"timeout": SQLITE_LOCK_POLL_MS / 1000, "check_same_thread": False},
            )
            tune_sqlite(self._sync, busy_timeout_ms=SQLITE_LOCK_POLL_MS)
        else:
            from sqlalchemy.ext.asyncio import create_async_engine

            self._async = create_async_engine(
                parsed,
                pool_size=pool_size,
                max_overflow=pool_size,
                pool_pre_ping=True,
                pool_recycle=1800,
                # Like SQLite's busy timeout: a lock held elsewhere fails the statement after
                # a bounded wait (-> StoreUnavailable -> 503 + Retry-After), never a hang.
                connect_args={"server_settings": {"lock_timeout": str(PG_LOCK_TIMEOUT_MS)}},
            )

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[Conn]:
        """A transaction: committed when the block ends normally, else rolled back."""
        if self._async is not None:
            async with self._async.begin() as conn:
                yield conn
            return
        assert self._sync is not None
        if self._gate is None:
            self._gate = asyncio.Lock()
        async with self._gate:
            sync_conn = await self._sqlite_transaction()
            try:
                yield _LoopConnection(sync_conn)
            except BaseException:
                sync_conn.rollback()
                raise
            else:
                try:
                    sync_conn.commit()
                except BaseException:
                    # A commit that failed may leave SQLite's transaction open on the
                    # connection (and its write lock held): never hand that one out again.
                    sync_conn.invalidate()
                    raise
            finally:
                sync_conn.close()

    async def _sqlite_transaction(self) -> Connection:
        """A connection in a transaction holding the write lock (`BEGIN IMMEDIATE`).

        If another process holds the lock, each try waits only SQLITE_LOCK_POLL_MS (the loop
        is blocked meanwhile) and the next comes after a sleep on the loop, so requests and
        workers go on; after SQLITE_BUSY_TIMEOUT_MS the OperationalError goes up (-> 503).
        """
        assert self._sync is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SQLITE_BUSY_TIMEOUT_MS / 1000
        while True:
            conn = self._sync.connect()
            try:
                conn.begin()
            except OperationalError as exc:
                conn.close()
                if "locked" not in str(exc) or loop.time() >= deadline:
                    raise
                await asyncio.sleep(SQLITE_LOCK_POLL_MS / 1000)
                continue
            return conn

    async def connect_driver(self) -> Any:
        """A connection of the driver's own (asyncpg), outside the pool, with the engine's
        connect arguments: for what a pooled connection cannot do (LISTEN). PostgreSQL only."""
        assert self._async is not None, "PostgreSQL only"
        import asyncpg

        args, kwargs = self._async.dialect.create_connect_args(self._async.url)
        return await asyncpg.connect(*args, **kwargs)

    @property
    def sync_engine(self) -> Engine:
        """The engine underneath (sync on SQLite, the async engine's on PostgreSQL): for
        event listeners, e.g. recording the statements a piece of work issues."""
        if self._async is not None:
            return self._async.sync_engine
        assert self._sync is not None
        return self._sync

    async def dispose(self) -> None:
        if self._async is not None:
            await self._async.dispose()
        if self._sync is not None:
            self._sync.dispose()


def tune_sqlite(engine: Engine, busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS) -> None:
    """WAL, a busy timeout, foreign keys, and `BEGIN IMMEDIATE` for every transaction."""

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves, below
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")
