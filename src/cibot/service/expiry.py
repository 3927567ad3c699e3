"""Review time running out: the `ExpireReview` job, timed at the end of a build's review.

The gate already refuses clicks on a build past its time (`review.authorise`), so nothing can
slip through before this job runs; the job makes it visible. It moves a build that is still
READY and whose time is up to EXPIRED (compare-and-set) and redraws its card and every DM,
which then say so and carry no buttons. A build in the middle of a production deploy is
left to it: if that deploy fails, the build is READY again and the expiry is looked at anew.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from cibot.domain.build import Build, BuildState
from cibot.domain.project import Project
from cibot.service.audit import AuditAction
from cibot.service.jobs import ExpireReview, SyncBuildCard, SyncReviewDMs, timed_key
from cibot.service.ports import AuditEvent, Clock, Store, Transaction


async def schedule(tx: Transaction, project: Project, build: Build, now: datetime) -> None:
    """Queue the expiry of a ready build at its time (at once, if that has passed)."""
    expires_at = project.policy.expires_at(build.ready_at)
    if expires_at is None:
        return
    at = max(expires_at, now)
    await tx.jobs.enqueue(ExpireReview(build.id), at, dedupe_key=timed_key("expire", build.id, at))


async def expire_review(
    job: ExpireReview, *, store: Store, clock: Clock, projects: Mapping[str, Project]
) -> None:
    now = clock.now()
    async with store.transaction() as tx:
        build = await tx.builds.lock(job.build_id)
        project = projects.get(build.project_id) if build else None
        if build is None or project is None or build.state is not BuildState.READY:
            return
        expires_at = project.policy.expires_at(build.ready_at)
        if expires_at is None:
            return  # the policy no longer expires builds
        if now < expires_at:
            await schedule(tx, project, build, now)  # the review time was made longer
            return
        if await tx.builds.move(build, build.moved_to(BuildState.EXPIRED, now)):
            detail = {"expired_at": expires_at.isoformat()}
            await tx.audit.append(
                AuditEvent(
                    now, AuditAction.REVIEW_EXPIRED, build.project_id, build.id, detail=detail
                )
            )
            await tx.jobs.enqueue(SyncBuildCard(build.id))
            await tx.jobs.enqueue(SyncReviewDMs(build.id))
