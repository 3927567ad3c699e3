"""Production releases: the history of what ran in production, newest first."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import sqlalchemy as sa

from cibot.adapters.store import tables as t
from cibot.adapters.store.sql.base import SqlRepository
from cibot.domain.release import Release, ReleaseKind


class SqlReleases(SqlRepository):
    async def add(self, release: Release) -> Release:
        result = await self._conn.execute(
            t.releases.insert()
            .values(
                project_id=release.project_id,
                build_id=release.build_id,
                decision_id=release.decision_id,
                image=release.image,
                digest=release.digest,
                kind=release.kind.value,
                actor=release.actor,
                at=release.at,
                rolled_back_from=release.rolled_back_from,
            )
            .returning(t.releases.c.id)
        )
        return replace(release, id=result.scalar_one())

    async def get(self, release_id: int) -> Release | None:
        found = await self._releases(t.releases.c.id == release_id, 1)
        return found[0] if found else None

    async def of_decision(self, decision_id: int) -> Release | None:
        found = await self._releases(t.releases.c.decision_id == decision_id, 1)
        return found[0] if found else None

    async def of_project(self, project_id: str, limit: int = 20) -> Sequence[Release]:
        return await self._releases(t.releases.c.project_id == project_id, limit)

    async def before(self, release: Release) -> Release | None:
        r = t.releases
        assert release.id is not None
        found = await self._releases(
            sa.and_(r.c.project_id == release.project_id, r.c.id < release.id), 1
        )
        return found[0] if found else None

    async def _releases(self, where: sa.ColumnElement[bool], limit: int) -> list[Release]:
        r = t.releases
        query = r.select().where(where).order_by(r.c.id.desc()).limit(limit)
        return [_release(row) for row in await self._conn.execute(query)]


def _release(row: Any) -> Release:
    return Release(
        project_id=row.project_id,
        build_id=row.build_id,
        image=row.image,
        digest=row.digest,
        kind=ReleaseKind(row.kind),
        actor=row.actor,
        at=row.at,
        decision_id=row.decision_id,
        rolled_back_from=row.rolled_back_from,
        id=row.id,
    )
