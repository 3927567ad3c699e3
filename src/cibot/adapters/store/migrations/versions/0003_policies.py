"""Policies and lifecycle: authors, review times, groups, freezes, releases, one deploy at a time,
unique jobs, and an audit table that refuses updates and deletes.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from cibot.adapters.store.tables import UtcDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer, "sqlite")

_APPEND_ONLY = "audit_events is append-only"


def upgrade() -> None:
    with op.batch_alter_table("builds") as builds:
        builds.add_column(sa.Column("author_user", sa.String(32)))
        for name in ("ready_at", "active_at", "idle_warned_for", "removal_at"):
            builds.add_column(sa.Column(name, UtcDateTime()))
    op.create_index("ix_builds_project_state", "builds", ["project_id", "state"])
    with op.batch_alter_table("jobs") as jobs:
        jobs.add_column(sa.Column("dedupe_key", sa.String(200)))
        jobs.create_unique_constraint("uq_jobs_dedupe_key", ["dedupe_key"])
    with op.batch_alter_table("decisions") as decisions:
        decisions.add_column(sa.Column("note", sa.Text))
    op.create_table(
        "slack_groups",
        sa.Column("group_id", sa.String(32), nullable=False),
        sa.Column("members", sa.JSON, nullable=False),
        sa.Column("refreshed_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("group_id", name="pk_slack_groups"),
    )
    op.create_table(
        "freezes",
        sa.Column("project_id", sa.String(64), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("actor", sa.String(32), nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("project_id", name="pk_freezes"),
    )
    op.create_table(
        "releases",
        sa.Column("id", Id, autoincrement=True),
        sa.Column("project_id", sa.String(64), nullable=False),
        sa.Column("build_id", sa.String(32), nullable=False),
        sa.Column("decision_id", sa.BigInteger),
        sa.Column("image", sa.String(640), nullable=False),
        sa.Column("digest", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(32), nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("rolled_back_from", sa.BigInteger),
        sa.PrimaryKeyConstraint("id", name="pk_releases"),
    )
    op.create_index("ix_releases_project", "releases", ["project_id", "id"])
    op.create_table(
        "production_slots",
        sa.Column("project_id", sa.String(64), nullable=False),
        sa.Column("build_id", sa.String(32)),
        sa.Column("decision_id", sa.BigInteger),
        sa.Column("since", UtcDateTime()),
        sa.PrimaryKeyConstraint("project_id", name="pk_production_slots"),
    )
    _append_only_audit()


def _append_only_audit() -> None:
    """Triggers that make the database itself refuse to change or remove audit rows."""
    if op.get_context().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION cibot_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN RAISE EXCEPTION '{_APPEND_ONLY}'; END $$"
        )
        op.execute(
            "CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events "
            "FOR EACH ROW EXECUTE FUNCTION cibot_audit_append_only()"
        )
        return
    for event in ("UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER audit_events_no_{event.lower()} BEFORE {event} ON audit_events "
            f"BEGIN SELECT RAISE(ABORT, '{_APPEND_ONLY}'); END"
        )


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.execute("DROP TRIGGER audit_events_append_only ON audit_events")
        op.execute("DROP FUNCTION cibot_audit_append_only()")
    else:
        op.execute("DROP TRIGGER audit_events_no_update")
        op.execute("DROP TRIGGER audit_events_no_delete")
    for table in ("production_slots", "releases", "freezes", "slack_groups"):
        op.drop_table(table)
    with op.batch_alter_table("decisions") as decisions:
        decisions.drop_column("note")
    with op.batch_alter_table("jobs") as jobs:
        jobs.drop_constraint("uq_jobs_dedupe_key", type_="unique")
        jobs.drop_column("dedupe_key")
    op.drop_index("ix_builds_project_state", "builds")
    with op.batch_alter_table("builds") as builds:
        for name in ("removal_at", "idle_warned_for", "active_at", "ready_at", "author_user"):
            builds.drop_column(name)
