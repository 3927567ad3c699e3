"""Who has ci-bot's Home tab, and whether a publish of it is queued: the rows behind coalescing.

A change marks the people concerned (`mark`) in the transaction that makes it; a person
already marked is left alone, so many changes queue one publish. The publish unmarks them
when it begins (`take`): a change committed after that marks them again, and one
committed before it is what the publish reads. Marks are taken with the rows locked, in
one order (the user id), so on PostgreSQL concurrent changes take turns per person without
deadlocking one another, and the publish waits for a change that holds its row.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

import sqlalchemy as sa

from cibot.adapters.store import statements as q
from cibot.adapters.store import tables as t
from cibot.adapters.store.sql.base import SqlRepository
from cibot.service.ports import HomeMark


class SqlHomes(SqlRepository):
    async def open(self, user: str, event_id: str, at: datetime) -> bool:
        h = t.app_homes
        added = await self._conn.execute(
            self._insert()(h)
            .values(user_id=user, opened_at=at, event_id=event_id)
            .on_conflict_do_nothing(index_elements=["user_id"])
        )
        if added.rowcount == 1:
            return True
        changed = await self._conn.execute(
            h.update()
            .where(h.c.user_id == user, sa.or_(h.c.event_id.is_(None), h.c.event_id != event_id))
            .values(event_id=event_id)
        )
        return bool(changed.rowcount == 1)

    async def mark(
        self, users: Iterable[str], at: datetime, stale_before: datetime
    ) -> Sequence[HomeMark]:
        wanted = sorted(set(users))
        if not wanted:
            return []
        rows = await self._conn.execute(q.homes_to_mark, {"p_users": wanted})
        due = [r for r in rows if r.queued_at is None or r.queued_at < stale_before]
        if due:
            params = {"p_users": [r.user_id for r in due], "p_at": at}
            await self._conn.execute(q.mark_homes, params)
        return [HomeMark(r.user_id, r.started_at) for r in due]

    async def take(self, user: str, at: datetime) -> bool:
        h = t.app_homes
        result = await self._conn.execute(
            h.update().where(h.c.user_id == user).values(queued_at=None, started_at=at)
        )
        return bool(result.rowcount == 1)
