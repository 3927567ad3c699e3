"""Old and new versions share one database: during a rolling update, and after a rollback.

A version serves on a newer schema when the newer release's migrations declare it may (they
were additive), and refuses, saying why, one they declare it may not. An older schema is
still refused with the command to run.
"""

from __future__ import annotations

import asyncio
import importlib.util
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from cibot.adapters.store import migrate, tables
from cibot.adapters.store.database import Database
from cibot.adapters.store.queue import SqlJobQueue
from cibot.service.jobs import JobState
from tests.support.schemas import future_migration, upgrade_with
from tests.support.service import CIBOT

FIRST_DECLARING = "0006_ship"  # migrations from this one on say which older code may serve


async def revision_of(url: str) -> str | None:
    database = Database(url)
    try:
        return await migrate.current_revision(database)
    finally:
        await database.dispose()


async def check(url: str) -> migrate.Compatibility:
    database = Database(url)
    try:
        return await migrate.ensure_migrated(database)
    finally:
        await database.dispose()


async def test_this_version_serves_on_a_newer_schema_declared_compatible_with_it(
    database_url: str, tmp_path: Path
) -> None:
    future = future_migration(tmp_path, revision="9001", serves_from=migrate.head_revision() or "")
    await asyncio.to_thread(upgrade_with, database_url, future)
    assert await revision_of(database_url) == "9001"

    compatibility = await check(database_url)

    assert compatibility.newer, "the database is ahead of this code"
    assert "9001" in compatibility.describe()


async def test_this_version_refuses_a_newer_schema_not_declared_compatible_saying_why(
    database_url: str, tmp_path: Path
) -> None:
    future = future_migration(tmp_path, revision="9001", serves_from="9001")
    await asyncio.to_thread(upgrade_with, database_url, future)

    with pytest.raises(migrate.NotMigrated) as refused:
        await check(database_url)

    message = str(refused.value)
    assert "revision 9001" in message and "newer ci-bot" in message
    assert f"this one is at {migrate.head_revision()}" in message
    assert "cibot db upgrade" not in message, "upgrading with this version cannot help"


async def test_an_older_schema_is_refused_with_the_command_to_run(database_url: str) -> None:
    await asyncio.to_thread(migrate.upgrade, database_url, "0004")

    with pytest.raises(migrate.NotMigrated, match=r"revision 0004.*cibot db upgrade"):
        await check(database_url)


async def test_db_upgrade_by_an_older_version_leaves_a_compatible_newer_schema_alone(
    database_url: str, tmp_path: Path
) -> None:
    """An old pod's init step (`cibot db upgrade`) after a rollback must not fail or undo."""
    future = future_migration(tmp_path, revision="9001", serves_from=migrate.head_revision() or "")
    await asyncio.to_thread(upgrade_with, database_url, future)

    said = await asyncio.to_thread(migrate.upgrade, database_url)

    assert "9001" in said and "nothing to do" in said
    assert await revision_of(database_url) == "9001"


async def test_db_upgrade_by_an_older_version_refuses_an_incompatible_newer_schema(
    database_url: str, tmp_path: Path
) -> None:
    future = future_migration(tmp_path, revision="9001", serves_from="9001")
    await asyncio.to_thread(upgrade_with, database_url, future)

    with pytest.raises(migrate.NotMigrated, match="newer ci-bot"):
        await asyncio.to_thread(migrate.upgrade, database_url)


async def test_upgrade_records_which_versions_may_serve_on_the_schema(database_url: str) -> None:
    await asyncio.to_thread(migrate.upgrade, database_url)
    database = Database(database_url)
    try:
        async with database.begin() as conn:
            rows = await conn.execute(sa.text("SELECT revision, serves_from FROM schema_compat"))
            recorded = [tuple(row) for row in rows]
    finally:
        await database.dispose()

    head = migrate.head_revision()
    assert recorded == [(head, _declared(head))]


def _declared(revision: str | None) -> str:
    path = next((migrate.MIGRATIONS / "versions").glob(f"{revision}*.py"))
    spec = importlib.util.spec_from_file_location("m", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    serves_from: str = module.serves_from
    return serves_from


def test_every_migration_from_0006_on_says_which_older_code_may_serve_on_it() -> None:
    """Writing a migration means deciding, in it, whether the previous release survives it."""
    order = migrate.revisions_oldest_first()
    assert FIRST_DECLARING in order
    missing = [
        rev for rev in order[order.index(FIRST_DECLARING) :] if migrate.declared(rev) is None
    ]
    assert not missing, (
        f"migrations without `serves_from`: {missing}. Set it to the previous revision when "
        "the previous release still works on the new schema (additive), else to the revision itself"
    )


@pytest.mark.postgres
def test_concurrent_upgrades_on_postgresql_take_turns(postgres_url: str, tmp_path: Path) -> None:
    """Several pods' init steps run `cibot db upgrade` together: one migrates, the rest wait."""
    config = tmp_path / "cibot.yaml"
    config.write_text(f"database: {{url: '{postgres_url}'}}\nprojects: []\n")
    runs = [
        subprocess.Popen(
            [CIBOT, "db", "upgrade", "--config", str(config)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    outcomes = [(run.wait(timeout=120), run.stderr.read() if run.stderr else "") for run in runs]

    assert [code for code, _ in outcomes] == [0, 0, 0], outcomes
    assert asyncio.run(revision_of(postgres_url)) == migrate.head_revision()


async def test_a_job_of_a_kind_this_version_does_not_know_is_left_for_the_version_that_made_it(
    database_url: str,
) -> None:
    """In a rolling update the old pods share the job table with the new ones: a job a newer
    version enqueued is not theirs to claim (nor to use up its attempts on)."""
    await migrate.upgrade_async(database_url)
    database = Database(database_url)
    now = datetime.now(UTC)
    try:
        async with database.begin() as conn:
            await conn.execute(tables.jobs.insert().values(
                kind="from_a_newer_version", payload="{}", state=JobState.PENDING.value,
                run_at=now - timedelta(seconds=1), created_at=now, updated_at=now,
            ))  # fmt: skip
        claimed = await SqlJobQueue(database).claim("old-pod", now, lease_seconds=30)
        async with database.begin() as conn:
            row = (await conn.execute(sa.select(tables.jobs))).one()
    finally:
        await database.dispose()

    assert claimed is None
    assert (row.state, row.attempts, row.lease_owner) == (JobState.PENDING.value, 0, None)
