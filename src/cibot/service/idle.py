"""Idle previews go away: the `CheckIdlePreview` and `WarnIdlePreview` jobs.

A preview is idle since its last ready, verdict or decision (`Build.active_at`). One timed
check per build looks at it when something is due (`domain.lifecycle.idle_check`) and
schedules the next look itself: first a warning to the owners, `preview_ttl_warning` before
the end, then the removal. The warning is recorded on the build in the same transaction
that queues its messages, so a restart or a second run never warns twice; any activity
afterwards starts a new idle period, and the check notices at its next look. Removal
closes the build (ci-bot is the actor, the note says why) and deletes only ci-bot's own
objects, and only while no newer build of the target lives there.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime

from cibot.domain.build import Build, BuildState
from cibot.domain.environment import Environment
from cibot.domain.lifecycle import PREVIEW_UP, IdleStep, idle_check, idle_since
from cibot.domain.project import Project
from cibot.service import closing
from cibot.service.audit import AuditAction
from cibot.service.cards import CARD
from cibot.service.jobs import CheckIdlePreview, DeletePreview, WarnIdlePreview, timed_key
from cibot.service.messages import OWNER_DM, all_or_retry
from cibot.service.ports import AuditEvent, Chat, Clock, MessageRef, Store, Transaction
from cibot.service.posting import Slot, To, post_once
from cibot.service.views import IdleWarning


async def look_again(tx: Transaction, build_id: str, at: datetime) -> None:
    await tx.jobs.enqueue(
        CheckIdlePreview(build_id), at, dedupe_key=timed_key("idle", build_id, at)
    )


async def schedule(tx: Transaction, project: Project, build: Build, since: datetime) -> None:
    """Look at the preview when a warning would be due for an idle period from `since`."""
    at = project.lifecycle.warn_at(since)
    if at is not None:
        await look_again(tx, build.id, at)


async def check_idle_preview(
    job: CheckIdlePreview, *, store: Store, clock: Clock, projects: Mapping[str, Project]
) -> None:
    now = clock.now()
    async with store.transaction() as tx:
        build = await tx.builds.lock(job.build_id)
        project = projects.get(build.project_id) if build else None
        if build is None or project is None:
            return
        if build.state is BuildState.PROMOTING:  # in use: look again as if active now
            await schedule(tx, project, build, now)
            return
        if build.state not in PREVIEW_UP:
            return  # closed or superseded: its preview is gone or another build's
        await _step(tx, now, project, build)


async def _step(tx: Transaction, now: datetime, project: Project, build: Build) -> None:
    since = idle_since(build)
    check = idle_check(
        project.lifecycle,
        since,
        now,
        warned_for=build.idle_warned_for,
        removal_at=build.removal_at,
    )
    if check is None:
        return  # this project's previews no longer expire
    match check.step:
        case IdleStep.WAIT:
            assert check.at is not None
            await look_again(tx, build.id, check.at)
        case IdleStep.WARN:
            assert check.at is not None
            await tx.builds.mark_idle_warning(build.id, since, check.at)
            detail = {"idle_since": since.isoformat(), "removal_at": check.at.isoformat()}
            await tx.audit.append(
                AuditEvent(
                    now, AuditAction.PREVIEW_IDLE_WARNING, build.project_id, build.id, detail=detail
                )
            )
            await tx.jobs.enqueue(WarnIdlePreview(build.id))
            await look_again(tx, build.id, check.at)
        case IdleStep.REMOVE:
            await _remove(tx, now, project, build)


async def _remove(tx: Transaction, now: datetime, project: Project, build: Build) -> None:
    note = project.lifecycle.removal_note()
    if await closing.close(
        tx, now, build, actor=closing.CIBOT, note=note, action=AuditAction.PREVIEW_REMOVED
    ):
        environment = Environment.preview(project, build.type, build.target).address
        await tx.jobs.enqueue(DeletePreview(build.id, environment))


def warning_role(idle_since: datetime) -> str:
    """The messages of one idle period's warning (a new period gets a new warning)."""
    return f"idle:{int(idle_since.timestamp() * 1000)}"


async def warn_idle_preview(
    job: WarnIdlePreview,
    *,
    store: Store,
    clock: Clock,
    chat: Chat,
    projects: Mapping[str, Project],
) -> None:
    """Reply under each owner's DM, or under the card when nobody got a DM (a failed build)."""
    async with store.transaction() as tx:
        build = await tx.builds.get(job.build_id)
        project = projects.get(build.project_id) if build else None
        if build is None or project is None:
            return
        warned, removal = build.idle_warned_for, build.removal_at
        if warned is None or removal is None or not _still_idle(build, warned):
            return
        role = warning_role(warned)
        done = await tx.messages.of_role(build.id, role)
        under = await tx.messages.of_role(build.id, OWNER_DM)
        card = await tx.messages.get(build.id, CARD)
    if not under and card is not None:
        under = {"": card}
    view = IdleWarning(project, build, warned, removal)

    def reply(user: str, ref: MessageRef) -> Callable[[], Awaitable[None]]:
        async def send() -> None:
            slot = Slot(job.build_id, role, user)
            await post_once(store, chat, clock, slot, to=To(thread=ref), view=view)

        return send

    await all_or_retry([reply(u, ref) for u, ref in sorted(under.items()) if u not in done])


def _still_idle(build: Build, warned_for: datetime) -> bool:
    """The preview is still up, and idle in the very period the warning was recorded for."""
    return build.state in PREVIEW_UP and idle_since(build) == warned_for
