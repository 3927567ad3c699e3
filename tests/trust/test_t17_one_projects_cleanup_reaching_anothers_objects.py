"""T17: one project's clean-up never reaches another project's objects.

Defence: `cibot check` and `cibot serve` refuse two projects in one namespace whose object
names could meet (a preview of `shop` is named `shop-branch-<target>`, which can be exactly
the production of a project `shop-branch-main`); and, should names meet anyway, every apply
and delete first checks the object's `cibot/project`, `cibot/environment` and target labels,
and writes with a uid + resourceVersion precondition, so ci-bot never adopts or deletes an
object of another project, not even one that changed hands between the check and the write.

With the refusal bypassed (projects built directly, as the config would never allow), the
use cases run here against the real API server: a deploy onto another project's object is
refused, and closing, idle removal and branch deletion leave the other project's objects.
Without the label checks, the deploy would take over the other project's production and the
clean-ups would delete it.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx2
import pytest
import yaml
from lightkube import AsyncClient, KubeConfig
from lightkube.config.client_adapter import verify_cluster
from lightkube.core.exceptions import ApiError
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import Service
from lightkube.resources.networking_v1 import Ingress
from lightkube.types import PatchType

from cibot.adapters.kubernetes import manifests
from cibot.adapters.kubernetes.cluster import FIELD_MANAGER, KubeCluster
from cibot.adapters.retry import RetryPolicy
from cibot.domain.build import Build, BuildState, BuildType
from cibot.domain.lifecycle import Lifecycle
from cibot.domain.naming import environment_name
from cibot.domain.project import Project, Workload
from cibot.domain.review import Action
from cibot.service import branches, idle, intake, preview, production, review
from cibot.service.errors import ClusterRejected
from cibot.service.jobs import CheckIdlePreview, DeleteBranchPreview, DeletePreview, DeployPreview
from tests.support.fakes import FakeClock, MemoryStore
from tests.support.service import run_cli

pytestmark = pytest.mark.kubernetes

KINDS: tuple[Any, ...] = (Deployment, Service, Ingress)
IMAGE = "registry.example.test/shop/web:1.0"
OWNER = "U0OWNER"
_ids = itertools.count()


def _project(project_id: str, namespace: str) -> Project:
    return Project(
        id=project_id,
        name=project_id,
        url=f"https://{project_id}.example.com",
        channel="C0T17",
        qa=frozenset({"U0QA"}),
        owners=frozenset({OWNER}),
        namespace=namespace,
        workload=Workload(rollout_timeout_seconds=20),
        lifecycle=Lifecycle(preview_ttl=timedelta(hours=6), preview_ttl_warning=timedelta(hours=1)),
    )


# --- the refusal -------------------------------------------------------------------------


def test_T17_check_and_serve_refuse_two_projects_whose_names_meet_in_one_namespace(
    tmp_path: Path,
) -> None:
    config = {
        "webhooks": {"secret": "s"},
        "projects": [
            {"id": "shop", "url": "https://shop.example.com", "channel": "C0SHOP"},
            {
                "id": "shop-branch-main",
                "url": "https://main.example.com",
                "channel": "C0MAIN",
                "namespace": "shop",
            },
        ],
    }
    path = tmp_path / "cibot.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))

    for verb in ("check", "serve"):
        done = run_cli(verb, "--config", str(path))
        assert done.returncode == 2, (verb, done.stdout, done.stderr)
        said = done.stderr
        assert "cibot.yaml:7: projects[1].id" in said
        assert "'shop-branch-main'" in said and "project 'shop'" in said
        assert "namespace 'shop'" in said and "shop-branch-<target>" in said


# --- with the refusal bypassed -----------------------------------------------------------


@dataclass
class Flow:
    """The use cases of several projects on in-memory ports and the real cluster."""

    cluster: KubeCluster
    projects: dict[str, Project]
    store: MemoryStore = field(default_factory=MemoryStore)
    clock: FakeClock = field(default_factory=FakeClock)

    async def deployed(self, project: Project, target: str) -> Build:
        """A build of `target` reported by CI, and its preview deploy run to the end."""
        accepted = await intake.record_build(
            store=self.store,
            clock=self.clock,
            project=project,
            report=intake.BuildReport(IMAGE, BuildType.BRANCH, target, commit=f"c{next(_ids)}"),
            webhook_id=f"msg_{next(_ids)}",
            body_sha256=f"body_{next(_ids)}",
        )
        job = next(j for j in self.store.jobs_of(DeployPreview) if j.build_id == accepted.build_id)
        await preview.deploy_preview(
            job,
            store=self.store,
            cluster=self.cluster,
            clock=self.clock,
            projects=self.projects,
            render=manifests.render_preview,
        )
        return self.store.state.builds[accepted.build_id]

    async def deletions(self) -> None:
        """Run every preview deletion queued so far (a job may run again: harmless)."""
        for job in self.store.jobs_of(DeletePreview):
            await production.delete_preview(
                job, store=self.store, cluster=self.cluster, projects=self.projects
            )
        for branch_job in self.store.jobs_of(DeleteBranchPreview):
            await branches.delete_branch_preview(
                branch_job, store=self.store, cluster=self.cluster, projects=self.projects
            )

    async def close(self, build: Build) -> None:
        click = review.Click(build.id, OWNER, Action.CLOSE)
        assert (await review.click(self.store, self.clock, self.projects, click)).accepted

    async def idle_out(self, build: Build) -> None:
        """Let the preview go idle past its TTL, with the warning first."""
        for _ in range(3):
            self.clock.advance(int(timedelta(hours=6).total_seconds()))
            await idle.check_idle_preview(
                CheckIdlePreview(build.id),
                store=self.store,
                clock=self.clock,
                projects=self.projects,
            )
        assert self.store.state.builds[build.id].state is BuildState.CLOSED

    async def delete_branch(self, project: Project, branch: str) -> None:
        await branches.close_branch(
            store=self.store,
            clock=self.clock,
            project=project,
            branch=branch,
            webhook_id=f"msg_{next(_ids)}",
            body_sha256=f"body_{next(_ids)}",
        )


def _kube_cluster(client: AsyncClient) -> KubeCluster:
    return KubeCluster(client, RetryPolicy(attempts=3, base_seconds=0, max_seconds=0))


@pytest.fixture
async def client(kubeconfig_path: Path) -> AsyncIterator[AsyncClient]:
    kube = AsyncClient(config=KubeConfig.from_file(kubeconfig_path), field_manager=FIELD_MANAGER)
    yield kube
    await kube.close()


async def _snapshot(kube: AsyncClient, name: str, namespace: str) -> dict[str, Any]:
    """Who each object of an environment is (uid and labels), and what its pods run."""
    seen: dict[str, Any] = {}
    for kind in KINDS:
        obj = await kube.get(kind, name, namespace=namespace)
        assert obj.metadata is not None
        seen[kind.__name__] = (obj.metadata.uid, obj.metadata.labels)
    dep = await kube.get(Deployment, name, namespace=namespace)
    assert dep.spec is not None and dep.spec.template.spec is not None
    seen["image"] = dep.spec.template.spec.containers[0].image
    return seen


async def _gone(kube: AsyncClient, kind: Any, name: str, namespace: str) -> bool:
    try:
        await kube.get(kind, name, namespace=namespace)
    except ApiError as exc:
        return exc.status.code == 404
    return False


async def test_T17_no_close_idle_removal_or_branch_deletion_touches_another_projects_objects(
    client: AsyncClient, namespace: str
) -> None:
    shop = _project("shop", namespace)
    main = _project("shop-branch-main", namespace)  # named like shop's preview of `main`
    other = _project("shop-branch-x", namespace)  # its preview of `y` is shop's of `x-branch-y`
    flow = Flow(_kube_cluster(client), {p.id: p for p in (shop, main, other)})
    now = flow.clock.now()
    released = Build(
        "rel1", main.id, BuildType.BRANCH, "release", IMAGE, BuildState.PROMOTING, now, now,
        digest="sha256:" + "ab" * 32,
    )  # fmt: skip
    await flow.cluster.apply(manifests.render_production(main, released))
    theirs = await flow.deployed(other, "y")
    assert theirs.state is BuildState.READY, theirs.reason
    assert environment_name("shop", BuildType.BRANCH, "main") == "shop-branch-main"
    preview_y = environment_name(other.id, BuildType.BRANCH, "y")
    assert environment_name("shop", BuildType.BRANCH, "x-branch-y") == preview_y
    before = {
        main.id: await _snapshot(client, main.id, namespace),
        preview_y: await _snapshot(client, preview_y, namespace),
    }

    onto_production = await flow.deployed(shop, "main")
    onto_preview = await flow.deployed(shop, "x-branch-y")
    own = await flow.deployed(shop, "feature")

    assert onto_production.state is BuildState.FAILED
    assert "project 'shop-branch-main''s production" in (onto_production.reason or "")
    assert onto_preview.state is BuildState.FAILED
    assert "project 'shop-branch-x''s preview of 'y'" in (onto_preview.reason or "")
    assert own.state is BuildState.READY, own.reason

    await flow.close(onto_production)  # an owner closes it
    await flow.idle_out(onto_preview)  # idle removal
    await flow.delete_branch(shop, "main")  # the branch is deleted
    await flow.close(own)  # and shop's own preview, which must go
    await flow.deletions()

    after = {name: await _snapshot(client, name, namespace) for name in before}
    assert after == before, "the other projects' objects are untouched"
    own_name = environment_name("shop", BuildType.BRANCH, "feature")
    for kind in KINDS:
        assert await _gone(client, kind, own_name, namespace), kind.__name__


# --- an object that changes hands between the check and the write ------------------------


class _TakeOver(httpx2.AsyncBaseTransport):
    """Passes requests to the API server; right after the first read of `path`, another
    project takes the object over (relabels it), as if it had raced ci-bot."""

    def __init__(
        self, inner: httpx2.AsyncBaseTransport, path: str, take: Callable[[], Awaitable[None]]
    ) -> None:
        self.inner, self.path, self.take = inner, path, take
        self.taken = False

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        response = await self.inner.handle_async_request(request)
        if request.method == "GET" and request.url.path == self.path and not self.taken:
            await response.aread()  # the read as it was, before the take-over
            self.taken = True
            await self.take()
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


async def _racing_cluster(
    kubeconfig_path: Path, namespace: str, name: str, take: Callable[[], Awaitable[None]]
) -> KubeCluster:
    config = KubeConfig.from_file(kubeconfig_path).get()
    assert config is not None and config.user is not None
    inner = httpx2.AsyncHTTPTransport(
        verify=verify_cluster(config.cluster, config.user, config.abs_file)
    )
    path = f"/apis/apps/v1/namespaces/{namespace}/deployments/{name}"
    kube = AsyncClient(
        config=config, field_manager=FIELD_MANAGER, transport=_TakeOver(inner, path, take)
    )
    return _kube_cluster(kube)


async def _relabel(kube: AsyncClient, name: str, namespace: str, project: str) -> None:
    patch = {"metadata": {"labels": {"cibot/project": project}}}
    await kube.patch(Deployment, name, patch, namespace=namespace, patch_type=PatchType.MERGE)


async def test_T17_an_object_taken_over_after_the_check_is_neither_deleted_nor_adopted(
    client: AsyncClient, namespace: str, kubeconfig_path: Path
) -> None:
    shop = _project("shop", namespace)
    flow = Flow(_kube_cluster(client), {shop.id: shop})
    build = await flow.deployed(shop, "race")
    assert build.state is BuildState.READY, build.reason
    name = environment_name("shop", BuildType.BRANCH, "race")

    async def take() -> None:
        await _relabel(client, name, namespace, "intruder")

    flow.cluster = await _racing_cluster(kubeconfig_path, namespace, name, take)
    await flow.close(build)
    await flow.deletions()

    dep = await client.get(Deployment, name, namespace=namespace)
    assert dep.metadata is not None and dep.metadata.labels is not None
    assert dep.metadata.labels["cibot/project"] == "intruder", "read again, then left alone"
    assert await _gone(client, Service, name, namespace), "the objects still shop's did go"

    await _relabel(client, name, namespace, "shop")  # shop's again: now ci-bot applies onto it
    racing = await _racing_cluster(kubeconfig_path, namespace, name, take)
    with pytest.raises(ClusterRejected, match="project 'intruder'"):
        await racing.apply(manifests.render_preview(shop, build))
    dep = await client.get(Deployment, name, namespace=namespace)
    assert dep.metadata is not None and dep.metadata.labels is not None
    assert dep.metadata.labels["cibot/project"] == "intruder", "never adopted"
