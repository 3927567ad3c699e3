"""The schema, as SQLAlchemy Core tables. Alembic migrations create and evolve it.

Times are stored as timezone-aware timestamps (UTC). Ids are strings made by the service,
so rows can be referenced in Slack button values before any database round trip.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UtcDateTime(sa.TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite keeps no zone: store UTC, read it back so)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; pass an aware UTC time")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


Time = UtcDateTime()

builds = sa.Table(
    "builds",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("project_id", sa.String(64), nullable=False),
    sa.Column("type", sa.String(16), nullable=False),
    sa.Column("target", sa.String(255), nullable=False),
    sa.Column("image", sa.String(512), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("updated_at", Time, nullable=False),
    sa.Column("commit", sa.String(64)),
    sa.Column("author", sa.String(255)),
    sa.Column("build_number", sa.BigInteger),
    sa.Column("ci_url", sa.String(2048)),
    sa.Column("digest", sa.String(128)),
    sa.Column("preview_url", sa.String(2048)),
    sa.Column("reason", sa.Text),
    sa.Column("superseded_by", sa.String(32)),
    sa.Column("author_user", sa.String(32)),
    sa.Column("ready_at", Time),
    sa.Column("active_at", Time),
    sa.Column("idle_warned_for", Time),
    sa.Column("removal_at", Time),
    sa.Index("ix_builds_target", "project_id", "type", "target", "created_at"),
    sa.Index("ix_builds_target_state", "project_id", "type", "target", "state"),
    sa.Index("ix_builds_target_number", "project_id", "type", "target", "build_number"),
    sa.Index("ix_builds_project_state", "project_id", "state"),
)

targets = sa.Table(  # one row per (project, type, target): the lock that serialises intake
    "targets",
    metadata,
    sa.Column("project_id", sa.String(64), primary_key=True),
    sa.Column("type", sa.String(16), primary_key=True),
    sa.Column("target", sa.String(255), primary_key=True),
    sa.Column("touched_at", Time, nullable=False),
)

webhook_deliveries = sa.Table(
    "webhook_deliveries",
    metadata,
    sa.Column("project_id", sa.String(64), primary_key=True),
    sa.Column("webhook_id", sa.String(256), primary_key=True),
    sa.Column("body_sha256", sa.String(64), nullable=False),
    sa.Column("build_id", sa.String(32), nullable=False),  # "" when the answer is no build
    sa.Column("created_at", Time, nullable=False),
    sa.Column("answer", sa.JSON(none_as_null=True)),  # the first answer, if more than an id
    sa.Index("ix_deliveries_created", "created_at"),
)

# The predicate of the partial index `ix_jobs_live`, in literals: a query that repeats it word
# for word is one each planner can serve from that index (neither matches a bound parameter).
JOBS_LIVE = "state IN ('pending', 'running')"

jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("queue", sa.String(400)),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("run_at", Time, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("lease_owner", sa.String(128)),
    sa.Column("lease_expires_at", Time),
    sa.Column("last_error", sa.Text),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("updated_at", Time, nullable=False),
    sa.Column("dedupe_key", sa.String(200), unique=True),  # at most one job per key, ever
    sa.Index("ix_jobs_ready", "state", "run_at"),
    sa.Index("ix_jobs_queue", "queue", "state"),
    sa.Index("ix_jobs_finished", "state", "updated_at"),
    # The claim's walk: live jobs in the order they are claimed, so a claim reads from the
    # head and stops at the first it may take (queue.py), whatever the backlog.
    sa.Index(
        "ix_jobs_live",
        "run_at",
        "id",
        postgresql_where=sa.text(JOBS_LIVE),
        sqlite_where=sa.text(JOBS_LIVE),
    ),
)

slack_messages = sa.Table(
    "slack_messages",
    metadata,
    sa.Column("build_id", sa.String(32), primary_key=True),
    sa.Column("role", sa.String(32), primary_key=True),
    sa.Column("user_id", sa.String(32), primary_key=True),  # "" for channel messages
    sa.Column("channel", sa.String(32), nullable=False),
    sa.Column("ts", sa.String(32), nullable=False),
    sa.Column("created_at", Time, nullable=False),
    sa.Index("ix_messages_created", "created_at"),
)

slack_posting = sa.Table(  # a post about to be made: if ci-bot dies before its ts is saved,
    "slack_posting",  # the next try looks for it in Slack (by its metadata key) before posting
    metadata,
    sa.Column("build_id", sa.String(32), primary_key=True),
    sa.Column("role", sa.String(64), primary_key=True),
    sa.Column("user_id", sa.String(32), primary_key=True),
    sa.Column("since", Time, nullable=False),
    sa.Index("ix_posting_since", "since"),
)

audit_events = sa.Table(
    "audit_events",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("at", Time, nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("project_id", sa.String(64)),
    sa.Column("build_id", sa.String(32)),
    sa.Column("actor", sa.String(64)),
    sa.Column("detail", sa.JSON),
    sa.Index("ix_audit_project_at", "project_id", "at"),
    sa.Index("ix_audit_project_id", "project_id", "id"),  # a project's newest first
    sa.Index("ix_audit_at", "at"),
)

verdicts = sa.Table(  # one verdict per QA member per build: the primary key enforces it
    "verdicts",
    metadata,
    sa.Column("build_id", sa.String(32), primary_key=True),
    sa.Column("user_id", sa.String(32), primary_key=True),
    sa.Column("verdict", sa.String(16), nullable=False),
    sa.Column("reason", sa.Text),
    sa.Column("at", Time, nullable=False),
)

decisions = sa.Table(
    "decisions",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("build_id", sa.String(32), nullable=False),
    sa.Column("action", sa.String(16), nullable=False),
    sa.Column("actor", sa.String(32), nullable=False),
    sa.Column("at", Time, nullable=False),
    sa.Column("outcome", sa.String(16)),
    sa.Column("reason", sa.Text),
    sa.Column("note", sa.Text),
    sa.Column("started_at", Time),  # when its deploy job first began (production decisions)
    sa.Index("ix_decisions_build", "build_id", "id"),
)

slack_groups = sa.Table(  # the members of the Slack user groups named in roles, as last read
    "slack_groups",
    metadata,
    sa.Column("group_id", sa.String(32), primary_key=True),
    sa.Column("members", sa.JSON, nullable=False),
    sa.Column("refreshed_at", Time, nullable=False),
)

freezes = sa.Table(  # production freezes an owner set from Slack; one per project at most
    "freezes",
    metadata,
    sa.Column("project_id", sa.String(64), primary_key=True),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("actor", sa.String(32), nullable=False),
    sa.Column("at", Time, nullable=False),
)

releases = sa.Table(  # what production ran, per project, newest last
    "releases",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("project_id", sa.String(64), nullable=False),
    sa.Column("build_id", sa.String(32), nullable=False),
    sa.Column("decision_id", sa.BigInteger),
    sa.Column("image", sa.String(640), nullable=False),
    sa.Column("digest", sa.String(128), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("actor", sa.String(32), nullable=False),
    sa.Column("at", Time, nullable=False),
    sa.Column("rolled_back_from", sa.BigInteger),
    sa.Index("ix_releases_project", "project_id", "id"),
    sa.Index("ix_releases_decision", "decision_id", "id"),
)

production_slots = sa.Table(  # one production deployment in flight per project, at most
    "production_slots",
    metadata,
    sa.Column("project_id", sa.String(64), primary_key=True),
    sa.Column("build_id", sa.String(32)),  # the build being deployed; NULL: free
    sa.Column("decision_id", sa.BigInteger),
    sa.Column("since", Time),
)

app_homes = sa.Table(  # the people who opened ci-bot's Home tab: only they get it published
    "app_homes",
    metadata,
    sa.Column("user_id", sa.String(32), primary_key=True),
    sa.Column("opened_at", Time, nullable=False),  # first opened
    sa.Column("event_id", sa.String(32)),  # the last app_home_opened taken (Slack retries it)
    sa.Column("queued_at", Time),  # a publish is queued since then; NULL: none is
    sa.Column("started_at", Time),  # when the last publish began
)

schema_compat = sa.Table(  # which code may serve on this schema: one row, written by upgrades
    "schema_compat",
    metadata,
    sa.Column("revision", sa.String(64), primary_key=True),  # the schema's Alembic revision
    sa.Column("serves_from", sa.String(64), nullable=False),  # the oldest code revision it admits
)
