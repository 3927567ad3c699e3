"""Lifecycle: a webhook delivery keeps its whole first answer when it is more than a build id
(`POST /branch-deleted` answers with the builds it closed), so a repeat replays it exactly.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("webhook_deliveries") as deliveries:
        deliveries.add_column(sa.Column("answer", sa.JSON(none_as_null=True)))


def downgrade() -> None:
    with op.batch_alter_table("webhook_deliveries") as deliveries:
        deliveries.drop_column("answer")
