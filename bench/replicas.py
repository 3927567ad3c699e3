"""Benchmark: job throughput of two `cibot serve` replicas on one PostgreSQL, against one.

    uv run python -m bench.replicas [--jobs 600] [--rounds 2]

Each round, with one replica and then with two (same configuration, same workers each),
queues --jobs jobs in one transaction — a `SyncBuildCard` each, of a build that is not
there, so each job is the queue's own work (claim, handler lookup, complete) and no Slack
pacing (one message a second per channel) caps it — and times until every job is done.
It prints jobs/s of each and the ratio two/one (goal: >= 1.8x). tests/trust (F15) proves
that no job runs twice; this measures what the second replica adds.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

from bench.harness import cibot, config, database, fake_slack
from cibot.adapters.store import migrate
from cibot.adapters.store.database import Database
from cibot.adapters.store.sql import SqlStore
from cibot.service.jobs import SyncBuildCard


class _Clock:
    def now(self) -> datetime:
        return datetime.now(UTC)


async def queue_cards(url: str, run: str, count: int) -> None:
    db = Database(url.replace("postgresql://", "postgresql+asyncpg://", 1))
    store = SqlStore(db, _Clock())
    async with store.transaction() as tx:
        for i in range(count):
            await tx.jobs.enqueue(SyncBuildCard(f"{run}{i:05d}"))
    await db.dispose()


async def unfinished(url: str) -> int:
    """Card jobs not yet done."""
    db = Database(url.replace("postgresql://", "postgresql+asyncpg://", 1))
    async with db.begin() as conn:
        found = await conn.execute(
            sa.text(
                "SELECT count(*) FROM jobs WHERE state IN ('pending', 'running')"
                " AND kind = 'sync_build_card'"  # not the periodic jobs, always pending
            )
        )
        left = int(found.scalar() or 0)
    await db.dispose()
    return left


async def one_round(url: str, replicas: int, count: int, run: str) -> float:
    """Jobs per second with `replicas` servers running."""
    with ExitStack() as stack, fake_slack() as slack:
        for _ in range(replicas):
            stack.enter_context(cibot(config(url, slack, "bench-unused")))
        await asyncio.sleep(2)  # the start-up jobs (reconcile, groups) settle
        started = time.perf_counter()
        await queue_cards(url, run, count)
        while await unfinished(url):
            await asyncio.sleep(0.05)
        return count / (time.perf_counter() - started)


async def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp, database("postgresql", Path(tmp)) as url:
        await migrate.upgrade_async(url.replace("postgresql://", "postgresql+asyncpg://", 1))
        rates: dict[int, list[float]] = {1: [], 2: []}
        for r in range(args.rounds):
            for replicas in (1, 2):
                rate = await one_round(url, replicas, args.jobs, f"r{r}x{replicas}-")
                rates[replicas].append(rate)
                print(f"round {r + 1}, {replicas} replica(s): {rate:.0f} jobs/s", flush=True)
        one, two = (max(rates[n]) for n in (1, 2))
        print(f"best of {args.rounds}: one replica {one:.0f} jobs/s, two {two:.0f} jobs/s")
        print(f"ratio two/one: {two / one:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=600)
    parser.add_argument("--rounds", type=int, default=2)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
