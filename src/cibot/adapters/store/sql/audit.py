"""The audit trail: rows buffered in the transaction and written in one statement at its end."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa

from cibot.adapters.store import statements as q
from cibot.adapters.store import tables as t
from cibot.adapters.store.database import Conn
from cibot.adapters.store.sql.base import SqlRepository
from cibot.service.audit import audit_action, read_action
from cibot.service.ports import AuditEvent, Clock


class SqlAuditTrail(SqlRepository):
    def __init__(self, conn: Conn, clock: Clock) -> None:
        super().__init__(conn, clock)
        self._rows: list[dict[str, object]] = []
        self.written: list[AuditEvent] = []  # this transaction's rows (the before_commit hook's)

    async def append(self, event: AuditEvent) -> None:
        audit_action(event.action)
        self.written.append(event)
        self._rows.append(
            {
                "at": event.at,
                "action": event.action,
                "project_id": event.project_id,
                "build_id": event.build_id,
                "actor": event.actor,
                "detail": dict(event.detail) if event.detail else None,
            }
        )

    async def flush(self) -> None:
        """Write the buffered rows, one statement (before commit)."""
        if self._rows:
            await self._conn.execute(q.add_audit, self._rows)
            self._rows = []

    def mark(self) -> tuple[int, int]:
        """Where the buffer stands, to `rewind` to if a savepoint is rolled back."""
        return len(self._rows), len(self.written)

    def rewind(self, mark: tuple[int, int]) -> None:
        rows, written = mark
        del self._rows[rows:]
        del self.written[written:]

    async def events(
        self, project_id: str | None = None, since: datetime | None = None, limit: int = 100
    ) -> Sequence[AuditEvent]:
        a = t.audit_events
        query = a.select().order_by(a.c.id.desc()).limit(limit)
        if project_id is not None:
            query = query.where(a.c.project_id == project_id)
        if since is not None:
            # Rows since then have ids from the first of them on: the bound on the id lets
            # the newest-first walk stop there instead of reading all history before it.
            # (`id + 0`: SQLite would otherwise find the minimum by walking ids from the
            # oldest row until one is recent enough, all of history, instead of the time index.)
            first = sa.select(sa.func.min(a.c.id + 0)).where(a.c.at >= since).scalar_subquery()
            query = query.where(a.c.at >= since, a.c.id >= first)
        return [
            AuditEvent(
                at=r.at,
                action=read_action(r.action),
                project_id=r.project_id,
                build_id=r.build_id,
                actor=r.actor,
                detail=r.detail,
                id=r.id,
            )
            for r in await self._conn.execute(query)
        ]
