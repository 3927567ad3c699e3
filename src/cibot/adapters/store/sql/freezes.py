"""Freezes an owner set from Slack: at most one per project, set once and lifted once."""

from __future__ import annotations

from cibot.adapters.store import statements as q
from cibot.adapters.store import tables as t
from cibot.adapters.store.sql.base import SqlRepository
from cibot.domain.policy import Freeze


class SqlFreezes(SqlRepository):
    async def get(self, project_id: str) -> Freeze | None:
        row = (await self._conn.execute(q.freeze_of, {"p_project": project_id})).first()
        return Freeze(row.reason, by=row.actor, since=row.at) if row else None

    async def set(self, project_id: str, freeze: Freeze) -> bool:
        statement = self._insert()(t.freezes).values(
            project_id=project_id, reason=freeze.reason, actor=freeze.by or "", at=freeze.since
        )
        result = await self._conn.execute(
            statement.on_conflict_do_nothing(index_elements=["project_id"])
        )
        return result.rowcount == 1

    async def lift(self, project_id: str) -> Freeze | None:
        f = t.freezes
        row = (
            await self._conn.execute(
                f.delete()
                .where(f.c.project_id == project_id)
                .returning(f.c.reason, f.c.actor, f.c.at)
            )
        ).first()
        return Freeze(row.reason, by=row.actor, since=row.at) if row else None
