"""The store's frequent statements, built once with bound parameters.

Building a SQLAlchemy statement per call (`.where(col == value)`, `.values(...)`) costs more
CPU than SQLite takes to run it; these are built at import and only their parameters change,
so each execution is a cache hit.
"""

from __future__ import annotations

import functools

import sqlalchemy as sa
from sqlalchemy.sql.dml import Insert

from cibot.adapters.store import tables as t
from cibot.domain.build import LIVE, BuildState

b, d = t.builds, t.webhook_deliveries
_of_target = sa.and_(
    b.c.project_id == sa.bindparam("p_project"),
    b.c.type == sa.bindparam("p_type"),
    b.c.target == sa.bindparam("p_target"),
)

get_build = b.select().where(b.c.id == sa.bindparam("p_id"))
lock_build = get_build.with_for_update()
add_build = b.insert()

live_builds_of_target = (
    b.select()
    .where(_of_target, b.c.state.in_([s.value for s in LIVE]))
    .order_by(b.c.created_at, b.c.id)
)

# A stale build (T16: it came late) is never deployed, so it is neither the target's newest
# build (the one whose preview it is) nor a measure of its build numbers.
_not_stale = b.c.state != BuildState.STALE.value
_newest = (
    sa.select(b.c.id)
    .where(_of_target, _not_stale)
    .order_by(b.c.created_at.desc(), b.c.id.desc())
    .limit(1)
)
_highest = sa.select(sa.func.max(b.c.build_number)).where(_of_target, _not_stale)
target_summary = sa.select(
    _newest.scalar_subquery().label("newest"), _highest.scalar_subquery().label("highest")
)

get_delivery = sa.select(
    d.c.project_id, d.c.webhook_id, d.c.body_sha256, d.c.build_id, d.c.answer
).where(d.c.project_id == sa.bindparam("p_project"), d.c.webhook_id == sa.bindparam("p_webhook"))
add_delivery = d.insert()
add_job = t.jobs.insert()
add_audit = t.audit_events.insert()


@functools.cache
def lock_target() -> Insert:
    """PostgreSQL only: the upsert row-locks the target until the transaction ends. (On
    SQLite the whole transaction already holds the database's one write lock.) Built at its
    first use: SQLAlchemy's PostgreSQL dialect is not loaded on SQLite."""
    from sqlalchemy.dialects import postgresql

    upsert = postgresql.insert(t.targets)
    return upsert.on_conflict_do_update(
        index_elements=["project_id", "type", "target"],
        set_={"touched_at": upsert.excluded.touched_at},
    )
