"""Production releases, in memory: a list in the order added."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from cibot.domain.release import Release
from tests.support.memory.base import MemoryRepository


class MemoryReleases(MemoryRepository):
    async def add(self, release: Release) -> Release:
        stored = replace(release, id=len(self.state.releases) + 1)
        self.state.releases.append(stored)
        return stored

    async def get(self, release_id: int) -> Release | None:
        return next((r for r in self.state.releases if r.id == release_id), None)

    async def of_decision(self, decision_id: int) -> Release | None:
        return next((r for r in self.state.releases if r.decision_id == decision_id), None)

    async def of_project(self, project_id: str, limit: int = 20) -> Sequence[Release]:
        mine = [r for r in reversed(self.state.releases) if r.project_id == project_id]
        return mine[:limit]

    async def before(self, release: Release) -> Release | None:
        earlier = [
            r
            for r in self.state.releases
            if r.project_id == release.project_id and (r.id or 0) < (release.id or 0)
        ]
        return earlier[-1] if earlier else None
