"""CI webhook deliveries: the first answer to each webhook id, replayed for its repeats."""

from __future__ import annotations

from datetime import datetime

from cibot.adapters.store import retention
from cibot.adapters.store import statements as q
from cibot.adapters.store.sql.base import SqlRepository
from cibot.service.ports import (
    Delivery,
)


class SqlDeliveries(SqlRepository):
    async def get(self, project_id: str, webhook_id: str) -> Delivery | None:
        params = {"p_project": project_id, "p_webhook": webhook_id}
        row = (await self._conn.execute(q.get_delivery, params)).first()
        return Delivery(**row._mapping) if row else None

    async def add(self, delivery: Delivery) -> None:
        row = {
            "project_id": delivery.project_id,
            "webhook_id": delivery.webhook_id,
            "body_sha256": delivery.body_sha256,
            "build_id": delivery.build_id,
            "created_at": self._clock.now(),
            "answer": dict(delivery.answer) if delivery.answer is not None else None,
        }
        await self._conn.execute(q.add_delivery, row)

    async def prune(self, before: datetime, limit: int) -> int:
        return await retention.prune_deliveries(self._conn, before, limit)
