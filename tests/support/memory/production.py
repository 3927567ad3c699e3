"""The production slots, in memory: project -> (build, decision)."""

from __future__ import annotations

from datetime import datetime

from tests.support.memory.base import MemoryRepository


class MemoryProduction(MemoryRepository):
    async def claim(self, project_id: str, build_id: str, decision_id: int, at: datetime) -> bool:
        if project_id in self.state.slots:
            return False
        self.state.slots[project_id] = (build_id, decision_id)
        return True

    async def busy_with(self, project_id: str) -> str | None:
        slot = self.state.slots.get(project_id)
        return slot[0] if slot else None

    async def free(self, project_id: str, decision_id: int) -> None:
        slot = self.state.slots.get(project_id)
        if slot is not None and slot[1] == decision_id:
            del self.state.slots[project_id]

    async def holder(self, project_id: str) -> int | None:
        slot = self.state.slots.get(project_id)
        return slot[1] if slot else None
