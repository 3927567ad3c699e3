"""Review DMs: everyone gets exactly one, and one person's failure does not stop the others."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import timedelta

import pytest

from cibot.domain.build import BuildState
from cibot.domain.policy import DateWindow, Policy
from cibot.service import messages
from cibot.service.errors import ChatUnavailable
from cibot.service.jobs import RedrawReview, SyncReviewDMs
from cibot.service.ports import MessageRef
from cibot.service.views import OwnerDM
from tests.support.fakes import FakeChat, FakeClock, MemoryStore
from tests.support.usecases import PROJECT
from tests.unit.test_review import READY

TEAM = replace(PROJECT, qa=frozenset({"U0QA1", "U0QA2", "U0QA3"}), owners=frozenset({"U0OW1"}))
PROJECTS = {TEAM.id: TEAM}
CLOCK = FakeClock()


@dataclass
class FlakyChat(FakeChat):
    """Refuses DMs to the users in `down` (Slack 5xx), as long as they are listed there."""

    down: set[str] = field(default_factory=set)

    async def post_dm(self, user: str, view: object, key: str | None = None) -> MessageRef:
        if user in self.down:
            raise ChatUnavailable("Slack chat.postMessage: internal_error")
        return await super().post_dm(user, view, key)


async def ready_store() -> MemoryStore:
    store = MemoryStore()
    async with store.transaction() as tx:
        await tx.builds.add(READY)
    return store


async def test_each_owner_and_qa_member_gets_one_dm_of_their_kind() -> None:
    store, chat = await ready_store(), FakeChat()

    await messages.sync_review_dms(
        SyncReviewDMs("b1"), store=store, clock=CLOCK, chat=chat, projects=PROJECTS
    )

    kinds = sorted((channel, type(view).__name__) for channel, view in chat.posts)
    assert kinds == [
        ("DU0OW1", "OwnerDM"),
        ("DU0QA1", "QaDM"),
        ("DU0QA2", "QaDM"),
        ("DU0QA3", "QaDM"),
    ]


async def test_one_failed_dm_does_not_stop_the_others_and_the_retry_sends_only_it() -> None:
    store, chat = await ready_store(), FlakyChat(down={"U0QA2"})

    with pytest.raises(ChatUnavailable):
        await messages.sync_review_dms(
            SyncReviewDMs("b1"), store=store, clock=CLOCK, chat=chat, projects=PROJECTS
        )
    assert len(chat.posts) == 3

    chat.down.clear()
    await messages.sync_review_dms(
        SyncReviewDMs("b1"), store=store, clock=CLOCK, chat=chat, projects=PROJECTS
    )

    assert [channel for channel, _ in chat.posts].count("DU0QA2") == 1
    assert len(chat.posts) == 4
    assert len(chat.updates) == 3, "the three already sent are redrawn, not posted again"


async def test_a_build_no_longer_in_review_gets_no_new_dms() -> None:
    store, chat = MemoryStore(), FakeChat()
    async with store.transaction() as tx:
        await tx.builds.add(replace(READY, state=BuildState.SUPERSEDED))

    await messages.sync_review_dms(
        SyncReviewDMs("b1"), store=store, clock=CLOCK, chat=chat, projects=PROJECTS
    )

    assert chat.posts == []


async def test_a_redraw_after_a_verdict_touches_that_qa_members_dm_and_every_owners() -> None:
    store, chat = await ready_store(), FakeChat()
    await messages.sync_review_dms(
        SyncReviewDMs("b1"), store=store, clock=CLOCK, chat=chat, projects=PROJECTS
    )

    await messages.sync_review_dms(
        SyncReviewDMs("b1", "U0QA3"), store=store, clock=CLOCK, chat=chat, projects=PROJECTS
    )

    redrawn = sorted((ref.channel, type(view).__name__) for ref, view in chat.updates)
    assert redrawn == [("DU0OW1", "OwnerDM"), ("DU0QA3", "QaDM")], "the quorum may have moved"


async def test_dms_drawn_in_a_freeze_window_are_redrawn_once_when_it_ends() -> None:
    ends = CLOCK.now() + timedelta(hours=2)
    window = DateWindow(CLOCK.now() - timedelta(hours=1), ends, "migration")
    frozen = replace(TEAM, policy=Policy(approvals_required=0, freeze_windows=(window,)))
    store, chat = await ready_store(), FakeChat()

    for _ in range(2):
        await messages.sync_review_dms(
            SyncReviewDMs("b1"), store=store, clock=CLOCK, chat=chat, projects={"shop": frozen}
        )

    owner = next(view for _, view in chat.posts if isinstance(view, OwnerDM))
    assert owner.freeze is not None and not owner.deployable
    assert [(job, at) for job, at in store.state.jobs if isinstance(job, RedrawReview)] == [
        (RedrawReview("b1"), ends + timedelta(seconds=1))
    ]


async def test_a_redraw_of_everyone_that_finds_another_waiting_leaves_the_dms_to_it() -> None:
    store, chat = await ready_store(), FakeChat()
    await messages.sync_review_dms(
        SyncReviewDMs("b1"), store=store, clock=CLOCK, chat=chat, projects=PROJECTS
    )
    async with store.transaction() as tx:
        await tx.jobs.enqueue(SyncReviewDMs("b1"))  # the build moved on: a newer redraw waits

    for job in (SyncReviewDMs("b1"), SyncReviewDMs("b1", "U0QA3")):
        await messages.sync_review_dms(job, store=store, clock=CLOCK, chat=chat, projects=PROJECTS)

    redrawn = sorted(ref.channel for ref, _ in chat.updates)
    assert redrawn == ["DU0OW1", "DU0QA3"], "only the verdict's redraw, which is not waiting"
