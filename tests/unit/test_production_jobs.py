"""The production deploy job against in-memory ports: what it re-checks when it begins."""

from __future__ import annotations

from functools import partial

import pytest

from cibot.domain.build import BuildState
from cibot.domain.policy import Freeze
from cibot.service import production
from cibot.service.errors import ClusterUnavailable
from cibot.service.jobs import AnnounceDecision, DeployProduction
from tests.support.fakes import FakeClock, FakeCluster, MemoryStore
from tests.support.usecases import PROJECTS, promoting

FROZEN = Freeze("release party", by="U0OWNER")


class FlakyCluster(FakeCluster):
    """Unreachable for the first apply, as during a short outage."""

    down = True

    async def apply(self, manifests: object) -> None:
        if self.down:
            self.down = False
            raise ClusterUnavailable("Kubernetes API unavailable: connection refused")
        await super().apply(manifests)  # type: ignore[arg-type]


async def run(
    store: MemoryStore, clock: FakeClock, cluster: FakeCluster, job: DeployProduction
) -> None:
    deploy = partial(
        production.deploy_production, store=store, cluster=cluster, clock=clock,
        projects=PROJECTS, render=lambda project, build: [{"kind": "Deployment"}],
    )  # fmt: skip
    await deploy(job)


async def freeze(store: MemoryStore, clock: FakeClock) -> None:
    async with store.transaction() as tx:
        assert await tx.freezes.set("shop", FROZEN)


async def test_a_freeze_begun_after_the_click_stops_the_deploy_before_anything_is_applied() -> None:
    store, clock, cluster = MemoryStore(), FakeClock(), FakeCluster()
    job = await promoting(store, clock)
    await freeze(store, clock)

    await run(store, clock, cluster, job)

    assert cluster.applied == [], "nothing reached production"
    decision = store.state.decisions[-1]
    assert decision.outcome == "failed"
    assert decision.reason == f"stopped before it began: {FROZEN.describe()}"
    assert store.state.slots == {}, "the slot is free"
    assert store.state.builds[job.build_id].state is BuildState.READY, "promotable after it"
    assert len(store.jobs_of(AnnounceDecision)) == 1, "the channel is told why"


async def test_a_freeze_does_not_stop_a_deploy_whose_job_had_already_begun() -> None:
    store, clock, cluster = MemoryStore(), FakeClock(), FlakyCluster()
    job = await promoting(store, clock)
    with pytest.raises(ClusterUnavailable):
        await run(store, clock, cluster, job)  # began; production may be half-applied
    await freeze(store, clock)

    await run(store, clock, cluster, job)

    assert store.state.decisions[-1].outcome == "deployed"
    assert store.state.builds[job.build_id].state is BuildState.PROMOTED
