"""The members of the Slack user groups named in roles: read from Slack, kept in the store.

Clicks are judged on the stored members (no Slack call inside Slack's 3 seconds), so a
`RefreshGroups` job re-reads them every `period` seconds. Each period's job has a dedupe
key, so however many replicas schedule it, it runs once. A group that cannot be read keeps
its last known members, but only for a few periods (`Project.group_max_age`): then, like
a group never read, it holds nobody and the refusal says why (the roles fail closed).
When members change, the DMs of builds in review are redrawn, which also sends DMs to
newcomers.

The chain of refreshes must not end with one job: each job queues its successor before it
does anything else, so a job that dies (its attempts spent) still leaves the next; and
every replica schedules the current period's job again each period (`schedule`, from the
service's periodic keeper), which mends a chain broken anyway (a database down for longer
than a job's attempts).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

import structlog

from cibot.domain.build import BuildState
from cibot.domain.project import Project
from cibot.service.errors import ServiceError
from cibot.service.jobs import RefreshGroups, SyncReviewDMs
from cibot.service.ports import Chat, Clock, Store

log = structlog.get_logger(__name__)


def _slot(now: datetime, period: float) -> int:
    return int(now.timestamp() // period)


def _slot_start(slot: int, period: float) -> datetime:
    return datetime.fromtimestamp(slot * period, UTC)


async def schedule(
    store: Store, clock: Clock, projects: Mapping[str, Project], period: float
) -> None:
    """Make sure this period's refresh exists (at start: at once, whatever the slot time)."""
    if not any(p.groups for p in projects.values()):
        return
    slot = _slot(clock.now(), period)
    async with store.transaction() as tx:
        await tx.jobs.enqueue(RefreshGroups(slot), clock.now(), dedupe_key=f"refresh_groups:{slot}")


async def refresh_groups(
    job: RefreshGroups,
    *,
    store: Store,
    chat: Chat,
    clock: Clock,
    projects: Mapping[str, Project],
    period: float,
) -> None:
    following = job.slot + 1
    async with store.transaction() as tx:  # first: whatever happens below, the chain goes on
        await tx.jobs.enqueue(
            RefreshGroups(following),
            _slot_start(following, period),
            dedupe_key=f"refresh_groups:{following}",
        )
    groups = sorted({g for p in projects.values() for g in p.groups})
    async with store.transaction() as tx:
        known = await tx.groups.members(groups)
    changed: set[str] = set()
    for group in groups:
        try:
            members = await chat.group_members(group)
        except ServiceError as exc:  # refused or unreachable: keep the last known members
            log.warning("slack.group_unreadable", group=group, error=str(exc))
            continue
        if known.get(group) != members:
            changed.add(group)
        async with store.transaction() as tx:
            await tx.groups.save(group, members, clock.now())
    async with store.transaction() as tx:
        for project in projects.values():
            if project.groups & changed:
                for build in await tx.builds.of_project(project.id, (BuildState.READY,)):
                    await tx.jobs.enqueue(SyncReviewDMs(build.id))
