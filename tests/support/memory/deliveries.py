"""CI webhook deliveries, in memory: by (project, webhook id)."""

from __future__ import annotations

from datetime import datetime

from cibot.service.ports import (
    Delivery,
)
from tests.support.memory.base import MemoryRepository


class MemoryDeliveries(MemoryRepository):
    async def get(self, project_id: str, webhook_id: str) -> Delivery | None:
        return self.state.deliveries.get((project_id, webhook_id))

    async def add(self, delivery: Delivery) -> None:
        self.state.deliveries[(delivery.project_id, delivery.webhook_id)] = delivery

    async def prune(self, before: datetime, limit: int) -> int:
        return 0
