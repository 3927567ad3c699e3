"""Every frequent statement finds its rows through an index, on SQLite and on PostgreSQL.

A statement that reads a whole table costs in proportion to history: invisible on a young
database, the slowest thing ci-bot does after a year (hundreds of thousands of builds,
millions of audit rows and finished jobs). This records, through a SQLAlchemy event, every
statement the real store issues while it does the frequent work — an intake, a job claim
and its completion, review clicks, `/cibot history`, `cibot audit --since`, the expiry,
idle and reminder ticks, a Home tab, the daily retention prune — and asks each backend's
planner how it would run each one with the parameters it was given.

The rule: no plan may scan the whole of a table that grows with history (`GROWING`), nor
sort everything a key finds in an append-only table to keep the newest few (`APPENDED`:
ORDER BY … LIMIT with no index in that order reads a project's whole audit trail).
On SQLite a line `SCAN <table>` (with or without an index: `SCAN … USING INDEX` walks all
of it) fails, `SEARCH` passes, and `USE TEMP B-TREE FOR ORDER BY` under a LIMIT fails;
SQLite plans without statistics (ci-bot never runs ANALYZE), so a tiny database is planned
as a large one. On PostgreSQL each EXPLAIN runs with `enable_seqscan`, `enable_sort`,
`enable_hashjoin` and `enable_mergejoin` off, so the planner takes an index wherever one
can serve (on a tiny table it would otherwise read sequentially and sort, whatever its
indexes): a `Seq Scan` of a growing table then means no index can, and fails, as does an
index scan with no index condition (a walk of the whole index) and a Sort under a Limit.
`ALLOWED` would name an exception and why.
Not timed: bench/scale.py measures what this keeps flat.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from cibot.adapters.store import migrate
from cibot.adapters.store.database import Database
from cibot.adapters.store.queue import SqlJobQueue
from cibot.adapters.store.sql import SqlStore
from cibot.domain.build import LIVE, Build, BuildState, BuildType
from cibot.domain.release import Release, ReleaseKind
from cibot.domain.review import Action, Decision, Outcome, Verdict, VerdictRecord
from cibot.service.audit import AuditAction
from cibot.service.jobs import CheckIdlePreview, DeployPreview, SyncBuildCard
from cibot.service.ports import AuditEvent, Delivery, MessageRef
from tests.support.fakes import FakeClock

GROWING = frozenset(
    {
        "builds",
        "targets",
        "webhook_deliveries",
        "jobs",
        "slack_messages",
        "slack_posting",
        "audit_events",
        "verdicts",
        "decisions",
        "releases",
    }
)

# Tables only ever appended to: what a key finds there is all of its history, so sorting it
# to keep the newest few (ORDER BY … LIMIT without an index in that order) grows with it.
# (Builds and jobs are found by a live state, which bounds them.)
APPENDED = re.compile(r"\b(audit_events|releases|decisions)\b")

# Plans that may scan, and why (none today).
ALLOWED: dict[tuple[str, str], str] = {}


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    await migrate.upgrade_async(database_url)
    db = Database(database_url)
    yield db
    await db.dispose()


class Recorder:
    """The distinct statements (with the first parameters seen) issued while it listens."""

    def __init__(self) -> None:
        self.seen: dict[str, tuple[str, Any]] = {}
        self.label = ""

    def __call__(self, _conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        head = statement.lstrip().split(None, 1)[0].upper()
        if head in {"SELECT", "UPDATE", "DELETE", "WITH"} and statement not in self.seen:
            self.seen[statement] = (self.label, params)


def a_build(clock: FakeClock, build_id: str, target: str, state: BuildState) -> Build:
    now = clock.now()
    return Build(
        build_id, "shop", BuildType.BRANCH, target, "r.example/a:1", state, now, now,
        build_number=1,
    )  # fmt: skip


async def seed(store: SqlStore, clock: FakeClock) -> None:
    """A little of everything, so each statement has rows to find."""
    async with store.transaction() as tx:
        for i in range(30):
            state = BuildState.READY if i % 3 == 0 else BuildState.CLOSED
            await tx.builds.add(a_build(clock, f"b{i}", f"t{i % 5}", state))
            await tx.deliveries.add(Delivery("shop", f"w{i}", "0" * 64, f"b{i}"))
            await tx.messages.save(f"b{i}", "card", MessageRef("C1", f"1.{i}"))
            await tx.audit.append(
                AuditEvent(clock.now(), AuditAction.BUILD_ACCEPTED, "shop", f"b{i}")
            )
            await tx.jobs.enqueue(SyncBuildCard(f"b{i}"))
        decision = await tx.reviews.add_decision(Decision("b0", Action.DEPLOY, "U1", clock.now()))
        await tx.releases.add(
            Release("shop", "b0", "r@sha256:1", "sha256:1", ReleaseKind.PROMOTION, "U1",
                    clock.now(), decision_id=decision.id)
        )  # fmt: skip
    async with store.database.begin() as conn:
        await conn.execute(sa.text("UPDATE jobs SET state = 'done'"))


async def frequent_work(
    store: SqlStore, queue: SqlJobQueue, rec: Recorder, clock: FakeClock
) -> None:
    """What the service does all day, through the real store and queue."""
    now = clock.now()
    rec.label = "intake"
    async with store.transaction() as tx:
        await tx.deliveries.get("shop", "w-new")
        await tx.builds.lock_target("shop", BuildType.BRANCH, "t1")
        await tx.builds.target_summary("shop", BuildType.BRANCH, "t1")
        older = await tx.builds.live_of_target("shop", BuildType.BRANCH, "t1")
        await tx.builds.live_and_highest("shop", BuildType.BRANCH, "t1")
        await tx.deliveries.claim(Delivery("shop", "w1", "0" * 64, "b1"))  # taken: read back
        await tx.builds.of_project("shop", LIVE)
        new = a_build(clock, "b-new", "t1", BuildState.ACCEPTED)
        await tx.builds.add(new)
        for build in older:
            await tx.builds.move(build, build.moved_to(BuildState.SUPERSEDED, now))
        await tx.deliveries.add(Delivery("shop", "w-new", "0" * 64, "b-new"))
        await tx.jobs.enqueue(DeployPreview("b-new", "shop/preview"))
        await tx.audit.append(AuditEvent(now, AuditAction.BUILD_ACCEPTED, "shop", "b-new"))
    rec.label = "claim"
    job = await queue.claim("w1", now, 60)
    assert job is not None
    await queue.extend(job, now, 60)
    await queue.complete(job)
    rec.label = "click"
    async with store.transaction() as tx:
        clicked = await tx.builds.lock("b3")
        assert clicked is not None
        await tx.reviews.verdicts_of("b3")
        await tx.reviews.add_verdict(VerdictRecord("b3", "U2", Verdict.APPROVED, now))
        await tx.reviews.latest_decision("b3")
        decision = await tx.reviews.add_decision(Decision("b3", Action.DEPLOY, "U1", now))
        assert decision.id is not None
        await tx.reviews.settle_decision(decision.id, Outcome.DEPLOYED, None)
        await tx.reviews.start_decision(decision.id, now)
        await tx.reviews.get_decision(decision.id)
        await tx.messages.get("b3", "card")
        await tx.messages.of_role("b3", "qa_dm")
        await tx.messages.begin_post("b3", "qa_dm", "U2", now)
        await tx.messages.post_begun("b3", "qa_dm", "U2")
        await tx.messages.save("b3", "qa_dm", MessageRef("D1", "5.1"), "U2")
        await tx.builds.touch("b3", now)
        await tx.builds.set_author_user("b3", "U3")
        await tx.jobs.waiting(SyncBuildCard("b3"))
        await tx.jobs.enqueue(CheckIdlePreview("b3"), now, dedupe_key="idle:b3")
    rec.label = "history, Home tab, production"
    async with store.transaction() as tx:
        await tx.audit.events("shop", limit=20)
        await tx.builds.of_project("shop", (BuildState.READY,))
        releases = await tx.releases.of_project("shop", limit=2)
        await tx.releases.before(releases[0])
        await tx.releases.get(releases[0].id or 0)
        await tx.releases.of_decision(releases[0].decision_id or 0)
        await tx.production.busy_with("shop")
        await tx.freezes.get("shop")
    rec.label = "audit --since"
    async with store.transaction() as tx:
        await tx.audit.events(None, now - timedelta(days=7), 100)
        await tx.audit.events("shop", now - timedelta(days=7), 100)
    rec.label = "expiry, idle, reminder ticks"
    async with store.transaction() as tx:
        ticked = await tx.builds.lock("b9")
        assert ticked is not None
        await tx.builds.mark_idle_warning("b9", now, now + timedelta(hours=1))
        await tx.builds.move(ticked, ticked.moved_to(BuildState.CLOSED, now))
    rec.label = "retention prune"
    later = now + timedelta(days=100)
    async with store.transaction() as tx:
        await tx.deliveries.prune(later, 500)
        await tx.jobs.prune_finished(later, 500)
        await tx.messages.prune(later, 500)


async def plan(database: Database, statement: str, params: Any) -> list[str]:
    """The plan lines that scan a whole growing table (empty: the plan passes)."""
    postgres = database.backend == "postgresql"
    async with database.begin() as conn:
        if postgres:
            for method in ("seqscan", "sort", "hashjoin", "mergejoin"):
                await conn.execute(sa.text(f"SET LOCAL enable_{method} = off"))
            found = await conn.run_sync(
                lambda c: c.exec_driver_sql("EXPLAIN (FORMAT JSON) " + statement, params).all()
            )
            raw = found[0][0]
            return list(_pg_full_scans(json.loads(raw) if isinstance(raw, str) else raw))
        found = await conn.run_sync(
            lambda c: c.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params).all()
        )
    scans = (re.match(r"SCAN (\w+)", row[-1]) for row in found)
    failed = [m.string for m in scans if m and m.group(1) in GROWING]
    sorted_history = " LIMIT " in statement and APPENDED.search(statement)
    if sorted_history and any("TEMP B-TREE FOR ORDER BY" in r[-1] for r in found):
        failed.append("sorts every row it finds to keep a few (USE TEMP B-TREE, then LIMIT)")
    return failed


def _pg_full_scans(node: Any, limited: bool = False) -> list[str]:
    if isinstance(node, list):
        return [line for item in node for line in _pg_full_scans(item, limited)]
    if not isinstance(node, dict):
        return []
    found: list[str] = []
    if "Plan" in node:
        found += _pg_full_scans(node["Plan"], limited)
    kind, table = node.get("Node Type", ""), node.get("Relation Name", "")
    if kind == "Sort" and limited and APPENDED.search(json.dumps(node)):
        found.append("Sort under a Limit: sorts every row it finds to keep a few")
    limited = limited or kind == "Limit"
    if table in GROWING:
        if kind == "Seq Scan":
            found.append(f"Seq Scan on {table}")
        elif "Index" in kind and "Index Cond" not in node:
            found.append(f"{kind} on {table} using {node.get('Index Name')}, no condition")
    for child in node.get("Plans", []):
        found += _pg_full_scans(child, limited)
    return found


async def test_no_frequent_statement_scans_a_table_that_grows_with_history(
    database: Database,
) -> None:
    clock = FakeClock()
    store = SqlStore(database, clock)
    await seed(store, clock)
    rec = Recorder()
    engine = database.sync_engine
    event.listen(engine, "before_cursor_execute", rec)
    try:
        await frequent_work(store, SqlJobQueue(database), rec, clock)
    finally:
        event.remove(engine, "before_cursor_execute", rec)
    assert len(rec.seen) > 30  # the recording caught the work
    failures = []
    for statement, (label, params) in rec.seen.items():
        for line in await plan(database, statement, params):
            if any(label == lab and table in line for lab, table in ALLOWED):
                continue
            failures.append(f"[{label}] {line}\n    {' '.join(statement.split())[:300]}")
    assert not failures, "full scans of growing tables:\n" + "\n".join(failures)


async def test_a_claim_reads_from_the_head_of_the_queue_whatever_the_backlog(
    database: Database,
) -> None:
    """Every job is claimed once, so a claim that reads the whole backlog makes a burst of N
    jobs cost N² row reads, on the one database every replica shares (bench/replicas.py).
    With a backlog of 2,000 due jobs and a few in flight, the claim must walk live jobs in
    claim order and stop at the first it may take: no sort of what it found (SQLite: no
    temporary B-tree for the ORDER BY) and, on PostgreSQL, a handful of rows read."""
    clock = FakeClock()
    store = SqlStore(database, clock)
    queue = SqlJobQueue(database)
    async with store.transaction() as tx:
        for i in range(2000):
            await tx.jobs.enqueue(SyncBuildCard(f"backlog{i}"))
    for owner in ("w1", "w2", "w3"):  # in flight: the rows a claim passes over at the head
        assert await queue.claim(owner, clock.now(), 60) is not None
    rec = Recorder()
    event.listen(database.sync_engine, "before_cursor_execute", rec)
    try:
        assert await queue.claim("w4", clock.now(), 60) is not None
    finally:
        event.remove(database.sync_engine, "before_cursor_execute", rec)
    statement, (_, params) = next(
        (s, seen) for s, seen in rec.seen.items() if "SELECT jobs.id" in s and "LIMIT" in s
    )
    async with database.begin() as conn:
        if database.backend == "postgresql":
            await conn.execute(sa.text("ANALYZE jobs"))
            found = await conn.run_sync(
                lambda c: c.exec_driver_sql(
                    "EXPLAIN (ANALYZE, FORMAT JSON) " + statement, params
                ).all()
            )
            raw = found[0][0]
            nodes = list(_pg_nodes(json.loads(raw) if isinstance(raw, str) else raw))
            assert not [n for n in nodes if n["Node Type"] == "Sort"], nodes
            read = [
                n["Actual Rows"] + n.get("Rows Removed by Filter", 0)
                for n in nodes
                if n.get("Relation Name") == "jobs" and n.get("Alias") == "jobs"
            ]
            assert read and max(read) <= 10, nodes
        else:
            found = await conn.run_sync(
                lambda c: c.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params).all()
            )
            lines = [row[-1] for row in found]
            assert not [line for line in lines if "TEMP B-TREE" in line], lines
            assert any("ix_jobs_live" in line for line in lines), lines


def _pg_nodes(node: Any) -> Any:
    """Every plan node of a PostgreSQL JSON plan."""
    if isinstance(node, list):
        for item in node:
            yield from _pg_nodes(item)
    elif isinstance(node, dict):
        if "Node Type" in node:
            yield node
        for child in (node.get("Plan"), *node.get("Plans", [])):
            if child is not None:
                yield from _pg_nodes(child)
