"""**Roll back** on a production announcement: back to the release before that one.

Judged by `authorise_rollback` (owners only; only while that release is what production
runs; only if an earlier release exists; not while another production deploy runs), then
committed with the decision, the project's production slot and the `RollbackProduction`
job in one transaction, like every other click.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from cibot.domain.environment import Environment
from cibot.domain.project import Project
from cibot.domain.review import Action, Decision, Refusal, authorise_rollback
from cibot.service.audit import AuditAction
from cibot.service.gate import situation_of
from cibot.service.jobs import RollbackProduction
from cibot.service.ports import AuditEvent, Clock, Store
from cibot.service.review import Answer, Refused, record_refusal


@dataclass(frozen=True, slots=True)
class RollbackClick:
    release_id: str  # the button's value, as sent: an integer id, if genuine
    user: str
    channel: str | None = None


def release_id_of(value: str) -> int:
    """The release id a **Roll back** button carries; 0 (no release) for anything else.

    Plain ASCII digits only (`str.isdigit` takes `²`, which `int` refuses), and at most 18
    of them: a larger number fits no database's integer column.
    """
    return int(value) if re.fullmatch(r"[0-9]{1,18}", value) else 0


async def rollback(
    store: Store, clock: Clock, projects: Mapping[str, Project], click: RollbackClick
) -> Answer:
    now = clock.now()
    release_id = release_id_of(click.release_id)
    project_id: str | None = None
    try:
        async with store.transaction() as tx:
            release = await tx.releases.get(release_id) if release_id else None
            project = projects.get(release.project_id) if release else None
            if release is None or project is None:
                raise Refused(Refusal("this release is unknown to ci-bot", denied=True))
            project_id = project.id
            current = next(iter(await tx.releases.of_project(project.id, limit=1)), None)
            previous = await tx.releases.before(release)
            situation = await situation_of(tx, project, None, now)
            refusal = authorise_rollback(
                project, click.user, situation, release=release, current=current, previous=previous
            )
            if refusal is not None:
                raise Refused(refusal)
            assert previous is not None  # authorise_rollback refuses when there is none
            assert previous.id is not None
            assert release.id is not None
            decision = await tx.reviews.add_decision(
                Decision(previous.build_id, Action.ROLLBACK, click.user, now)
            )
            assert decision.id is not None
            if not await tx.production.claim(project.id, previous.build_id, decision.id, now):
                raise Refused(Refusal("another production deployment has just started", False))
            detail = {"from_release": release.id, "to_release": previous.id}
            await tx.audit.append(
                AuditEvent(
                    now,
                    AuditAction.ROLLBACK_REQUESTED,
                    project.id,
                    previous.build_id,
                    click.user,
                    detail,
                )
            )
            await tx.jobs.enqueue(
                RollbackProduction(
                    decision.id,
                    release.id,
                    previous.id,
                    Environment.production(project).address,
                    build_id=previous.build_id,
                )
            )
    except Refused as refused:
        async with store.transaction() as tx:
            await record_refusal(
                tx,
                now,
                project_id,
                None,
                click.user,
                Action.ROLLBACK,
                click.channel,
                refused.refusal,
            )
        return Answer(refused.refusal)
    return Answer()
