"""Migrations build exactly the schema the code declares, on both backends."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection

from cibot.adapters.store import migrate
from cibot.adapters.store.database import Database
from cibot.adapters.store.tables import metadata


def _diff(connection: Connection) -> list[object]:
    return list(compare_metadata(MigrationContext.configure(connection), metadata))


async def test_an_unmigrated_database_is_refused_with_the_command_to_run(database_url: str) -> None:
    engine = Database(database_url)
    try:
        with pytest.raises(migrate.NotMigrated, match="cibot db upgrade"):
            await migrate.ensure_migrated(engine)
    finally:
        await engine.dispose()


async def test_upgrade_brings_the_schema_to_what_the_tables_declare(database_url: str) -> None:
    await migrate.upgrade_async(database_url)
    engine = Database(database_url)
    try:
        await migrate.ensure_migrated(engine)
        async with engine.begin() as conn:
            assert await conn.run_sync(_diff) == []
    finally:
        await engine.dispose()
