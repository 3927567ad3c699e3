"""A deleted branch takes its preview with it: `POST /branch-deleted` and its clean-up job.

In one transaction, like a build notification: the delivery id (a repeat replays the first
answer), every build of the branch that still has or may get a preview closed by ci-bot
(reason "branch deleted"), the redraw of their messages, and one deletion of the branch's
environment. The deletion is queued even when no build was closed (ci-bot may have closed
them earlier, or never known them); it removes only objects carrying ci-bot's labels, and
nothing while a build of the branch lives again (the branch was pushed anew meanwhile) or
is being promoted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from cibot.domain.build import Build, BuildState, BuildType
from cibot.domain.environment import Environment
from cibot.domain.project import Project
from cibot.service import closing
from cibot.service.audit import AuditAction
from cibot.service.errors import ReplayMismatch
from cibot.service.jobs import DeleteBranchPreview
from cibot.service.ports import AuditEvent, Clock, Cluster, Delivery, Store, Transaction

BRANCH_DELETED = "branch deleted"

# The builds a deleted branch closes: whatever has, or is about to have, a preview.
CLOSABLE = frozenset(
    {
        BuildState.ACCEPTED,
        BuildState.DEPLOYING,
        BuildState.READY,
        BuildState.FAILED,
        BuildState.PROMOTED,
        BuildState.EXPIRED,
    }
)
# The builds whose preview must stay: any not closed, superseded or never deployed.
_KEEPS_PREVIEW = frozenset(BuildState) - {
    BuildState.CLOSED,
    BuildState.SUPERSEDED,
    BuildState.STALE,
}


@dataclass(frozen=True, slots=True)
class BranchClosed:
    closed: tuple[str, ...]  # the ids of the builds this deletion closed
    replayed: bool = False


async def close_branch(
    *,
    store: Store,
    clock: Clock,
    project: Project,
    branch: str,
    webhook_id: str,
    body_sha256: str,
) -> BranchClosed:
    """Close the branch's builds and queue its preview's removal; replay a repeated id."""
    now = clock.now()
    async with store.transaction() as tx:
        await tx.builds.lock_target(project.id, BuildType.BRANCH, branch)
        delivery = await tx.deliveries.get(project.id, webhook_id)
        if delivery is not None:
            if delivery.body_sha256 != body_sha256:
                raise ReplayMismatch(f"webhook-id {webhook_id!r} was already used for another body")
            closed = (delivery.answer or {}).get("closed", [])
            return BranchClosed(tuple(closed), replayed=True)
        closed = [
            build.id
            for build in await _builds_of(tx, project, branch, CLOSABLE)
            if await closing.close(tx, now, build, actor=closing.CIBOT, note=BRANCH_DELETED)
        ]
        environment = Environment.preview(project, BuildType.BRANCH, branch).address
        await tx.jobs.enqueue(DeleteBranchPreview(project.id, branch, environment))
        detail = {"branch": branch, "closed": closed, "webhook_id": webhook_id}
        await tx.audit.append(
            AuditEvent(now, AuditAction.BRANCH_DELETED, project.id, detail=detail)
        )
        answer = {"closed": closed}
        await tx.deliveries.add(Delivery(project.id, webhook_id, body_sha256, "", answer))
    return BranchClosed(tuple(closed))


async def _builds_of(
    tx: Transaction, project: Project, branch: str, states: frozenset[BuildState]
) -> list[Build]:
    found = await tx.builds.of_project(project.id, states)
    return [b for b in found if b.type is BuildType.BRANCH and b.target == branch]


async def delete_branch_preview(
    job: DeleteBranchPreview, *, store: Store, cluster: Cluster, projects: Mapping[str, Project]
) -> None:
    project = projects.get(job.project_id)
    if project is None:
        return
    async with store.transaction() as tx:
        if await _builds_of(tx, project, job.branch, _KEEPS_PREVIEW):
            return  # the branch lives again, or a build of it is on its way to production
    await cluster.delete_environment(Environment.preview(project, BuildType.BRANCH, job.branch))
