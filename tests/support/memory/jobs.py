"""The jobs a transaction causes, in memory: kept in order, never run (a test runs them)."""

from __future__ import annotations

from datetime import datetime

from cibot.service.jobs import JobPayload
from tests.support.memory.base import MemoryRepository


class MemoryJobs(MemoryRepository):
    async def enqueue(
        self, payload: JobPayload, run_at: datetime | None = None, dedupe_key: str | None = None
    ) -> None:
        if dedupe_key is not None:
            if dedupe_key in self.state.dedupe_keys:
                return
            self.state.dedupe_keys.add(dedupe_key)
        self.state.jobs.append((payload, run_at))

    async def waiting(self, payload: JobPayload) -> bool:
        """Every enqueued job waits here (none is run): one due now with this payload."""
        return any(job == payload and at is None for job, at in self.state.jobs)

    async def prune_finished(self, before: datetime, limit: int) -> int:
        return 0
