"""Benchmark: ci-bot after a year of a busy organisation, against ci-bot on a young database.

    uv run python -m bench.scale [--db sqlite|postgresql] [--fraction 1.0] [--seconds 10]

Two databases, in one run: "empty" holds only what is live (500 live previews, 200 builds
awaiting review, their targets); "full" holds the same plus a year of history, seeded
through the real schema (migrations, then bulk inserts: COPY on PostgreSQL, executemany on
SQLite) — at --fraction 1.0: 50 projects, 200,000 builds across 5,000 targets, 2,000,000
audit rows, 1,000,000 finished jobs, 20,000 releases and their decisions, a webhook
delivery and a card per build. Use --fraction 0.05 for a quick run.

On each it measures, and prints with the ratio full/empty (goal: every ratio <= 1.2x):
  * `cibot serve`: cold start to a 200 on /healthz, RSS idle, signed intake p50/p99 at
    --rate/s (open loop, from each request's schedule), and the p50 and p99 of 20 concurrent
    QA approve clicks (signed block_actions; nine bursts, each on builds of its own) on builds
    awaiting review;
  * through the real store, in process, best of --repeat: a job claim and its completion,
    `/cibot history` (a project's newest 20 audit rows), `cibot audit --since 7d` (newest
    100), a Home tab's reads, and one tick each of the expiry, idle and reminder timers;
  * the database's size per 1,000 builds, with the history, and after the retention prune
    (deliveries, finished jobs and message slots older than their retention; then VACUUM).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import astuple, fields
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
from sqlalchemy.engine import make_url
from tests.support import slack_requests as slack_req
from tests.support.service import CibotProcess

from bench.harness import cibot, config, database, fake_slack, percentile, quiet_collector
from bench.intake import open_loop
from cibot.adapters.clock import SystemClock
from cibot.adapters.store import migrate
from cibot.adapters.store.database import Database
from cibot.adapters.store.queue import SqlJobQueue
from cibot.adapters.store.sql import SqlStore
from cibot.domain.build import LIVE, BuildState
from cibot.service import retention
from cibot.service.audit import AuditAction
from cibot.service.jobs import PruneRetention, SyncBuildCard
from cibot.service.retention import Retention

NOW = datetime.now(UTC).replace(microsecond=0)
YEAR, WEEK = timedelta(days=365), timedelta(days=8)
PROJECTS = ["shop", *(f"p{i:02d}" for i in range(1, 50))]
QA = tuple(f"U0QA{i:03d}" for i in range(20))
OWNERS = ("U0OWNER01",)
FULL = {"builds": 200_000, "audit": 2_000_000, "jobs": 1_000_000, "releases": 20_000}
TARGETS_PER_PROJECT = 100  # 5,000 targets
LIVE_PREVIEWS, AWAITING = 500, 200
CHUNK = 20_000
Work = Callable[[], Awaitable[None]]
Figures = dict[str, dict[str, float]]


class Writer:
    """Bulk rows into one table: COPY on PostgreSQL, executemany on SQLite."""

    def __init__(self, url: str) -> None:
        self.sqlite = url.startswith("sqlite")
        if self.sqlite:
            self.conn: Any = sqlite3.connect(make_url(url).database or "")
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=OFF")
        else:
            plain = make_url(url).set(drivername="postgresql").render_as_string(False)
            self.conn = psycopg.connect(plain)

    def rows(self, table: str, columns: list[str], rows: Iterator[tuple[Any, ...]]) -> int:
        count, batch = 0, []
        for row in rows:
            batch.append(row)
            if len(batch) >= CHUNK:
                count += self._write(table, columns, batch)
                batch = []
        return count + (self._write(table, columns, batch) if batch else 0)

    def _write(self, table: str, columns: list[str], batch: list[tuple[Any, ...]]) -> int:
        names = ", ".join(f'"{c}"' for c in columns)
        if self.sqlite:
            marks = ", ".join("?" * len(columns))
            fixed = [tuple(_sqlite(v) for v in row) for row in batch]
            insert = f"INSERT INTO {table} ({names}) VALUES ({marks})"  # noqa: S608 (our names)
            self.conn.executemany(insert, fixed)
            self.conn.commit()
        else:
            with self.conn.cursor() as cur, cur.copy(f"COPY {table} ({names}) FROM STDIN") as cp:
                for row in batch:
                    cp.write_row([json.dumps(v) if isinstance(v, dict) else v for v in row])
            self.conn.commit()
        return len(batch)

    def close(self) -> None:
        self.conn.close()


def _sqlite(value: Any) -> Any:
    """Values as SQLAlchemy stores them in SQLite: naive UTC timestamps as text, JSON as text."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ")
    if isinstance(value, dict):
        return json.dumps(value)
    return value


def _at(i: int, n: int) -> datetime:
    """The i-th of n moments spread evenly over the year before the last week (oldest first)."""
    return NOW - YEAR + (YEAR - WEEK) * (i / max(n, 1))


BUILD_COLUMNS = ["id", "project_id", "type", "target", "image", "state", "created_at"]
BUILD_COLUMNS += ["updated_at", "build_number", "ready_at", "active_at"]


def seed_live(writer: Writer, fraction: float) -> list[str]:
    """What a young and an old database both hold: live previews, builds awaiting review,
    and the last week's audit trail (what `/cibot history` and `audit --since 7d` show)."""
    awaiting = [f"live{i:04d}" for i in range(AWAITING)]

    def builds() -> Iterator[tuple[Any, ...]]:
        for i in range(LIVE_PREVIEWS):
            project = "shop" if i < AWAITING else PROJECTS[i % len(PROJECTS)]
            at = NOW - timedelta(hours=2)
            yield (f"live{i:04d}", project, "branch", f"live/{i}", f"r.example/{project}:{i}",
                   BuildState.READY.value, at, at, 1, at, at)  # fmt: skip

    writer.rows("builds", BUILD_COLUMNS, builds())
    recent = max(1000, int(FULL["audit"] * fraction * 7 / 365))

    def audit() -> Iterator[tuple[Any, ...]]:  # the last week, the same in both databases
        for i in range(recent):
            at = NOW - WEEK + WEEK * (i / recent)
            build = awaiting[i % len(awaiting)]
            approved = AuditAction.VERDICT_APPROVED.value
            yield at, approved, PROJECTS[i % len(PROJECTS)], build, "U0QA000", {"n": i}

    writer.rows("audit_events", ["at", "action", "project_id", "build_id", "actor", "detail"],
                audit())  # fmt: skip
    messages = [(b, "card", "", "C0BENCH001", f"9.{i}", NOW) for i, b in enumerate(awaiting)]
    messages.append((awaiting[1], "qa_dm", QA[0], "D1", "1.1", NOW))  # a DM the ticks find
    columns = ["build_id", "role", "user_id", "channel", "ts", "created_at"]
    writer.rows("slack_messages", columns, iter(messages))
    return awaiting


def seed_history(writer: Writer, fraction: float) -> dict[str, int]:
    """A year of history, every row as the store writes it (tables.py), in bulk."""
    n = {k: int(v * fraction) for k, v in FULL.items()}
    rnd = random.Random(16)
    targets = [(p, f"feature/{t}") for p in PROJECTS for t in range(TARGETS_PER_PROJECT)]

    def builds() -> Iterator[tuple[Any, ...]]:
        for i in range(n["builds"]):
            project, target = targets[i % len(targets)]
            at = _at(i, n["builds"])
            state = BuildState.SUPERSEDED.value if i % 4 else BuildState.CLOSED.value
            yield (f"h{i:08d}", project, "branch", target, f"r.example/{project}:{i}", state,
                   at, at, i // len(targets) + 1, at, at)  # fmt: skip

    def deliveries() -> Iterator[tuple[Any, ...]]:
        for i in range(n["builds"]):
            project = targets[i % len(targets)][0]
            yield project, f"msg_h{i}", "0" * 64, f"h{i:08d}", _at(i, n["builds"])

    def cards() -> Iterator[tuple[Any, ...]]:
        for i in range(n["builds"]):
            yield f"h{i:08d}", "card", "", "C0BENCH001", f"1.{i}", _at(i, n["builds"])

    def audit() -> Iterator[tuple[Any, ...]]:
        a = AuditAction
        actions = [
            x.value
            for x in (a.BUILD_ACCEPTED, a.PREVIEW_READY, a.VERDICT_APPROVED, a.BUILD_SUPERSEDED)
        ]
        for i in range(n["audit"]):
            build = rnd.randrange(max(n["builds"], 1))
            yield (_at(i, n["audit"]), actions[i % 4], targets[build % len(targets)][0],
                   f"h{build:08d}", "ci", {"n": i})  # fmt: skip

    def jobs() -> Iterator[tuple[Any, ...]]:
        for i in range(n["jobs"]):
            at = _at(i, n["jobs"])
            payload = json.dumps({"build_id": f"h{i % max(n['builds'], 1):08d}"})
            yield "sync_build_card", payload, None, "done", at, 1, at, at

    def decisions() -> Iterator[tuple[Any, ...]]:
        for i in range(n["releases"]):
            at = _at(i, n["releases"])
            yield (
                i + 1,
                f"h{i * 7 % max(n['builds'], 1):08d}",
                "deploy",
                "U0OWNER01",
                at,
                "deployed",
            )

    def releases() -> Iterator[tuple[Any, ...]]:
        for i in range(n["releases"]):
            project = PROJECTS[i % len(PROJECTS)]
            build = f"h{i * 7 % max(n['builds'], 1):08d}"
            yield (project, build, i + 1, f"r.example/{project}@sha256:{i}", f"sha256:{i}",
                   "promotion", "U0OWNER01", _at(i, n["releases"]))  # fmt: skip

    done = {"builds": writer.rows("builds", BUILD_COLUMNS, builds())}
    done["targets"] = writer.rows(
        "targets", ["project_id", "type", "target", "touched_at"],
        ((p, "branch", t, NOW) for p, t in targets),
    )  # fmt: skip
    done["webhook_deliveries"] = writer.rows(
        "webhook_deliveries", ["project_id", "webhook_id", "body_sha256", "build_id", "created_at"],
        deliveries(),
    )  # fmt: skip
    done["slack_messages"] = writer.rows(
        "slack_messages", ["build_id", "role", "user_id", "channel", "ts", "created_at"], cards()
    )
    done["audit_events"] = writer.rows(
        "audit_events", ["at", "action", "project_id", "build_id", "actor", "detail"], audit()
    )
    done["jobs"] = writer.rows(
        "jobs", ["kind", "payload", "queue", "state", "run_at", "attempts", "created_at",
                 "updated_at"], jobs(),
    )  # fmt: skip
    done["decisions"] = writer.rows(
        "decisions", ["id", "build_id", "action", "actor", "at", "outcome"], decisions()
    )
    done["releases"] = writer.rows(
        "releases", ["project_id", "build_id", "decision_id", "image", "digest", "kind", "actor",
                     "at"], releases(),
    )  # fmt: skip
    if not writer.sqlite:
        with writer.conn.cursor() as cur:
            cur.execute("SELECT setval('decisions_id_seq', (SELECT max(id) FROM decisions))")
        writer.conn.commit()
    return done


def analyse(url: str) -> None:
    """Statistics, as a database in service has them (PostgreSQL's autovacuum)."""
    writer = Writer(url)
    if not writer.sqlite:  # ci-bot never runs ANALYZE on SQLite: it plans without statistics
        writer.conn.autocommit = True
        writer.conn.execute("VACUUM ANALYZE")
    writer.close()


def size_bytes(url: str) -> int:
    if url.startswith("sqlite"):
        path = Path(make_url(url).database or "")
        return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))
    writer = Writer(url)
    row = writer.conn.execute("SELECT pg_database_size(current_database())").fetchone()
    writer.close()
    return int(row[0])


def vacuum(url: str) -> None:
    writer = Writer(url)
    if writer.sqlite:
        writer.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        writer.conn.execute("VACUUM")
    else:
        writer.conn.autocommit = True
        writer.conn.execute("VACUUM FULL")
    writer.close()


def async_url(url: str) -> str:
    return url.replace("postgresql://", "postgresql+asyncpg://", 1)


async def timed(fn: Callable[[], Awaitable[Any]], times: int) -> list[float]:
    out = []
    for _ in range(times):
        started = time.perf_counter()
        await fn()
        out.append(time.perf_counter() - started)
    return out


def store_work(store: SqlStore, queue: SqlJobQueue, awaiting: list[str]) -> dict[str, Work]:
    """The frequent work on the store, each as one call to time."""

    async def claim() -> None:
        async with store.transaction() as tx:
            await tx.jobs.enqueue(SyncBuildCard(awaiting[0]))
        job = await queue.claim("bench", datetime.now(UTC), 60)
        assert job is not None
        await queue.complete(job)

    async def history() -> None:
        async with store.transaction() as tx:
            await tx.audit.events("shop", limit=20)

    async def audit_since() -> None:
        async with store.transaction() as tx:
            await tx.audit.events(None, datetime.now(UTC) - timedelta(days=7), 100)

    async def home() -> None:
        async with store.transaction() as tx:
            for build in await tx.builds.of_project("shop", LIVE):
                await tx.reviews.latest_decision(build.id)
            await tx.audit.events("shop", limit=10)
            await tx.releases.of_project("shop", limit=2)
            await tx.production.busy_with("shop")
            await tx.freezes.get("shop")

    async def tick() -> None:  # expiry, idle, reminder: each one build's statements
        build_id = awaiting[1]
        async with store.transaction() as tx:
            await tx.builds.lock(build_id)
        async with store.transaction() as tx:
            await tx.builds.get(build_id)
            await tx.messages.of_role(build_id, "owner_dm")
            await tx.messages.of_role(build_id, "idle_warning")
            await tx.messages.get(build_id, "card")
        async with store.transaction() as tx:
            await tx.builds.get(build_id)
            await tx.messages.of_role(build_id, "qa_dm")
            await tx.messages.of_role(build_id, "reminder")

    async def prune() -> None:
        async with store.transaction() as tx:
            await tx.deliveries.prune(NOW - YEAR * 2, 500)
            await tx.jobs.prune_finished(NOW - YEAR * 2, 500)
            await tx.messages.prune(NOW - YEAR * 2, 500)

    return {
        "job claim + complete, best (ms)": claim,
        "/cibot history, best (ms)": history,
        "cibot audit --since 7d, best (ms)": audit_since,
        "Home tab reads, 200 previews, best (ms)": home,
        "expiry+idle+reminder ticks, best (ms)": tick,
        "retention prune, nothing due, best (ms)": prune,
    }


async def store_figures(urls: dict[str, str], awaiting: list[str], repeat: int) -> Figures:
    """Each piece of store work, alternately on each database (so load hits both alike); the
    best of `repeat` (on a shared, loaded machine the least disturbed run is the cost)."""
    dbs = {name: Database(async_url(url)) for name, url in urls.items()}
    work = {
        name: store_work(SqlStore(db, SystemClock()), SqlJobQueue(db), awaiting)
        for name, db in dbs.items()
    }
    out: Figures = {name: {} for name in urls}
    for key in work["empty"]:
        samples: dict[str, list[float]] = {name: [] for name in urls}
        for round_ in range(repeat + 1):
            for name in urls:
                started = time.perf_counter()
                await work[name][key]()
                if round_:  # the first is a warm-up
                    samples[name].append((time.perf_counter() - started) * 1000)
        for name in urls:
            out[name][key] = min(samples[name])
    for db in dbs.values():
        await db.dispose()
    return out


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def clicks(url: str, slack: Any, builds: list[str]) -> list[float]:
    async with httpx.AsyncClient(timeout=30) as client:

        async def one(user: str, build_id: str) -> float:
            trigger_id = slack_req.issued(slack, user)
            payload = slack_req.block_actions(
                user, "qa_approve", build_id, "", trigger_id=trigger_id
            )
            started = time.perf_counter()
            response = await slack_req.post_async(client, url, payload)
            assert response.status_code == 200, response.text
            return time.perf_counter() - started

        return list(await asyncio.gather(*(one(u, b) for u, b in zip(QA, builds, strict=False))))


async def server_figures(
    urls: dict[str, str], awaiting: list[str], args: argparse.Namespace
) -> Figures:
    """`cibot serve` on each database at once; intake and clicks alternately on each."""
    out: Figures = {name: {} for name in urls}
    with ExitStack() as stack:
        servers: dict[str, tuple[Any, Any]] = {}
        for name, url in urls.items():
            slack = stack.enter_context(fake_slack((*QA, *OWNERS)))
            cfg = config(url, slack, "bench-unused", workers=0)
            cfg["projects"][0].update(qa=list(QA), owners=list(OWNERS))
            cfg["slack"]["signing_secret"] = slack_req.SIGNING_SECRET
            servers[name] = (stack.enter_context(cibot(cfg)), slack)
        await asyncio.sleep(1)
        intake: dict[str, list[float]] = {name: [] for name in urls}
        acks: dict[str, list[float]] = {name: [] for name in urls}
        # A burst of 20 on builds of its own after each stretch of intake: nine give 180
        # clicks, so the p99 is not simply the slowest click of one burst.
        rounds = (len(awaiting) - 2) // len(QA)
        for round_ in range(rounds):
            for name, (server, slack) in servers.items():
                run = f"{name}{round_}t{int(time.time())}"
                lat, _, _ = await open_loop(server.url, args.rate, args.seconds / rounds, run)
                intake[name] += lat
                picked = awaiting[2 + round_ * len(QA) : 2 + (round_ + 1) * len(QA)]
                acks[name] += await clicks(server.url, slack, picked)
        for name, (server, _) in servers.items():
            out[name][f"intake p50 at {args.rate:.0f}/s (ms)"] = percentile(intake[name], 50) * 1e3
            out[name][f"intake p99 at {args.rate:.0f}/s (ms)"] = percentile(intake[name], 99) * 1e3
            out[name]["click ack p50, 20 at once (ms)"] = percentile(acks[name], 50) * 1e3
            out[name]["click ack p99, 20 at once (ms)"] = percentile(acks[name], 99) * 1e3
            out[name]["RSS after the load (MB)"] = rss_mb(server.proc.pid)
    return out


def cold_starts(urls: dict[str, str], times: int) -> Figures:
    """Seconds from `cibot serve` to its first 200 on /healthz (schema current), median of
    `times`, alternately on each database; and the RSS idle just after."""
    samples: dict[str, list[float]] = {name: [] for name in urls}
    rss: dict[str, list[float]] = {name: [] for name in urls}
    with fake_slack() as slack, tempfile.TemporaryDirectory() as tmp:
        for _ in range(times):
            for name, url in urls.items():
                process = CibotProcess(config(url, slack, "bench-unused", workers=0), Path(tmp))
                process.write_config()
                started = time.perf_counter()
                process.start()
                samples[name].append(time.perf_counter() - started)
                assert process.proc is not None
                time.sleep(1)
                rss[name].append(rss_mb(process.proc.pid))
                process.stop()
    return {
        name: {
            "cold start to /healthz (s)": statistics.median(samples[name]),
            "RSS idle (MB)": statistics.median(rss[name]),
        }
        for name in urls
    }


def kept_for(kept: Retention) -> str:
    """How long the prune keeps each kind of row, e.g. 'deliveries 30 d, …'."""
    days = (("for ever" if age is None else f"{age.days} d") for age in astuple(kept))
    return ", ".join(f"{field.name} {age}" for field, age in zip(fields(kept), days, strict=True))


def retained_size(url: str, builds: int) -> float:
    """Bytes per 1,000 builds after the daily prune (`service.retention`, with the default
    retention a deployment gets) has deleted what it lets go."""

    async def prune() -> None:
        db = Database(async_url(url))
        clock = SystemClock()
        today = PruneRetention(retention.day_of(clock.now()))
        try:
            store = SqlStore(db, clock)
            await retention.prune_retention(today, store=store, clock=clock, retention=Retention())
        finally:
            await db.dispose()

    asyncio.run(prune())
    vacuum(url)
    return size_bytes(url) / max(builds, 1) * 1000


@contextmanager
def two_databases(backend: str) -> Iterator[dict[str, str]]:
    with tempfile.TemporaryDirectory(prefix="cibot-scale-") as tmp:
        (Path(tmp) / "empty").mkdir()
        (Path(tmp) / "full").mkdir()
        with (
            database(backend, Path(tmp) / "empty") as empty,
            database(backend, Path(tmp) / "full") as full,
        ):
            yield {"empty": empty, "full": full}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--fraction", type=float, default=1.0)
    parser.add_argument("--seconds", type=float, default=9, help="of intake, per database")
    parser.add_argument("--rate", type=float, default=300)
    parser.add_argument("--repeat", type=int, default=30, help="timings of each store figure")
    parser.add_argument("--starts", type=int, default=3, help="cold starts per database")
    args = parser.parse_args()
    with two_databases(args.db) as urls:
        builds = {}
        for name, url in urls.items():
            migrate.upgrade(async_url(url))
            writer = Writer(url)
            started = time.perf_counter()
            # History first: ids grow with time, as in service.
            counts = seed_history(writer, args.fraction) if name == "full" else {"builds": 0}
            awaiting = seed_live(writer, args.fraction)
            writer.close()
            analyse(url)
            builds[name] = counts["builds"] + LIVE_PREVIEWS
            say = f"[{args.db}] {name}: seeded {counts} in {time.perf_counter() - started:.0f} s"
            print(say, flush=True)
        quiet_collector()
        figures = asyncio.run(store_figures(urls, awaiting, args.repeat))
        for name, found in asyncio.run(server_figures(urls, awaiting, args)).items():
            figures[name].update(found)
        for name, found in cold_starts(urls, args.starts).items():
            figures[name].update(found)
        print(f"\n[{args.db}] fraction {args.fraction}: figure, empty, full, full/empty")
        for key, value in figures["empty"].items():
            full_value = figures["full"][key]
            ratio = full_value / value if value else float("nan")
            print(f"  {key:40s} {value:10.2f} {full_value:10.2f} {ratio:6.2f}x")
        full = urls["full"]
        per_k = size_bytes(full) / builds["full"]
        print(f"  size per 1,000 builds, a year kept       {per_k:10.0f} KB")
        pruned = retained_size(full, builds["full"]) / 1000
        kept = kept_for(Retention())
        print(f"  size per 1,000 builds, after the prune   {pruned:10.0f} KB ({kept}; vacuumed)")


if __name__ == "__main__":
    main()
