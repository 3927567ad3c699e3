"""Who wrote a build: looked up in Slack, never believed from CI's text alone (four eyes)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from cibot.domain.build import Build, BuildState, BuildType
from cibot.domain.policy import Policy, UnknownAuthor
from cibot.domain.review import Tally
from cibot.service import authors
from cibot.service.jobs import ResolveAuthor, SyncBuildCard, SyncReviewDMs
from cibot.service.views import OwnerDM
from tests.support.fakes import FakeChat, FakeClock, MemoryStore
from tests.support.usecases import PROJECT, build, record, report


@pytest.mark.parametrize(
    ("author", "looked_up"),
    [
        ("dev@example.com", True),
        ("U0DEV", True),  # looks like a Slack id: not believed until Slack knows it
        ("W0DEV", True),
        ("Dev Eloper", False),  # no email, no id: unknown to Slack at once
    ],
)
async def test_an_author_that_is_an_email_or_a_slack_id_is_looked_up(
    author: str, looked_up: bool
) -> None:
    store, clock = MemoryStore(), FakeClock()

    accepted = await record(store, clock, report(author=author))

    recorded = build(store, accepted.build_id)
    assert recorded.author_pending is looked_up
    assert bool(store.jobs_of(ResolveAuthor)) is looked_up
    if not looked_up:
        assert recorded.author_user == ""


@pytest.mark.parametrize(
    ("author", "slack", "found"),
    [
        ("U0DEV", FakeChat(users={"U0DEV"}), "U0DEV"),
        ("U0NOBODY", FakeChat(users={"U0DEV"}), ""),
        ("dev@example.com", FakeChat(emails={"dev@example.com": "U0DEV"}), "U0DEV"),
        ("ghost@example.com", FakeChat(), ""),
    ],
)
async def test_resolving_asks_slack_and_records_nobody_when_slack_knows_nobody(
    author: str, slack: FakeChat, found: str
) -> None:
    store, clock = MemoryStore(), FakeClock()
    accepted = await record(store, clock, report(author=author))

    await authors.resolve_author(
        ResolveAuthor(accepted.build_id), store=store, chat=slack, clock=clock
    )

    assert build(store, accepted.build_id).author_user == found
    assert [j.build_id for j in store.jobs_of(SyncBuildCard)][-1] == accepted.build_id


async def test_a_resolved_ready_build_has_its_dms_redrawn() -> None:
    store, clock = MemoryStore(), FakeClock()
    accepted = await record(store, clock, report(author="U0NOBODY"))
    async with store.transaction() as tx:
        ready = build(store, accepted.build_id)
        await tx.builds.move(ready, replace(ready, state=BuildState.READY))

    await authors.resolve_author(
        ResolveAuthor(accepted.build_id), store=store, chat=FakeChat(), clock=clock
    )

    assert [j.build_id for j in store.jobs_of(SyncReviewDMs)] == [accepted.build_id]


def test_the_owner_dm_holds_back_deploy_for_an_unknown_author_only_when_the_policy_blocks() -> None:
    now = FakeClock().now()
    unknown = Build(
        "b1", "shop", BuildType.BRANCH, "main", "r.example/shop:1", BuildState.READY, now, now,
        author="dev@example.com", author_user="",
    )  # fmt: skip
    blocking = replace(PROJECT, policy=Policy(unknown_author=UnknownAuthor.BLOCK))

    assert OwnerDM(PROJECT, unknown, Tally()).deployable
    held = OwnerDM(blocking, unknown, Tally())
    assert not held.deployable and not held.overridable
    assert held.author_block is not None
