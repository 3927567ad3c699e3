"""The audit trail, in memory: a list in the order written."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from cibot.service.audit import audit_action
from cibot.service.ports import AuditEvent
from tests.support.memory.base import MemoryRepository
from tests.support.memory.state import State


class MemoryAuditTrail(MemoryRepository):
    def __init__(self, state: State) -> None:
        super().__init__(state)
        self.written: list[AuditEvent] = []  # this transaction's rows (the before_commit hook's)

    async def append(self, event: AuditEvent) -> None:
        audit_action(event.action)
        self.state.audit.append(event)
        self.written.append(event)

    async def events(
        self, project_id: str | None = None, since: datetime | None = None, limit: int = 100
    ) -> Sequence[AuditEvent]:
        rows = [
            replace(e, id=i + 1)
            for i, e in enumerate(self.state.audit)
            if (project_id is None or e.project_id == project_id)
            and (since is None or e.at >= since)
        ]
        return rows[::-1][:limit]
