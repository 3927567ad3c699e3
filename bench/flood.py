"""Benchmark: Slack click acks and memory while unsigned bodies flood the signed routes (T19).

    uv run python -m bench.flood [--seconds 10] [--flooders 6] [--limit-kib 1024]

A `cibot serve` (SQLite, the fake Slack, no Kubernetes needed) reads CI bodies up to
--limit-kib (`webhooks.max_body_bytes`; its default, 16 KiB, would refuse the flood by size
before reading it). Then, first quietly and then while --flooders clients send unsigned
1 MiB forms of empty fields (`=&=&…`, the costliest form to parse) to `/build-complete`,
`/branch-deleted` and `/slack/events` for --seconds, a signed Slack click is timed every
50 ms from request to answer. Printed: the acks' p50/p99 without and with the flood, how
many bodies the flood sent, how they were answered, and the server's RSS and peak RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import tempfile
import time
from pathlib import Path

from tests.support import door
from tests.support.service import CibotProcess

from bench.harness import summary
from cibot.fakeslack import Channel, FakeSlackServer, User


async def measure(server: CibotProcess, channel: str, args: argparse.Namespace) -> None:
    assert server.proc is not None
    pid = server.proc.pid
    await door.click_acks(server.url, channel, 10)  # warm up
    clicks = max(1, int(args.seconds / 0.06))
    quiet = await door.click_acks(server.url, channel, clicks)
    print(f"ack without a flood: {summary(quiet)}")
    rss, peak = door.status_kib(pid, "VmRSS"), door.status_kib(pid, "VmHWM")
    print(f"server RSS before the flood: {rss / 1024:.1f} MiB (peak so far {peak / 1024:.1f} MiB)")

    stop, answers = asyncio.Event(), list[int]()
    flooders = [
        asyncio.create_task(door.flood(server.url, door.EMPTY_FIELDS, stop, answers))
        for _ in range(args.flooders)
    ]
    started = time.perf_counter()
    try:
        await asyncio.sleep(1.0)
        during = await door.click_acks(server.url, channel, clicks)
    finally:
        stop.set()
        await asyncio.gather(*flooders)
    elapsed = time.perf_counter() - started
    print(f"ack during the flood: {summary(during)}")
    codes = dict(sorted(collections.Counter(answers).items()))
    print(
        f"flood: {len(answers)} unsigned 1 MiB bodies in {elapsed:.1f} s "
        f"({len(answers) / elapsed:.0f}/s, {len(answers) / elapsed:.0f} MiB/s) from "
        f"{args.flooders} clients, answered {codes}"
    )
    after, peak_after = door.status_kib(pid, "VmRSS"), door.status_kib(pid, "VmHWM")
    print(
        f"server RSS after the flood: {after / 1024:.1f} MiB; peak RSS grew by "
        f"{(peak_after - peak) / 1024:.1f} MiB during it"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--flooders", type=int, default=6)
    parser.add_argument("--limit-kib", type=int, default=1024)
    args = parser.parse_args()
    people = [User(id=u, name=u.lower()) for u in (*door.QA, *door.OWNERS)]
    channel = Channel(id=door.CHANNEL, name="door", members=frozenset((*door.QA, *door.OWNERS)))
    with (
        tempfile.TemporaryDirectory(prefix="cibot-bench-") as tmp,
        FakeSlackServer(users=people, channels=[channel]) as slack,
    ):
        config = door.door_config(
            Path(tmp),
            slack.api_url,
            door.project("shop"),
            door.project("own", webhook_secret="own-secret"),  # noqa: S106 - a test value
            webhooks={"secret": "bench-secret", "max_body_bytes": args.limit_kib * 1024},
        )
        server = CibotProcess(config, Path(tmp))
        server.upgrade_db()
        server.start()
        try:
            asyncio.run(measure(server, door.CHANNEL, args))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
