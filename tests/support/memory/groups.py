"""Slack user groups as last read, in memory."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from cibot.domain.project import GroupSnapshot
from tests.support.memory.base import MemoryRepository


class MemoryGroups(MemoryRepository):
    async def members(self, group_ids: Iterable[str]) -> dict[str, frozenset[str]]:
        return {g: self.state.groups[g] for g in group_ids if g in self.state.groups}

    async def snapshots(self, group_ids: Iterable[str]) -> dict[str, GroupSnapshot]:
        return {
            g: GroupSnapshot(self.state.groups[g], self.state.groups_read_at[g])
            for g in group_ids
            if g in self.state.groups
        }

    async def save(self, group_id: str, members: frozenset[str], at: datetime) -> None:
        self.state.groups[group_id] = members
        self.state.groups_read_at[group_id] = at
