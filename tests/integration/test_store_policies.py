"""The store behind the policies, on real SQLite and PostgreSQL: what the gate relies on."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import cast

import pytest
import sqlalchemy as sa

from cibot.adapters.slack.blocks.history import audit_line
from cibot.adapters.store import tables as t
from cibot.adapters.store.sql import SqlStore
from cibot.domain.build import Build, BuildState, BuildType
from cibot.domain.policy import Freeze
from cibot.domain.release import Release, ReleaseKind
from cibot.service import home
from cibot.service.audit import AuditAction
from cibot.service.jobs import RefreshGroups
from cibot.service.ports import AuditEvent
from tests.support.fakes import FakeClock
from tests.support.stores import migrated_store
from tests.support.usecases import PROJECT

CLOCK = FakeClock()


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[SqlStore]:
    async with migrated_store(database_url, CLOCK) as sql_store:
        yield sql_store


def a_build(build_id: str = "b1") -> Build:
    now = CLOCK.now()
    return Build(
        build_id, "shop", BuildType.BRANCH, "main", "r.example/a:1", BuildState.READY, now, now
    )


@pytest.mark.parametrize(
    "statement", ["UPDATE audit_events SET action = 'x'", "DELETE FROM audit_events"]
)
async def test_the_audit_table_refuses_updates_and_deletes(store: SqlStore, statement: str) -> None:
    async with store.transaction() as tx:
        await tx.audit.append(AuditEvent(CLOCK.now(), AuditAction.BUILD_ACCEPTED, "shop", "b1"))

    with pytest.raises(sa.exc.DBAPIError, match="append-only"):
        async with store.database.begin() as conn:
            await conn.execute(sa.text(statement))

    async with store.transaction() as tx:
        assert [e.action for e in await tx.audit.events("shop")] == ["build.accepted"]


async def test_audit_events_come_newest_first_filtered_by_project_and_time(store: SqlStore) -> None:
    steps = (AuditAction.BUILD_ACCEPTED, AuditAction.PREVIEW_READY, AuditAction.VERDICT_APPROVED)
    async with store.transaction() as tx:
        for minute, (project, action) in enumerate(
            zip(("shop", "blog", "shop"), steps, strict=True)
        ):
            at = CLOCK.now().replace(minute=minute)
            await tx.audit.append(
                AuditEvent(at, action, project, actor="U0A", detail={"n": minute})
            )
    async with store.transaction() as tx:
        shop = await tx.audit.events("shop")
        recent = await tx.audit.events(since=CLOCK.now().replace(minute=1))
    assert [(e.action, dict(e.detail or {})) for e in shop] == [
        ("verdict.approved", {"n": 2}),
        ("build.accepted", {"n": 0}),
    ]
    assert [e.action for e in recent] == ["verdict.approved", "preview.ready"]


async def test_the_audit_trail_takes_only_its_vocabulary(store: SqlStore) -> None:
    made_up = AuditEvent(CLOCK.now(), cast(AuditAction, "build.made_up"), "shop")
    with pytest.raises(TypeError, match="AuditAction"):
        async with store.transaction() as tx:
            await tx.audit.append(made_up)


async def test_an_action_a_newer_ci_bot_wrote_is_read_back_as_stored_and_shown(
    store: SqlStore,
) -> None:
    """In a rolling update a newer version may record an action this one does not know: the
    history, `cibot audit` and the Home tab (which all read the trail) show it, not fail."""
    async with store.transaction() as tx:
        await tx.audit.append(AuditEvent(CLOCK.now(), AuditAction.BUILD_ACCEPTED, "shop", "b1"))
    async with store.database.begin() as conn:  # as the newer version's store writes it
        row = {"at": CLOCK.now(), "action": "build.quarantined", "project_id": "shop"}
        await conn.execute(t.audit_events.insert(), row)
    projects = {PROJECT.id: PROJECT}
    owner = next(iter(PROJECT.owners))

    async with store.transaction() as tx:
        events = await tx.audit.events("shop")
        view = await home.read_home(tx, projects, owner, CLOCK.now())

    assert [e.action for e in events] == ["build.quarantined", "build.accepted"]
    assert events[1].action is AuditAction.BUILD_ACCEPTED, "a known one is the vocabulary's"
    assert "build.quarantined" in audit_line(events[0])
    assert [e.action for e in view.events][:1] == ["build.quarantined"]


async def test_one_production_slot_per_project_even_under_concurrent_claims(
    store: SqlStore,
) -> None:
    async def claim(n: int) -> bool:
        async with store.transaction() as tx:
            return await tx.production.claim("shop", f"b{n}", n, CLOCK.now())

    won = await asyncio.gather(*(claim(n) for n in range(1, 9)))

    assert sum(won) == 1
    winner = won.index(True) + 1
    async with store.transaction() as tx:
        assert await tx.production.busy_with("shop") == f"b{winner}"
        await tx.production.free("shop", winner + 1)  # someone else's decision frees nothing
        assert await tx.production.busy_with("shop") == f"b{winner}"
        await tx.production.free("shop", winner)
        assert await tx.production.busy_with("shop") is None


async def test_a_freeze_is_set_once_and_lifted_once(store: SqlStore) -> None:
    freeze = Freeze("release week", by="U0OWNER", since=CLOCK.now())
    async with store.transaction() as tx:
        assert await tx.freezes.set("shop", freeze)
        assert not await tx.freezes.set("shop", replace(freeze, by="U0OTHER"))
    async with store.transaction() as tx:
        assert await tx.freezes.get("shop") == freeze
        assert await tx.freezes.lift("shop") == freeze
        assert await tx.freezes.lift("shop") is None


async def test_releases_are_a_history_per_project(store: SqlStore) -> None:
    def release(build_id: str, project: str = "shop") -> Release:
        digest = "sha256:" + build_id[-1] * 64
        return Release(project, build_id, f"r.example/a@{digest}", digest, ReleaseKind.PROMOTION,
                       "U0OWNER", CLOCK.now())  # fmt: skip

    async with store.transaction() as tx:
        first = await tx.releases.add(release("b1"))
        await tx.releases.add(release("c1", "blog"))
        second = await tx.releases.add(release("b2"))
    async with store.transaction() as tx:
        assert [r.build_id for r in await tx.releases.of_project("shop")] == ["b2", "b1"]
        assert await tx.releases.before(second) == first
        assert await tx.releases.before(first) is None


async def test_a_job_with_a_dedupe_key_is_enqueued_once_ever(store: SqlStore) -> None:
    for _ in range(3):
        async with store.transaction() as tx:
            await tx.jobs.enqueue(RefreshGroups(7), dedupe_key="refresh_groups:7")
    async with store.database.begin() as conn:
        count = (await conn.execute(sa.text("SELECT count(*) FROM jobs"))).scalar()
    assert count == 1


async def test_a_move_keeps_fields_another_transaction_wrote_meanwhile(store: SqlStore) -> None:
    async with store.transaction() as tx:
        await tx.builds.add(replace(a_build(), state=BuildState.DEPLOYING))
        read = await tx.builds.get("b1")
    async with store.transaction() as tx:
        await tx.builds.set_author_user("b1", "U0ANN")  # the author lookup lands meanwhile
    assert read is not None
    async with store.transaction() as tx:
        assert await tx.builds.move(read, read.moved_to(BuildState.READY, CLOCK.now()))
        stored = await tx.builds.get("b1")
    assert stored is not None and stored.state is BuildState.READY
    assert stored.author_user == "U0ANN"


async def test_group_members_are_stored_and_replaced(store: SqlStore) -> None:
    async with store.transaction() as tx:
        await tx.groups.save("S0QA", frozenset({"U0A", "U0B"}), CLOCK.now())
        await tx.groups.save("S0QA", frozenset({"U0C"}), CLOCK.now())
    async with store.transaction() as tx:
        assert await tx.groups.members(["S0QA", "S0NEVER"]) == {"S0QA": frozenset({"U0C"})}


async def test_a_locked_build_makes_a_second_transaction_on_it_wait_its_turn(
    store: SqlStore,
) -> None:
    async with store.transaction() as tx:
        await tx.builds.add(a_build())
    held, order = asyncio.Event(), []

    async def first() -> None:
        async with store.transaction() as tx:
            await tx.builds.lock("b1")
            held.set()
            await asyncio.sleep(0.3)
            order.append("first done")

    async def second() -> None:
        await held.wait()
        async with store.transaction() as tx:
            await tx.builds.lock("b1")
            order.append("second locked")

    await asyncio.gather(first(), second())

    assert order == ["first done", "second locked"]
