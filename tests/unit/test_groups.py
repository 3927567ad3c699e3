"""Roles from Slack user groups: trusted only while recently read; the refresh chain goes on."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from cibot.domain.build import Build, BuildState, BuildType
from cibot.domain.project import GroupSnapshot, Roster
from cibot.domain.review import Action
from cibot.service import groups, review
from cibot.service.jobs import RefreshGroups
from tests.support.fakes import FakeChat, FakeClock, MemoryStore
from tests.support.usecases import PROJECT

GROUPED = replace(PROJECT, qa=frozenset({"S0QA"}), group_max_age=timedelta(minutes=15))
PROJECTS = {GROUPED.id: GROUPED}
PERIOD = 300


def test_a_group_read_within_its_max_age_gives_its_members_the_role() -> None:
    now = FakeClock().now()
    snapshot = GroupSnapshot(frozenset({"U0ANN"}), now - timedelta(minutes=14))

    roster = Roster.fresh(GROUPED, {"S0QA": snapshot}, now)

    assert roster.qa == {"U0ANN"} and roster.untrusted == ()


def test_a_group_read_too_long_ago_or_never_holds_nobody_and_says_why() -> None:
    now = FakeClock().now()
    stale = GroupSnapshot(frozenset({"U0ANN"}), now - timedelta(minutes=16))

    old, never = Roster.fresh(GROUPED, {"S0QA": stale}, now), Roster.fresh(GROUPED, {}, now)

    assert old.qa == never.qa == frozenset()
    assert old.untrusted == (
        ("S0QA", "last read from Slack at 2026-11-28 11:44 UTC, too long ago"),
    )
    assert never.untrusted == (("S0QA", "not read from Slack yet"),)


async def _ready_build(store: MemoryStore, clock: FakeClock) -> None:
    now = clock.now()
    build = Build(
        "b1", "shop", BuildType.BRANCH, "main", "r.example/a:1", BuildState.READY, now, now
    )
    async with store.transaction() as tx:
        await tx.builds.add(build)


@pytest.mark.parametrize(
    ("read_minutes_ago", "refusal"),
    [
        (10, None),
        (16, "only the QA members of Shop may approve or reject (the members of S0QA are not "
             "trusted: last read from Slack at 2026-11-28 11:44 UTC, too long ago)"),
    ],
)  # fmt: skip
async def test_a_click_by_a_member_of_a_stale_group_is_refused_with_the_reason(
    read_minutes_ago: int, refusal: str | None
) -> None:
    store, clock = MemoryStore(), FakeClock()
    await _ready_build(store, clock)
    async with store.transaction() as tx:
        at = clock.now() - timedelta(minutes=read_minutes_ago)
        await tx.groups.save("S0QA", frozenset({"U0ANN"}), at)

    answer = await review.click(store, clock, PROJECTS, review.Click("b1", "U0ANN", Action.APPROVE))

    assert (answer.refusal.reason if answer.refusal else None) == refusal


async def test_a_refresh_queues_the_next_one_before_it_reads_slack_so_its_death_ends_nothing() -> (
    None
):
    class Broken(FakeChat):
        async def group_members(self, group_id: str) -> frozenset[str]:
            raise RuntimeError("an answer nobody expected")

    store, clock = MemoryStore(), FakeClock()
    slot = int(clock.now().timestamp() // PERIOD)

    with pytest.raises(RuntimeError):
        await groups.refresh_groups(
            RefreshGroups(slot), store=store, chat=Broken(), clock=clock, projects=PROJECTS,
            period=PERIOD,
        )  # fmt: skip

    assert store.jobs_of(RefreshGroups) == [RefreshGroups(slot + 1)]
    assert f"refresh_groups:{slot + 1}" in store.state.dedupe_keys
