"""An index on each target's build numbers: an intake finds the highest in one step.

Every intake asks for the highest build number of its target (T16: a lower one came late).
Without this index that read walks every build the target ever had, so it grows with the
target's history (hundreds of builds in a day of a busy branch); with it, the newest
numbers come first and the read stops at the first build not recorded as stale.
Index-only and additive: older code runs on it unchanged.

Revision ID: 0012_build_numbers
Revises: 0011_scale
Create Date: 2026-12-05
"""

from __future__ import annotations

from alembic import op

revision = "0012_build_numbers"
down_revision = "0011_scale"
branch_labels = None
depends_on = None

# The oldest revision whose code may still serve on the schema this leaves (migrate.py).
serves_from = "0005"  # an index only: no code reads or writes differently because of it


def upgrade() -> None:
    op.create_index(
        "ix_builds_target_number", "builds", ["project_id", "type", "target", "build_number"]
    )


def downgrade() -> None:
    op.drop_index("ix_builds_target_number", table_name="builds")
