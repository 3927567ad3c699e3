"""Who wrote a build, as a Slack user: the `ResolveAuthor` job behind four eyes.

CI names the author by email (or by Slack id, which needs no lookup). Until the email is
looked up, the four-eyes rules fail closed: the gate refuses approvals (and, where the
policy says so, deploys) with "still looking up". Nobody in Slack with that email means
nobody is the author there.
"""

from __future__ import annotations

from cibot.domain.build import BuildState
from cibot.service.jobs import ResolveAuthor, SyncReviewDMs
from cibot.service.ports import AuditEvent, Chat, Clock, Store


async def resolve_author(job: ResolveAuthor, *, store: Store, chat: Chat, clock: Clock) -> None:
    async with store.transaction() as tx:
        build = await tx.get_build(job.build_id)
    if build is None or build.author is None or not build.author_pending:
        return
    user = await chat.user_by_email(build.author) or ""
    async with store.transaction() as tx:
        await tx.set_author_user(build.id, user)
        detail = {"author": build.author, "slack_user": user or None}
        await tx.audit(
            AuditEvent(clock.now(), "author.resolved", build.project_id, build.id, detail=detail)
        )
        current = await tx.get_build(build.id)
        if current is not None and current.state is BuildState.READY:
            await tx.enqueue(SyncReviewDMs(build.id))
