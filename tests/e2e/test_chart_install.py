"""The chart installed on the local control plane, and ci-bot running with what it grants.

`helm install` brings ci-bot up under kwok in namespaces that enforce the "restricted" Pod
Security Standard (so a pod that is not restricted would be refused). The pods do not really
run under kwok, so the decisive part runs ci-bot from the checkout with a kubeconfig holding
a token of the chart's ServiceAccount (TokenRequest): the whole flow works with exactly the
permissions the chart grants, and the same token is refused where ci-bot has no business.
"""

from __future__ import annotations

import base64
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from lightkube import AsyncClient, Client, KubeConfig
from lightkube.codecs import from_dict
from lightkube.core.exceptions import ApiError
from lightkube.models.authentication_v1 import TokenRequestSpec
from lightkube.models.core_v1 import Container, PodSpec, SecurityContext
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import Namespace, Node, Pod, Secret, ServiceAccount
from lightkube.resources.networking_v1 import Ingress
from lightkube.resources.rbac_authorization_v1 import ClusterRole

from cibot.fakeslack import FakeSlackServer, Message
from tests.support.chart import CHART, run_helm
from tests.support.flow import card_saying, press, ready_build, send_build, until
from tests.support.kube import is_gone
from tests.support.service import CibotProcess, run_cli
from tests.support.shop import CHANNEL, EVERYONE, OWNERS, QA, service_config

pytestmark = pytest.mark.kubernetes

OWNER1, OWNER2 = OWNERS
RESTRICTED = {"pod-security.kubernetes.io/enforce": "restricted"}


@dataclass(frozen=True)
class Release:
    name: str
    namespace: str  # where ci-bot runs
    project_namespace: str  # where it deploys (the chart's Role is there)
    other_namespace: str  # where it has no business
    service_account: str


async def create_namespace(kube: AsyncClient, name: str, labels: dict[str, str]) -> None:
    await kube.create(from_dict({"apiVersion": "v1", "kind": "Namespace",
                                 "metadata": {"name": name, "labels": labels}}))  # fmt: skip


def chart_values(project_namespace: str) -> dict[str, Any]:
    return {
        "existingSecret": "cibot-secrets",
        "image": {"repository": "localhost/cibot", "tag": "test"},  # kwok pulls nothing
        "persistence": {"enabled": False},
        "config": {
            "server": {"public_url": "https://cibot.example.com"},
            "projects": [
                {
                    "id": "shop",
                    "url": "https://shop.example.com",
                    "channel": CHANNEL,
                    "qa": list(QA),
                    "owners": list(OWNERS),
                    "namespace": project_namespace,
                }
            ],
        },
    }


@pytest.fixture(scope="module")
async def admin(kubeconfig_path: Path) -> AsyncIterator[AsyncClient]:
    client = AsyncClient(config=KubeConfig.from_file(kubeconfig_path))
    yield client
    await client.close()


@pytest.fixture(scope="module")
async def release(admin: AsyncClient, kubeconfig_path: Path) -> AsyncIterator[Release]:
    suffix = uuid.uuid4().hex[:6]
    rel = Release("cibot", f"cibot-{suffix}", f"shop-{suffix}", f"other-{suffix}", "cibot")
    names = (rel.namespace, rel.project_namespace, rel.other_namespace)
    try:
        for name in names:
            await create_namespace(admin, name, RESTRICTED)
        secret = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s",
                  "CIBOT_WEBHOOK_SECRET": "w"}  # fmt: skip
        where = ObjectMeta(name="cibot-secrets", namespace=rel.namespace)
        await admin.create(Secret(metadata=where, stringData=secret))
        installed = run_helm(
            "install", rel.name, str(CHART), "--namespace", rel.namespace,
            "--wait", "--timeout", "2m",
            values=chart_values(rel.project_namespace), kubeconfig=kubeconfig_path,
        )  # fmt: skip
        assert installed.returncode == 0, installed.stdout + installed.stderr
        yield rel
    finally:
        run_helm("uninstall", rel.name, "--namespace", rel.namespace, kubeconfig=kubeconfig_path)
        for name in names:
            with contextlib.suppress(ApiError):
                await admin.delete(Namespace, name)


async def test_helm_install_brings_ci_bot_up_under_the_restricted_pod_security_standard(
    release: Release, admin: AsyncClient
) -> None:
    deployment = await admin.get(Deployment, "cibot", namespace=release.namespace)
    pods = [p async for p in admin.list(Pod, namespace=release.namespace)]

    assert deployment.status is not None and deployment.status.readyReplicas == 1
    (pod,) = pods
    assert pod.spec is not None and [c.name for c in pod.spec.initContainers or []] == ["migrate"]
    container = Container(name="c", image="x", securityContext=SecurityContext(privileged=True))
    meta = ObjectMeta(name="privileged", namespace=release.namespace)
    privileged = Pod(metadata=meta, spec=PodSpec(containers=[container]))
    with pytest.raises(ApiError, match="violates PodSecurity"):  # the control: it is enforced
        await admin.create(privileged, dry_run=True)


@pytest.fixture
def token_kubeconfig(release: Release, kubeconfig_path: Path, tmp_path: Path) -> Path:
    """A kubeconfig with a token of the chart's ServiceAccount, as the pod would have."""
    admin = Client(config=KubeConfig.from_file(kubeconfig_path))
    request = ServiceAccount.Token(
        metadata=ObjectMeta(name=release.service_account, namespace=release.namespace),
        spec=TokenRequestSpec(audiences=[], expirationSeconds=3600),
    )
    answer = admin.create(request, release.service_account, namespace=release.namespace)
    assert answer.status is not None
    cluster = yaml.safe_load(kubeconfig_path.read_text())["clusters"][0]["cluster"]
    ca = base64.b64encode(Path(cluster["certificate-authority"]).read_bytes()).decode()
    path = tmp_path / "token-kubeconfig.yaml"
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "cibot",
        "clusters": [{"name": "local",
                      "cluster": {"server": cluster["server"], "certificate-authority-data": ca}}],
        "users": [{"name": "cibot", "user": {"token": answer.status.token}}],
        "contexts": [{"name": "cibot", "context": {"cluster": "local", "user": "cibot"}}],
    }))  # fmt: skip
    return path


@pytest.fixture
def as_the_chart(
    release: Release, token_kubeconfig: Path, fake_slack: FakeSlackServer, sqlite_url: str,
    tmp_path: Path,
) -> Iterator[CibotProcess]:  # fmt: skip
    """`cibot serve` from the checkout with the chart's token, deploying to its namespace."""
    config = service_config(sqlite_url, token_kubeconfig, fake_slack.api_url,
                            release.project_namespace)  # fmt: skip
    config["projects"][0]["policy"] = {"approvals_required": 0}
    process = CibotProcess(config, tmp_path)
    process.upgrade_db()
    process.start()
    yield process
    process.stop()


def test_cibot_check_finds_every_permission_it_needs_with_the_charts_token(
    release: Release, token_kubeconfig: Path, fake_slack: FakeSlackServer, tmp_path: Path
) -> None:
    config = service_config(f"sqlite:///{tmp_path}/c.db", token_kubeconfig, fake_slack.api_url,
                            release.project_namespace)  # fmt: skip
    path = tmp_path / "check.yaml"
    path.write_text(yaml.safe_dump(config))

    done = run_cli("check", "--config", str(path))

    assert done.returncode == 0, done.stdout + done.stderr
    assert f"namespace {release.project_namespace}: all needed permissions" in done.stdout


def announcements(slack: FakeSlackServer) -> list[Message]:
    """The channel's production announcements (the build cards name their build id)."""
    return [m for m in slack.state.messages(CHANNEL) if "ci-bot build id" not in m.visible_text]


async def production_image(admin: AsyncClient, namespace: str) -> str:
    deployment = await admin.get(Deployment, "shop", namespace=namespace)
    assert deployment.spec is not None and deployment.spec.template.spec is not None
    return deployment.spec.template.spec.containers[0].image or ""


async def promote(cibot: CibotProcess, slack: FakeSlackServer, target: str) -> None:
    build_id = await ready_build(cibot.url, slack, EVERYONE, target=target,
                                 image=f"registry.example.test/shop/web:{target}")  # fmt: skip
    count = len(announcements(slack))
    press(cibot.url, slack, OWNER1, "deploy_production", build_id)
    await until(slack, lambda s: len(announcements(slack)) == count + 1, within=60)
    assert "deployed to production" in announcements(slack)[-1].visible_text


async def test_the_whole_flow_works_with_exactly_what_the_chart_grants(
    as_the_chart: CibotProcess, fake_slack: FakeSlackServer, release: Release, admin: AsyncClient
) -> None:
    cibot, ns = as_the_chart, release.project_namespace

    # a preview that fails, with the reason read from the pods and their events
    failing = send_build(cibot.url, target="broken", image="unpullable.invalid/shop/web:1")
    assert failing.status_code == 202, failing.text
    card = await card_saying(fake_slack, CHANNEL, failing.json()["build_id"], "ImagePullBackOff")
    assert "Back-off pulling image" in card.visible_text

    # promotion, pinned by digest, twice; then a rollback to the first
    await promote(cibot, fake_slack, "one")
    first = await production_image(admin, ns)
    assert "@sha256:" in first
    await promote(cibot, fake_slack, "two")
    assert await production_image(admin, ns) != first
    (rollback,) = [b.value or "" for b in announcements(fake_slack)[-1].buttons
                   if b.action_id == "rollback_production"]  # fmt: skip
    press(cibot.url, fake_slack, OWNER2, "rollback_production", rollback, channel=CHANNEL)
    await until(fake_slack, lambda s: "rolled" in announcements(fake_slack)[-1].visible_text)
    assert await production_image(admin, ns) == first

    # close: a preview's objects are deleted
    closing = await ready_build(cibot.url, fake_slack, EVERYONE, target="closing")
    press(cibot.url, fake_slack, OWNER1, "close_build", closing)
    name = "shop-branch-closing"
    for kind in (Deployment, Ingress):
        assert await is_gone(admin, kind, name, ns, within=30), f"{kind.__name__} is still there"


async def test_the_charts_token_is_refused_where_cibot_has_no_business(
    release: Release, token_kubeconfig: Path
) -> None:
    client = AsyncClient(config=KubeConfig.from_file(token_kubeconfig))
    attempts: dict[str, Callable[[], Awaitable[object]]] = {
        "secrets in the project namespace": lambda: client.get(
            Secret, "anything", namespace=release.project_namespace
        ),
        "secrets of ci-bot's own namespace": lambda: client.get(
            Secret, "cibot-secrets", namespace=release.namespace
        ),
        "deployments in another namespace": lambda: client.get(
            Deployment, "anything", namespace=release.other_namespace
        ),
        "deployments in ci-bot's own namespace": lambda: client.get(
            Deployment, "cibot", namespace=release.namespace
        ),
        "nodes": lambda: client.get(Node, "anything"),
        "namespaces": lambda: client.get(Namespace, release.project_namespace),
        "cluster roles": lambda: client.get(ClusterRole, "cluster-admin"),
    }
    try:
        for what, attempt in attempts.items():
            with pytest.raises(ApiError) as refused:
                await attempt()
            assert refused.value.status.code == 403, f"{what}: {refused.value.status.message}"
    finally:
        await client.close()
