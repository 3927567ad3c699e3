"""The in-memory Store: committed state in dicts; a transaction works on a copy and publishes
it on success only, so a use case that fails half-way leaves nothing behind, as with SQL."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from cibot.service.jobs import JobPayload
from cibot.service.ports import (
    AuditEvent,
    HomeMark,
)
from tests.support.memory.audit import MemoryAuditTrail
from tests.support.memory.builds import MemoryBuilds
from tests.support.memory.deliveries import MemoryDeliveries
from tests.support.memory.freezes import MemoryFreezes
from tests.support.memory.groups import MemoryGroups
from tests.support.memory.jobs import MemoryJobs
from tests.support.memory.messages import MemoryMessages
from tests.support.memory.production import MemoryProduction
from tests.support.memory.releases import MemoryReleases
from tests.support.memory.reviews import MemoryReviews
from tests.support.memory.state import Home, State


class MemoryTransaction:
    def __init__(self, state: State) -> None:
        self.state = state
        self.audit = MemoryAuditTrail(state)
        self.groups = MemoryGroups(state)
        self.messages = MemoryMessages(state)
        self.freezes = MemoryFreezes(state)
        self.production = MemoryProduction(state)
        self.releases = MemoryReleases(state)
        self.reviews = MemoryReviews(state)
        self.builds = MemoryBuilds(state)
        self.deliveries = MemoryDeliveries(state)
        self.jobs = MemoryJobs(state)

    async def open_home(self, user: str, event_id: str, at: datetime) -> bool:
        home = self.state.homes.setdefault(user, Home(opened_at=at))
        if home.event_id == event_id:
            return False
        home.event_id = event_id
        return True

    async def mark_homes(
        self, users: Iterable[str], at: datetime, stale_before: datetime
    ) -> Sequence[HomeMark]:
        marked = []
        for user in sorted(set(users)):
            home = self.state.homes.get(user)
            if home is not None and (home.queued_at is None or home.queued_at < stale_before):
                home.queued_at = at
                marked.append(HomeMark(user, home.started_at))
        return marked

    async def take_home(self, user: str, at: datetime) -> bool:
        home = self.state.homes.get(user)
        if home is None:
            return False
        home.queued_at, home.started_at = None, at
        return True

    # Retention is tested on the real store; the memory one keeps no row times to prune by.


class MemoryStore:
    def __init__(self) -> None:
        self.state = State()
        # As SqlStore's: called before a commit with the transaction's audit rows.
        self.before_commit: Callable[[Any, Sequence[AuditEvent]], Awaitable[None]] | None = None

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[MemoryTransaction]:
        draft = copy.deepcopy(self.state)
        tx = MemoryTransaction(draft)
        yield tx
        if self.before_commit is not None and tx.audit.written:
            await self.before_commit(tx, tuple(tx.audit.written))
        self.state = draft

    def jobs_of(self, kind: type[JobPayload]) -> list[Any]:
        return [payload for payload, _ in self.state.jobs if isinstance(payload, kind)]
