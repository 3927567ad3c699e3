"""`cibot audit`: the append-only audit trail, as a table or as JSON.

Reads the database the config names, newest entries first. `--since` takes a date or time
(ISO 8601: `2026-12-01`, `2026-12-01T08:00Z`) or a duration back from now (`2h`, `7d`).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import typer
from pydantic import TypeAdapter, ValidationError

from cibot.adapters.clock import SystemClock
from cibot.adapters.store.database import Database
from cibot.adapters.store.sql import SqlStore
from cibot.config import Settings
from cibot.config.fields import Duration
from cibot.service.ports import AuditEvent

_DURATION: TypeAdapter[timedelta] = TypeAdapter(Duration)


def parse_since(text: str, now: datetime) -> datetime:
    """A moment from `--since`; ValueError with the accepted forms."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        try:
            back = _DURATION.validate_python(text)
        except ValidationError:
            raise ValueError(
                "--since takes a date or time (2026-12-01, 2026-12-01T08:00Z) or a duration "
                "(90m, 2h, 7d)"
            ) from None
        return now - back
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


async def _read(
    settings: Settings, project: str | None, since: datetime | None, limit: int
) -> Sequence[AuditEvent]:
    database = Database(settings.database.async_url)
    try:
        async with SqlStore(database, SystemClock()).transaction() as tx:
            return await tx.audit.events(project, since, limit)
    finally:
        await database.dispose()


def _json(event: AuditEvent) -> dict[str, object]:
    return {
        "id": event.id,
        "at": event.at.isoformat(),
        "action": event.action,
        "project": event.project_id,
        "build": event.build_id,
        "actor": event.actor,
        "detail": dict(event.detail) if event.detail else None,
    }


def _table(events: Sequence[AuditEvent]) -> str:
    header = ("AT (UTC)", "ACTION", "PROJECT", "BUILD", "ACTOR", "DETAIL")
    rows = [
        (
            f"{e.at.astimezone(UTC):%Y-%m-%d %H:%M:%S}",
            e.action,
            e.project_id or "-",
            e.build_id or "-",
            e.actor or "-",
            json.dumps(dict(e.detail), sort_keys=True, ensure_ascii=False) if e.detail else "",
        )
        for e in events
    ]
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header) - 1)]
    lines = []
    for row in (header, *rows):
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    return "\n".join(lines)


def run(
    settings: Settings, *, project: str | None, since: str | None, as_json: bool, limit: int
) -> int:
    try:
        moment = parse_since(since, datetime.now(UTC)) if since else None
    except ValueError as exc:
        typer.echo(str(exc), err=True)
        return 2
    events = asyncio.run(_read(settings, project, moment, limit))
    if as_json:
        typer.echo(json.dumps([_json(e) for e in events], indent=2, ensure_ascii=False))
    elif events:
        typer.echo(_table(events))
    else:
        typer.echo("no audit entries match", err=True)
    return 0
