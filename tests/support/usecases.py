"""A project and the first steps of the flow on in-memory ports, for use-case tests.

Record a build as CI reports it, read it back, run its preview deploy: the steps most
use-case and trust tests begin with.
"""

from __future__ import annotations

from typing import Any

from cibot.domain.build import Build, BuildType
from cibot.domain.project import Project
from cibot.service import intake, preview
from cibot.service.jobs import DeployPreview
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
    store: MemoryStore, clock: FakeClock, rep: intake.BuildReport, webhook_id: str = "msg_1"
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
