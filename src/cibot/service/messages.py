"""Keeping the review messages true: owner and QA DMs, verdict replies, announcements.

Like the channel card, every message is drawn from the current state and posted once; its
channel and `ts` are stored, and later changes are `chat.update`s. DMs to many people go out
concurrently (bounded, within Slack's limits); one person's failure does not stop the
others, and the job is retried for just the ones still missing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from cibot.domain.build import Build, BuildState
from cibot.domain.project import Project
from cibot.domain.review import Decision, Tally, VerdictRecord
from cibot.service.errors import ChatRejected, ChatUnavailable, ServiceError
from cibot.service.jobs import AnnounceDecision, NotifyUser, PostVerdictReplies, SyncReviewDMs
from cibot.service.ports import Chat, MessageRef, Store
from cibot.service.views import Notice, OwnerDM, ProductionNotice, QaDM, VerdictReply

OWNER_DM, QA_DM = "owner_dm", "qa_dm"
DM_CONCURRENCY = 16


@dataclass(frozen=True, slots=True)
class Review:
    """Everything the review messages of one build are drawn from, read in one transaction."""

    project: Project
    build: Build
    verdicts: tuple[VerdictRecord, ...]
    decision: Decision | None
    superseded_by: Build | None
    owner_refs: dict[str, MessageRef]
    qa_refs: dict[str, MessageRef]

    def owner_view(self) -> OwnerDM:
        tally = Tally.of(self.verdicts)
        return OwnerDM(self.project, self.build, tally, self.decision, self.superseded_by)

    def qa_view(self, user: str) -> QaDM:
        mine = next((v for v in self.verdicts if v.user == user), None)
        return QaDM(self.project, self.build, user, mine, self.decision, self.superseded_by)


async def load_review(
    store: Store, projects: Mapping[str, Project], build_id: str
) -> Review | None:
    async with store.transaction() as tx:
        build = await tx.get_build(build_id)
        if build is None or build.project_id not in projects:
            return None
        newer = await tx.get_build(build.superseded_by) if build.superseded_by else None
        return Review(
            project=projects[build.project_id],
            build=build,
            verdicts=tuple(await tx.verdicts_of(build.id)),
            decision=await tx.latest_decision(build.id),
            superseded_by=newer,
            owner_refs=await tx.messages_of(build.id, OWNER_DM),
            qa_refs=await tx.messages_of(build.id, QA_DM),
        )


async def sync_review_dms(
    job: SyncReviewDMs, *, store: Store, chat: Chat, projects: Mapping[str, Project]
) -> None:
    review = await load_review(store, projects, job.build_id)
    if review is None:
        return
    owners = [u for u in sorted(review.project.owners) if job.user in (None, u)]
    qa = [u for u in sorted(review.project.qa) if job.user in (None, u)]
    owner_view = review.owner_view()
    sends = [
        _dm(store, chat, review, role=OWNER_DM, user=u, refs=review.owner_refs, view=owner_view)
        for u in owners
    ]
    sends += [
        _dm(store, chat, review, role=QA_DM, user=u, refs=review.qa_refs, view=review.qa_view(u))
        for u in qa
    ]
    await _all_or_retry(sends)


def _dm(
    store: Store,
    chat: Chat,
    review: Review,
    *,
    role: str,
    user: str,
    refs: dict[str, MessageRef],
    view: object,
) -> Callable[[], Awaitable[None]]:
    async def send() -> None:
        ref = refs.get(user)
        if ref is not None:
            await chat.update(ref, view)
        elif review.build.state is BuildState.READY:  # a build no longer in review gets no new DMs
            posted = await chat.post_dm(user, view)
            async with store.transaction() as tx:
                await tx.save_message(review.build.id, role, posted, user)

    return send


async def _all_or_retry(sends: list[Callable[[], Awaitable[None]]]) -> None:
    """Run every send (bounded concurrency); if any failed, fail the job so it is retried."""
    gate = asyncio.Semaphore(DM_CONCURRENCY)
    failures: list[ServiceError] = []

    async def run(send: Callable[[], Awaitable[None]]) -> None:
        async with gate:
            try:
                await send()
            except ChatRejected as exc:  # e.g. a deactivated user: retrying will not help
                failures.append(exc)
            except ChatUnavailable as exc:
                failures.append(exc)

    await asyncio.gather(*(run(s) for s in sends))
    transient = [f for f in failures if isinstance(f, ChatUnavailable)]
    if transient:
        raise ChatUnavailable(f"{len(transient)} of {len(sends)} messages failed: {transient[0]}")
    if failures:
        raise ChatRejected(f"{len(failures)} of {len(sends)} messages refused: {failures[0]}")


def reply_role(qa_user: str) -> str:
    return f"reply:{qa_user}"


async def post_verdict_replies(
    job: PostVerdictReplies, *, store: Store, chat: Chat, projects: Mapping[str, Project]
) -> None:
    review = await load_review(store, projects, job.build_id)
    verdict = next((v for v in review.verdicts if v.user == job.qa_user), None) if review else None
    if review is None or verdict is None:
        return
    async with store.transaction() as tx:
        done = await tx.messages_of(review.build.id, reply_role(job.qa_user))
    view = VerdictReply(verdict)

    def reply_to(owner: str, under: MessageRef) -> Callable[[], Awaitable[None]]:
        async def send() -> None:
            posted = await chat.reply(under, view)
            async with store.transaction() as tx:
                await tx.save_message(review.build.id, reply_role(job.qa_user), posted, owner)

        return send

    await _all_or_retry(
        [reply_to(o, ref) for o, ref in sorted(review.owner_refs.items()) if o not in done]
    )


async def announce_decision(
    job: AnnounceDecision, *, store: Store, chat: Chat, projects: Mapping[str, Project]
) -> None:
    role = f"announce:{job.decision_id}"
    async with store.transaction() as tx:
        build = await tx.get_build(job.build_id)
        decision = await tx.get_decision(job.decision_id)
        posted = await tx.get_message(job.build_id, role)
    if build is None or decision is None or posted is not None:
        return
    project = projects[build.project_id]
    ref = await chat.post(project.channel, ProductionNotice(project, build, decision))
    async with store.transaction() as tx:
        await tx.save_message(build.id, role, ref)


async def notify_user(job: NotifyUser, *, chat: Chat) -> None:
    try:
        await chat.post_ephemeral(job.channel, job.user, Notice(job.text))
    except ChatRejected:
        return  # the user left the channel, or it is gone: nobody left to tell
