"""Home tabs, in memory: by person."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from cibot.service.ports import (
    HomeMark,
)
from tests.support.memory.base import MemoryRepository
from tests.support.memory.state import Home


class MemoryHomes(MemoryRepository):
    async def open(self, user: str, event_id: str, at: datetime) -> bool:
        home = self.state.homes.setdefault(user, Home(opened_at=at))
        if home.event_id == event_id:
            return False
        home.event_id = event_id
        return True

    async def mark(
        self, users: Iterable[str], at: datetime, stale_before: datetime
    ) -> Sequence[HomeMark]:
        marked = []
        for user in sorted(set(users)):
            home = self.state.homes.get(user)
            if home is not None and (home.queued_at is None or home.queued_at < stale_before):
                home.queued_at = at
                marked.append(HomeMark(user, home.started_at))
        return marked

    async def take(self, user: str, at: datetime) -> bool:
        home = self.state.homes.get(user)
        if home is None:
            return False
        home.queued_at, home.started_at = None, at
        return True
