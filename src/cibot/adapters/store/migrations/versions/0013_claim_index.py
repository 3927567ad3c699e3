"""The claim's index: live jobs in claim order (`run_at`, `id`), partial on the live states.

Without it a claim read every pending and running job, ran the "first in its queue" check on
each and sorted them all to take one: with a backlog of a few hundred jobs, a millisecond
of PostgreSQL time per claim, paid again for every job, by every replica, on the one server
they share. With it the claim walks the index from its head and stops at the first job it
may take (the running jobs in flight ahead of it are a handful). Partial, so finished jobs
(the bulk of the table after a year) are not in it. Index-only and additive: older code
runs on it unchanged.

Revision ID: 0013_claim_index
Revises: 0012_build_numbers
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013_claim_index"
down_revision = "0012_build_numbers"
branch_labels = None
depends_on = None

# The oldest revision whose code may still serve on the schema this leaves (migrate.py).
serves_from = "0005"  # an index only: no code reads or writes differently because of it

# Written out rather than imported: a migration stays what it was when tables.py changes.
LIVE = "state IN ('pending', 'running')"


def upgrade() -> None:
    op.create_index(
        "ix_jobs_live",
        "jobs",
        ["run_at", "id"],
        postgresql_where=sa.text(LIVE),
        sqlite_where=sa.text(LIVE),
    )


def downgrade() -> None:
    op.drop_index("ix_jobs_live", table_name="jobs")
