"""The `/cibot` slash command: freeze and unfreeze production, show the history, help.

    /cibot freeze [project] [reason…]   owners: stop production deploys until unfrozen
    /cibot unfreeze [project]           owners: lift it
    /cibot history [project] [count]    QA and owners: the latest audit entries
    /cibot help

The project may be left out in the project's own channel. Like a click, a command is
authorised against the roster and committed (with its audit row and its jobs) before Slack
gets its answer; the answer is shown only to the person who typed it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from cibot.domain.build import BuildState
from cibot.domain.policy import Freeze
from cibot.domain.project import Project
from cibot.service.audit import AuditAction
from cibot.service.gate import roster_of
from cibot.service.jobs import AnnounceFreeze, SyncReviewDMs
from cibot.service.ports import AuditEvent, Clock, Store, Transaction
from cibot.service.views import History, Notice

HISTORY_DEFAULT, HISTORY_MAX = 10, 50


class Verb(StrEnum):
    FREEZE = "freeze"
    UNFREEZE = "unfreeze"
    HISTORY = "history"
    HELP = "help"


USAGE = (
    "Usage: `/cibot freeze [project] [reason]`, `/cibot unfreeze [project]`, "
    "`/cibot history [project] [count]`, `/cibot help`"
)


@dataclass(frozen=True, slots=True)
class Command:
    text: str  # what followed `/cibot`
    user: str
    channel: str | None = None


@dataclass(frozen=True, slots=True)
class _Parsed:
    verb: Verb
    project: Project
    rest: str


def _parse(command: Command, projects: Mapping[str, Project]) -> _Parsed | str:
    """The verb, the project and the rest; or why the text means nothing."""
    words = command.text.split()
    if not words or words[0].lower() not in Verb.__members__.values():
        return USAGE
    verb, args = Verb(words[0].lower()), words[1:]
    if args and args[0] in projects:
        project, rest = projects[args[0]], " ".join(args[1:])
    else:
        here = [p for p in projects.values() if p.channel == command.channel]
        if len(here) != 1:
            known = ", ".join(sorted(projects)) or "none"
            return f"Which project? Name it: `/cibot {verb} <project>` (projects: {known})"
        project, rest = here[0], " ".join(args)
    return _Parsed(verb, project, rest)


async def run(
    store: Store, clock: Clock, projects: Mapping[str, Project], command: Command
) -> Notice | History:
    """The answer (a view) for the person who typed the command; effects are committed."""
    if command.text.strip().lower() in ("", Verb.HELP):
        return Notice(USAGE)
    parsed = _parse(command, projects)
    if isinstance(parsed, str):
        return Notice(parsed)
    now = clock.now()
    async with store.transaction() as tx:
        refusal = await _refusal(tx, parsed, command.user, now)
        if refusal is not None:
            detail = {"command": parsed.verb.value, "reason": refusal}
            event = AuditEvent(
                now, AuditAction.COMMAND_DENIED, parsed.project.id, None, command.user, detail
            )
            await tx.audit.append(event)
            return Notice(f"Not allowed: {refusal}")
        match parsed.verb:
            case Verb.FREEZE:
                return await _freeze(tx, now, parsed, command.user)
            case Verb.UNFREEZE:
                return await _unfreeze(tx, now, parsed, command.user)
            case _:
                return await _history(tx, parsed)


async def _refusal(tx: Transaction, parsed: _Parsed, user: str, now: datetime) -> str | None:
    roster = await roster_of(tx, parsed.project, now)
    name = parsed.project.name
    if parsed.verb in (Verb.FREEZE, Verb.UNFREEZE) and user not in roster.owners:
        return f"only the owners of {name} may {parsed.verb.value} its production deploys"
    if parsed.verb is Verb.HISTORY and user not in roster.everyone:
        return f"only the QA members and owners of {name} may see its history"
    return None


async def _redraw_reviews(tx: Transaction, project: Project) -> None:
    """The owner DMs of builds in review show the freeze (and the Deploy button or not)."""
    for build in await tx.builds.of_project(project.id, (BuildState.READY,)):
        await tx.jobs.enqueue(SyncReviewDMs(build.id))


async def _freeze(tx: Transaction, now: datetime, parsed: _Parsed, user: str) -> Notice:
    project = parsed.project
    reason = parsed.rest.strip()[:500] or "no reason given"
    if not await tx.freezes.set(project.id, Freeze(reason, by=user, since=now)):
        current = await tx.freezes.get(project.id)
        by = f" by {current.by}" if current and current.by else ""
        return Notice(f"Nothing changed: {project.name} is already frozen{by}")
    detail = {"reason": reason}
    await tx.audit.append(
        AuditEvent(now, AuditAction.PRODUCTION_FROZEN, project.id, None, user, detail)
    )
    await tx.jobs.enqueue(AnnounceFreeze(project.id, user, frozen=True, reason=reason))
    await _redraw_reviews(tx, project)
    return Notice(f"Production deploys of {project.name} are frozen until an owner unfreezes them")


async def _unfreeze(tx: Transaction, now: datetime, parsed: _Parsed, user: str) -> Notice:
    project = parsed.project
    lifted = await tx.freezes.lift(project.id)
    if lifted is None:
        windows = project.policy.window_freeze(now)
        still = f" (a configured freeze window still applies: {windows.reason})" if windows else ""
        return Notice(f"Nothing changed: {project.name} was not frozen by an owner{still}")
    await tx.audit.append(AuditEvent(now, AuditAction.PRODUCTION_UNFROZEN, project.id, None, user))
    await tx.jobs.enqueue(AnnounceFreeze(project.id, user, frozen=False))
    await _redraw_reviews(tx, project)
    return Notice(f"Production deploys of {project.name} may go ahead again")


def history_count(rest: str) -> int | None:
    """The count of `/cibot history [project] [count]`: a plain number, capped at
    HISTORY_MAX; HISTORY_DEFAULT when none is given; None for anything else (`²`, `1e3`,
    `-5`: `str.isdigit` takes `²`, which `int` then refuses)."""
    words = rest.split()
    if not words:
        return HISTORY_DEFAULT
    if len(words) > 1 or not re.fullmatch(r"[0-9]{1,6}", words[0]):
        return None
    return max(1, min(int(words[0]), HISTORY_MAX))


async def _history(tx: Transaction, parsed: _Parsed) -> History | Notice:
    count = history_count(parsed.rest)
    if count is None:
        return Notice(
            f"The count is a whole number from 1 to {HISTORY_MAX}: "
            "`/cibot history [project] [count]`"
        )
    events = await tx.audit.events(parsed.project.id, limit=count)
    return History(parsed.project, tuple(events))
