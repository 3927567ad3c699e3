"""`cibot jobs` and `cibot jobs retry ID`, as an operator runs them against the real database.

The jobs table is set up in process with the real store and queue (a dead job, a running one
whose worker died, one overdue and one fresh), then the console script reads and changes it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from cibot.adapters.clock import SystemClock
from cibot.adapters.store import migrate
from cibot.adapters.store.database import Database
from cibot.adapters.store.queue import SqlJobQueue
from cibot.adapters.store.sql import SqlStore
from cibot.service.jobs import DeployPreview, NotifyUser, SyncBuildCard
from tests.support.service import run_cli


@pytest.fixture
async def config(database_url: str, tmp_path: Path) -> Path:
    await migrate.upgrade_async(database_url)
    path = tmp_path / "cibot.yaml"
    path.write_text(yaml.safe_dump({"database": {"url": database_url}, "projects": []}))
    return path


async def troubled_jobs(database_url: str) -> dict[str, int]:
    """One job of each kind of trouble, and one that is fine; their ids by name."""
    database = Database(database_url)
    store, queue = SqlStore(database, SystemClock()), SqlJobQueue(database)
    now = datetime.now(UTC)
    try:
        async with store.transaction() as tx:
            await tx.jobs.enqueue(DeployPreview("b-dead", "shop/shop-branch-main"))
        dead = await queue.claim("w", datetime.now(UTC), 30)
        assert dead is not None
        assert await queue.give_up(dead, "ClusterUnavailable: connection refused")
        async with store.transaction() as tx:
            await tx.jobs.enqueue(SyncBuildCard("b-orphan"), now - timedelta(hours=2))
        orphan = await queue.claim("w", now - timedelta(hours=1), 30)  # its worker died
        assert orphan is not None and orphan.id == dead.id + 1
        async with store.transaction() as tx:
            await tx.jobs.enqueue(NotifyUser("C1", "U1", "overdue"), now - timedelta(hours=1))
            await tx.jobs.enqueue(NotifyUser("C1", "U1", "fresh"), now + timedelta(minutes=5))
        return {"dead": dead.id, "orphan": orphan.id, "overdue": dead.id + 2, "fresh": dead.id + 3}
    finally:
        await database.dispose()


async def test_jobs_lists_dead_and_stuck_jobs_newest_first_as_a_table_or_json(
    config: Path, database_url: str
) -> None:
    ids = await troubled_jobs(database_url)

    table = run_cli("jobs", "--config", str(config))
    as_json = run_cli("jobs", "--config", str(config), "--json")

    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split()[:4] == ["ID", "KIND", "STATUS", "ATTEMPTS"]
    assert [int(line.split()[0]) for line in lines[1:]] == [
        ids["overdue"], ids["orphan"], ids["dead"],
    ]  # fmt: skip
    assert "ClusterUnavailable: connection refused" in lines[-1]
    rows = json.loads(as_json.stdout)
    assert [(r["id"], r["status"]) for r in rows] == [
        (ids["overdue"], "overdue 1h"), (ids["orphan"], "lease expired"), (ids["dead"], "dead"),
    ]  # fmt: skip
    assert rows[-1]["build"] == "b-dead" and rows[-1]["attempts"] == 1


async def test_jobs_retry_puts_a_dead_job_back_and_refuses_any_other_saying_why(
    config: Path, database_url: str
) -> None:
    ids = await troubled_jobs(database_url)

    retried = run_cli("jobs", "retry", str(ids["dead"]), "--config", str(config))
    again = run_cli("jobs", "retry", str(ids["dead"]), "--config", str(config))
    missing = run_cli("jobs", "retry", "987654", "--config", str(config))

    assert retried.returncode == 0, retried.stderr
    assert f"job {ids['dead']} (deploy_preview, build b-dead) is pending again" in retried.stdout
    assert again.returncode == 1 and "is pending, not dead: nothing to retry" in again.stderr
    assert missing.returncode == 1 and "there is no job 987654" in missing.stderr
    database = Database(database_url)
    try:
        queue, claimed = SqlJobQueue(database), []
        while (job := await queue.claim("w2", datetime.now(UTC), 30)) is not None:
            claimed.append((job.id, job.attempts))
    finally:
        await database.dispose()
    assert (ids["dead"], 1) in claimed, "due now, its attempts counted afresh"
