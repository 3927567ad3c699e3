"""Production: promotion, rollback, and removal of previews — the `DeployProduction`,
`RollbackProduction` and `DeletePreview` jobs.

Production gets the *same* image the preview ran, pinned by digest (`repo@sha256:…`), so a
tag re-pushed after approval cannot slip in. The click that started the deploy took the
project's one production slot; whatever the outcome, the slot is given back in the same
transaction that records it. A success adds a release to the project's history (what
**Roll back** goes back to); a failure leaves the build promotable (READY, with the reason).

The outcome is recorded by a compare-and-set on the decision, so two runs of one job (F17)
settle it once, with one release. The job is retried until its deadline (F16); if it dies
all the same, `give_up` settles the decision as failed and frees the slot. A freeze that
began after the click stops the deploy when its job first begins, before anything is applied.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from cibot.domain.build import Build, BuildState
from cibot.domain.environment import Environment
from cibot.domain.policy import Freeze
from cibot.domain.project import Project
from cibot.domain.release import Release, ReleaseKind, pinned
from cibot.domain.review import Action, Decision, Outcome
from cibot.service import expiry, intake
from cibot.service.audit import SETTLED
from cibot.service.errors import ClusterRejected, ClusterUnavailable
from cibot.service.jobs import (
    AnnounceDecision,
    DeletePreview,
    DeployProduction,
    RollbackProduction,
    SyncBuildCard,
    SyncReviewDMs,
)
from cibot.service.ports import AuditEvent, Clock, Cluster, RolloutOutcome, Store, Transaction
from cibot.service.rollouts import (
    deadline,
    retried_until,
    wait_for,
)

RenderProduction = Callable[[Project, Build], Sequence[Mapping[str, Any]]]

_KIND_OF = {Action.DEPLOY: ReleaseKind.PROMOTION, Action.OVERRIDE: ReleaseKind.OVERRIDE}


def pinned_digest(build: Build) -> str | None:
    """The digest production must run: the one CI sent in the image, else the preview's."""
    if "@sha256:" in build.image:
        return build.image.rsplit("@", 1)[1]
    return build.digest


@dataclass(frozen=True, slots=True)
class _Rollout:
    """One production rollout to run: which build, at which digest, for which decision."""

    project: Project
    build: Build  # its `digest` is the one to deploy
    decision: Decision
    started: datetime


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
        build = await tx.builds.get(job.build_id)
        decision = await tx.reviews.get_decision(job.decision_id)
        if build is None or decision is None or decision.outcome is not None:
            return  # settled already: this job ran before, or gave up and was settled
        if build.state is not BuildState.PROMOTING:
            return
        project = projects[build.project_id]
        freeze = await _frozen_since_the_click(tx, clock.now(), project, decision)
    rollout = _Rollout(project, build, decision, decision.at)
    digest = pinned_digest(build)
    stop = None
    if freeze is not None:
        stop = f"stopped before it began: {freeze.describe()}"
    elif digest is None:
        stop = "the digest the preview ran is unknown, so the image cannot be pinned"
    if stop is not None:
        await _settle(store, clock, rollout, RolloutOutcome(ready=False, reason=stop))
        return
    await _run(store, cluster, clock, replace(rollout, build=replace(build, digest=digest)), render)


async def _frozen_since_the_click(
    tx: Transaction, now: datetime, project: Project, decision: Decision
) -> Freeze | None:
    """On the job's first run only: the freeze in force, if one began after the click.

    The click was judged without a freeze, so a freeze in force now began since; it stops
    the deploy before anything is applied. A later run (a retry, a job handed back or taken
    over) may find production half-applied, and goes on: a freeze never leaves it so.
    """
    assert decision.id is not None
    if not await tx.reviews.start_decision(decision.id, now):
        return None
    return project.policy.freeze(await tx.freezes.get(project.id), now)


async def roll_back(
    job: RollbackProduction,
    *,
    store: Store,
    cluster: Cluster,
    clock: Clock,
    projects: Mapping[str, Project],
    render: RenderProduction,
) -> None:
    """Redeploy the release before `job.from_release`: its build, at the digest it ran."""
    async with store.transaction() as tx:
        decision = await tx.reviews.get_decision(job.decision_id)
        target = await tx.releases.get(job.to_release)
        build = await tx.builds.get(target.build_id) if target else None
    if decision is None or decision.outcome is not None or target is None or build is None:
        return
    pinned = replace(build, digest=target.digest)
    rollout = _Rollout(projects[build.project_id], pinned, decision, decision.at)
    await _run(store, cluster, clock, rollout, render, rolled_back_from=job.from_release)


async def _run(
    store: Store,
    cluster: Cluster,
    clock: Clock,
    rollout: _Rollout,
    render: RenderProduction,
    *,
    rolled_back_from: int | None = None,
) -> None:
    project, decision = rollout.project, rollout.decision

    async def still_wanted() -> bool:
        async with store.transaction() as tx:
            current = await tx.reviews.get_decision(decision.id or 0)
        return current is not None and current.outcome is None

    until = deadline(project, rollout.started)
    with retried_until(until):
        try:
            await cluster.apply(render(project, rollout.build))
            name = Environment.production(project).name
            outcome = await wait_for(
                cluster, project, name, still_wanted, build_id=rollout.build.id
            )
        except ClusterRejected as exc:
            outcome = RolloutOutcome(ready=False, reason=str(exc))
        except ClusterUnavailable as exc:
            if clock.now() < until:
                raise  # the job is retried while the deadline lasts
            outcome = RolloutOutcome(ready=False, reason=f"Kubernetes stayed unreachable: {exc}")
        if not outcome.abandoned:
            await _settle(store, clock, rollout, outcome, rolled_back_from)


async def give_up(
    store: Store, clock: Clock, projects: Mapping[str, Project], decision_id: int, reason: str
) -> None:
    """A production deploy's (or rollback's) job died, or is gone: settle its decision as
    failed with `reason`, free the slot and put the build back in review; once."""
    async with store.transaction() as tx:
        decision = await tx.reviews.get_decision(decision_id)
        build = await tx.builds.get(decision.build_id) if decision is not None else None
        if decision is not None and build is not None and decision.outcome is not None:
            await tx.production.free(build.project_id, decision_id)  # if it still held it
    if decision is None or build is None or build.project_id not in projects:
        return
    rollout = _Rollout(projects[build.project_id], build, decision, decision.at)
    await _settle(store, clock, rollout, RolloutOutcome(ready=False, reason=reason))


async def _settle(
    store: Store,
    clock: Clock,
    rollout: _Rollout,
    outcome: RolloutOutcome,
    rolled_back_from: int | None = None,
) -> None:
    """Record how it went, free the slot, and queue the messages: all or nothing, once."""
    now, decision, build = clock.now(), rollout.decision, rollout.build
    assert decision.id is not None
    result = Outcome.DEPLOYED if outcome.ready else Outcome.FAILED
    async with store.transaction() as tx:
        # The compare-and-set comes first: a second run (a job that ran twice, F17) finds the
        # decision settled and writes nothing, so there is one release and one announcement.
        if not await tx.reviews.settle_decision(decision.id, result, outcome.reason):
            return
        await tx.production.free(build.project_id, decision.id)
        if decision.action is not Action.ROLLBACK:
            await _settle_build(tx, now, rollout.project, build, outcome)
        detail: dict[str, object] = {"reason": outcome.reason}
        if outcome.ready and build.digest is not None:
            release = await _add_release(tx, now, rollout, rolled_back_from)
            detail = {"digest": build.digest, "release": release.id}
        action = SETTLED[decision.action is Action.ROLLBACK, result]
        await tx.audit.append(
            AuditEvent(now, action, build.project_id, build.id, decision.actor, detail)
        )
        environment = Environment.production(rollout.project).address
        await tx.jobs.enqueue(AnnounceDecision(decision.id, build.id, environment))


async def _settle_build(
    tx: Transaction, now: datetime, project: Project, build: Build, outcome: RolloutOutcome
) -> None:
    stored = await tx.builds.get(build.id)
    if stored is None or stored.state is not BuildState.PROMOTING:
        return
    if outcome.ready:
        after = stored.moved_to(BuildState.PROMOTED, now, digest=build.digest, reason=None)
    else:
        newer = await _newer_build(tx, stored)
        if newer is not None:  # T7: not back to review beside a newer build
            await intake.supersede(tx, now, stored, newer, reason=outcome.reason)
            return
        after = stored.moved_to(BuildState.READY, now, reason=outcome.reason)
    if await tx.builds.move(stored, after):
        await tx.jobs.enqueue(SyncReviewDMs(build.id))
        await tx.jobs.enqueue(SyncBuildCard(build.id))
        if not outcome.ready:  # in review again: its time may have run out meanwhile
            await expiry.schedule(tx, project, after, now)


async def _newer_build(tx: Transaction, build: Build) -> Build | None:
    """The newest build of the same target that arrived after `build`, if one is still live.

    A build being promoted is not superseded when a newer one arrives (its deploy is under
    way); if that deploy fails, it must not come back to review beside the newer build with
    its old approvals (TRUST T7: no approval survives a newer build).
    """
    live = await tx.builds.live_of_target(build.project_id, build.type, build.target)
    newer = [b for b in live if (b.created_at, b.id) > (build.created_at, build.id)]
    return newer[-1] if newer else None


async def _add_release(
    tx: Transaction, now: datetime, rollout: _Rollout, rolled_back_from: int | None
) -> Release:
    """Write the new release; the one it replaces gets its announcement redrawn (no button)."""
    build, decision = rollout.build, rollout.decision
    assert build.digest is not None
    replaced = next(iter(await tx.releases.of_project(build.project_id, limit=1)), None)
    release = await tx.releases.add(
        Release(
            project_id=build.project_id,
            build_id=build.id,
            image=pinned(build.image, build.digest),
            digest=build.digest,
            kind=_KIND_OF.get(decision.action, ReleaseKind.ROLLBACK),
            actor=decision.actor,
            at=now,
            decision_id=decision.id,
            rolled_back_from=rolled_back_from,
        )
    )
    if replaced is not None and replaced.decision_id is not None:
        environment = Environment.production(rollout.project).address
        await tx.jobs.enqueue(
            AnnounceDecision(replaced.decision_id, replaced.build_id, environment)
        )
    return release


async def delete_preview(
    job: DeletePreview, *, store: Store, cluster: Cluster, projects: Mapping[str, Project]
) -> None:
    """Delete the preview, unless a newer build of the same target now lives in it."""
    async with store.transaction() as tx:
        build = await tx.builds.get(job.build_id)
        if build is None:
            return
        summary = await tx.builds.target_summary(build.project_id, build.type, build.target)
    if summary.newest_build_id != build.id or build.state not in GONE:
        return
    await cluster.delete_environment(
        Environment.preview(projects[build.project_id], build.type, build.target)
    )


# States of a build whose preview is no longer needed (when no newer build of its target lives).
GONE = frozenset({BuildState.CLOSED, BuildState.SUPERSEDED, BuildState.EXPIRED})
