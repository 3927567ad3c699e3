"""Which versions of ci-bot may serve on the schema: the record older versions read after a
rollback or during a rolling update (see migrate.py).

Revision ID: 0006_ship
Revises: 0005
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_ship"
down_revision = "0005"
branch_labels = None
depends_on = None
# The oldest revision whose code may still serve on the schema this leaves (migrate.py).
serves_from = "0005"  # a new table that older code never reads


def upgrade() -> None:
    op.create_table(
        "schema_compat",
        sa.Column("revision", sa.String(64), nullable=False),
        sa.Column("serves_from", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("revision", name="pk_schema_compat"),
    )


def downgrade() -> None:
    op.drop_table("schema_compat")
