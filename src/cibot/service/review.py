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
from cibot.domain.project import Project
from cibot.domain.review import VERDICT_OF, Action, Decision, Refusal, VerdictRecord, authorise
from cibot.service.jobs import (
    DeletePreview,
    DeployProduction,
    NotifyUser,
    PostVerdictReplies,
    SyncBuildCard,
    SyncReviewDMs,
)
from cibot.service.ports import AuditEvent, Clock, Store, Transaction
from cibot.service.rollouts import preview_environment, production_environment

CHANGED_MEANWHILE = Refusal("this build was just changed by someone else; look again", False)


@dataclass(frozen=True, slots=True)
class Click:
    build_id: str
    user: str
    action: Action
    channel: str | None = None  # where the click came from: the ephemeral answer goes there
    reason: str | None = None  # a rejection's reason, from the modal


@dataclass(frozen=True, slots=True)
class Answer:
    """What the clicker is told: None when the click was taken."""

    refusal: Refusal | None = None

    @property
    def accepted(self) -> bool:
        return self.refusal is None


@dataclass(frozen=True, slots=True)
class RejectForm:
    build: Build
    project: Project


async def reject_form(
    store: Store, projects: Mapping[str, Project], click: Click
) -> RejectForm | None:
    """What the reject-reason modal shows, if this rejection would be taken; else None.

    Read-only: a refusal is recorded (and explained) when the click itself is made.
    """
    async with store.transaction() as tx:
        build = await tx.get_build(click.build_id)
        if build is None or await _refusal(tx, projects, build, click) is not None:
            return None
    return RejectForm(build, projects[build.project_id])


async def click(
    store: Store, clock: Clock, projects: Mapping[str, Project], click: Click
) -> Answer:
    async with store.transaction() as tx:
        build = await tx.get_build(click.build_id)
        refusal = await _refusal(tx, projects, build, click)
        if refusal is None and build is not None:
            refusal = await _take(tx, clock.now(), projects[build.project_id], build, click)
        if refusal is not None:
            await _refuse(tx, clock.now(), build, click, refusal)
        return Answer(refusal)


async def _refusal(
    tx: Transaction, projects: Mapping[str, Project], build: Build | None, click: Click
) -> Refusal | None:
    """Why this click may not be taken on `build` as read (None: it may)."""
    if build is None:
        return Refusal("this build is unknown to ci-bot", denied=True)
    project = projects.get(build.project_id)
    if project is None:
        return Refusal(f"project {build.project_id} is no longer configured", denied=True)
    verdicts = await tx.verdicts_of(build.id)
    return authorise(project, build, click.user, click.action, verdicts)


async def _refuse(
    tx: Transaction, now: datetime, build: Build | None, click: Click, refusal: Refusal
) -> None:
    action = "click.denied" if refusal.denied else "click.ignored"
    detail = {"action": click.action.value, "reason": refusal.reason}
    project_id = build.project_id if build else None
    await tx.audit(AuditEvent(now, action, project_id, click.build_id[:32], click.user, detail))
    if click.channel:
        prefix = "Not allowed: " if refusal.denied else "Nothing changed: "
        await tx.enqueue(NotifyUser(click.channel, click.user, prefix + refusal.reason))


async def _take(
    tx: Transaction, now: datetime, project: Project, build: Build, click: Click
) -> Refusal | None:
    """Take the click on `build` as read; a compare-and-set loses to any concurrent change."""
    match click.action:
        case Action.APPROVE | Action.REJECT:
            return await _verdict(tx, now, build, click)
        case Action.CLOSE:
            return await _close(tx, now, project, build, click.user)
        case Action.DEPLOY:
            return await _deploy(tx, now, project, build, click.user)


async def _verdict(tx: Transaction, now: datetime, build: Build, click: Click) -> Refusal | None:
    verdict = VerdictRecord(build.id, click.user, VERDICT_OF[click.action], now, click.reason)
    if not await tx.add_verdict(verdict):
        return Refusal("you already gave your verdict on this build", denied=False)
    detail = {"reason": click.reason} if click.reason else None
    await tx.audit(
        AuditEvent(
            now, f"verdict.{verdict.verdict}", build.project_id, build.id, click.user, detail
        )
    )
    await tx.enqueue(SyncReviewDMs(build.id, click.user))
    await tx.enqueue(PostVerdictReplies(build.id, click.user))
    await tx.enqueue(SyncBuildCard(build.id))
    return None


async def _close(
    tx: Transaction, now: datetime, project: Project, build: Build, user: str
) -> Refusal | None:
    if not await tx.move_build(build, build.moved_to(BuildState.CLOSED, now)):
        return CHANGED_MEANWHILE
    await tx.add_decision(Decision(build.id, Action.CLOSE, user, now))
    await tx.audit(AuditEvent(now, "build.closed", build.project_id, build.id, user))
    await tx.enqueue(SyncReviewDMs(build.id))
    await tx.enqueue(SyncBuildCard(build.id))
    await tx.enqueue(
        DeletePreview(build.id, preview_environment(project, build.type, build.target))
    )
    return None


async def _deploy(
    tx: Transaction, now: datetime, project: Project, build: Build, user: str
) -> Refusal | None:
    if not await tx.move_build(build, build.moved_to(BuildState.PROMOTING, now, reason=None)):
        return Refusal("someone else has just started or changed this deployment", False)
    decision = await tx.add_decision(Decision(build.id, Action.DEPLOY, user, now))
    assert decision.id is not None
    await tx.audit(AuditEvent(now, "production.requested", build.project_id, build.id, user))
    await tx.enqueue(DeployProduction(build.id, decision.id, production_environment(project)))
    await tx.enqueue(SyncReviewDMs(build.id))
    await tx.enqueue(SyncBuildCard(build.id))
    return None
