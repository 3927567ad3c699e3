"""Promotion to production and removal of previews: the `DeployProduction` and
`DeletePreview` jobs.

Production gets the *same* image the preview ran, pinned by digest (`repo@sha256:…`), so a
tag re-pushed after approval cannot slip in. The build is PROMOTING while this runs (so no
second deploy can start), then PROMOTED, or READY again with the reason when it failed: it
stays promotable.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from cibot.domain import naming
from cibot.domain.build import Build, BuildState
from cibot.domain.project import Project
from cibot.domain.review import Outcome
from cibot.service.errors import ClusterRejected
from cibot.service.jobs import (
    AnnounceDecision,
    DeletePreview,
    DeployProduction,
    SyncBuildCard,
    SyncReviewDMs,
)
from cibot.service.ports import AuditEvent, Clock, Cluster, RolloutOutcome, Store
from cibot.service.rollouts import wait_while

RenderProduction = Callable[[Project, Build], Sequence[Mapping[str, Any]]]


def pinned_digest(build: Build) -> str | None:
    """The digest production must run: the one CI sent in the image, else the preview's."""
    if "@sha256:" in build.image:
        return build.image.rsplit("@", 1)[1]
    return build.digest


async def deploy_production(
    job: DeployProduction,
    *,
    store: Store,
    cluster: Cluster,
    clock: Clock,
    projects: Mapping[str, Project],
    render: RenderProduction,
) -> None:
    async with store.transaction() as tx:
        build = await tx.get_build(job.build_id)
    if build is None or build.state is not BuildState.PROMOTING:
        return
    project = projects[build.project_id]
    digest = pinned_digest(build)
    if digest is None:
        reason = "the digest the preview ran is unknown, so the image cannot be pinned"
        await _finish(store, clock.now(), job, RolloutOutcome(ready=False, reason=reason))
        return
    pinned = replace(build, digest=digest)
    try:
        await cluster.apply(render(project, pinned))
    except ClusterRejected as exc:
        await _finish(store, clock.now(), job, RolloutOutcome(ready=False, reason=str(exc)))
        return

    name = naming.production_name(project.id)
    outcome = await wait_while(
        cluster, store, project, name, build_id=job.build_id, state=BuildState.PROMOTING
    )
    if not outcome.abandoned:
        await _finish(
            store, clock.now(), job, RolloutOutcome(outcome.ready, outcome.reason, digest)
        )


async def _finish(
    store: Store, now: datetime, job: DeployProduction, outcome: RolloutOutcome
) -> None:
    async with store.transaction() as tx:
        build = await tx.get_build(job.build_id)
        if build is None or build.state is not BuildState.PROMOTING:
            return
        if outcome.ready:
            after = build.moved_to(BuildState.PROMOTED, now, digest=outcome.digest, reason=None)
        else:
            after = build.moved_to(BuildState.READY, now, reason=outcome.reason)
        if not await tx.move_build(build, after):
            return
        result = Outcome.DEPLOYED if outcome.ready else Outcome.FAILED
        await tx.settle_decision(job.decision_id, result, outcome.reason)
        detail = {"digest": outcome.digest} if outcome.ready else {"reason": outcome.reason}
        action = f"production.{result}"
        await tx.audit(AuditEvent(now, action, build.project_id, build.id, detail=detail))
        await tx.enqueue(AnnounceDecision(job.decision_id, build.id))
        await tx.enqueue(SyncReviewDMs(build.id))
        await tx.enqueue(SyncBuildCard(build.id))


async def delete_preview(
    job: DeletePreview, *, store: Store, cluster: Cluster, projects: Mapping[str, Project]
) -> None:
    """Delete the preview, unless a newer build of the same target now lives in it."""
    async with store.transaction() as tx:
        build = await tx.get_build(job.build_id)
        if build is None:
            return
        summary = await tx.target_summary(build.project_id, build.type, build.target)
    if summary.newest_build_id != build.id or build.state is not BuildState.CLOSED:
        return
    project = projects[build.project_id]
    await cluster.delete_environment(
        project.namespace, naming.environment_name(project.id, build.type, build.target)
    )
