"""Deploying a build to its preview environment: the `DeployPreview` job.

Re-runnable at any point: a crash mid-apply re-applies (server-side apply is idempotent), a
crash mid-wait waits again, and a build that is no longer the one to deploy (superseded,
closed) is left alone. The result is written with a compare-and-set on DEPLOYING, so a late
worker cannot overwrite what a newer build decided.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from cibot.domain import naming
from cibot.domain.build import Build, BuildState
from cibot.domain.project import Project
from cibot.service.errors import ClusterRejected
from cibot.service.jobs import DeployPreview, SyncBuildCard, SyncReviewDMs
from cibot.service.ports import AuditEvent, Clock, Cluster, RolloutOutcome, Store

# (project, build) -> the preview's manifests; the Kubernetes adapter provides it.
RenderPreview = Callable[[Project, Build], Sequence[Mapping[str, Any]]]

# Seconds added to the Deployment's own progress deadline before ci-bot stops waiting.
DEADLINE_MARGIN_SECONDS = 30


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
    name = naming.environment_name(project.id, build.type, build.target)
    try:
        await cluster.apply(render(project, build))
    except ClusterRejected as exc:
        await _finish(store, clock, build.id, RolloutOutcome(ready=False, reason=str(exc)))
        return

    async def still_wanted() -> bool:
        async with store.transaction() as tx:
            current = await tx.get_build(build.id)
        return current is not None and current.state is BuildState.DEPLOYING

    timeout = project.workload.rollout_timeout_seconds + DEADLINE_MARGIN_SECONDS
    outcome = await cluster.wait_for_rollout(project.namespace, name, timeout, still_wanted)
    if not outcome.abandoned:
        await _finish(store, clock, build.id, outcome)


async def _start(store: Store, clock: Clock, build_id: str) -> Build | None:
    """Move the build to DEPLOYING; None when it should not be deployed (any more)."""
    async with store.transaction() as tx:
        build = await tx.get_build(build_id)
        if build is None or build.state not in (BuildState.ACCEPTED, BuildState.DEPLOYING):
            return None
        if build.state is BuildState.ACCEPTED:
            deploying = build.moved_to(BuildState.DEPLOYING, clock.now())
            if not await tx.move_build(build, deploying):
                return None
            await tx.enqueue(SyncBuildCard(build.id))
            build = deploying
        return build


async def _finish(store: Store, clock: Clock, build_id: str, outcome: RolloutOutcome) -> None:
    now = clock.now()
    async with store.transaction() as tx:
        build = await tx.get_build(build_id)
        if build is None or build.state is not BuildState.DEPLOYING:
            return
        if outcome.ready:
            after = build.moved_to(BuildState.READY, now, digest=outcome.digest, reason=None)
        else:
            after = build.moved_to(BuildState.FAILED, now, reason=outcome.reason)
        if await tx.move_build(build, after):
            action = "preview.ready" if outcome.ready else "preview.failed"
            detail = {"digest": outcome.digest} if outcome.ready else {"reason": outcome.reason}
            await tx.audit(AuditEvent(now, action, build.project_id, build.id, detail=detail))
            await tx.enqueue(SyncBuildCard(build.id))
            if outcome.ready:
                await tx.enqueue(SyncReviewDMs(build.id))
