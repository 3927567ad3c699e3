"""A project and the first steps of the flow on in-memory ports, for use-case tests.

Record a build as CI reports it, read it back, run its preview deploy: the steps most
use-case and trust tests begin with.
"""

from __future__ import annotations

from typing import Any

from cibot.domain.build import Build, BuildState, BuildType
from cibot.domain.environment import Environment
from cibot.domain.project import Project
from cibot.domain.review import Action
from cibot.service import intake, preview, review
from cibot.service.jobs import DeployPreview, DeployProduction
from cibot.service.ports import Clock, Store
from tests.support.fakes import FakeClock, FakeCluster, MemoryStore

PROJECT = Project(
    id="shop",
    name="Shop",
    url="https://shop.example.com",
    channel="C0SHOP",
    qa=frozenset({"U0QA"}),
    owners=frozenset({"U0OWNER"}),
    namespace="shop",
)
PROJECTS = {PROJECT.id: PROJECT}


def report(target: str = "main", image: str = "r.example/shop:1", **kw: Any) -> intake.BuildReport:
    return intake.BuildReport(image=image, type=BuildType.BRANCH, target=target, **kw)


async def record(
    store: Store, clock: Clock, rep: intake.BuildReport, webhook_id: str = "msg_1"
) -> intake.Accepted:
    return await intake.record_build(
        store=store,
        clock=clock,
        project=PROJECT,
        report=rep,
        webhook_id=webhook_id,
        body_sha256=f"{rep.image}|{rep.target}|{rep.build_number}",
    )


def build(store: MemoryStore, build_id: str) -> Build:
    return store.state.builds[build_id]


async def deploy(store: MemoryStore, clock: FakeClock, cluster: FakeCluster, build_id: str) -> None:
    job = next(j for j in store.jobs_of(DeployPreview) if j.build_id == build_id)
    await preview.deploy_preview(
        job,
        store=store,
        cluster=cluster,
        clock=clock,
        projects=PROJECTS,
        render=lambda project, b: [{"kind": "Deployment", "image": b.image}],
    )


DIGEST = "sha256:" + "d" * 64


async def promoting(store: Store, clock: Clock, build_id: str = "b1") -> DeployProduction:
    """A ready build, approved by QA, and an owner's click on **Deploy to production**: the
    production deploy job that click queued (on any store, in memory or SQL)."""
    now = clock.now()
    ready = Build(
        build_id, PROJECT.id, BuildType.BRANCH, "main", "r.example/shop:1", BuildState.READY,
        now, now, digest=DIGEST, ready_at=now,
    )  # fmt: skip
    async with store.transaction() as tx:
        await tx.builds.add(ready)
    qa, owner = next(iter(PROJECT.qa)), next(iter(PROJECT.owners))
    await review.click(store, clock, PROJECTS, review.Click(build_id, qa, Action.APPROVE))
    deploy = review.Click(build_id, owner, Action.DEPLOY)
    answer = await review.click(store, clock, PROJECTS, deploy)
    assert answer.accepted, answer.refusal
    async with store.transaction() as tx:
        decision = await tx.reviews.latest_decision(build_id)
    assert decision is not None and decision.id is not None
    return DeployProduction(build_id, decision.id, Environment.production(PROJECT).address)
