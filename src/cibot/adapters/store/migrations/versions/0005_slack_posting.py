"""Posts about to be made: so a post whose `ts` was never saved (a crash, a lost answer) is
looked up in Slack before it is made again.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from cibot.adapters.store.tables import UtcDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "slack_posting",
        sa.Column("build_id", sa.String(32), nullable=False),
        sa.Column("role", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("since", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("build_id", "role", "user_id", name="pk_slack_posting"),
    )


def downgrade() -> None:
    op.drop_table("slack_posting")
