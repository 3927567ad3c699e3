"""Slack message slots, in memory: by (build, role, user)."""

from __future__ import annotations

from datetime import datetime

from cibot.service.ports import (
    MessageRef,
)
from tests.support.memory.base import MemoryRepository


class MemoryMessages(MemoryRepository):
    async def get(self, build_id: str, role: str, user: str = "") -> MessageRef | None:
        return self.state.messages.get((build_id, role, user))

    async def save(self, build_id: str, role: str, ref: MessageRef, user: str = "") -> None:
        self.state.messages[(build_id, role, user)] = ref
        self.state.posting.pop((build_id, role, user), None)

    async def begin_post(self, build_id: str, role: str, user: str, at: datetime) -> None:
        self.state.posting.setdefault((build_id, role, user), at)

    async def post_begun(self, build_id: str, role: str, user: str) -> datetime | None:
        return self.state.posting.get((build_id, role, user))

    async def of_role(self, build_id: str, role: str) -> dict[str, MessageRef]:
        return {
            u: ref for (b, r, u), ref in self.state.messages.items() if (b, r) == (build_id, role)
        }

    async def prune(self, before: datetime, limit: int) -> int:
        return 0
