"""The year benchmark (`bench/scale.py`) seeds, measures and prunes, on a small year.

It runs by hand, seldom, at full size for minutes, so nothing else would notice it break:
it did twice (an audit action not in the vocabulary seeded into the history, and a prune
method the store does not have). Here its seeding, its in-process store figures and its
size after the real daily prune run on a thousandth of a year (SQLite, a few seconds).
"""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import timedelta
from pathlib import Path

from bench import scale

from cibot.adapters.store import migrate
from cibot.service.retention import Retention


def _older_than(path: Path, table: str, column: str, age: timedelta, where: str = "") -> int:
    before = scale._sqlite(scale.NOW - age)
    with sqlite3.connect(path) as conn:
        query = f"SELECT count(*) FROM {table} WHERE {column} < ? {where}"  # noqa: S608
        return int(conn.execute(query, (before,)).fetchone()[0])


def test_the_year_benchmark_seeds_measures_and_prunes_a_small_year(tmp_path: Path) -> None:
    path = tmp_path / "year.db"
    url = f"sqlite:///{path}"
    migrate.upgrade(scale.async_url(url))
    writer = scale.Writer(url)
    counts = scale.seed_history(writer, 0.001)
    awaiting = scale.seed_live(writer, 0.001)
    writer.close()
    assert counts["builds"] == 200 and counts["audit_events"] == 2000
    assert len(awaiting) == scale.AWAITING

    # The same database as both sides: this is about every figure being measured at all.
    figures = asyncio.run(scale.store_figures({"empty": url, "full": url}, awaiting, 1))
    for side in ("empty", "full"):
        assert len(figures[side]) == 6
        assert all(ms > 0 for ms in figures[side].values()), figures[side]

    kept = Retention()
    assert kept.deliveries and kept.finished_jobs
    old_deliveries = _older_than(path, "webhook_deliveries", "created_at", kept.deliveries)
    assert old_deliveries > 100  # most of the year's are past their retention
    per_thousand = scale.retained_size(url, counts["builds"] + scale.LIVE_PREVIEWS)

    assert per_thousand > 0
    assert _older_than(path, "webhook_deliveries", "created_at", kept.deliveries) == 0
    done = "AND state = 'done'"
    assert _older_than(path, "jobs", "updated_at", kept.finished_jobs, done) == 0
    assert scale.kept_for(kept) == "deliveries 30 d, finished_jobs 14 d, slack_messages 90 d"
