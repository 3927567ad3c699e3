"""One nudge for a review left waiting: the `RemindReviewers` job, timed after ready.

`lifecycle.remind_after` after a build became ready, if it is still in review and short of
its quorum, each QA member (as the roster stands now) who has given no verdict and did not
write the build gets one reminder, as a reply under their review DM. Each reminder sent is
recorded at once, so a retry (after a Slack failure) reminds only those still missing, and
nobody is reminded twice about one build.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime

from cibot.domain.build import Build, BuildState
from cibot.domain.project import Project
from cibot.service.gate import situation_of
from cibot.service.jobs import RemindReviewers
from cibot.service.messages import QA_DM, all_or_retry
from cibot.service.ports import Chat, Clock, MessageRef, Store, Transaction
from cibot.service.posting import Slot, To, post_once
from cibot.service.views import ReviewReminder

REMINDER = "reminder"


async def schedule(tx: Transaction, project: Project, build: Build) -> None:
    """Queue the reminder of a build that has just become ready."""
    remind_after = project.lifecycle.remind_after
    if remind_after is None or build.ready_at is None:
        return
    await tx.jobs.enqueue(
        RemindReviewers(build.id),
        build.ready_at + remind_after,
        dedupe_key=f"remind:{build.id}",
    )


async def remind_reviewers(
    job: RemindReviewers,
    *,
    store: Store,
    clock: Clock,
    chat: Chat,
    projects: Mapping[str, Project],
) -> None:
    found = await _due(store, clock.now(), projects, job.build_id)
    if found is None:
        return
    project, build, due = found
    assert build.ready_at is not None
    view = ReviewReminder(project, build, build.ready_at)

    def remind(user: str, ref: MessageRef) -> Callable[[], Awaitable[None]]:
        async def send() -> None:
            slot = Slot(build.id, REMINDER, user)
            await post_once(store, chat, clock, slot, to=To(thread=ref), view=view)

        return send

    await all_or_retry([remind(user, ref) for user, ref in due])


async def _due(
    store: Store, now: datetime, projects: Mapping[str, Project], build_id: str
) -> tuple[Project, Build, list[tuple[str, MessageRef]]] | None:
    """The build and the QA DMs to remind under; None when nobody is to be reminded."""
    async with store.transaction() as tx:
        build = await tx.builds.get(build_id)
        project = projects.get(build.project_id) if build else None
        if build is None or project is None or build.state is not BuildState.READY:
            return None
        expires_at = project.policy.expires_at(build.ready_at)
        if expires_at is not None and now >= expires_at:
            return None  # too late to review: it is expiring
        situation = await situation_of(tx, project, build.id, now)
        if situation.quorum(project, build).met:
            return None
        dms = await tx.messages.of_role(build.id, QA_DM)
        reminded = await tx.messages.of_role(build.id, REMINDER)
    answered = {v.user for v in situation.verdicts}
    due = [
        (user, dms[user])
        for user in sorted(situation.roster.qa)
        if user not in answered and user != build.author_id and user not in reminded and user in dms
    ]
    return project, build, due
