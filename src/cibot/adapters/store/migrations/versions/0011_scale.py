"""Indexes for the statements that would otherwise read a table that grows with history.

Every frequent statement finds its rows through an index (tests/integration/
test_query_plans.py checks the plans): the audit trail by time and by project in id order,
a release by its decision, and the rows the daily prune looks for by their age.
Index-only and additive: older code runs on it unchanged. On PostgreSQL each index is
built in the upgrade's transaction, holding writes to its table meanwhile: seconds on a
year's database (2,000,000 audit rows), during which old pods' writes wait.

Revision ID: 0011_scale
Revises: 0010_apphome
Create Date: 2026-12-12
"""

from __future__ import annotations

from alembic import op

revision = "0011_scale"
down_revision = "0010_apphome"
branch_labels = None
depends_on = None

# The oldest revision whose code may still serve on the schema this leaves (migrate.py).
serves_from = "0005"  # indexes only: no code reads or writes differently because of them

INDEXES = (
    ("ix_audit_at", "audit_events", ["at"]),
    ("ix_audit_project_id", "audit_events", ["project_id", "id"]),
    ("ix_releases_decision", "releases", ["decision_id", "id"]),
    ("ix_deliveries_created", "webhook_deliveries", ["created_at"]),
    ("ix_messages_created", "slack_messages", ["created_at"]),
    ("ix_posting_since", "slack_posting", ["since"]),
    ("ix_jobs_finished", "jobs", ["state", "updated_at"]),
)


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
