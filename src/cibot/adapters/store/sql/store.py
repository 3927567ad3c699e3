"""The Store port on SQLAlchemy: one `Transaction` per unit of work.

Every state change is a compare-and-set (`UPDATE … WHERE state = :expected`) in the same
transaction as the audit row and the jobs it causes, so either all of it happened or none.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError

from cibot.adapters.store.database import Conn, Database
from cibot.adapters.store.sql.audit import SqlAuditTrail
from cibot.adapters.store.sql.builds import SqlBuilds
from cibot.adapters.store.sql.deliveries import SqlDeliveries
from cibot.adapters.store.sql.freezes import SqlFreezes
from cibot.adapters.store.sql.groups import SqlGroups
from cibot.adapters.store.sql.homes import SqlHomes
from cibot.adapters.store.sql.jobs import SqlJobs
from cibot.adapters.store.sql.messages import SqlMessages
from cibot.adapters.store.sql.production import SqlProduction
from cibot.adapters.store.sql.releases import SqlReleases
from cibot.adapters.store.sql.reviews import SqlReviews
from cibot.service.errors import StoreConflict, StoreUnavailable
from cibot.service.ports import (
    AuditEvent,
    Clock,
    Transaction,
)

_SAVEPOINT = sa.text("SAVEPOINT unit")
_RELEASE = sa.text("RELEASE SAVEPOINT unit")
_ROLLBACK_TO = sa.text("ROLLBACK TO SAVEPOINT unit")


class SqlTransaction:
    """One unit of work on one connection; its repositories share the connection."""

    def __init__(self, conn: Conn, clock: Clock) -> None:
        self._conn = conn
        self.builds = SqlBuilds(conn, clock)
        self.reviews = SqlReviews(conn, clock)
        self.releases = SqlReleases(conn, clock)
        self.production = SqlProduction(conn, clock)
        self.freezes = SqlFreezes(conn, clock)
        self.messages = SqlMessages(conn, clock)
        self.deliveries = SqlDeliveries(conn, clock)
        self.groups = SqlGroups(conn, clock)
        self.homes = SqlHomes(conn, clock)
        self.jobs = SqlJobs(conn, clock)
        self.audit = SqlAuditTrail(conn, clock)

    async def flush(self) -> None:
        """Write the buffered jobs and audit rows, one statement each (before commit)."""
        await self.jobs.flush()
        await self.audit.flush()

    @asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        """Savepoints do not nest here: one at a time, as `group_commit` takes them. The
        job and audit rows buffered inside are dropped with its writes."""
        marks = self.jobs.mark(), self.audit.mark()
        with translated():
            await self._conn.execute(_SAVEPOINT)
            try:
                yield
            except BaseException:
                await self._conn.execute(_ROLLBACK_TO)
                self.jobs.rewind(marks[0])
                self.audit.rewind(marks[1])
                raise
            await self._conn.execute(_RELEASE)


# SQLSTATE classes and codes that mean "try again": connection exceptions (08), operator
# intervention such as a server shutting down or starting up (57), lock not available
# (55P03), serialization failure and deadlock (40). asyncpg reports several of them as a
# plain DBAPIError, not an OperationalError.
_TRANSIENT_SQLSTATE_CLASSES = ("08", "57", "40")
_TRANSIENT_SQLSTATES = frozenset({"55P03"})


def is_transient(exc: DBAPIError) -> bool:
    state = str(getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None) or "")
    return state in _TRANSIENT_SQLSTATES or state[:2] in _TRANSIENT_SQLSTATE_CLASSES


@contextmanager
def translated() -> Iterator[None]:
    """The database's errors as the service knows them: a constraint broken by a concurrent
    writer is a StoreConflict (try again), a database out of reach StoreUnavailable."""
    try:
        yield
    except IntegrityError as exc:
        raise StoreConflict(str(exc.orig)) from exc
    except (OperationalError, InterfaceError, OSError) as exc:
        raise StoreUnavailable(f"database unavailable: {type(exc).__name__}") from exc
    except DBAPIError as exc:
        if not (exc.connection_invalidated or is_transient(exc)):
            raise
        raise StoreUnavailable(f"database unavailable: {type(exc).__name__}") from exc


BeforeCommit = Callable[[Transaction, Sequence[AuditEvent]], Awaitable[None]]


class SqlStore:
    """The Store port: hands out transactions on one engine."""

    def __init__(self, database: Database, clock: Clock) -> None:
        self.database = database
        self._clock = clock
        # Called after a commit with the number of jobs it made due: e.g. wake that many workers.
        self.on_commit: Callable[[int], None] | None = None
        # Called after such a commit too, on PostgreSQL, to wake the other replicas: after the
        # commit, never in the transaction (signal_sender.py says why; bootstrap.py sets it).
        self.signal_replicas: Callable[[], None] | None = None
        # Called before a commit, in the transaction, with the audit rows it wrote: what they
        # changed may queue more work with them (the Home tabs of the people concerned).
        self.before_commit: BeforeCommit | None = None

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        with translated():
            async with self.database.begin() as conn:
                tx = SqlTransaction(conn, self._clock)
                yield tx
                if self.before_commit is not None and tx.audit.written:
                    await self.before_commit(tx, tuple(tx.audit.written))
                await tx.flush()
        if not tx.jobs.due_now:
            return
        if self.signal_replicas is not None:
            self.signal_replicas()
        if self.on_commit is not None:
            self.on_commit(tx.jobs.due_now)
