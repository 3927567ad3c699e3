"""CI webhook deliveries, in memory: by (project, webhook id)."""

from __future__ import annotations

from dataclasses import replace
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

    async def claim(self, delivery: Delivery) -> Delivery | None:
        first = self.state.deliveries.setdefault(
            (delivery.project_id, delivery.webhook_id), delivery
        )
        return None if first is delivery else first

    async def set_build(self, project_id: str, webhook_id: str, build_id: str) -> None:
        key = (project_id, webhook_id)
        self.state.deliveries[key] = replace(self.state.deliveries[key], build_id=build_id)

    async def prune(self, before: datetime, limit: int) -> int:
        return 0
