"""Slack user groups as last read from Slack, with when they were read."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import sqlalchemy as sa

from cibot.adapters.store import statements as q
from cibot.adapters.store import tables as t
from cibot.adapters.store.sql.base import SqlRepository
from cibot.domain.project import GroupSnapshot


class SqlGroups(SqlRepository):
    async def members(self, group_ids: Iterable[str]) -> dict[str, frozenset[str]]:
        g, wanted = t.slack_groups, sorted(set(group_ids))
        if not wanted:
            return {}
        rows = await self._conn.execute(sa.select(g).where(g.c.group_id.in_(wanted)))
        return {r.group_id: frozenset(r.members) for r in rows}

    async def snapshots(self, group_ids: Iterable[str]) -> dict[str, GroupSnapshot]:
        wanted = sorted(set(group_ids))
        if not wanted:
            return {}
        rows = await self._conn.execute(q.groups_of, {"p_groups": wanted})
        return {r.group_id: GroupSnapshot(frozenset(r.members), r.refreshed_at) for r in rows}

    async def save(self, group_id: str, members: frozenset[str], at: datetime) -> None:
        statement = self._insert()(t.slack_groups).values(
            group_id=group_id, members=sorted(members), refreshed_at=at
        )
        await self._conn.execute(
            statement.on_conflict_do_update(
                index_elements=["group_id"],
                set_={"members": statement.excluded.members, "refreshed_at": at},
            )
        )
