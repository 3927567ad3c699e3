"""Migrations build exactly the schema the code declares, on both backends; and `serve`'s
check of a schema at the head needs no Alembic."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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


def test_the_head_read_from_the_scripts_is_alembics() -> None:
    assert migrate.script_head() == migrate.head_revision()


def _script(directory: Path, revision: str, down: str) -> None:
    text = f'"""A migration."""\n\nrevision: str = "{revision}"\ndown_revision = {down}\n'
    (directory / f"{revision}.py").write_text(text)


def test_the_head_read_from_the_scripts_leaves_branches_and_merges_to_alembic(
    tmp_path: Path,
) -> None:
    _script(tmp_path, "0001", "None")
    _script(tmp_path, "0002", '"0001"')
    assert migrate.script_head(tmp_path) == "0002"

    _script(tmp_path, "0003a", '"0002"')
    _script(tmp_path, "0003b", '"0002"')
    assert migrate.script_head(tmp_path) is None, "two heads"

    _script(tmp_path, "0004", '("0003a", "0003b")')
    assert migrate.script_head(tmp_path) is None, "a merge names two parents"


CHECK_AT_HEAD = """
import asyncio, sys
from cibot.adapters.store import migrate
from cibot.adapters.store.database import Database

async def main() -> None:
    database = Database(sys.argv[1])
    try:
        print((await migrate.ensure_migrated(database)).describe())
    finally:
        await database.dispose()

asyncio.run(main())
print("alembic loaded" if "alembic" in sys.modules else "alembic not loaded")
"""


def test_a_schema_at_the_head_is_accepted_without_loading_alembic(database_url: str) -> None:
    """What each start of `cibot serve` asks; Alembic costs a tenth of a second to load."""
    migrate.upgrade(database_url)

    done = subprocess.run(
        [sys.executable, "-c", CHECK_AT_HEAD, database_url],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )

    assert done.stdout.splitlines() == [
        f"at revision {migrate.head_revision()}",
        "alembic not loaded",
    ]
