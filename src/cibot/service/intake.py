"""Recording a build CI reported: the first step of the flow, and the only one CI waits for.

Everything is decided in one transaction: the delivery id (so a retried webhook replays the
first answer), the build row, the builds it supersedes, and the jobs that deploy it and post
its card. CI gets its 202 only after that commit. The web route records builds through a
`GroupCommit`: builds reported together share that transaction.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial

from cibot.domain.build import LIVE, Build, BuildState, BuildType, can_move, still_applies
from cibot.domain.environment import Environment
from cibot.domain.project import Project
from cibot.service.audit import AuditAction
from cibot.service.errors import ImageNotAllowed, ReplayMismatch
from cibot.service.group_commit import GroupCommit
from cibot.service.jobs import (
    DeletePreview,
    DeployPreview,
    ResolveAuthor,
    SyncBuildCard,
    SyncReviewDMs,
)
from cibot.service.ports import AuditEvent, Clock, Delivery, Store, Transaction


@dataclass(frozen=True, slots=True)
class BuildReport:
    """A build notification, already checked for syntax by the web layer."""

    image: str
    type: BuildType
    target: str
    commit: str | None = None
    author: str | None = None
    build_number: int | None = None
    ci_url: str | None = None


@dataclass(frozen=True, slots=True)
class Accepted:
    build_id: str
    replayed: bool = False


def new_build_id(now: datetime) -> str:
    """Time-ordered and unguessable: 12 hex digits of milliseconds, 12 random."""
    return f"{int(now.timestamp() * 1000):012x}{secrets.token_hex(6)}"


_SLACK_USER = re.compile(r"[UW][A-Z0-9]{2,}")


def author_user(author: str | None) -> str | None:
    """The author's Slack id as far as intake can tell: None while it must be looked up (an
    email, or what looks like a Slack id: believed only once Slack knows it) or when CI
    named nobody; "" for a name Slack cannot look up (the author is unknown to Slack)."""
    if author is None or "@" in author or is_slack_user_id(author):
        return None
    return ""


def is_slack_user_id(author: str) -> bool:
    return _SLACK_USER.fullmatch(author) is not None


async def record_build(
    *,
    store: Store,
    clock: Clock,
    project: Project,
    report: BuildReport,
    webhook_id: str,
    body_sha256: str,
    group: GroupCommit | None = None,
) -> Accepted:
    """Record the build and queue its deployment; replay the first answer for a repeated id.

    An image from outside the project's allow-list is refused (ImageNotAllowed) before
    anything is written or contacted. With `group`, the build is recorded in the
    transaction of the requests that arrived with it (answered after that commit).
    """
    if not project.policy.image_allowed(report.image):
        raise ImageNotAllowed(
            f"image {report.image!r} is not from a registry or repository {project.name} allows"
        )
    record = partial(
        _record,
        clock=clock,
        project=project,
        report=report,
        webhook_id=webhook_id,
        body_sha256=body_sha256,
    )
    if group is not None:  # ordered by the target whose lock it takes first
        return await group.run(record, order=f"{project.id}/{report.type.value}/{report.target}")
    async with store.transaction() as tx:
        return await record(tx)


async def _record(
    tx: Transaction,
    *,
    clock: Clock,
    project: Project,
    report: BuildReport,
    webhook_id: str,
    body_sha256: str,
) -> Accepted:
    """In one transaction: the delivery claimed first (one statement when it is new), then
    the build, or the answer to replay."""
    await tx.builds.lock_target(project.id, report.type, report.target)
    now = clock.now()
    build_id = new_build_id(now)
    first = await tx.deliveries.claim(Delivery(project.id, webhook_id, body_sha256, build_id))
    if first is not None:
        if first.body_sha256 != body_sha256:
            raise ReplayMismatch(f"webhook-id {webhook_id!r} was already used for another body")
        return Accepted(first.build_id, replayed=True)
    live, highest = await tx.builds.live_and_highest(project.id, report.type, report.target)
    same = _same_live_build(live, report)
    if same is not None:  # F8: CI sent the build again under a new id: nothing new to do
        await tx.deliveries.set_build(project.id, webhook_id, same.id)
        detail = {"webhook_id": webhook_id}
        await tx.audit.append(
            AuditEvent(now, AuditAction.BUILD_REPEATED, project.id, same.id, detail=detail)
        )
        return Accepted(same.id, replayed=True)
    stale = _is_stale(report, highest)
    await _add_build(tx, now, project, report, live, build_id=build_id, stale=stale)
    return Accepted(build_id)


async def _add_build(
    tx: Transaction,
    now: datetime,
    project: Project,
    report: BuildReport,
    live: Sequence[Build],
    *,
    build_id: str,
    stale: bool,
) -> Build:
    """Record the build; unless it came late (`stale`), it supersedes the `live` builds of
    its target."""
    environment = Environment.preview(project, report.type, report.target)
    build = Build(
        id=build_id,
        project_id=project.id,
        type=report.type,
        target=report.target,
        image=report.image,
        state=BuildState.STALE if stale else BuildState.ACCEPTED,
        created_at=now,
        updated_at=now,
        commit=report.commit,
        author=report.author,
        build_number=report.build_number,
        ci_url=report.ci_url,
        preview_url=environment.url,
        reason="a newer build number of this target arrived first" if stale else None,
        author_user=author_user(report.author),
    )
    await tx.builds.add(build)
    await tx.audit.append(
        AuditEvent(
            now,
            AuditAction.BUILD_STALE if stale else AuditAction.BUILD_ACCEPTED,
            project.id,
            build.id,
        )
    )
    if stale:
        return build
    if build.author_pending:
        await tx.jobs.enqueue(ResolveAuthor(build.id))
    for older in live:
        await supersede(tx, now, older, build)
    if build.type is BuildType.TAG and project.lifecycle.newer_tag_supersedes:
        await _supersede_other_tags(tx, now, project, build)
    await tx.jobs.enqueue(SyncBuildCard(build.id))
    await tx.jobs.enqueue(DeployPreview(build.id, environment.address))
    return build


async def supersede(
    tx: Transaction, now: datetime, older: Build, newer: Build, reason: str | None = None
) -> bool:
    """`older` gives way to `newer`; its card and DMs are redrawn. False if it cannot.

    The move is tried first on the build as the caller read it: the compare-and-set on its
    state says whether that is still so (one statement, the common case). If it moved since
    (its deploy job took it on, F9), the build is locked and read as it is now, and moved
    if the decision still applies, which a move along the live states does not change.

    `reason` (why it stopped, e.g. its failed production deploy) replaces the one it had.
    """
    if reason is None and await _moved(tx, older, now, superseded_by=newer.id):
        return await _superseded(tx, now, older, newer)
    current = await tx.builds.lock(older.id)
    if current is None or not still_applies(older.state, current.state):
        return False
    changes = {} if reason is None else {"reason": reason}
    superseded = current.moved_to(BuildState.SUPERSEDED, now, superseded_by=newer.id, **changes)
    if not await tx.builds.move(current, superseded):
        return False
    return await _superseded(tx, now, older, newer)


async def _moved(tx: Transaction, build: Build, now: datetime, **changes: object) -> bool:
    """Superseded as read, if the store still holds it in the state read."""
    if not can_move(build.state, BuildState.SUPERSEDED):
        return False
    return await tx.builds.move(build, build.moved_to(BuildState.SUPERSEDED, now, **changes))


async def _superseded(tx: Transaction, now: datetime, older: Build, newer: Build) -> bool:
    detail = {"by": newer.id}
    await tx.audit.append(
        AuditEvent(now, AuditAction.BUILD_SUPERSEDED, older.project_id, older.id, detail=detail)
    )
    await tx.jobs.enqueue(SyncBuildCard(older.id))
    await tx.jobs.enqueue(SyncReviewDMs(older.id))
    return True


async def _supersede_other_tags(
    tx: Transaction, now: datetime, project: Project, build: Build
) -> None:
    """A new tag replaces the previews of the older tags (`lifecycle.newer_tag_supersedes`).

    Unlike a newer build of the same target, which takes over its environment, an older
    tag's environment is left to nobody: it is deleted (only ci-bot's objects, only while
    no newer build of that tag lives in it).
    """
    for older in await tx.builds.of_project(project.id, LIVE):
        if older.type is not BuildType.TAG or older.target == build.target:
            continue
        if await supersede(tx, now, older, build):
            environment = Environment.preview(project, older.type, older.target).address
            await tx.jobs.enqueue(DeletePreview(older.id, environment))


# A build in one of these states is still being deployed or reviewed: the same image again
# adds nothing. A failed one is deployed again (asking again is how CI retries a deploy).
_REPEATABLE = frozenset({BuildState.ACCEPTED, BuildState.DEPLOYING, BuildState.READY})


def _same_live_build(live: Sequence[Build], report: BuildReport) -> Build | None:
    """The live build of this target with the same image, commit and build number, if any.

    A different commit or build number (a re-pushed tag, a rebuild) is a new build. So is a
    report that names neither, unless its image is pinned by digest: a tag may have been
    pushed again since, and only a new build rolls the preview onto what it points to now.
    """
    if report.commit is None and report.build_number is None and "@" not in report.image:
        return None
    for build in live:
        same = (build.image, build.commit, build.build_number) == (
            report.image,
            report.commit,
            report.build_number,
        )
        if same and build.state in _REPEATABLE:
            return build
    return None


def _is_stale(report: BuildReport, highest: int | None) -> bool:
    """T16: CI numbers its builds; one numbered below a build we already have came late."""
    number = report.build_number
    return number is not None and highest is not None and number < highest


async def record_refusal(
    store: Store, clock: Clock, project_id: str | None, status: int, detail: dict[str, object]
) -> None:
    """Audit a signed request that was refused (a bad field, an image not allowed, …).

    Only signed requests get here: unsigned ones are counted, never written, so that a
    flood of forged requests cannot fill the audit table.
    """
    async with store.transaction() as tx:
        await tx.audit.append(
            AuditEvent(
                clock.now(),
                AuditAction.BUILD_REFUSED,
                project_id,
                detail={"status": status, **detail},
            )
        )
