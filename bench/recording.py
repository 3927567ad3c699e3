"""Benchmark: the recording of a build alone, in process, with no HTTP in front of it.

    uv run python -m bench.recording [--count 3000] [--batch 9] [--db sqlite]

`record_build` (the use case behind `POST /build-complete`) through a `GroupCommit` on the
real SQL store, on a fresh migrated database: --batch builds at a time, committed together
as the server's group commit commits the intakes that arrive together (`bench.intake
--profile --clients 16` shows how many that is: its commits per intake). Builds go to 50
branches in turn, so each supersedes the one before it on its branch, as in `bench.intake`.

It prints the time per build. Set beside `bench.intake`'s figures it says how much of an
intake is the recording (transaction, statements, commit) and how much is the answering
(HTTP, signature, parsing, response): the recording alone is a floor for the whole intake.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from tests.support.stores import migrated_store
from tests.support.usecases import PROJECT

from bench.harness import database
from cibot.adapters.clock import SystemClock
from cibot.domain.build import BuildType
from cibot.service.group_commit import GroupCommit
from cibot.service.intake import BuildReport, record_build
from cibot.service.ports import Store

TARGETS = [f"feature/bench-{i}" for i in range(50)]
WARM = 100


async def record(store: Store, group: GroupCommit, i: int) -> None:
    report = BuildReport(
        image=f"registry.example/shop:{i}",
        type=BuildType.BRANCH,
        target=TARGETS[i % len(TARGETS)],
        commit=f"{i:040x}",
        build_number=i,
    )
    await record_build(
        store=store,
        clock=SystemClock(),
        project=PROJECT,
        report=report,
        webhook_id=f"recording-{i}",
        body_sha256=f"{i:064x}",
        group=group,
    )


async def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp, database(args.db, Path(tmp)) as plain:
        url = plain.replace("postgresql://", "postgresql+asyncpg://", 1)  # the async driver
        async with migrated_store(url, SystemClock()) as store:
            group = GroupCommit(store)
            await asyncio.gather(*(record(store, group, i) for i in range(WARM)))
            started = time.perf_counter()
            for first in range(WARM, WARM + args.count, args.batch):
                last = min(first + args.batch, WARM + args.count)
                await asyncio.gather(*(record(store, group, i) for i in range(first, last)))
            took = time.perf_counter() - started
    each = took / args.count
    print(
        f"[{args.db}] {args.count} builds recorded, {args.batch} at a time: "
        f"{each * 1e6:.0f} µs each ({1 / each:.0f} builds/s), no HTTP"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=3000)
    parser.add_argument("--batch", type=int, default=9, help="builds committed together")
    parser.add_argument("--db", default="sqlite", choices=("sqlite", "postgresql"))
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
