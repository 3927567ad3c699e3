"""Benchmark: signed webhook intake, each build committed, on SQLite and PostgreSQL.

    uv run python -m bench.intake [--seconds 30] [--rate 300] [--concurrency 16]
    uv run python -m bench.intake --profile [--count 2000] [--clients 16] [--keep FILE]

For each backend it starts `cibot serve` with no workers (accept only, so nothing but the
intake runs) and measures, in one run:
  * open loop at --rate builds/s for --seconds: latency from each request's scheduled time
    (so a stalled server cannot hide its queue), p50/p99, and the rate actually achieved;
  * closed loop with --concurrency clients for --seconds: the sustained maximum rate;
  * the same open and closed loops on a no-op route (GET /healthz) of the same server: the
    latency ratio at the same offered rate, and the throughput ratio at saturation.
Every accepted build is then counted in the database: the figure is of committed builds.

--profile: where the time of one signed intake goes instead. `cibot serve` runs under
cProfile on SQLite; --count signed intakes are sent one at a time (or from --clients
clients at once, so that they are committed in groups); the server is stopped
and the profile summarised, per intake: the SQL statements executed (calls into sqlite3),
the event loop's time split between recording (the group commits), answering (the ASGI
app) and the rest, and the functions that took the most time (cumulative, then own).
`bench.recording` times the recording alone, without the profiler and without HTTP.
"""

from __future__ import annotations

import argparse
import asyncio
import pstats
import shutil
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

from bench.harness import (
    cibot,
    config,
    database,
    fake_slack,
    percentile,
    quiet_collector,
    signed_build,
    summary,
)
from bench.profiled import collect, cumulative, entries, find, profiled_cibot, where
from bench.rawhttp import Connection, request_bytes
from cibot.adapters.store.database import Database

TARGETS = [f"feature/bench-{i}" for i in range(50)]


def signed_request(index: int, run: str) -> tuple[bytes, dict[str, str]]:
    return signed_build(index, run, TARGETS[index % len(TARGETS)])


def prepared(url: str, count: int, run: str) -> list[bytes]:
    host = url.split("://", 1)[1]
    out = []
    for i in range(count):
        body, headers = signed_request(i, run)
        out.append(request_bytes("POST", "/build-complete", host, headers, body))
    return out


def address(url: str) -> tuple[str, int]:
    host, port = url.split("://", 1)[1].split(":")
    return host, int(port)


async def open_loop(
    url: str, rate: float, seconds: float, run: str | None, connections: int = 64
) -> tuple[list[float], int, float]:
    """Send at `rate`/s on a pool of keep-alive connections; latency counts from the schedule.

    `run` None: GET /healthz (the no-op route) at the same rate, for comparison.
    """
    count = int(rate * seconds)
    host = url.split("://", 1)[1]
    requests = (
        [request_bytes("GET", "/healthz", host, {})] * count
        if run is None
        else prepared(url, count, run)
    )
    expected = 200 if run is None else 202
    pool: asyncio.Queue[Connection] = asyncio.Queue()
    for _ in range(connections):
        pool.put_nowait(await Connection.open(*address(url)))
    latencies: list[float] = []
    accepted = 0
    start = time.perf_counter()

    async def one(i: int, data: bytes) -> None:
        nonlocal accepted
        scheduled = start + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        connection = await pool.get()
        try:
            status = await connection.send(data)
        finally:
            pool.put_nowait(connection)
        latencies.append(time.perf_counter() - scheduled)
        accepted += status == expected

    await asyncio.gather(*(one(i, data) for i, data in enumerate(requests)))
    elapsed = time.perf_counter() - start
    while not pool.empty():
        pool.get_nowait().close()
    return latencies, accepted, len(requests) / elapsed


async def closed_loop(
    url: str, seconds: float, concurrency: int, run: str | None
) -> tuple[list[float], int, float]:
    """`concurrency` clients back to back; `run` None: GET /healthz (the no-op route)."""
    host = url.split("://", 1)[1]
    budget = int(seconds * 3000)  # more prepared requests than the server can take in time
    requests = (
        [request_bytes("GET", "/healthz", host, {})] * budget
        if run is None
        else prepared(url, budget, run)
    )
    expected = 200 if run is None else 202
    latencies: list[float] = []
    ok = 0
    cursor = iter(requests)
    end = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal ok
        connection = await Connection.open(*address(url))
        try:
            for data in cursor:
                if time.perf_counter() >= end:
                    break
                started = time.perf_counter()
                status = await connection.send(data)
                latencies.append(time.perf_counter() - started)
                ok += status == expected
        finally:
            connection.close()

    begun = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, ok, ok / (time.perf_counter() - begun)


async def committed_builds(db_url: str) -> int:
    database = Database(db_url.replace("postgresql://", "postgresql+asyncpg://", 1))
    try:
        async with database.begin() as conn:
            result = await conn.execute(sa.text("SELECT count(*) FROM builds"))
            return int(result.scalar() or 0)
    finally:
        await database.dispose()


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
            noop_open, _, _ = await open_loop(server.url, args.rate, args.seconds, None)
            say(f"no-op route, same open loop: {summary(noop_open)}")
            p50 = percentile(lat, 50) / percentile(noop_open, 50)
            p99 = percentile(lat, 99) / percentile(noop_open, 99)
            say(f"latency ratio intake/no-op at {args.rate:.0f}/s: p50 {p50:.2f}x, p99 {p99:.2f}x")
            lat, accepted_closed, rate = await closed_loop(
                server.url, args.seconds, args.concurrency, "closed"
            )
            say(f"closed loop x{args.concurrency}: sustained {rate:.0f} builds/s, {summary(lat)}")
            noop_lat, _, noop_rate = await closed_loop(
                server.url, args.seconds, args.concurrency, None
            )
            say(f"no-op route x{args.concurrency}: {noop_rate:.0f} req/s, {summary(noop_lat)}")
            say(f"throughput ratio no-op/intake at saturation: {noop_rate / rate:.2f}x")
            stored = await committed_builds(db_url) - warm
            say(f"builds committed: {stored} (accepted {accepted + accepted_closed})")


async def profile(args: argparse.Namespace) -> None:
    with (
        tempfile.TemporaryDirectory() as tmp,
        database("sqlite", Path(tmp)) as db_url,
        fake_slack() as slack,
    ):
        profiled = profiled_cibot(Path(tmp))
        cfg = config(db_url, slack, "bench-unused", workers=0)
        with cibot(cfg, profiled.executable) as process:
            started = time.perf_counter()
            _, ok, _ = await closed_loop_count(process.url, args.count, args.clients)
            took = time.perf_counter() - started
            stats = await collect(process, profiled)
        if args.keep is not None:
            shutil.copyfile(profiled.out, args.keep)
    how = "one at a time" if args.clients == 1 else f"from {args.clients} clients at once"
    print(f"{ok} intakes {how} in {took:.1f} s: {took / args.count * 1e3:.2f} ms each")
    report_profile(stats, args.count, args.top)


def report_profile(stats: pstats.Stats, per: int, top: int) -> None:
    """Where the event loop's time went, per intake: the split, then the functions."""
    found = entries(stats)
    executes = sum(v[1] for (f, _, name), v in found.items() if name in SQLITE_CALLS and "~" in f)
    print(f"SQL statements per intake: {executes / per:.1f} (startup included, over {per})")
    loop = cumulative(stats, find(stats, "asyncio/base_events.py", "run_forever"))
    commits = cumulative(stats, find(stats, "cibot/service/group_commit.py", "_commit_all"))
    asgi = find(stats, "uvicorn/protocols/http/httptools_impl.py", "run_asgi")
    requests = cumulative(stats, asgi)
    print("the event loop's time per intake (profiled), split:")
    for name, seconds in (
        ("recording, in the group commits (transaction, statements, commit)", commits),
        ("answering, in the ASGI app (route, signature, parsing, response)", requests),
        ("the rest (uvicorn's protocol, the loop itself)", loop - commits - requests),
    ):
        print(f"  {seconds / per * 1e3:7.3f} ms  {seconds / loop:4.0%}  {name}")
    print("cumulative time per intake, top functions of ci-bot, Starlette, SQLAlchemy:")
    rows = sorted(found.items(), key=lambda kv: -kv[1][3])
    ours = ("cibot", "starlette", "sqlalchemy", "sqlite")
    shown = [r for r in rows if any(p in r[0][0] for p in ours) and r[1][1] >= per / 2]
    for function, (_, calls, _, spent, _) in shown[:top]:
        print(f"  {spent / per * 1e3:7.3f} ms  {calls / per:6.1f} calls  {where(function)}")
    print("own time per intake (excluding callees), top functions of anything:")
    rows = sorted(found.items(), key=lambda kv: -kv[1][2])
    for function, (_, calls, own, _, _) in rows[: top // 2]:
        print(f"  {own / per * 1e3:7.3f} ms  {calls / per:6.1f} calls  {where(function)}")


SQLITE_CALLS = {"<method 'execute' of 'sqlite3.Cursor' objects>",
                "<method 'executemany' of 'sqlite3.Cursor' objects>"}  # fmt: skip


async def closed_loop_count(
    url: str, count: int, clients: int = 1
) -> tuple[list[float], int, float]:
    """`count` signed intakes, from `clients` clients each sending one at a time."""
    cursor = iter(prepared(url, count, f"profile{int(time.time())}"))
    latencies: list[float] = []
    ok = 0

    async def client() -> None:
        nonlocal ok
        connection = await Connection.open(*address(url))
        try:
            for data in cursor:
                started = time.perf_counter()
                status = await connection.send(data)  # (`ok += await …` would lose counts)
                ok += status == 202
                latencies.append(time.perf_counter() - started)
        finally:
            connection.close()

    await asyncio.gather(*(client() for _ in range(clients)))
    return latencies, ok, 0.0


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--rate", type=float, default=300)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--profile", action="store_true", help="profile one intake instead")
    parser.add_argument("--count", type=int, default=2000, help="intakes to profile")
    parser.add_argument("--top", type=int, default=30, help="functions to show")
    parser.add_argument("--keep", type=Path, help="--profile: also save the raw profile here")
    parser.add_argument(
        "--clients", type=int, default=1, help="--profile: clients sending at once (batched)"
    )
    args = parser.parse_args()
    quiet_collector()
    if args.profile:
        asyncio.run(profile(args))
        return
    for backend in args.backends.split(","):
        asyncio.run(bench_backend(backend, args))


if __name__ == "__main__":
    main()
