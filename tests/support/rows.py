"""Reading the database a running `cibot serve` writes, from the test, without the store.

Trust tests prove "nothing was stored" and "nothing was done twice" by counting rows, so
they read the tables directly (a plain synchronous connection, SQLite or PostgreSQL), and
wait for the job queue to be idle before they compare.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

TABLES = ("builds", "webhook_deliveries", "jobs", "audit_events", "verdicts", "decisions")
# The keeper queues these on its own clock (one per period), whatever a test does; a count of
# "what this request caused" leaves them out.
PERIODIC_KINDS = ("refresh_groups", "prune_retention", "reconcile")


def sync_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return sa.create_engine(parsed.set(drivername="sqlite+pysqlite"))
    return sa.create_engine(parsed.set(drivername="postgresql+psycopg"), poolclass=sa.NullPool)


@dataclass
class Rows:
    """Counts and reads of ci-bot's tables."""

    url: str

    def __post_init__(self) -> None:
        self.engine = sync_engine(self.url)

    @contextmanager
    def _conn(self) -> Iterator[sa.Connection]:
        with self.engine.connect() as conn:
            yield conn

    def all(self, sql: str, **params: Any) -> list[Mapping[str, Any]]:
        with self._conn() as conn:
            return [dict(r._mapping) for r in conn.execute(sa.text(sql), params)]

    def counts(self) -> dict[str, int]:
        """Rows per table: the snapshot "nothing changed" is checked against.

        Periodic jobs are not counted: the keeper may queue the next period's at any moment.
        """
        periodic = ", ".join(f"'{k}'" for k in PERIODIC_KINDS)
        where = {"jobs": f" WHERE kind NOT IN ({periodic})"}
        with self._conn() as conn:
            return {t: self._count(conn, f"SELECT count(*) FROM {t}{where.get(t, '')}")  # noqa: S608 - our names
                    for t in TABLES}  # fmt: skip

    @staticmethod
    def _count(conn: sa.Connection, sql: str) -> int:
        return int(conn.execute(sa.text(sql)).scalar() or 0)

    def build(self, build_id: str) -> Mapping[str, Any]:
        found = self.all("SELECT * FROM builds WHERE id = :id", id=build_id)
        assert found, f"no build {build_id}"
        return found[0]

    def jobs_of(self, kind: str, build_id: str | None = None) -> list[Mapping[str, Any]]:
        rows = self.all("SELECT * FROM jobs WHERE kind = :k ORDER BY id", k=kind)
        return [r for r in rows if build_id is None or build_id in r["payload"]]

    def audit(self, action: str | None = None) -> list[Mapping[str, Any]]:
        rows = self.all("SELECT * FROM audit_events ORDER BY id")
        return [r for r in rows if action is None or r["action"] == action]

    def busy_jobs(self) -> int:
        """Jobs waiting or running now (a job scheduled for later does not count)."""
        now = time.time()
        rows = self.all("SELECT state, run_at FROM jobs WHERE state IN ('pending', 'running')")
        return sum(1 for r in rows if r["state"] == "running" or _epoch(r["run_at"]) <= now)

    async def idle(self, within: float = 60) -> None:
        """Wait (bounded) until no job is due or running: the service has settled."""
        deadline = time.monotonic() + within
        while self.busy_jobs():
            assert time.monotonic() < deadline, "the job queue did not settle"
            await asyncio.sleep(0.2)

    def dispose(self) -> None:
        self.engine.dispose()


def _epoch(value: Any) -> float:
    from datetime import UTC, datetime

    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return float(value.timestamp())
