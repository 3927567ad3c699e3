"""Benchmark: job throughput of two `cibot serve` replicas on one PostgreSQL, against one.

    uv run python -m bench.replicas [--jobs 600] [--rounds 2]

Each round, with one replica and then with two (same configuration, same workers each),
queues --jobs jobs in one transaction — a `SyncBuildCard` each, of a build that is not
there, so each job is the queue's own work (claim, handler lookup, complete) and no Slack
pacing (one message a second per channel) caps it — and times until every job is done.
It prints jobs/s of each and the ratio two/one (goal: >= 1.8x). tests/trust (F15) proves
that no job runs twice; this measures what the second replica adds.

The clock starts when the jobs' transaction has committed (not while the bench connects and
inserts) and stops at the first look that finds none left; the looks go over one connection
kept for the round (a connection a look would start a PostgreSQL backend each time, on the
cores the replicas share). Each round also prints the CPU the replicas took and how busy the
whole machine was (Linux /proc): on a small machine the second replica may have no core to
run on, which caps the ratio whatever ci-bot does.
"""

from __future__ import annotations

import argparse
import asyncio
import os
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


async def queue_cards(db: Database, run: str, count: int) -> float:
    """Queue `count` card jobs in one transaction; the time it committed (perf_counter)."""
    store = SqlStore(db, _Clock())
    async with store.transaction() as tx:
        for i in range(count):
            await tx.jobs.enqueue(SyncBuildCard(f"{run}{i:05d}"))
    return time.perf_counter()


async def unfinished(db: Database) -> int:
    """Card jobs not yet done."""
    async with db.begin() as conn:
        found = await conn.execute(
            sa.text(
                "SELECT count(*) FROM jobs WHERE state IN ('pending', 'running')"
                " AND kind = 'sync_build_card'"  # not the periodic jobs, always pending
            )
        )
        return int(found.scalar() or 0)


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) a process has used; Linux /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, all cores; Linux /proc."""
    ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = ticks[3] + ticks[4]  # idle, iowait
    hz = os.sysconf("SC_CLK_TCK")
    return (sum(ticks) - idle) / hz, sum(ticks) / hz


async def one_round(url: str, replicas: int, count: int, run: str) -> float:
    """Jobs per second with `replicas` servers running."""
    db = Database(url.replace("postgresql://", "postgresql+asyncpg://", 1), pool_size=1)
    with ExitStack() as stack, fake_slack() as slack:
        servers = [
            stack.enter_context(cibot(config(url, slack, "bench-unused"))) for _ in range(replicas)
        ]
        pids = [s.proc.pid for s in servers if s.proc is not None]
        await unfinished(db)  # connected before the clock starts
        await asyncio.sleep(2)  # the start-up jobs (reconcile, groups) settle
        cpu, (busy, total) = [process_cpu(p) for p in pids], machine_busy()
        started = await queue_cards(db, run, count)
        while await unfinished(db):
            await asyncio.sleep(0.01)
        took = time.perf_counter() - started
        used = [process_cpu(p) - before for p, before in zip(pids, cpu, strict=True)]
        busy_now, total_now = machine_busy()
    await db.dispose()
    cores = (total_now - total) / took
    print(
        f"  {replicas} replica(s): CPU of each {', '.join(f'{u / took:.0%}' for u in used)}"
        f" of a core; whole machine {(busy_now - busy) / took:.2f} of {cores:.0f} cores busy",
        flush=True,
    )
    return count / took


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
