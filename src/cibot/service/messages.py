"""Keeping the review messages true: owner and QA DMs, verdict replies, announcements.

Like the channel card, every message is drawn from the current state and posted once
(`posting.post_once`, even across a crash); its channel and `ts` are stored, and later
changes are `chat.update`s. DMs to many people go out concurrently (bounded; the Slack
adapter paces them within Slack's rate-limit tiers); one person's failure does not stop the
others, the sends that failed are tried again within the job, and only if some still fail
is the job retried.

A redraw of everyone can be overtaken: the build moves on (a deploy finishes) while its
updates wait for their turn within Slack's limits, and the move queues another redraw of
everyone. Redraws of one build run one at a time, in order, each reading the state when it
starts; so a redraw that finds another one waiting leaves the DMs it has not yet begun to it
(every one, if it has not begun), rather than spend Slack's budget drawing a state already
gone, or the same state twice.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from datetime import timedelta

from cibot.domain.build import Build, BuildState
from cibot.domain.project import Project
from cibot.domain.review import Decision, Situation, Tally, VerdictRecord
from cibot.service.errors import ChatRejected, ChatUnavailable
from cibot.service.gate import situation_of
from cibot.service.jobs import (
    AnnounceDecision,
    AnnounceFreeze,
    NotifyUser,
    PostVerdictReplies,
    RedrawReview,
    SyncReviewDMs,
)
from cibot.service.ports import Chat, Clock, MessageRef, Store, Transaction
from cibot.service.posting import Slot, To, post_once, post_or_update
from cibot.service.views import (
    FreezeNotice,
    MessageView,
    Notice,
    OwnerDM,
    ProductionNotice,
    QaDM,
    VerdictReply,
)

OWNER_DM, QA_DM = "owner_dm", "qa_dm"
DM_CONCURRENCY = 64  # sends at once: new DMs go to as many conversations, each its own budget
# Updates at once: they share one budget (chat.update's tier), so past its burst more at once
# only wait in the pacer, and would all still go out if a newer redraw came to wait.
UPDATE_CONCURRENCY = 16
SEND_ROUNDS = 3  # tries of the sends that failed for a passing reason, within one job run
ROUND_PAUSE = 1.0  # seconds between those rounds when Slack named no Retry-After


@dataclass(frozen=True, slots=True)
class Review:
    """Everything the review messages of one build are drawn from, read in one transaction."""

    project: Project
    build: Build
    situation: Situation
    decision: Decision | None
    superseded_by: Build | None
    owner_refs: dict[str, MessageRef]
    qa_refs: dict[str, MessageRef]

    @property
    def verdicts(self) -> tuple[VerdictRecord, ...]:
        return self.situation.verdicts

    def owner_view(self) -> OwnerDM:
        return OwnerDM(
            self.project,
            self.build,
            Tally.of(self.verdicts),
            self.decision,
            self.superseded_by,
            quorum=self.situation.quorum(self.project, self.build),
            qa=tuple(sorted(self.situation.roster.qa)),
            freeze=self.situation.freeze,
            expires_at=self.project.policy.expires_at(self.build.ready_at),
        )

    def qa_view(self, user: str) -> QaDM:
        mine = next((v for v in self.verdicts if v.user == user), None)
        is_author = self.project.policy.four_eyes and self.build.author_id == user
        return QaDM(
            self.project,
            self.build,
            user,
            mine,
            self.decision,
            self.superseded_by,
            is_author=is_author,
            expires_at=self.project.policy.expires_at(self.build.ready_at),
            former=user not in self.situation.roster.qa,
        )


async def load_review(
    store: Store, clock: Clock, projects: Mapping[str, Project], build_id: str
) -> Review | None:
    async with store.transaction() as tx:
        build = await tx.builds.get(build_id)
        if build is None or build.project_id not in projects:
            return None
        project = projects[build.project_id]
        newer = await tx.builds.get(build.superseded_by) if build.superseded_by else None
        return Review(
            project=project,
            build=build,
            situation=await situation_of(tx, project, build.id, clock.now()),
            decision=await tx.reviews.latest_decision(build.id),
            superseded_by=newer,
            owner_refs=await tx.messages.of_role(build.id, OWNER_DM),
            qa_refs=await tx.messages.of_role(build.id, QA_DM),
        )


async def sync_review_dms(
    job: SyncReviewDMs,
    *,
    store: Store,
    clock: Clock,
    chat: Chat,
    projects: Mapping[str, Project],
) -> None:
    """Post or redraw the DMs: every owner's (the quorum may have moved) and QA's.

    `job.user` names the one QA member whose DM changed (a verdict); None redraws all.
    People who left a role keep their DM, redrawn; people who joined get one while the
    build is in review.
    """
    review = await load_review(store, clock, projects, job.build_id)
    if review is None:
        return
    roster = review.situation.roster
    owners = sorted(roster.owners | review.owner_refs.keys())
    everyone_qa = roster.qa | review.qa_refs.keys()
    qa = sorted(u for u in everyone_qa if job.user in (None, u))
    owner_view = review.owner_view()
    overtaken = _redrawn_later(store, job) if job.user is None else None
    if overtaken is not None and await overtaken():
        return  # the waiting redraw reads a newer state and draws every DM
    updates = asyncio.Semaphore(UPDATE_CONCURRENCY)
    sends = [
        _dm(
            store,
            chat,
            clock,
            review,
            role=OWNER_DM,
            user=u,
            refs=review.owner_refs,
            view=owner_view if u in roster.owners else replace(owner_view, former=True),
            overtaken=overtaken,
            updates=updates,
        )
        for u in owners
    ]
    sends += [
        _dm(
            store,
            chat,
            clock,
            review,
            role=QA_DM,
            user=u,
            refs=review.qa_refs,
            view=review.qa_view(u),
            overtaken=overtaken,
            updates=updates,
        )
        for u in qa
    ]
    await all_or_retry(sends)
    await _redraw_when_the_window_ends(store, review)


def _redrawn_later(store: Store, job: SyncReviewDMs) -> Callable[[], Awaitable[bool]]:
    """Whether another redraw of everyone is waiting (it runs after this one, in the build's
    queue); once one is, every later answer is yes without asking the store again."""
    waiting = False

    async def check() -> bool:
        nonlocal waiting
        if not waiting:
            async with store.transaction() as tx:
                waiting = await tx.jobs.waiting(job)
        return waiting

    return check


async def _redraw_when_the_window_ends(store: Store, review: Review) -> None:
    """A freeze window hides the Deploy button until it ends: redraw the DMs then."""
    freeze = review.situation.freeze
    if freeze is None or freeze.until is None or review.build.state is not BuildState.READY:
        return
    at = freeze.until + timedelta(seconds=1)
    key = f"redraw:{review.build.id}:{int(at.timestamp())}"
    async with store.transaction() as tx:
        await tx.jobs.enqueue(RedrawReview(review.build.id), at, dedupe_key=key)


async def redraw_review(job: RedrawReview, *, store: Store) -> None:
    """Queue the redraw (the DM queue must not hold a job waiting for the future)."""
    async with store.transaction() as tx:
        await tx.jobs.enqueue(SyncReviewDMs(job.build_id))


def _dm(
    store: Store,
    chat: Chat,
    clock: Clock,
    review: Review,
    *,
    role: str,
    user: str,
    refs: dict[str, MessageRef],
    view: MessageView,
    overtaken: Callable[[], Awaitable[bool]] | None = None,
    updates: asyncio.Semaphore | None = None,
) -> Callable[[], Awaitable[None]]:
    async def send() -> None:
        ref = refs.get(user)
        if ref is not None:
            async with updates or contextlib.nullcontext():
                if overtaken is not None and await overtaken():
                    return  # the redraw waiting after this one draws this DM
                await chat.update(ref, view)
        elif review.build.state is BuildState.READY:  # a build no longer in review gets no new DMs
            slot = Slot(review.build.id, role, user)
            await post_or_update(store, chat, clock, slot, to=To(dm=user), view=view)

    return send


async def all_or_retry(
    sends: list[Callable[[], Awaitable[None]]], *, rounds: int = SEND_ROUNDS
) -> None:
    """Run every send (bounded concurrency); those that failed for a passing reason are run
    again (only they, after the longest `Retry-After` they were told), up to `rounds` times
    in all; if some still fail, fail the job so it is retried. A refusal is not run again."""
    pending = list(sends)
    for round_ in range(1, rounds + 1):
        transient, refused = await _send_all(pending)
        if not transient or round_ == rounds:
            break
        pending = [send for send, _ in transient]
        await asyncio.sleep(_longest_wait(transient) or ROUND_PAUSE)
    if transient:
        errors = [exc for _, exc in transient]
        message = f"{len(errors)} of {len(sends)} messages failed: {errors[0]}"
        raise ChatUnavailable(message, retry_after=_longest_wait(transient))
    if refused:
        raise ChatRejected(f"{len(refused)} of {len(sends)} messages refused: {refused[0]}")


Send = Callable[[], Awaitable[None]]


async def _send_all(
    sends: list[Send],
) -> tuple[list[tuple[Send, ChatUnavailable]], list[ChatRejected]]:
    gate = asyncio.Semaphore(DM_CONCURRENCY)
    transient: list[tuple[Send, ChatUnavailable]] = []
    refused: list[ChatRejected] = []

    async def run(send: Send) -> None:
        async with gate:
            try:
                await send()
            except ChatRejected as exc:  # e.g. a deactivated user: retrying will not help
                refused.append(exc)
            except ChatUnavailable as exc:
                transient.append((send, exc))

    await asyncio.gather(*(run(s) for s in sends))
    return transient, refused


def _longest_wait(failures: list[tuple[Send, ChatUnavailable]]) -> float | None:
    return max((exc.retry_after or 0.0 for _, exc in failures), default=0.0) or None


def reply_role(qa_user: str) -> str:
    return f"reply:{qa_user}"


async def post_verdict_replies(
    job: PostVerdictReplies,
    *,
    store: Store,
    clock: Clock,
    chat: Chat,
    projects: Mapping[str, Project],
) -> None:
    review = await load_review(store, clock, projects, job.build_id)
    verdict = next((v for v in review.verdicts if v.user == job.qa_user), None) if review else None
    if review is None or verdict is None:
        return
    async with store.transaction() as tx:
        done = await tx.messages.of_role(review.build.id, reply_role(job.qa_user))
    view = VerdictReply(verdict)

    def reply_to(owner: str, under: MessageRef) -> Callable[[], Awaitable[None]]:
        async def send() -> None:
            slot = Slot(review.build.id, reply_role(job.qa_user), owner)
            await post_once(store, chat, clock, slot, to=To(thread=under), view=view)

        return send

    await all_or_retry(
        [reply_to(o, ref) for o, ref in sorted(review.owner_refs.items()) if o not in done]
    )


async def announce_decision(
    job: AnnounceDecision,
    *,
    store: Store,
    clock: Clock,
    chat: Chat,
    projects: Mapping[str, Project],
) -> None:
    """Post the announcement of a production decision once; afterwards, redraw it."""
    async with store.transaction() as tx:
        build = await tx.builds.get(job.build_id)
        decision = await tx.reviews.get_decision(job.decision_id)
        if build is None or decision is None or build.project_id not in projects:
            return
        notice = await _production_notice(tx, projects[build.project_id], build, decision)
        slot = Slot(build.id, f"announce:{job.decision_id}")
        saved = await tx.messages.get(slot.build_id, slot.role)
    to = To(channel=notice.project.channel)
    await post_or_update(store, chat, clock, slot, to=to, view=notice, saved=saved)


async def _production_notice(
    tx: Transaction, project: Project, build: Build, decision: Decision
) -> ProductionNotice:
    assert decision.id is not None
    release = await tx.releases.of_decision(decision.id)
    if release is None:
        return ProductionNotice(project, build, decision)
    newest = next(iter(await tx.releases.of_project(project.id, limit=1)), None)
    undone = await tx.releases.get(release.rolled_back_from) if release.rolled_back_from else None
    return ProductionNotice(
        project,
        build,
        decision,
        release=release,
        previous=await tx.releases.before(release),
        replaced_by=newest if newest is not None and newest.id != release.id else None,
        rolled_back_from=undone,
    )


async def announce_freeze(
    job: AnnounceFreeze,
    *,
    store: Store,
    clock: Clock,
    chat: Chat,
    projects: Mapping[str, Project],
) -> None:
    project = projects.get(job.project_id)
    if project is not None:
        view = FreezeNotice(project, job.actor, job.frozen, job.reason)
        slot = Slot("", f"freeze:{job.key}")
        await post_once(store, chat, clock, slot, to=To(channel=project.channel), view=view)


async def notify_user(job: NotifyUser, *, chat: Chat) -> None:
    try:
        if job.channel == job.user:  # a click on their Home tab: no channel, their DM
            await chat.post_dm(job.user, Notice(job.text))
        else:
            await chat.post_ephemeral(job.channel, job.user, Notice(job.text))
    except ChatRejected:
        return  # the user left the channel, or it is gone: nobody left to tell
