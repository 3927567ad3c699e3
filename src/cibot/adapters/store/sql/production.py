"""The production slot: one deploy or rollback at a time per project, taken by compare-and-set."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from cibot.adapters.store import statements as q
from cibot.adapters.store import tables as t
from cibot.adapters.store.sql.base import SqlRepository


class SqlProduction(SqlRepository):
    async def claim(self, project_id: str, build_id: str, decision_id: int, at: datetime) -> bool:
        p = t.production_slots
        await self._conn.execute(
            self._insert()(p).values(project_id=project_id).on_conflict_do_nothing()
        )
        result = await self._conn.execute(
            p.update()
            .where(p.c.project_id == project_id, p.c.build_id.is_(None))
            .values(build_id=build_id, decision_id=decision_id, since=at)
        )
        return result.rowcount == 1

    async def busy_with(self, project_id: str) -> str | None:
        params = {"p_project": project_id}
        found: str | None = (await self._conn.execute(q.production_busy_with, params)).scalar()
        return found

    async def free(self, project_id: str, decision_id: int) -> None:
        p = t.production_slots
        await self._conn.execute(
            p.update()
            .where(p.c.project_id == project_id, p.c.decision_id == decision_id)
            .values(build_id=None, decision_id=None, since=None)
        )

    async def holder(self, project_id: str) -> int | None:
        p = t.production_slots
        query = sa.select(p.c.decision_id).where(p.c.project_id == project_id)
        found: int | None = (await self._conn.execute(query)).scalar()
        return found
