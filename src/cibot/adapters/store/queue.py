"""The JobQueue port on SQL: leased claims that never hand one job to two workers.

A job is claimable when it is due (pending and `run_at` has come, or running with an expired
lease: its worker died) and no older job of the same `queue` is still pending or running.
That one rule gives both ordering and mutual exclusion per queue (e.g. one deploy at a time
per environment). On PostgreSQL the candidate row is locked with `FOR UPDATE SKIP LOCKED`,
so replicas never wait on each other; on SQLite `BEGIN IMMEDIATE` serialises the claim.
Every later write names the lease owner and attempt number, so a worker whose lease was
taken over cannot complete or retry the job it lost (the attempt is a fencing token).

Besides claiming, it reads the table for the reconciler (`unfinished`) and for an operator
(`troubled`, `revive`: `cibot jobs` and `cibot jobs retry`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from cibot.adapters.store import signals
from cibot.adapters.store import tables as t
from cibot.adapters.store.database import Database
from cibot.service import jobs
from cibot.service.jobs import Job, JobRecord, JobState

_LIVE = (JobState.PENDING.value, JobState.RUNNING.value)


def _candidate(postgres: bool) -> sa.Select[tuple[int]]:
    """The first claimable job at `:now`. Built once: workers run it after every commit.

    Due means pending with `run_at` come, or running with its lease run out (its worker
    died). Both are asked of the live jobs whose `run_at` has come, in `ix_jobs_live`'s
    order, so the planner walks that index from its head and stops at the first job that
    passes (only the few jobs in flight, locked or held back by their queue are passed
    over), instead of reading and sorting every pending job for each claim. The same set as
    "pending and due, or running and expired": a running job's lease was written at its
    claim, when its `run_at` had come, so an expired lease implies a `run_at` come too.

    SQLite, planning without statistics, would rather look the two states up in
    `ix_jobs_ready` and sort; `likely()` (its planner hint: "usually true") tells it the
    states narrow nothing, and it takes `ix_jobs_live` in order.
    """
    j, older = t.jobs, t.jobs.alias("older")
    now = sa.bindparam("now", type_=j.c.run_at.type)
    live = t.JOBS_LIVE  # word for word the index's predicate: see tables.JOBS_LIVE
    due = sa.and_(
        sa.text(live if postgres else f"likely({live})"),
        j.c.run_at <= now,
        sa.or_(j.c.state == JobState.PENDING.value, j.c.lease_expires_at < now),
    )
    first_in_queue = sa.or_(
        j.c.queue.is_(None),
        ~sa.exists().where(
            older.c.queue == j.c.queue, older.c.id < j.c.id, older.c.state.in_(_LIVE)
        ),
    )
    # Only kinds this version knows: in a rolling update, a job a newer version enqueued is
    # left to it rather than claimed, failed and its attempts used up here.
    known = j.c.kind.in_(sorted(jobs.PAYLOAD_TYPES))
    candidate = sa.select(j.c.id).where(due, known, first_in_queue).order_by(j.c.run_at, j.c.id)
    if postgres:
        candidate = candidate.with_for_update(skip_locked=True)
    return candidate.limit(1)


# The project of the build a job is about: every log line of the job's work names it.
_project_of = sa.select(t.builds.c.project_id).where(t.builds.c.id == sa.bindparam("build_id"))


class SqlJobQueue:
    def __init__(self, database: Database) -> None:
        self._database = database
        self._candidate = _candidate(postgres=database.backend == "postgresql")

    async def claim(self, owner: str, now: datetime, lease_seconds: float) -> Job | None:
        j = t.jobs
        async with self._database.begin() as conn:
            job_id = (await conn.execute(self._candidate, {"now": now})).scalar()
            if job_id is None:
                return None
            expires = now + timedelta(seconds=lease_seconds)
            row = (
                await conn.execute(
                    j.update()
                    .where(j.c.id == job_id)
                    .values(
                        state=JobState.RUNNING.value,
                        attempts=j.c.attempts + 1,
                        lease_owner=owner,
                        lease_expires_at=expires,
                        updated_at=now,
                    )
                    .returning(j.c.id, j.c.kind, j.c.payload, j.c.attempts)
                )
            ).one()
            payload = jobs.decode(row.kind, row.payload)
            build_id = getattr(payload, "build_id", None)
            project_id = (
                (await conn.execute(_project_of, {"build_id": build_id})).scalar()
                if build_id
                else None
            )
        return Job(
            id=row.id,
            payload=payload,
            attempts=row.attempts,
            lease_owner=owner,
            lease_expires_at=expires,
            project_id=project_id,
        )

    def _mine(self, job: Job) -> sa.ColumnElement[bool]:
        j = t.jobs
        return sa.and_(
            j.c.id == job.id,
            j.c.state == JobState.RUNNING.value,
            j.c.lease_owner == job.lease_owner,
            j.c.attempts == job.attempts,
        )

    async def _update_mine(self, job: Job, **values: object) -> bool:
        async with self._database.begin() as conn:
            result = await conn.execute(t.jobs.update().where(self._mine(job)).values(**values))
        return result.rowcount == 1

    async def extend(self, job: Job, now: datetime, lease_seconds: float) -> Job | None:
        expires = now + timedelta(seconds=lease_seconds)
        if not await self._update_mine(job, lease_expires_at=expires, updated_at=now):
            return None
        return Job(job.id, job.payload, job.attempts, job.lease_owner, expires)

    async def complete(self, job: Job) -> bool:
        return await self._update_mine(
            job, state=JobState.DONE.value, lease_owner=None, lease_expires_at=None
        )

    async def retry(self, job: Job, run_at: datetime, error: str) -> bool:
        return await self._update_mine(
            job,
            state=JobState.PENDING.value,
            run_at=run_at,
            last_error=error[:4000],
            lease_owner=None,
            lease_expires_at=None,
        )

    async def give_up(self, job: Job, error: str) -> bool:
        return await self._update_mine(
            job, state=JobState.DEAD.value, last_error=error[:4000], lease_owner=None
        )

    async def unfinished(self, kinds: Iterable[str]) -> Sequence[JobRecord]:
        j = t.jobs
        states = (*_LIVE, JobState.DEAD.value)
        query = j.select().where(j.c.state.in_(states), j.c.kind.in_(list(kinds))).order_by(j.c.id)
        async with self._database.begin() as conn:
            return [_record(row) for row in await conn.execute(query)]

    async def troubled(self, now: datetime, overdue: timedelta, limit: int) -> list[JobRecord]:
        """Jobs that need a look, newest first: dead ones; running ones whose lease ran out
        (their worker died and nobody took them over); pending ones overdue by `overdue`
        (no worker runs them, or an older job of their queue holds them up)."""
        j = t.jobs
        stuck = sa.or_(
            j.c.state == JobState.DEAD.value,
            sa.and_(j.c.state == JobState.RUNNING.value, j.c.lease_expires_at < now),
            sa.and_(j.c.state == JobState.PENDING.value, j.c.run_at < now - overdue),
        )
        query = j.select().where(stuck).order_by(j.c.id.desc()).limit(limit)
        async with self._database.begin() as conn:
            return [_record(row) for row in await conn.execute(query)]

    async def revive(self, job_id: int, now: datetime) -> JobRecord | None:
        """Put a dead job back in the queue, due now, with its attempts counted afresh; None
        when there is no dead job with that id (nothing is changed then). On PostgreSQL the
        running replicas are signalled with the commit, so one takes it at once."""
        j = t.jobs
        async with self._database.begin() as conn:
            row = (
                await conn.execute(
                    j.update()
                    .where(j.c.id == job_id, j.c.state == JobState.DEAD.value)
                    .values(
                        state=JobState.PENDING.value,
                        run_at=now,
                        attempts=0,
                        lease_owner=None,
                        lease_expires_at=None,
                        updated_at=now,
                    )
                    .returning(*j.c)
                )
            ).first()
            if row is not None and self._database.backend == "postgresql":
                await conn.execute(signals.NOTIFY)
        return _record(row) if row is not None else None

    async def get(self, job_id: int) -> JobRecord | None:
        async with self._database.begin() as conn:
            row = (await conn.execute(t.jobs.select().where(t.jobs.c.id == job_id))).first()
        return _record(row) if row is not None else None


def _record(row: Any) -> JobRecord:
    try:
        payload: jobs.JobPayload | None = jobs.decode(row.kind, row.payload)
    except (KeyError, TypeError, ValueError):
        payload = None
    return JobRecord(
        id=row.id,
        kind=row.kind,
        payload=payload,
        state=JobState(row.state),
        attempts=row.attempts,
        run_at=row.run_at,
        updated_at=row.updated_at,
        lease_owner=row.lease_owner,
        lease_expires_at=row.lease_expires_at,
        last_error=row.last_error,
    )
