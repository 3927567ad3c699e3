"""End-to-end fixtures: the real `cibot serve`, a fake Slack, a namespace on the real cluster."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from lightkube import AsyncClient, KubeConfig
from lightkube.codecs import from_dict
from lightkube.resources.core_v1 import Namespace

from cibot.fakeslack import Channel, FakeSlackServer, User
from tests.support.service import CibotProcess

SECRET = "e2e-webhook-secret"
CHANNEL = "C0E2E0CHAN"
QA = ("U0QA1", "U0QA2")
OWNERS = ("U0OWNER1", "U0OWNER2")


@pytest.fixture
def fake_slack() -> Iterator[FakeSlackServer]:
    users = [User(id=u, name=u.lower()) for u in (*QA, *OWNERS)]
    channels = [Channel(id=CHANNEL, name="shop-builds", members=frozenset((*QA, *OWNERS)))]
    with FakeSlackServer(users=users, channels=channels) as server:
        yield server


@pytest.fixture
async def kube(kubeconfig_path: Path) -> AsyncIterator[AsyncClient]:
    client = AsyncClient(config=KubeConfig.from_file(kubeconfig_path))
    yield client
    await client.close()


@pytest.fixture
async def namespace(kube: AsyncClient) -> AsyncIterator[str]:
    name = f"e2e-{uuid.uuid4().hex[:8]}"
    await kube.create(
        from_dict({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    )
    yield name
    await kube.delete(Namespace, name)


@pytest.fixture
def cibot_config(
    database_url: str, kubeconfig_path: Path, fake_slack: FakeSlackServer, namespace: str
) -> dict[str, Any]:
    return service_config(database_url, kubeconfig_path, fake_slack.api_url, namespace)


def service_config(
    database_url: str, kubeconfig_path: Path, slack_api_url: str, namespace: str
) -> dict[str, Any]:
    """`cibot.yaml` for a test: the fake Slack, the local cluster, quick retries, one project."""
    return {
        "database": {"url": database_url},
        "slack": {
            "bot_token": "xoxb-fake",
            "signing_secret": "e2e-signing-secret",
            "api_url": slack_api_url,
        },
        "kubernetes": {"kubeconfig": str(kubeconfig_path)},
        "webhooks": {"secret": SECRET},
        "jobs": {
            "poll_interval_seconds": 0.2,
            "drain_seconds": 2,
            "backoff_base_seconds": 0.2,
            "backoff_max_seconds": 2,
        },
        "retry": {"attempts": 3, "base_seconds": 0.1, "max_seconds": 1},
        "logging": {"level": "info", "format": "json"},
        "projects": [
            {
                "id": "shop",
                "name": "Shop",
                "url": "https://shop.example.com",
                "channel": CHANNEL,
                "qa": list(QA),
                "owners": list(OWNERS),
                "namespace": namespace,
                "rollout_timeout": 10,
            }
        ],
    }


Launch = Callable[..., CibotProcess]


@pytest.fixture
def launch(cibot_config: dict[str, Any], tmp_path: Path) -> Iterator[Launch]:
    """Start `cibot serve` with these keys of the project (`policy={…}`, `qa=[…]`, …).

    Each call starts another process on the same database (a restart, or a replica); all
    are stopped after the test.
    """
    started: list[CibotProcess] = []

    def start(**project: Any) -> CibotProcess:
        cibot_config["projects"][0].update(project)
        process = CibotProcess(cibot_config, tmp_path)
        if not started:
            process.upgrade_db()
        started.append(process.start())
        return process

    yield start
    for process in started:
        process.stop()


@pytest.fixture
def cibot(cibot_config: dict[str, Any], tmp_path: Path) -> Iterator[CibotProcess]:
    process = CibotProcess(cibot_config, tmp_path)
    process.upgrade_db()
    process.start()
    yield process
    process.stop()
