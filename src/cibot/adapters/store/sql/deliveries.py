"""CI webhook deliveries: the first answer to each webhook id, replayed for its repeats."""

from __future__ import annotations

from datetime import datetime

from cibot.adapters.store import retention
from cibot.adapters.store import statements as q
from cibot.adapters.store.sql.base import SqlRepository
from cibot.service.errors import StoreConflict
from cibot.service.ports import (
    Delivery,
)


class SqlDeliveries(SqlRepository):
    async def get(self, project_id: str, webhook_id: str) -> Delivery | None:
        params = {"p_project": project_id, "p_webhook": webhook_id}
        row = (await self._conn.execute(q.get_delivery, params)).first()
        return Delivery(**row._mapping) if row else None

    async def add(self, delivery: Delivery) -> None:
        await self._conn.execute(q.add_delivery, self._row(delivery))

    async def claim(self, delivery: Delivery) -> Delivery | None:
        claim = q.claim_delivery(self._conn.dialect.name)
        result = await self._conn.execute(claim, self._row(delivery))
        if result.rowcount == 1:
            return None
        # Taken: by a delivery committed before, or (PostgreSQL) by a concurrent one, which
        # the insert waited for; either way it is there to read now (unless pruned meanwhile:
        # a conflict, tried again).
        first = await self.get(delivery.project_id, delivery.webhook_id)
        if first is None:
            raise StoreConflict(f"webhook id {delivery.webhook_id!r} taken and gone")
        return first

    async def set_build(self, project_id: str, webhook_id: str, build_id: str) -> None:
        params = {"p_project": project_id, "p_webhook": webhook_id, "p_build": build_id}
        await self._conn.execute(q.set_delivery_build, params)

    def _row(self, delivery: Delivery) -> dict[str, object]:
        return {
            "project_id": delivery.project_id,
            "webhook_id": delivery.webhook_id,
            "body_sha256": delivery.body_sha256,
            "build_id": delivery.build_id,
            "created_at": self._clock.now(),
            "answer": dict(delivery.answer) if delivery.answer is not None else None,
        }

    async def prune(self, before: datetime, limit: int) -> int:
        return await retention.prune_deliveries(self._conn, before, limit)
