"""The store's frequent statements, built once with bound parameters.

Building a SQLAlchemy statement per call (`.where(col == value)`, `.values(...)`) costs more
CPU than SQLite takes to run it (about 75 µs against 20 µs for a built one, each a cache
hit); these are built at import and only their parameters change. Among them, every
statement of a review click, which Slack waits for: the build, its verdicts, the project's
freeze and production slot, the verdict, the build's activity, the Home tabs to publish.
"""

from __future__ import annotations

import functools

import sqlalchemy as sa
from sqlalchemy.sql.dml import Insert, Update

from cibot.adapters.store import tables as t
from cibot.domain.build import LIVE, BuildState

b, d = t.builds, t.webhook_deliveries
_of_target = sa.and_(
    b.c.project_id == sa.bindparam("p_project"),
    b.c.type == sa.bindparam("p_type"),
    b.c.target == sa.bindparam("p_target"),
)

# The live states written into the SQL text: a list of values would be an IN parameter
# expanded again at every execution (on SQLite, a third of the time of such a read).
_live = b.c.state.in_([sa.literal_column(f"'{s.value}'") for s in LIVE])

get_build = b.select().where(b.c.id == sa.bindparam("p_id"))
lock_build = get_build.with_for_update()
add_build = b.insert()

live_builds_of_target = b.select().where(_of_target, _live).order_by(b.c.created_at, b.c.id)

# A stale build (T16: it came late) is never deployed, so it is neither the target's newest
# build (the one whose preview it is) nor a measure of its build numbers.
_not_stale = b.c.state != BuildState.STALE.value
_newest = (
    sa.select(b.c.id)
    .where(_of_target, _not_stale)
    .order_by(b.c.created_at.desc(), b.c.id.desc())
    .limit(1)
)
# The highest number first, by ix_builds_target_number: the read stops at the first build
# not stale, where max() would read every build the target ever had.
_highest = (
    sa.select(b.c.build_number)
    .where(_of_target, _not_stale, b.c.build_number.is_not(None))
    .order_by(b.c.build_number.desc())
    .limit(1)
)
target_summary = sa.select(
    _newest.scalar_subquery().label("newest"), _highest.scalar_subquery().label("highest")
)


@functools.lru_cache(maxsize=64)
def move_build(columns: tuple[str, ...]) -> Update:
    """A compare-and-set on a build's state writing `columns` (bound as `v_<column>`): one
    statement per set of columns a move changes, of which there are few."""
    return (
        b.update()
        .where(b.c.id == sa.bindparam("p_id"), b.c.state == sa.bindparam("p_state"))
        .values({c: sa.bindparam(f"v_{c}", type_=b.c[c].type) for c in columns})
    )


# What an intake reads of its target, at once: the highest build number's one row, joined
# to the target's live builds (none: one row of NULL build columns).
_highest_row = sa.select(_highest.scalar_subquery().label("highest")).subquery("summary")
live_and_highest = (
    sa.select(_highest_row.c.highest, b)
    .select_from(_highest_row.outerjoin(b, sa.and_(_of_target, _live)))
    .order_by(b.c.created_at, b.c.id)
)

get_delivery = sa.select(
    d.c.project_id, d.c.webhook_id, d.c.body_sha256, d.c.build_id, d.c.answer
).where(d.c.project_id == sa.bindparam("p_project"), d.c.webhook_id == sa.bindparam("p_webhook"))
add_delivery = d.insert()
set_delivery_build = (
    d.update()
    .where(d.c.project_id == sa.bindparam("p_project"), d.c.webhook_id == sa.bindparam("p_webhook"))
    .values(build_id=sa.bindparam("p_build"))
)
add_job = t.jobs.insert()
add_audit = t.audit_events.insert()

touch_build = (
    b.update().where(b.c.id == sa.bindparam("p_id")).values(active_at=sa.bindparam("p_at"))
)

v = t.verdicts
verdicts_of = v.select().where(v.c.build_id == sa.bindparam("p_build"))
freeze_of = t.freezes.select().where(t.freezes.c.project_id == sa.bindparam("p_project"))
production_busy_with = sa.select(t.production_slots.c.build_id).where(
    t.production_slots.c.project_id == sa.bindparam("p_project")
)

h = t.app_homes
homes_to_mark = (
    sa.select(h.c.user_id, h.c.queued_at, h.c.started_at)
    .where(h.c.user_id.in_(sa.bindparam("p_users", expanding=True)))
    .order_by(h.c.user_id)
    .with_for_update()
)
mark_homes = (
    h.update()
    .where(h.c.user_id.in_(sa.bindparam("p_users", expanding=True)))
    .values(queued_at=sa.bindparam("p_at"))
)
g = t.slack_groups
groups_of = sa.select(g).where(g.c.group_id.in_(sa.bindparam("p_groups", expanding=True)))


@functools.cache
def add_verdict(dialect: str) -> Insert:
    """A verdict unless the person gave one already (ON CONFLICT DO NOTHING: the dialect's
    own INSERT, so built once per dialect; PostgreSQL's is imported only there)."""
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(v).on_conflict_do_nothing(index_elements=["build_id", "user_id"])
    from sqlalchemy.dialects import sqlite

    return sqlite.insert(v).on_conflict_do_nothing(index_elements=["build_id", "user_id"])


@functools.cache
def claim_delivery(dialect: str) -> Insert:
    """The delivery, inserted unless its (project, webhook id) is taken: one statement for
    the idempotency check and the insert (`ON CONFLICT DO NOTHING`, which both backends
    speak; the rowcount says which happened)."""
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(d).on_conflict_do_nothing(
            index_elements=["project_id", "webhook_id"]
        )
    from sqlalchemy.dialects import sqlite

    return sqlite.insert(d).on_conflict_do_nothing(index_elements=["project_id", "webhook_id"])


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
