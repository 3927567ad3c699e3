"""The builds table. Every state change is a compare-and-set on the state the caller read."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from cibot.adapters.store import statements as q
from cibot.adapters.store import tables as t
from cibot.adapters.store.rows import build_from_row, build_to_row
from cibot.adapters.store.sql.base import SqlRepository
from cibot.domain.build import Build, BuildState, BuildType
from cibot.service.ports import (
    TargetSummary,
)


class SqlBuilds(SqlRepository):
    async def lock_target(self, project_id: str, build_type: BuildType, target: str) -> None:
        if self._conn.dialect.name != "postgresql":
            return  # SQLite: this transaction already holds the database's write lock
        row = {
            "project_id": project_id,
            "type": build_type.value,
            "target": target,
            "touched_at": self._clock.now(),
        }
        await self._conn.execute(q.lock_target(), row)

    async def get(self, build_id: str) -> Build | None:
        row = (await self._conn.execute(q.get_build, {"p_id": build_id})).first()
        return build_from_row(row._mapping) if row else None

    async def lock(self, build_id: str) -> Build | None:
        if self._conn.dialect.name != "postgresql":
            return await self.get(build_id)  # SQLite: the write lock is held already
        row = (await self._conn.execute(q.lock_build, {"p_id": build_id})).first()
        return build_from_row(row._mapping) if row else None

    async def add(self, build: Build) -> None:
        await self._conn.execute(q.add_build, build_to_row(build))

    async def move(self, before: Build, after: Build) -> bool:
        """Compare-and-set on the state, writing only the fields this move changes.

        Fields the move leaves alone are not written back, so a concurrent update of one of
        them (the author's Slack id, the time of the last verdict) is never lost.
        """
        old, new = build_to_row(before), build_to_row(after)
        values = {k: v for k, v in new.items() if k not in {"id", "state"} and v != old[k]}
        columns = ("state", *sorted(values))
        params = {f"v_{c}": new[c] for c in columns}
        params |= {"p_id": before.id, "p_state": before.state.value}
        result = await self._conn.execute(q.move_build(columns), params)
        return result.rowcount == 1

    async def live_of_target(
        self, project_id: str, build_type: BuildType, target: str
    ) -> Sequence[Build]:
        rows = await self._conn.execute(
            q.live_builds_of_target, self._target(project_id, build_type, target)
        )
        return [build_from_row(r._mapping) for r in rows]

    async def target_summary(
        self, project_id: str, build_type: BuildType, target: str
    ) -> TargetSummary:
        params = self._target(project_id, build_type, target)
        row = (await self._conn.execute(q.target_summary, params)).one()
        return TargetSummary(newest_build_id=row.newest, highest_build_number=row.highest)

    async def live_and_highest(
        self, project_id: str, build_type: BuildType, target: str
    ) -> tuple[Sequence[Build], int | None]:
        params = self._target(project_id, build_type, target)
        rows = (await self._conn.execute(q.live_and_highest, params)).all()
        highest = rows[0].highest  # the highest number's row is there, live builds or none
        return [build_from_row(r._mapping) for r in rows if r.id is not None], highest

    async def touch(self, build_id: str, at: datetime) -> None:
        await self._conn.execute(q.touch_build, {"p_id": build_id, "p_at": at})

    async def set_author_user(self, build_id: str, user: str) -> None:
        await self._set_build(build_id, author_user=user)

    async def mark_idle_warning(
        self, build_id: str, idle_since: datetime, removal_at: datetime
    ) -> None:
        await self._set_build(build_id, idle_warned_for=idle_since, removal_at=removal_at)

    async def of_project(self, project_id: str, states: Iterable[BuildState]) -> Sequence[Build]:
        b = t.builds
        query = (
            b.select()
            .where(b.c.project_id == project_id, b.c.state.in_([s.value for s in states]))
            .order_by(b.c.created_at, b.c.id)
        )
        return [build_from_row(r._mapping) for r in await self._conn.execute(query)]

    async def _set_build(self, build_id: str, **values: object) -> None:
        await self._conn.execute(t.builds.update().where(t.builds.c.id == build_id).values(values))

    @staticmethod
    def _target(project_id: str, build_type: BuildType, target: str) -> dict[str, str]:
        return {"p_project": project_id, "p_type": build_type.value, "p_target": target}
