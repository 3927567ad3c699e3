"""Decisions remember when their deploy job began, so a freeze that starts after the click
stops a deploy that has not begun, and never one already under way.

Revision ID: 0007_jobs
Revises: 0006_ship
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from cibot.adapters.store.tables import UtcDateTime

revision = "0007_jobs"
down_revision = "0006_ship"
branch_labels = None
depends_on = None

# The oldest revision whose code may still serve on the schema this leaves (migrate.py).
serves_from = "0005"  # a nullable column that older code neither reads nor writes


def upgrade() -> None:
    with op.batch_alter_table("decisions") as decisions:
        decisions.add_column(sa.Column("started_at", UtcDateTime()))


def downgrade() -> None:
    with op.batch_alter_table("decisions") as decisions:
        decisions.drop_column("started_at")
