"""Pruning what ci-bot no longer needs, in small batches (each its own short transaction).

Three kinds of rows grow with every build and are never read again after a while:
webhook deliveries (kept so a retried request replays its first answer; a request older
than the signature's 5-minute window cannot come again), finished jobs (done or dead), and
the Slack message slots of builds that can no longer change. The audit table is not here:
it is append-only, and the database refuses deletes from it.

A message slot may go only when nothing will ever redraw its message, else ci-bot would
post it again instead of updating it: so only slots of builds in a state no build leaves
(closed, superseded, stale), and never the announcement of a project's newest release
(the next release redraws it, to take its **Roll back** away). Freeze announcements are
posted once and never redrawn.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from cibot.adapters.store import tables as t
from cibot.adapters.store.database import Conn
from cibot.domain.build import BuildState
from cibot.service.jobs import JobState

_FINAL = [s.value for s in (BuildState.CLOSED, BuildState.SUPERSEDED, BuildState.STALE)]
_FINISHED = [JobState.DONE.value, JobState.DEAD.value]


async def _delete_keys(conn: Conn, table: sa.Table, keys: sa.Select[tuple[object, ...]]) -> int:
    """Delete the rows whose primary keys `keys` selects (one statement); the count deleted.

    `(key) IN (SELECT …)` finds them through the primary key on both backends, where a list
    of values would make SQLite read the whole table."""
    columns = list(table.primary_key.columns)
    key = sa.tuple_(*columns) if len(columns) > 1 else columns[0]
    result = await conn.execute(table.delete().where(key.in_(keys)))
    return int(result.rowcount)


async def prune_deliveries(conn: Conn, before: datetime, limit: int) -> int:
    d = t.webhook_deliveries
    keys = sa.select(d.c.project_id, d.c.webhook_id).where(d.c.created_at < before).limit(limit)
    return await _delete_keys(conn, d, keys)


async def prune_finished_jobs(conn: Conn, before: datetime, limit: int) -> int:
    j = t.jobs
    keys = sa.select(j.c.id).where(j.c.state.in_(_FINISHED), j.c.updated_at < before).limit(limit)
    return await _delete_keys(conn, j, keys)


async def prune_message_slots(conn: Conn, before: datetime, limit: int) -> int:
    m, b, r = t.slack_messages, t.builds, t.releases
    newest = sa.select(sa.func.max(r.c.id)).group_by(r.c.project_id).scalar_subquery()
    kept_announcements = sa.select(sa.literal("announce:") + sa.cast(r.c.decision_id, sa.String))
    kept_announcements = kept_announcements.where(r.c.id.in_(newest), r.c.decision_id.is_not(None))
    of_final_builds = sa.and_(
        b.c.state.in_(_FINAL),
        b.c.updated_at < before,
        m.c.role.not_in(kept_announcements),
    )
    keys = (
        sa.select(m.c.build_id, m.c.role, m.c.user_id)
        .select_from(m.outerjoin(b, b.c.id == m.c.build_id))
        .where(m.c.created_at < before, sa.or_(m.c.build_id == "", of_final_builds))
        .limit(limit)
    )
    deleted = await _delete_keys(conn, m, keys)
    p = t.slack_posting  # posts begun long ago: their jobs are long settled
    begun = sa.select(p.c.build_id, p.c.role, p.c.user_id).where(p.c.since < before).limit(limit)
    return deleted + await _delete_keys(conn, p, begun)
