"""Benchmark: signed webhook intake, each build committed, on SQLite and PostgreSQL.

    uv run python -m bench.intake [--seconds 30] [--rate 300] [--concurrency 16]

For each backend it starts `cibot serve` with no workers (accept only, so nothing but the
intake runs) and measures, in one run:
  * open loop at --rate builds/s for --seconds: latency from each request's scheduled time
    (so a stalled server cannot hide its queue), p50/p99, and the rate actually achieved;
  * closed loop with --concurrency clients for --seconds: the sustained maximum rate;
  * the same closed loop on a no-op route (GET /healthz) of the same server: the ratio.
Every accepted build is then counted in the database: the figure is of committed builds.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import httpx
import sqlalchemy as sa

from bench.harness import cibot, config, database, fake_slack, signed_build, summary
from cibot.adapters.store.engine import create_engine

TARGETS = [f"feature/bench-{i}" for i in range(50)]


def signed_request(index: int, run: str) -> tuple[bytes, dict[str, str]]:
    return signed_build(index, run, TARGETS[index % len(TARGETS)])


async def open_loop(
    url: str, rate: float, seconds: float, run: str
) -> tuple[list[float], int, float]:
    total = int(rate * seconds)
    latencies: list[float] = []
    accepted = 0
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        start = time.perf_counter()

        async def one(i: int) -> None:
            nonlocal accepted
            scheduled = start + i / rate
            body, headers = signed_request(i, run)
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            response = await client.post(f"{url}/build-complete", content=body, headers=headers)
            latencies.append(time.perf_counter() - scheduled)
            accepted += response.status_code == 202

        await asyncio.gather(*(one(i) for i in range(total)))
        elapsed = time.perf_counter() - start
    return latencies, accepted, total / elapsed


async def closed_loop(
    url: str, seconds: float, concurrency: int, run: str | None
) -> tuple[list[float], int, float]:
    """`run` None: GET /healthz (the no-op route); else signed builds."""
    latencies: list[float] = []
    ok = 0
    counter = iter(range(10**9))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        end = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal ok
            while time.perf_counter() < end:
                started = time.perf_counter()
                if run is None:
                    response = await client.get(f"{url}/healthz")
                    good = response.status_code == 200
                else:
                    body, headers = signed_request(next(counter), run)
                    response = await client.post(
                        f"{url}/build-complete", content=body, headers=headers
                    )
                    good = response.status_code == 202
                latencies.append(time.perf_counter() - started)
                ok += good

        begun = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - begun
    return latencies, ok, ok / elapsed


async def committed_builds(db_url: str) -> int:
    engine = create_engine(
        db_url.replace("sqlite://", "sqlite+aiosqlite://", 1).replace(
            "postgresql://", "postgresql+asyncpg://", 1
        )
    )
    try:
        async with engine.connect() as conn:
            return int(await conn.scalar(sa.text("SELECT count(*) FROM builds")) or 0)
    finally:
        await engine.dispose()


async def bench_backend(backend: str, args: argparse.Namespace) -> None:
    def say(line: str) -> None:
        print(f"[{backend}] {line}", flush=True)

    with (
        tempfile.TemporaryDirectory() as tmp,
        database(backend, Path(tmp)) as db_url,
        fake_slack() as slack,
    ):
        cfg = config(db_url, slack, "bench-unused", workers=0)
        with cibot(cfg) as server:
            await closed_loop(server.url, 2, args.concurrency, "warmup")
            warm = await committed_builds(db_url)
            lat, accepted, offered = await open_loop(server.url, args.rate, args.seconds, "open")
            say(f"open loop at {args.rate:.0f}/s for {args.seconds:.0f}s: accepted {accepted}")
            say(f"open loop: achieved {offered:.0f}/s, latency from schedule {summary(lat)}")
            lat, accepted_closed, rate = await closed_loop(
                server.url, args.seconds, args.concurrency, "closed"
            )
            say(f"closed loop x{args.concurrency}: sustained {rate:.0f} builds/s, {summary(lat)}")
            noop_lat, _, noop_rate = await closed_loop(
                server.url, args.seconds, args.concurrency, None
            )
            say(f"no-op route x{args.concurrency}: {noop_rate:.0f} req/s, {summary(noop_lat)}")
            say(f"ratio no-op/intake: rate {noop_rate / rate:.2f}x")
            stored = await committed_builds(db_url) - warm
            say(f"builds committed: {stored} (accepted {accepted + accepted_closed})")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--rate", type=float, default=300)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    for backend in args.backends.split(","):
        asyncio.run(bench_backend(backend, args))


if __name__ == "__main__":
    main()
