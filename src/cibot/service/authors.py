"""Who wrote a build, as a Slack user: the `ResolveAuthor` job behind four eyes.

CI names the author by email or by Slack id; either is looked up in Slack (an id that
merely looks like one is not believed: `users.info` must know it). Until then the
four-eyes rules fail closed: the gate refuses approvals (and, where the policy says so,
deploys) with "still looking up". Nobody in Slack with that email or id means the author
is unknown to Slack: the card and the owners' DMs say so, and `policy.unknown_author:
block` keeps such a build from production.
"""

from __future__ import annotations

from cibot.domain.build import BuildState
from cibot.service.audit import AuditAction
from cibot.service.intake import is_slack_user_id
from cibot.service.jobs import ResolveAuthor, SyncBuildCard, SyncReviewDMs
from cibot.service.ports import AuditEvent, Chat, Clock, Store


async def _look_up(chat: Chat, author: str) -> str:
    """The author's Slack id, or "" when Slack knows nobody by that email or id."""
    if is_slack_user_id(author):
        return author if await chat.user_exists(author) else ""
    return await chat.user_by_email(author) or ""


async def resolve_author(job: ResolveAuthor, *, store: Store, chat: Chat, clock: Clock) -> None:
    async with store.transaction() as tx:
        build = await tx.builds.get(job.build_id)
    if build is None or build.author is None or not build.author_pending:
        return
    user = await _look_up(chat, build.author)
    async with store.transaction() as tx:
        await tx.builds.set_author_user(build.id, user)
        detail = {"author": build.author, "slack_user": user or None}
        await tx.audit.append(
            AuditEvent(
                clock.now(), AuditAction.AUTHOR_RESOLVED, build.project_id, build.id, detail=detail
            )
        )
        await tx.jobs.enqueue(SyncBuildCard(build.id))  # it names the author, known or not
        current = await tx.builds.get(build.id)
        if current is not None and current.state is BuildState.READY:
            await tx.jobs.enqueue(SyncReviewDMs(build.id))
