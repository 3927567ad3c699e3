"""Deploying a build to its preview environment: the `DeployPreview` job.

Re-runnable at any point: a crash mid-apply re-applies (server-side apply is idempotent), a
crash mid-wait waits again, and a build that is no longer the one to deploy (superseded,
closed) is left alone. The result is written with a compare-and-set on DEPLOYING, so a late
worker cannot overwrite what a newer build decided. The job is retried until the build's
deadline (`rollouts.deadline`); if it dies all the same, `give_up` fails the build with the
reason, so it never stays "deploying" for ever.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from cibot.crashpoints import crashpoint
from cibot.domain.build import Build, BuildState
from cibot.domain.environment import Environment
from cibot.domain.project import Project
from cibot.service import expiry, idle, reminders
from cibot.service.audit import AuditAction
from cibot.service.errors import ClusterRejected, ClusterUnavailable
from cibot.service.jobs import DeployPreview, SyncBuildCard, SyncReviewDMs
from cibot.service.ports import AuditEvent, Clock, Cluster, RolloutOutcome, Store
from cibot.service.rollouts import deadline, retried_until, wait_while

# (project, build) -> the preview's manifests; the Kubernetes adapter provides it.
RenderPreview = Callable[[Project, Build], Sequence[Mapping[str, Any]]]


async def deploy_preview(
    job: DeployPreview,
    *,
    store: Store,
    cluster: Cluster,
    clock: Clock,
    projects: Mapping[str, Project],
    render: RenderPreview,
) -> None:
    build = await _start(store, clock, job.build_id)
    if build is None:
        return
    project = projects[build.project_id]
    with retried_until(deadline(project, build.created_at)):
        try:
            outcome = await _roll_out(store, cluster, project, build, render)
        except ClusterUnavailable as exc:
            await _unavailable(store, clock, project, build, exc)
            return
        if not outcome.abandoned:
            await _finish(store, clock, project, build.id, outcome)


async def give_up(
    store: Store, clock: Clock, projects: Mapping[str, Project], build_id: str, reason: str
) -> None:
    """The build's deploy job died, or is gone: fail the build with `reason`, if it is still
    accepted or deploying (compare-and-set), and say so on its card."""
    async with store.transaction() as tx:
        build = await tx.builds.get(build_id)
    if build is not None and build.project_id in projects:
        failed = RolloutOutcome(ready=False, reason=reason)
        project = projects[build.project_id]
        await _finish(store, clock, project, build.id, failed, settles=_UNSETTLED)


async def _roll_out(
    store: Store, cluster: Cluster, project: Project, build: Build, render: RenderPreview
) -> RolloutOutcome:
    try:
        await cluster.apply(render(project, build))
    except ClusterRejected as exc:
        return RolloutOutcome(ready=False, reason=str(exc))

    name = Environment.preview(project, build.type, build.target).name
    return await wait_while(
        cluster, store, project, name, build_id=build.id, state=BuildState.DEPLOYING
    )


async def _unavailable(
    store: Store, clock: Clock, project: Project, build: Build, exc: ClusterUnavailable
) -> None:
    """F4: Kubernetes is down. Say so on the card and retry, until the build's deadline.

    The job is retried (the error is re-raised) while the deadline lasts; past it the build
    fails with the reason, so it never stays "deploying" forever.
    """
    if clock.now() >= deadline(project, build.created_at):
        reason = f"Kubernetes stayed unreachable: {exc}"
        await _finish(store, clock, project, build.id, RolloutOutcome(ready=False, reason=reason))
        return
    async with store.transaction() as tx:
        current = await tx.builds.get(build.id)
        if current is not None and current.state is BuildState.DEPLOYING:
            noted = replace(current, reason=f"Kubernetes unreachable, retrying: {exc}")
            if current.reason != noted.reason and await tx.builds.move(current, noted):
                await tx.jobs.enqueue(SyncBuildCard(build.id))
    raise exc


async def _start(store: Store, clock: Clock, build_id: str) -> Build | None:
    """Move the build to DEPLOYING; None when it should not be deployed (any more)."""
    async with store.transaction() as tx:
        build = await tx.builds.get(build_id)
        if build is None or build.state not in (BuildState.ACCEPTED, BuildState.DEPLOYING):
            return None
        if build.state is BuildState.ACCEPTED:
            deploying = build.moved_to(BuildState.DEPLOYING, clock.now())
            if not await tx.builds.move(build, deploying):
                return None
            await tx.jobs.enqueue(SyncBuildCard(build.id))
            build = deploying
        return build


_UNSETTLED = frozenset({BuildState.ACCEPTED, BuildState.DEPLOYING})


async def _finish(
    store: Store,
    clock: Clock,
    project: Project,
    build_id: str,
    outcome: RolloutOutcome,
    *,
    settles: frozenset[BuildState] = frozenset({BuildState.DEPLOYING}),
) -> None:
    """Record how the rollout ended (on a build in one of the states it `settles`), and start
    the clocks of the build's life.

    Ready: the review expires (`policy.expires_after`), QA are reminded
    (`lifecycle.remind_after`); ready or failed: the preview is removed when idle
    (`lifecycle.preview_ttl`). Each is a timed job committed with the outcome.
    """
    now = clock.now()
    async with store.transaction() as tx:
        build = await tx.builds.get(build_id)
        if build is None or build.state not in settles:
            return
        if outcome.ready:
            after = build.moved_to(
                BuildState.READY,
                now,
                digest=outcome.digest,
                reason=None,
                ready_at=now,
                active_at=now,
            )
        else:
            after = build.moved_to(BuildState.FAILED, now, reason=outcome.reason, active_at=now)
        if await tx.builds.move(build, after):
            action = AuditAction.PREVIEW_READY if outcome.ready else AuditAction.PREVIEW_FAILED
            detail = {"digest": outcome.digest} if outcome.ready else {"reason": outcome.reason}
            await tx.audit.append(
                AuditEvent(now, action, build.project_id, build.id, detail=detail)
            )
            await tx.jobs.enqueue(SyncBuildCard(build.id))
            await idle.schedule(tx, project, after, now)
            if outcome.ready:
                await tx.jobs.enqueue(SyncReviewDMs(build.id))
                await expiry.schedule(tx, project, after, now)
                await reminders.schedule(tx, project, after)
    crashpoint("after_rollout")
