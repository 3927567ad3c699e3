"""The in-memory Store: committed state in dicts; a transaction works on a copy and publishes
it on success only, so a use case that fails half-way leaves nothing behind, as with SQL."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from cibot.service.jobs import JobPayload
from cibot.service.ports import (
    AuditEvent,
)
from tests.support.memory.audit import MemoryAuditTrail
from tests.support.memory.builds import MemoryBuilds
from tests.support.memory.deliveries import MemoryDeliveries
from tests.support.memory.freezes import MemoryFreezes
from tests.support.memory.groups import MemoryGroups
from tests.support.memory.homes import MemoryHomes
from tests.support.memory.jobs import MemoryJobs
from tests.support.memory.messages import MemoryMessages
from tests.support.memory.production import MemoryProduction
from tests.support.memory.releases import MemoryReleases
from tests.support.memory.reviews import MemoryReviews
from tests.support.memory.state import State


class MemoryTransaction:
    def __init__(self, state: State) -> None:
        self.state = state
        self.builds = MemoryBuilds(state)
        self.reviews = MemoryReviews(state)
        self.releases = MemoryReleases(state)
        self.production = MemoryProduction(state)
        self.freezes = MemoryFreezes(state)
        self.messages = MemoryMessages(state)
        self.deliveries = MemoryDeliveries(state)
        self.groups = MemoryGroups(state)
        self.homes = MemoryHomes(state)
        self.jobs = MemoryJobs(state)
        self.audit = MemoryAuditTrail(state)

    @asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        """As SQL's: what the block wrote is undone if it raises (the state restored in place,
        since every repository holds this very state)."""
        before, written = copy.deepcopy(self.state), len(self.audit.written)
        try:
            yield
        except BaseException:
            vars(self.state).update(vars(before))
            del self.audit.written[written:]
            raise


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
