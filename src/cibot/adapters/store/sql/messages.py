"""Where ci-bot posted each Slack message (its slot), so a change is an update, never a re-post."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from cibot.adapters.store import retention
from cibot.adapters.store import tables as t
from cibot.adapters.store.sql.base import SqlRepository
from cibot.service.ports import (
    MessageRef,
)


class SqlMessages(SqlRepository):
    async def get(self, build_id: str, role: str, user: str = "") -> MessageRef | None:
        m = t.slack_messages
        row = (
            await self._conn.execute(
                sa.select(m.c.channel, m.c.ts).where(
                    m.c.build_id == build_id, m.c.role == role, m.c.user_id == user
                )
            )
        ).first()
        return MessageRef(channel=row.channel, ts=row.ts) if row else None

    async def save(self, build_id: str, role: str, ref: MessageRef, user: str = "") -> None:
        await self._conn.execute(
            t.slack_messages.insert().values(
                build_id=build_id,
                role=role,
                user_id=user,
                channel=ref.channel,
                ts=ref.ts,
                created_at=self._clock.now(),
            )
        )
        p = t.slack_posting
        await self._conn.execute(
            p.delete().where(p.c.build_id == build_id, p.c.role == role, p.c.user_id == user)
        )

    async def begin_post(self, build_id: str, role: str, user: str, at: datetime) -> None:
        statement = self._insert()(t.slack_posting).values(
            build_id=build_id, role=role, user_id=user, since=at
        )
        await self._conn.execute(statement.on_conflict_do_nothing())

    async def post_begun(self, build_id: str, role: str, user: str) -> datetime | None:
        p = t.slack_posting
        query = sa.select(p.c.since).where(
            p.c.build_id == build_id, p.c.role == role, p.c.user_id == user
        )
        since: datetime | None = (await self._conn.execute(query)).scalar()
        return since

    async def of_role(self, build_id: str, role: str) -> dict[str, MessageRef]:
        m = t.slack_messages
        rows = await self._conn.execute(
            sa.select(m.c.user_id, m.c.channel, m.c.ts).where(
                m.c.build_id == build_id, m.c.role == role
            )
        )
        return {r.user_id: MessageRef(r.channel, r.ts) for r in rows}

    async def prune(self, before: datetime, limit: int) -> int:
        return await retention.prune_message_slots(self._conn, before, limit)
