"""`cibot jobs` and `cibot jobs retry ID`: an operator's way out, without SQL.

`cibot jobs` lists the jobs that need a look, newest first: dead ones (they gave up; the
last error is kept), running ones whose lease ran out with nobody taking them over (no
worker runs), and pending ones overdue by more than `--overdue` (no worker runs them, or
an older job of their queue holds them up). What a dead deploy held is settled already
(by the runner, or by the reconciler within `jobs.reconcile_seconds`).

`cibot jobs retry ID` puts a dead job back in the queue, due now, with its attempts counted
afresh; a running `cibot serve` takes it within its poll interval. Every job re-reads the
state when it runs, so a retried deploy whose build was settled meanwhile does nothing.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import typer
from pydantic import TypeAdapter, ValidationError

from cibot.adapters.store.database import Database
from cibot.adapters.store.queue import SqlJobQueue
from cibot.config import Settings
from cibot.config.fields import Duration
from cibot.service.jobs import JobRecord, JobState

_DURATION: TypeAdapter[timedelta] = TypeAdapter(Duration)


def status(record: JobRecord, now: datetime) -> str:
    """Why the job is listed: dead, its lease ran out, or overdue."""
    if record.state is JobState.RUNNING:
        return "lease expired"
    if record.state is JobState.PENDING:
        return f"overdue {_ago(now - record.run_at)}"
    return record.state.value


def _ago(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _subject(record: JobRecord) -> str:
    for name in ("build_id", "project_id", "decision_id"):
        value = getattr(record.payload, name, None)
        if value:
            return f"{name.removesuffix('_id')} {value}"
    return "-"


def _json(record: JobRecord, now: datetime) -> dict[str, object]:
    return {
        "id": record.id,
        "kind": record.kind,
        "state": record.state.value,
        "status": status(record, now),
        "attempts": record.attempts,
        "build": getattr(record.payload, "build_id", None),
        "run_at": record.run_at.isoformat(),
        "updated_at": record.updated_at.isoformat(),
        "lease_owner": record.lease_owner,
        "last_error": record.last_error,
    }


def _table(records: Sequence[JobRecord], now: datetime) -> str:
    header = ("ID", "KIND", "STATUS", "ATTEMPTS", "ABOUT", "UPDATED (UTC)", "LAST ERROR")
    rows = [
        (
            str(r.id),
            r.kind,
            status(r, now),
            str(r.attempts),
            _subject(r),
            f"{r.updated_at.astimezone(UTC):%Y-%m-%d %H:%M:%S}",
            " ".join((r.last_error or "").split())[:160],
        )
        for r in records
    ]
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header) - 1)]
    lines = []
    for row in (header, *rows):
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    return "\n".join(lines)


async def _troubled(settings: Settings, overdue: timedelta, limit: int) -> list[JobRecord]:
    database = Database(settings.database.async_url)
    try:
        return await SqlJobQueue(database).troubled(datetime.now(UTC), overdue, limit)
    finally:
        await database.dispose()


def list_jobs(settings: Settings, *, overdue: str, as_json: bool, limit: int) -> int:
    try:
        late = _DURATION.validate_python(overdue)
    except ValidationError:
        typer.echo("--overdue takes a duration (90s, 10m, 2h)", err=True)
        return 2
    now = datetime.now(UTC)
    records = asyncio.run(_troubled(settings, late, limit))
    if as_json:
        typer.echo(json.dumps([_json(r, now) for r in records], indent=2, ensure_ascii=False))
    elif records:
        typer.echo(_table(records, now))
    else:
        typer.echo("no dead or stuck jobs", err=True)
    return 0


async def _revive(settings: Settings, job_id: int) -> tuple[JobRecord | None, JobRecord | None]:
    """(the job as revived, or None; the job as it is when it was not revived)."""
    database = Database(settings.database.async_url)
    try:
        queue = SqlJobQueue(database)
        revived = await queue.revive(job_id, datetime.now(UTC))
        return revived, (await queue.get(job_id) if revived is None else None)
    finally:
        await database.dispose()


def retry(settings: Settings, job_id: int) -> int:
    revived, found = asyncio.run(_revive(settings, job_id))
    if revived is not None:
        typer.echo(f"job {job_id} ({revived.kind}, {_subject(revived)}) is pending again")
        return 0
    if found is None:
        typer.echo(f"there is no job {job_id}", err=True)
    else:
        typer.echo(f"job {job_id} is {found.state.value}, not dead: nothing to retry", err=True)
    return 1
