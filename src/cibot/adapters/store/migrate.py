"""Schema migrations: `cibot db upgrade`, and the check that refuses an unmigrated database.

Alembic is configured in code (no alembic.ini to ship); the scripts live in `migrations/`.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from cibot.adapters.store.database import Database

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the schema to `revision`. Blocking: call it from a thread in async code."""
    command.upgrade(alembic_config(url), revision)


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def current_revision(database: Database) -> str | None:
    async with database.begin() as conn:
        return await conn.run_sync(_current)


class NotMigrated(Exception):
    """The database schema is missing or older than this version of ci-bot."""


async def ensure_migrated(database: Database) -> None:
    current, head = await current_revision(database), head_revision()
    if current != head:
        state = "has no ci-bot schema" if current is None else f"is at revision {current}"
        raise NotMigrated(
            f"the database {state}, this ci-bot needs {head}: run `cibot db upgrade` first"
        )


async def upgrade_async(url: str) -> None:
    await asyncio.to_thread(upgrade, url)
