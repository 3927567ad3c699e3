"""Reading what a click is judged on: the roster as resolved now, the verdicts, the freeze in
force, and whether production is busy. Shared by the click handler and the messages, so
that what a DM offers and what a click may do are decided from the same facts.
"""

from __future__ import annotations

from datetime import datetime

from cibot.domain.project import Project, Roster
from cibot.domain.review import Situation
from cibot.service.ports import Transaction


async def roster_of(tx: Transaction, project: Project, now: datetime) -> Roster:
    """The project's people: its user ids, plus its groups' members as last read from Slack,
    if that was recently enough to trust (fail closed: else the group holds nobody)."""
    return Roster.fresh(project, await tx.groups.snapshots(project.groups), now)


async def situation_of(
    tx: Transaction, project: Project, build_id: str | None, now: datetime
) -> Situation:
    verdicts = tuple(await tx.reviews.verdicts_of(build_id)) if build_id else ()
    return Situation(
        roster=await roster_of(tx, project, now),
        now=now,
        verdicts=verdicts,
        freeze=project.policy.freeze(await tx.freezes.get(project.id), now),
        busy_with=await tx.production.busy_with(project.id),
    )
