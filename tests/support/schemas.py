"""Schemas from the future: today's migrations plus one more, as a later release would add.

During a rolling update, or after `helm rollback`, this version of ci-bot runs on a schema
that a newer one migrated. To test that without a newer release, a test writes one more
migration into a directory of its own and upgrades with Alembic's `version_locations`
(today's scripts plus that directory) — the same env.py, the same bookkeeping.
"""

from __future__ import annotations

import os
from pathlib import Path

from alembic import command

from cibot.adapters.store import migrate

ADDITIVE = """
import sqlalchemy as sa
from alembic import op

revision = "{revision}"
down_revision = "{down}"
serves_from = "{serves_from}"


def upgrade() -> None:
    op.add_column("builds", sa.Column("future_note", sa.String(100), nullable=True))
    op.create_table("future_things", sa.Column("id", sa.Integer, primary_key=True))


def downgrade() -> None:
    op.drop_table("future_things")
    with op.batch_alter_table("builds") as batch:
        batch.drop_column("future_note")
"""


def future_migration(directory: Path, *, revision: str, serves_from: str) -> Path:
    """One migration after today's head, adding a column and a table, declaring `serves_from`."""
    directory.mkdir(parents=True, exist_ok=True)
    head = migrate.head_revision()
    text = ADDITIVE.format(revision=revision, down=head, serves_from=serves_from)
    (directory / f"{revision}.py").write_text(text)
    return directory


def upgrade_with(url: str, *directories: Path) -> None:
    """`cibot db upgrade` as a newer release would run it: today's scripts and `directories`."""
    config = migrate.alembic_config(url)
    locations = [str(migrate.MIGRATIONS / "versions"), *map(str, directories)]
    config.set_main_option("version_locations", os.pathsep.join(locations))
    command.upgrade(config, "heads")
