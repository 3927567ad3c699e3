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
    """Delete the rows whose primary keys `keys` selects; the count deleted.

    Each key is named on its own (`a = ? AND b = ?`, or'ed): both backends find each row
    through the primary key, where `(a, b) IN (VALUES …)` makes SQLite read the whole table
    and `IN (SELECT … LIMIT)` lets PostgreSQL's plan walk it."""
    rows = (await conn.execute(keys)).all()
    if not rows:
        return 0
    columns = list(table.primary_key.columns)
    where: sa.ColumnElement[bool]
    if len(columns) == 1:
        where = columns[0].in_([row[0] for row in rows])
    else:
        where = sa.or_(
            *(sa.and_(*(c == v for c, v in zip(columns, row, strict=True))) for row in rows)
        )
    result = await conn.execute(table.delete().where(where))
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
    m, b, r, newer = t.slack_messages, t.builds, t.releases, t.releases.alias("newer")
    # The announcement of a project's newest release stays. Looked up per candidate slot,
    # through the release's decision id in the role (`announce:<id>`): never all releases.
    announced = sa.case(
        (m.c.role.like("announce:%"), sa.cast(sa.func.substr(m.c.role, 10), sa.BigInteger))
    )
    newest = sa.select(sa.func.max(newer.c.id)).where(newer.c.project_id == r.c.project_id)
    is_newest = r.c.id == newest.scalar_subquery()
    kept_announcement = sa.exists().where(r.c.decision_id == announced, is_newest)
    of_final_builds = sa.and_(
        b.c.state.in_(_FINAL),
        b.c.updated_at < before,
        ~kept_announcement,
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
