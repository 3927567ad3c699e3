"""Fixtures shared by the test layers: the real database backends and the real cluster for
all of them; the fake Slack, a namespace and a real `cibot serve` for the end-to-end and trust
layers (their constants and `cibot.yaml` live in tests/support/shop.py)."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings
from lightkube import AsyncClient, KubeConfig
from lightkube.codecs import from_dict
from lightkube.resources.core_v1 import Namespace

from cibot.fakeslack import Channel, FakeSlackServer, User
from tests.support import testbed
from tests.support.service import CibotProcess
from tests.support.shop import CHANNEL, OWNERS, QA, service_config

# The test command draws the same Hypothesis examples on every run, so a red CI run is red
# again on a re-run and a green one does not turn red by luck. `HYPOTHESIS_PROFILE=explore`
# draws fresh examples (and remembers failures in .hypothesis/) to find what those miss.
settings.register_profile("repeatable", derandomize=True, database=None, print_blob=True)
settings.register_profile("explore", print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))


@pytest.fixture(scope="session")
def postgres_server_url() -> str:
    return testbed.postgres_url()


@pytest.fixture(scope="session")
def kubeconfig_path() -> Path:
    return testbed.kubeconfig()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'cibot.db'}"


@pytest.fixture
def postgres_url(postgres_server_url: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    with testbed.fresh_postgres_database(postgres_server_url) as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Each test that takes this fixture runs once on SQLite and once on PostgreSQL."""
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    url: str = request.getfixturevalue(fixture)
    return url


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


@pytest.fixture
def cibot(cibot_config: dict[str, Any], tmp_path: Path) -> Iterator[CibotProcess]:
    process = CibotProcess(cibot_config, tmp_path)
    process.upgrade_db()
    process.start()
    yield process
    process.stop()
