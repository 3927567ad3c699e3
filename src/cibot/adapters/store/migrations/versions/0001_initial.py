"""The first schema: builds, targets, webhook deliveries, jobs, Slack messages, audit events.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from cibot.adapters.store.tables import UtcDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "builds",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("project_id", sa.String(64), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("target", sa.String(255), nullable=False),
        sa.Column("image", sa.String(512), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.Column("commit", sa.String(64)),
        sa.Column("author", sa.String(255)),
        sa.Column("build_number", sa.BigInteger),
        sa.Column("ci_url", sa.String(2048)),
        sa.Column("digest", sa.String(128)),
        sa.Column("preview_url", sa.String(2048)),
        sa.Column("reason", sa.Text),
        sa.Column("superseded_by", sa.String(32)),
        sa.PrimaryKeyConstraint("id", name="pk_builds"),
    )
    op.create_index("ix_builds_target", "builds", ["project_id", "type", "target", "created_at"])
    op.create_index("ix_builds_target_state", "builds", ["project_id", "type", "target", "state"])
    op.create_table(
        "targets",
        sa.Column("project_id", sa.String(64), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("target", sa.String(255), nullable=False),
        sa.Column("touched_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("project_id", "type", "target", name="pk_targets"),
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("project_id", sa.String(64), nullable=False),
        sa.Column("webhook_id", sa.String(256), nullable=False),
        sa.Column("body_sha256", sa.String(64), nullable=False),
        sa.Column("build_id", sa.String(32), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("project_id", "webhook_id", name="pk_webhook_deliveries"),
    )
    op.create_table(
        "jobs",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("queue", sa.String(400)),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("run_at", UtcDateTime(), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("lease_owner", sa.String(128)),
        sa.Column("lease_expires_at", UtcDateTime()),
        sa.Column("last_error", sa.Text),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_jobs"),
    )
    op.create_index("ix_jobs_ready", "jobs", ["state", "run_at"])
    op.create_index("ix_jobs_queue", "jobs", ["queue", "state"])
    op.create_table(
        "slack_messages",
        sa.Column("build_id", sa.String(32), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("ts", sa.String(32), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("build_id", "role", "user_id", name="pk_slack_messages"),
    )
    op.create_table(
        "audit_events",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("project_id", sa.String(64)),
        sa.Column("build_id", sa.String(32)),
        sa.Column("actor", sa.String(64)),
        sa.Column("detail", sa.JSON),
        sa.PrimaryKeyConstraint("id", name="pk_audit_events"),
    )
    op.create_index("ix_audit_project_at", "audit_events", ["project_id", "at"])


def downgrade() -> None:
    for table in (
        "audit_events",
        "slack_messages",
        "jobs",
        "webhook_deliveries",
        "targets",
        "builds",
    ):
        op.drop_table(table)
