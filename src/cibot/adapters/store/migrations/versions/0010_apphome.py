"""The people who opened ci-bot's Home tab in Slack, and whether a publish of it is queued.

Revision ID: 0010_apphome
Revises: 0007_jobs
Create Date: 2026-12-10
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from cibot.adapters.store.tables import UtcDateTime

revision = "0010_apphome"
down_revision = "0007_jobs"
branch_labels = None
depends_on = None

# The oldest revision whose code may still serve on the schema this leaves (migrate.py).
serves_from = "0005"  # a new table that older code never reads


def upgrade() -> None:
    op.create_table(
        "app_homes",
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("opened_at", UtcDateTime(), nullable=False),
        sa.Column("event_id", sa.String(32)),
        sa.Column("queued_at", UtcDateTime()),
        sa.Column("started_at", UtcDateTime()),
        sa.PrimaryKeyConstraint("user_id", name="pk_app_homes"),
    )


def downgrade() -> None:
    op.drop_table("app_homes")
