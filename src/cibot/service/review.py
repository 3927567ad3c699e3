"""A click in Slack: verify → authorise → commit the intent → acknowledge.

The Slack handler calls `click` after Bolt has verified the request; everything here happens
in one transaction, within Slack's 3 seconds, and the slow parts (messages, deploys) are
jobs committed with it. A refused click changes nothing but the audit trail, and earns the
clicker an ephemeral explanation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from cibot.domain.build import Build, BuildState
from cibot.domain.environment import Environment
from cibot.domain.project import Project
from cibot.domain.review import VERDICT_OF, Action, Decision, Refusal, VerdictRecord, authorise
from cibot.service import closing
from cibot.service.audit import VERDICT_GIVEN, AuditAction
from cibot.service.gate import situation_of
from cibot.service.jobs import (
    DeletePreview,
    DeployProduction,
    NotifyUser,
    PostVerdictReplies,
    SyncBuildCard,
    SyncReviewDMs,
)
from cibot.service.ports import AuditEvent, Clock, Store, Transaction

CHANGED_MEANWHILE = Refusal("this build was just changed by someone else; look again", False)


@dataclass(frozen=True, slots=True)
class Click:
    build_id: str
    user: str
    action: Action
    channel: str | None = None  # where the click came from: the ephemeral answer goes there
    reason: str | None = None  # a rejection's or an override's reason, from its modal


@dataclass(frozen=True, slots=True)
class Answer:
    """What the clicker is told: None when the click was taken."""

    refusal: Refusal | None = None

    @property
    def accepted(self) -> bool:
        return self.refusal is None


@dataclass(frozen=True, slots=True)
class ReasonForm:
    """What a modal asking for a reason (to reject, to override the quorum) is about."""

    build: Build
    project: Project


async def reason_form(
    store: Store, clock: Clock, projects: Mapping[str, Project], click: Click
) -> ReasonForm | None:
    """What a reason modal (reject, override) shows, if the click would be taken; else None.

    Read-only: a refusal is recorded (and explained) when the click itself is made.
    """
    async with store.transaction() as tx:
        build = await tx.builds.get(click.build_id)
        if build is None or await _refusal(tx, clock.now(), projects, build, click) is not None:
            return None
    return ReasonForm(build, projects[build.project_id])


class Refused(Exception):
    """Raised inside a click's transaction to roll back whatever it had begun."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.reason)
        self.refusal = refusal


async def click(
    store: Store, clock: Clock, projects: Mapping[str, Project], click: Click
) -> Answer:
    """Take the click in one transaction, or refuse it and change nothing but the audit trail."""
    now = clock.now()
    try:
        async with store.transaction() as tx:
            build = await tx.builds.lock(click.build_id)
            refusal = await _refusal(tx, now, projects, build, click)
            if refusal is not None:  # nothing written yet: record it in this transaction
                await _record(tx, now, build, click, refusal)
                return Answer(refusal)
            assert build is not None  # _refusal refuses an unknown build
            await _take(tx, now, projects[build.project_id], build, click)
    except Refused as refused:  # a compare-and-set lost half-way: its writes were rolled back
        async with store.transaction() as tx:
            build = await tx.builds.get(click.build_id)
            await _record(tx, now, build, click, refused.refusal)
        return Answer(refused.refusal)
    return Answer()


async def _record(
    tx: Transaction, now: datetime, build: Build | None, click: Click, refusal: Refusal
) -> None:
    project_id = build.project_id if build else None
    await record_refusal(
        tx, now, project_id, click.build_id[:32], click.user, click.action, click.channel, refusal
    )


async def _refusal(
    tx: Transaction,
    now: datetime,
    projects: Mapping[str, Project],
    build: Build | None,
    click: Click,
) -> Refusal | None:
    """Why this click may not be taken on `build` as read (None: it may)."""
    if build is None:
        return Refusal("this build is unknown to ci-bot", denied=True)
    project = projects.get(build.project_id)
    if project is None:
        return Refusal(f"project {build.project_id} is no longer configured", denied=True)
    situation = await situation_of(tx, project, build.id, now)
    refusal = authorise(project, build, click.user, click.action, situation)
    if refusal is None and click.action is Action.OVERRIDE and click.reason == "":
        return Refusal("deploying without the quorum needs a reason; try again", denied=False)
    return refusal


async def record_refusal(  # noqa: PLR0917 - the facts of one refused click, all needed
    tx: Transaction,
    now: datetime,
    project_id: str | None,
    build_id: str | None,
    user: str,
    action: Action,
    channel: str | None,
    refusal: Refusal,
) -> None:
    """Audit a refused click and, where the click came from, tell the clicker why."""
    kind = AuditAction.CLICK_DENIED if refusal.denied else AuditAction.CLICK_IGNORED
    detail = {"action": action.value, "reason": refusal.reason}
    await tx.audit.append(AuditEvent(now, kind, project_id, build_id, user, detail))
    if channel:
        prefix = "Not allowed: " if refusal.denied else "Nothing changed: "
        await tx.jobs.enqueue(NotifyUser(channel, user, prefix + refusal.reason))


async def _take(
    tx: Transaction, now: datetime, project: Project, build: Build, click: Click
) -> None:
    """Take the click on `build` as read; a lost compare-and-set refuses (and rolls back)."""
    match click.action:
        case Action.APPROVE | Action.REJECT:
            await _verdict(tx, now, build, click)
        case Action.CLOSE:
            await _close(tx, now, project, build, click.user)
        case Action.DEPLOY | Action.OVERRIDE:
            await _deploy(tx, now, project, build, click)
        case Action.ROLLBACK:
            raise ValueError("rollbacks are clicks on releases: see service.rollback")


async def _verdict(tx: Transaction, now: datetime, build: Build, click: Click) -> None:
    verdict = VerdictRecord(build.id, click.user, VERDICT_OF[click.action], now, click.reason)
    if not await tx.reviews.add_verdict(verdict):
        raise Refused(Refusal("you already gave your verdict on this build", denied=False))
    await tx.builds.touch(build.id, now)
    detail = {"reason": click.reason} if click.reason else None
    await tx.audit.append(
        AuditEvent(
            now, VERDICT_GIVEN[verdict.verdict], build.project_id, build.id, click.user, detail
        )
    )
    await tx.jobs.enqueue(SyncReviewDMs(build.id, click.user))
    await tx.jobs.enqueue(PostVerdictReplies(build.id, click.user))
    await tx.jobs.enqueue(SyncBuildCard(build.id))


async def _close(tx: Transaction, now: datetime, project: Project, build: Build, user: str) -> None:
    if not await closing.close(tx, now, build, actor=user):
        raise Refused(CHANGED_MEANWHILE)
    await tx.jobs.enqueue(
        DeletePreview(build.id, Environment.preview(project, build.type, build.target).address)
    )


async def _deploy(
    tx: Transaction, now: datetime, project: Project, build: Build, click: Click
) -> None:
    """Start a production deploy: the project's one slot, then READY → PROMOTING."""
    note = click.reason if click.action is Action.OVERRIDE else None
    decision = await tx.reviews.add_decision(
        Decision(build.id, click.action, click.user, now, note=note)
    )
    assert decision.id is not None
    if not await tx.production.claim(project.id, build.id, decision.id, now):
        busy = Refusal("another production deployment has just started; try again after it", False)
        raise Refused(busy)
    if not await tx.builds.move(build, build.moved_to(BuildState.PROMOTING, now, reason=None)):
        raise Refused(Refusal("someone else has just started or changed this deployment", False))
    await tx.builds.touch(build.id, now)
    action = (
        AuditAction.PRODUCTION_OVERRIDE if note is not None else AuditAction.PRODUCTION_REQUESTED
    )
    detail = {"reason": note} if note is not None else None
    await tx.audit.append(AuditEvent(now, action, build.project_id, build.id, click.user, detail))
    await tx.jobs.enqueue(
        DeployProduction(build.id, decision.id, Environment.production(project).address)
    )
    await tx.jobs.enqueue(SyncReviewDMs(build.id))
    await tx.jobs.enqueue(SyncBuildCard(build.id))
