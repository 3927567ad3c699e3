"""Fixtures of the trust suite (TRUST.md): the e2e fixtures, plus one shared server per database.

Most rows are about what one request does to a running `cibot serve`. Starting a server per
test would spend most of the suite's time starting servers, so those rows share one per
database (`shared`, package-scoped): each test uses its own targets and reads only the
messages and rows of its own builds (tests/support/steps.py, tests/support/rows.py). Rows
that need a server of their own (crashes, a proxy in front of Kubernetes, a busy or restarted
database, rotation, two replicas) use the e2e fixtures or build one.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from lightkube import AsyncClient, KubeConfig
from lightkube.codecs import from_dict
from lightkube.resources.core_v1 import Namespace
from sqlalchemy.engine import make_url

from cibot.adapters.store import migrate
from cibot.fakeslack import Channel, FakeSlackServer, User
from tests.e2e import conftest as e2e
from tests.e2e.conftest import (  # noqa: F401 - fixtures reused as they are
    cibot,
    cibot_config,
    fake_slack,
    kube,
    namespace,
)
from tests.support import slack_requests, soak, testbed
from tests.support.rows import Rows
from tests.support.service import CibotProcess

CHANNEL, OWNERS, QA, SECRET = e2e.CHANNEL, e2e.OWNERS, e2e.QA, e2e.SECRET
IMAGE = "registry.example.test/shop/web:1.0"
OTHER_CHANNEL = "C0OTHER000"
OTHER_OWNER, OTHER_QA = "U0OTHEROWN", "U0OTHERQA"
STRICT_CHANNEL = "C0STRICT00"
EXPIRING_CHANNEL = "C0EXPIRE00"
STRICT_QA = ("U0SQA1", "U0SQA2", "U0SQA3")
STRICT_OWNERS = ("U0SOWNER",)
STRANGER = "U0STRANGER"
EVERYONE = (*QA, *OWNERS)


def base_config(database_url: str, kubeconfig: Path, slack_api_url: str, ns: str) -> dict[str, Any]:
    """The e2e configuration, with the policy a trust test expects: one approval, four eyes."""
    config = e2e.service_config(database_url, kubeconfig, slack_api_url, ns)
    config["slack"].update(team_id=slack_requests.TEAM, app_id=slack_requests.APP)
    shop = config["projects"][0]
    shop["policy"] = {
        "approvals_required": 1,
        "allowed_images": ["registry.example.test/shop/*"],
    }
    strict = {"approvals_required": 2, "four_eyes": True, "author_may_deploy": False}
    config["projects"] += [
        _project("strict", STRICT_CHANNEL, STRICT_QA, STRICT_OWNERS, ns, policy=strict),
        _project(
            "expiring",
            EXPIRING_CHANNEL,
            QA,
            OWNERS,
            ns,
            policy={"approvals_required": 0, "expires_after": "4s"},
        ),
        _project("other", OTHER_CHANNEL, (OTHER_QA,), (OTHER_OWNER,), ns),
    ]
    return config


def _project(
    project_id: str,
    channel: str,
    qa: tuple[str, ...],
    owners: tuple[str, ...],
    ns: str,
    **keys: Any,
) -> dict[str, Any]:
    return {
        "id": project_id,
        "name": project_id.title(),
        "url": f"https://{project_id}.example.com",
        "channel": channel,
        "qa": list(qa),
        "owners": list(owners),
        "namespace": ns,
        "rollout_timeout": 10,
        **keys,
    }


def workspace() -> FakeSlackServer:
    people = (*EVERYONE, *STRICT_QA, *STRICT_OWNERS, OTHER_OWNER, OTHER_QA, STRANGER)
    users = [User(id=u, name=u.lower()) for u in people]
    channels = [
        Channel(id=CHANNEL, name="shop-builds", members=frozenset(EVERYONE)),
        Channel(id=STRICT_CHANNEL, name="strict", members=frozenset((*STRICT_QA, *STRICT_OWNERS))),
        Channel(id=EXPIRING_CHANNEL, name="expiring", members=frozenset(EVERYONE)),
        Channel(id=OTHER_CHANNEL, name="other", members=frozenset((OTHER_OWNER, OTHER_QA))),
    ]
    server = FakeSlackServer(users=users, channels=channels)
    # Relaxed on purpose: dozens of rows share this one workspace for minutes, each standing
    # for a short scenario of its own; the budget they would spend together is no row's.
    # Slack's tiers are proven on a workspace of their own (F18), and F1 arms its 429s.
    server.state.limits.relax()
    return server


@dataclass
class Shared:
    """One running `cibot serve` that many tests use, with its Slack, namespace and rows."""

    cibot: CibotProcess
    slack: FakeSlackServer
    namespace: str
    rows: Rows

    @property
    def url(self) -> str:
        return self.cibot.url


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
    fake_slack: FakeSlackServer,  # noqa: F811 - the fixture imported above
    namespace: str,  # noqa: F811 - the fixture imported above
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


def unique(prefix: str = "t") -> str:
    """A target no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"
