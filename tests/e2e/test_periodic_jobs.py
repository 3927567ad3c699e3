"""The periodic jobs of a running `cibot serve`: scheduled at start, once a period, by every
replica that runs jobs (no cluster needed: nothing here deploys)."""

from __future__ import annotations

import copy
import time
from pathlib import Path

import sqlalchemy as sa

from cibot.fakeslack import FakeSlackServer
from tests.support import door
from tests.support.rows import sync_engine
from tests.support.service import CibotProcess


def test_two_replicas_run_the_daily_prune_once_and_queue_tomorrows(tmp_path: Path) -> None:
    with FakeSlackServer() as slack:
        config = door.door_config(tmp_path, slack.api_url, webhooks={"secret": "periodic"})
        first = CibotProcess(copy.deepcopy(config), tmp_path)
        second = CibotProcess(copy.deepcopy(config), tmp_path)
        first.upgrade_db()
        first.start()
        second.start()
        engine = sync_engine(config["database"]["url"])
        try:
            deadline, daily = time.monotonic() + 30, list[tuple[object, ...]]()
            while time.monotonic() < deadline:
                with engine.connect() as conn:
                    query = "SELECT state FROM jobs WHERE kind = 'prune_retention' ORDER BY id"
                    daily = [tuple(r) for r in conn.execute(sa.text(query))]
                if daily == [("done",), ("pending",)]:
                    break
                time.sleep(0.2)
            with engine.connect() as conn:
                pruned = conn.execute(
                    sa.text("SELECT count(*) FROM audit_events WHERE action = 'retention.pruned'")
                ).scalar()
        finally:
            second.stop()
            first.stop()
            engine.dispose()

    assert daily == [("done",), ("pending",)]
    assert pruned == 0  # a fresh database: nothing to delete, nothing to record
