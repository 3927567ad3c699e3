"""The jobs a transaction causes: buffered, and written in one statement at its end."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from cibot.adapters.store import retention
from cibot.adapters.store import statements as q
from cibot.adapters.store import tables as t
from cibot.adapters.store.database import Conn
from cibot.adapters.store.sql.base import SqlRepository
from cibot.service import jobs
from cibot.service.ports import (
    Clock,
)


class SqlJobs(SqlRepository):
    def __init__(self, conn: Conn, clock: Clock) -> None:
        super().__init__(conn, clock)
        self._rows: list[dict[str, object]] = []
        self.due_now = 0  # jobs added that may run at once: the workers worth waking

    async def flush(self) -> None:
        """Write the buffered jobs, one statement (before commit)."""
        if self._rows:
            await self._conn.execute(q.add_job, self._rows)
            self._rows = []

    def mark(self) -> tuple[int, int]:
        """Where the buffer stands, to `rewind` to if a savepoint is rolled back."""
        return len(self._rows), self.due_now

    def rewind(self, mark: tuple[int, int]) -> None:
        rows, self.due_now = mark
        del self._rows[rows:]

    async def enqueue(
        self,
        payload: jobs.JobPayload,
        run_at: datetime | None = None,
        dedupe_key: str | None = None,
    ) -> None:
        now = self._clock.now()
        kind, data = jobs.encode(payload)
        row = self._job_row(kind, data, payload.queue, run_at or now, now)
        due = run_at is None or run_at <= now
        if dedupe_key is None:
            self._rows.append(row)
            self.due_now += due
            return
        statement = self._insert()(t.jobs).values(**row, dedupe_key=dedupe_key)
        result = await self._conn.execute(
            statement.on_conflict_do_nothing(index_elements=["dedupe_key"])
        )
        self.due_now += result.rowcount if due else 0

    async def waiting(self, payload: jobs.JobPayload) -> bool:
        kind, data = jobs.encode(payload)
        j = t.jobs
        found = await self._conn.execute(
            sa.select(j.c.id)
            .where(
                j.c.state == jobs.JobState.PENDING.value,
                j.c.kind == kind,
                j.c.payload == data,
                j.c.run_at <= self._clock.now(),
            )
            .limit(1)
        )
        return found.first() is not None

    async def prune_finished(self, before: datetime, limit: int) -> int:
        return await retention.prune_finished_jobs(self._conn, before, limit)

    @staticmethod
    def _job_row(
        kind: str, data: str, queue: str | None, run_at: datetime, now: datetime
    ) -> dict[str, object]:
        return {
            "kind": kind,
            "payload": data,
            "queue": queue,
            "state": jobs.JobState.PENDING.value,
            "run_at": run_at,
            "attempts": 0,
            "lease_owner": None,
            "lease_expires_at": None,
            "last_error": None,
            "created_at": now,
            "updated_at": now,
        }
