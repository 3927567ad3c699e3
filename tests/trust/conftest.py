"""Fixtures of the trust suite (TRUST.md): one shared server per database, on top of the
fixtures in tests/conftest.py (the fake Slack, a namespace, a server of the test's own).

Most rows are about what one request does to a running `cibot serve`. Starting a server per
test would spend most of the suite's time starting servers, so those rows share one per
database (`shared`, package-scoped): each test uses its own targets and reads only the
messages and rows of its own builds (tests/support/flow.py, tests/support/rows.py). Rows
that need a server of their own (crashes, a proxy in front of Kubernetes, a busy or restarted
database, rotation, two replicas) use the `cibot` fixture or build one. The suite's projects,
people and `Shared` are in tests/support/trust.py.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Generator, Iterator
from pathlib import Path
from typing import Any

import pytest
from lightkube import AsyncClient, KubeConfig
from lightkube.codecs import from_dict
from lightkube.resources.core_v1 import Namespace
from sqlalchemy.engine import make_url

from cibot.adapters.store import migrate
from cibot.fakeslack import FakeSlackServer
from tests.support import soak, testbed
from tests.support.rows import Rows
from tests.support.service import CibotProcess
from tests.support.trust import Shared, base_config, workspace


@pytest.fixture(scope="package", params=["sqlite", "postgresql"])
def shared_database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('shared') / 'cibot.db'}"
        return
    server_url: str = request.getfixturevalue("postgres_server_url")
    with testbed.fresh_postgres_database(server_url, "trust") as url:
        yield url


@pytest.fixture(scope="package")
async def shared_namespace(kubeconfig_path: Path) -> AsyncIterator[str]:
    client = AsyncClient(config=KubeConfig.from_file(kubeconfig_path))
    name = f"trust-{uuid.uuid4().hex[:8]}"
    await client.create(
        from_dict({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    )
    try:
        yield name
    finally:
        await client.delete(Namespace, name)
        await client.close()


@pytest.fixture(scope="package")
def shared(
    shared_database: str,
    shared_namespace: str,
    kubeconfig_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Shared]:
    backend = make_url(shared_database).get_backend_name()
    with workspace() as slack:
        config = base_config(shared_database, kubeconfig_path, slack.api_url, shared_namespace)
        process = CibotProcess(config, tmp_path_factory.mktemp(f"shared-{backend}"))
        asyncio.run(migrate.upgrade_async(shared_database))  # in-process: quicker than the CLI
        process.start()
        rows = Rows(shared_database)
        try:
            yield Shared(process, slack, shared_namespace, rows)
        finally:
            process.stop()
            rows.dispose()


@pytest.fixture
def sqlite_config(
    sqlite_url: str,
    kubeconfig_path: Path,
    fake_slack: FakeSlackServer,
    namespace: str,
) -> dict[str, Any]:
    """The e2e configuration on SQLite only: for rows about Kubernetes or the door, where the
    database plays no part (the rows that depend on it take `cibot_config`, both databases)."""
    config = base_config(sqlite_url, kubeconfig_path, fake_slack.api_url, namespace)
    config["slack"].pop("team_id")
    config["slack"].pop("app_id")
    return config


_CALL = pytest.StashKey[pytest.TestReport]()
_DATABASES = frozenset({"sqlite", "postgresql"})


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Tests marked `soak` run `CIBOT_SOAK_RUNS` times (once, unless scripts/soak says more)."""
    count = soak.runs()
    if count > 1 and metafunc.definition.get_closest_marker("soak"):
        metafunc.fixturenames.append("soak_run")
        metafunc.parametrize("soak_run", range(1, count + 1), ids=lambda i: f"run{i}")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Keeps the call's report on the test, for `census` to say whether it passed."""
    report: pytest.TestReport = yield
    if report.when == "call":
        item.stash[_CALL] = report
    return report


@pytest.fixture
def census(request: pytest.FixtureRequest) -> Iterator[soak.Census]:
    """The test's count of cases, 5xx, lost and doubled effects, written for scripts/soak."""
    params = getattr(request.node, "callspec", None)
    values = params.params.values() if params is not None else ()
    database = next((v for v in values if isinstance(v, str) and v in _DATABASES), "none")
    tally = soak.Census(suite=request.node.name.split("[")[0], database=database)
    yield tally
    report = request.node.stash.get(_CALL, None)
    tally.write(request.node.nodeid, passed=report is not None and report.passed)
