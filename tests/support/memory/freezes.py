"""Freezes set from Slack, in memory: by project."""

from __future__ import annotations

from cibot.domain.policy import Freeze
from tests.support.memory.base import MemoryRepository


class MemoryFreezes(MemoryRepository):
    async def get(self, project_id: str) -> Freeze | None:
        return self.state.freezes.get(project_id)

    async def set(self, project_id: str, freeze: Freeze) -> bool:
        if project_id in self.state.freezes:
            return False
        self.state.freezes[project_id] = freeze
        return True

    async def lift(self, project_id: str) -> Freeze | None:
        return self.state.freezes.pop(project_id, None)
