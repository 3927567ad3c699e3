"""Superseding and closing a build that a deploy job moved after the caller read it.

On PostgreSQL a request's transaction and a worker's run side by side: intake may read a
build as accepted while its deploy job moves it to deploying and commits. The decision
(a newer build replaces it; its branch is gone) still holds, and must not be lost to the
compare-and-set on the old state (F9 failed this way once in CI). SQLite serialises
writers, so the interleaving exists only on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from cibot.adapters.store.sql import SqlStore
from cibot.domain.build import Build, BuildState, BuildType
from cibot.service import closing, intake
from tests.support.fakes import FakeClock
from tests.support.stores import migrated_store

CLOCK = FakeClock()


@pytest.fixture
async def store(postgres_url: str) -> AsyncIterator[SqlStore]:
    async with migrated_store(postgres_url, CLOCK) as sql_store:
        yield sql_store


def a_build(build_id: str, state: BuildState) -> Build:
    now = CLOCK.now()
    return Build(build_id, "shop", BuildType.BRANCH, "main", "r.example/a:1", state, now, now)


async def added(store: SqlStore, *builds: Build) -> None:
    async with store.transaction() as tx:
        for build in builds:
            await tx.builds.add(build)


async def stored(store: SqlStore, build_id: str) -> Build:
    async with store.transaction() as tx:
        build = await tx.builds.get(build_id)
    assert build is not None
    return build


async def moved_meanwhile(store: SqlStore, build: Build, state: BuildState) -> None:
    """What a worker does between the caller's read and its write: another transaction."""
    async with store.transaction() as other:
        assert await other.builds.move(build, build.moved_to(state, CLOCK.now()))


async def test_a_build_its_deploy_job_moved_on_is_still_superseded(store: SqlStore) -> None:
    older, newer = a_build("b1", BuildState.ACCEPTED), a_build("b2", BuildState.ACCEPTED)
    await added(store, older, newer)

    async with store.transaction() as tx:
        [read, _] = await tx.builds.live_of_target("shop", BuildType.BRANCH, "main")
        await moved_meanwhile(store, read, BuildState.DEPLOYING)
        assert await intake.supersede(tx, CLOCK.now(), read, newer)

    after = await stored(store, "b1")
    assert (after.state, after.superseded_by) == (BuildState.SUPERSEDED, "b2")


async def test_a_build_promoted_meanwhile_is_not_superseded(store: SqlStore) -> None:
    older, newer = a_build("b1", BuildState.READY), a_build("b2", BuildState.ACCEPTED)
    await added(store, older, newer)

    async with store.transaction() as tx:
        await moved_meanwhile(store, older, BuildState.PROMOTING)
        assert not await intake.supersede(tx, CLOCK.now(), older, newer)

    assert (await stored(store, "b1")).state is BuildState.PROMOTING


async def test_a_build_its_deploy_job_moved_on_is_still_closed(store: SqlStore) -> None:
    build = a_build("b1", BuildState.ACCEPTED)
    await added(store, build)

    async with store.transaction() as tx:
        await moved_meanwhile(store, build, BuildState.DEPLOYING)
        assert await closing.close(tx, CLOCK.now(), build, actor=closing.CIBOT, note="gone")

    after = await stored(store, "b1")
    assert (after.state, after.reason) == (BuildState.CLOSED, "gone")


async def test_a_build_superseded_meanwhile_is_not_closed(store: SqlStore) -> None:
    build = a_build("b1", BuildState.READY)
    await added(store, build)

    async with store.transaction() as tx:
        await moved_meanwhile(store, build, BuildState.SUPERSEDED)
        assert not await closing.close(tx, CLOCK.now(), build, actor=closing.CIBOT)

    assert (await stored(store, "b1")).state is BuildState.SUPERSEDED
