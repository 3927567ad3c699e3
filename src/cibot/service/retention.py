"""The daily prune: rows kept only for a while (`retention:` in the config) are deleted.

Webhook deliveries, finished jobs and the Slack message slots of builds that can no longer
change grow with every build; each kind has its own retention (`None`: kept for ever).
The audit table is not pruned: it is append-only (the database refuses deletes from it).

One `PruneRetention` job per day (UTC), with a dedupe key, so however many replicas
schedule it, it runs once; like the group refresh, it queues the next day's job before its
own work, and the periodic keeper schedules the current day's again. Rows go in batches,
each its own short transaction, so a large prune never holds SQLite's write lock long.
The counts are written to the audit trail (`retention.pruned`) when anything went.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import structlog

from cibot.service.audit import AuditAction
from cibot.service.jobs import PruneRetention
from cibot.service.ports import AuditEvent, Clock, Store, Transaction

log = structlog.get_logger(__name__)

DAY = timedelta(days=1)
BATCH = 500


@dataclass(frozen=True, slots=True)
class Retention:
    """How long each kind of row is kept; None: for ever."""

    deliveries: timedelta | None = timedelta(days=30)
    finished_jobs: timedelta | None = timedelta(days=14)
    slack_messages: timedelta | None = timedelta(days=90)


def day_of(now: datetime) -> int:
    """The UTC day `now` falls in, as `PruneRetention.day` counts it (days since the epoch)."""
    return int(now.timestamp() // DAY.total_seconds())


def _day_start(day: int) -> datetime:
    return datetime.fromtimestamp(day * DAY.total_seconds(), UTC)


async def _enqueue(store: Store, day: int, at: datetime) -> None:
    async with store.transaction() as tx:
        await tx.jobs.enqueue(PruneRetention(day), at, dedupe_key=f"prune_retention:{day}")


async def schedule(store: Store, clock: Clock) -> None:
    """Make sure today's prune exists (due at once if today's has not run yet)."""
    await _enqueue(store, day_of(clock.now()), clock.now())


Pruner = Callable[[Transaction, datetime, int], Awaitable[int]]


async def _prune(store: Store, pruner: Pruner, before: datetime) -> int:
    """Run one kind's prune batch after batch until a batch comes back short; the total."""
    total = 0
    while True:
        async with store.transaction() as tx:
            deleted = await pruner(tx, before, BATCH)
        total += deleted
        if deleted < BATCH:
            return total


async def prune_retention(
    job: PruneRetention, *, store: Store, clock: Clock, retention: Retention
) -> None:
    await _enqueue(store, job.day + 1, _day_start(job.day + 1))  # first: the chain goes on
    now = clock.now()
    kinds: dict[str, tuple[timedelta | None, Pruner]] = {
        "deliveries": (retention.deliveries, _deliveries),
        "finished_jobs": (retention.finished_jobs, _finished_jobs),
        "slack_messages": (retention.slack_messages, _message_slots),
    }
    counts: dict[str, int] = {}
    for name, (keep, pruner) in kinds.items():
        if keep is not None:
            counts[name] = await _prune(store, pruner, now - keep)
    log.info("retention.pruned", **counts)
    if any(counts.values()):  # a day with nothing to delete leaves no row
        async with store.transaction() as tx:
            await tx.audit.append(
                AuditEvent(now, AuditAction.RETENTION_PRUNED, None, None, detail=counts)
            )


async def _deliveries(tx: Transaction, before: datetime, limit: int) -> int:
    return await tx.deliveries.prune(before, limit)


async def _finished_jobs(tx: Transaction, before: datetime, limit: int) -> int:
    return await tx.jobs.prune_finished(before, limit)


async def _message_slots(tx: Transaction, before: datetime, limit: int) -> int:
    return await tx.messages.prune(before, limit)
