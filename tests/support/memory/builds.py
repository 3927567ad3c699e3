"""The builds, in memory: by id; one transaction at a time, so a lock is nothing."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from cibot.domain.build import LIVE, Build, BuildState, BuildType
from cibot.service.ports import (
    TargetSummary,
)
from tests.support.memory.base import MemoryRepository


class MemoryBuilds(MemoryRepository):
    async def lock_target(self, project_id: str, build_type: BuildType, target: str) -> None:
        return None

    async def get(self, build_id: str) -> Build | None:
        return self.state.builds.get(build_id)

    async def lock(self, build_id: str) -> Build | None:
        return self.state.builds.get(build_id)  # one transaction at a time in memory

    async def add(self, build: Build) -> None:
        self.state.builds[build.id] = build

    async def move(self, before: Build, after: Build) -> bool:
        current = self.state.builds.get(before.id)
        if current is None or current.state is not before.state:
            return False
        changed = {
            name: getattr(after, name)
            for name in Build.__slots__
            if getattr(after, name) != getattr(before, name)
        }
        self.state.builds[after.id] = replace(current, **changed)
        return True

    async def live_of_target(
        self, project_id: str, build_type: BuildType, target: str
    ) -> Sequence[Build]:
        return [b for b in self._of_target(project_id, build_type, target) if b.state in LIVE]

    async def target_summary(
        self, project_id: str, build_type: BuildType, target: str
    ) -> TargetSummary:
        builds = [
            b
            for b in self._of_target(project_id, build_type, target)
            if b.state is not BuildState.STALE
        ]
        numbers = [b.build_number for b in builds if b.build_number is not None]
        return TargetSummary(builds[-1].id if builds else None, max(numbers, default=None))

    async def live_and_highest(
        self, project_id: str, build_type: BuildType, target: str
    ) -> tuple[Sequence[Build], int | None]:
        live = await self.live_of_target(project_id, build_type, target)
        summary = await self.target_summary(project_id, build_type, target)
        return live, summary.highest_build_number

    async def touch(self, build_id: str, at: datetime) -> None:
        self._set_build(build_id, active_at=at)

    async def set_author_user(self, build_id: str, user: str) -> None:
        self._set_build(build_id, author_user=user)

    async def mark_idle_warning(
        self, build_id: str, idle_since: datetime, removal_at: datetime
    ) -> None:
        self._set_build(build_id, idle_warned_for=idle_since, removal_at=removal_at)

    async def of_project(self, project_id: str, states: Iterable[BuildState]) -> Sequence[Build]:
        wanted = frozenset(states)
        found = [
            b
            for b in self.state.builds.values()
            if b.project_id == project_id and b.state in wanted
        ]
        return sorted(found, key=lambda b: (b.created_at, b.id))

    def _set_build(self, build_id: str, **values: Any) -> None:
        if build_id in self.state.builds:
            self.state.builds[build_id] = replace(self.state.builds[build_id], **values)

    def _of_target(self, project_id: str, build_type: BuildType, target: str) -> list[Build]:
        found = [
            b
            for b in self.state.builds.values()
            if (b.project_id, b.type, b.target) == (project_id, build_type, target)
        ]
        return sorted(found, key=lambda b: (b.created_at, b.id))
