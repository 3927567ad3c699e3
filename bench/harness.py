"""Shared set-up for the benchmark scripts: a database, a fake Slack, a `cibot serve`.

Benchmarks print figures; they assert nothing about speed (targets live in the issue notes).
"""

from __future__ import annotations

import gc
import json
import statistics
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from tests.support import testbed
from tests.support.service import CIBOT, CibotProcess

from cibot.adapters import webhooks
from cibot.fakeslack import Channel, FakeSlackServer, User

SECRET = "bench-webhook-secret"
CHANNEL = "C0BENCH001"
QA = tuple(f"U0QA{i:03d}" for i in range(3))
OWNERS = ("U0OWNER01",)


def quiet_collector() -> None:
    """Put what this process holds so far out of the garbage collector's reach.

    The benchmarks time requests from this process. A full collection walks every object it
    holds (the imports of ci-bot, SQLAlchemy, the tests' support: 50-90 ms here, measured in
    bench.scale), and whichever requests are in flight meanwhile are charged for it as if
    the server had been slow: one such pause in a burst of 20 clicks was the p99. `cibot
    serve` freezes its start-up for the same reason (entrypoints/startup.py).
    """
    gc.collect()
    gc.freeze()


@contextmanager
def database(backend: str, workdir: Path) -> Iterator[str]:
    """A fresh database URL of the given backend, dropped afterwards."""
    if backend == "sqlite":
        yield f"sqlite:///{workdir / 'bench.db'}"
        return
    server = make_url(testbed.postgres_url()).set(drivername="postgresql+psycopg")
    name = f"bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield server.set(drivername="postgresql", database=name).render_as_string(False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def fake_slack(users: tuple[str, ...] = (*QA, *OWNERS)) -> Iterator[FakeSlackServer]:
    people = [User(id=u, name=u.lower()) for u in users]
    channel = Channel(id=CHANNEL, name="bench", members=frozenset(users))
    with FakeSlackServer(users=people, channels=[channel]) as server:
        yield server


def kubectl(*args: str) -> str:
    bin_dir = subprocess.run(
        [str(testbed.ROOT / "scripts/localk8s"), "build"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    done = subprocess.run(
        [f"{bin_dir}/kubectl", "--kubeconfig", str(testbed.kubeconfig()), *args],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout


def config(db_url: str, slack: FakeSlackServer, namespace: str, **jobs: Any) -> dict[str, Any]:
    return {
        "database": {"url": db_url},
        "slack": {"bot_token": "xoxb-fake", "signing_secret": "bench", "api_url": slack.api_url},
        "kubernetes": {"kubeconfig": str(testbed.kubeconfig())},
        "webhooks": {"secret": SECRET},
        "jobs": {"poll_interval_seconds": 0.5, **jobs},
        "retry": {"attempts": 3, "base_seconds": 0.1, "max_seconds": 1},
        "logging": {"level": "info", "format": "json"},
        "projects": [
            {
                "id": "shop",
                "url": "https://shop.example.com",
                "channel": CHANNEL,
                "qa": list(QA),
                "owners": list(OWNERS),
                "namespace": namespace,
                "rollout_timeout": 60,
            }
        ],
    }


@contextmanager
def cibot(cfg: dict[str, Any], executable: str = CIBOT) -> Iterator[CibotProcess]:
    """A started `cibot serve` (`executable`: e.g. one under a profiler, bench/profiled.py)."""
    with tempfile.TemporaryDirectory(prefix="cibot-bench-") as tmp:
        process = CibotProcess(cfg, Path(tmp), executable=executable)
        process.upgrade_db()
        process.start()
        try:
            yield process
        finally:
            process.stop()


@contextmanager
def namespace() -> Iterator[str]:
    name = f"bench-{uuid.uuid4().hex[:6]}"
    kubectl("create", "namespace", name)
    try:
        yield name
    finally:
        kubectl("delete", "namespace", name, "--wait=false")


def log_events(process: CibotProcess, event: str) -> list[dict[str, Any]]:
    found = []
    for line in process.logs().splitlines():
        if line.startswith("{") and f'"{event}"' in line:
            data = json.loads(line)
            if data.get("event") == event:
                found.append(data)
    return found


def signed_build(
    index: int,
    run: str,
    target: str,
    *,
    image: str = "registry.example.test/shop/web",
    numbered: bool = True,
) -> tuple[bytes, dict[str, str]]:
    """A signed JSON notification for build `index` of `target`, with a unique webhook id."""
    number = f',"build_number":{index}' if numbered else ""
    body = (
        f'{{"project":"shop","image":"{image}:{index}",'
        f'"type":"branch","target":"{target}"{number}}}'
    ).encode()
    headers = webhooks.headers(SECRET, body, msg_id=f"msg_{run}_{index}")
    headers["content-type"] = "application/json"
    return body, headers


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))
    return ordered[index]


def summary(values: list[float]) -> str:
    ms = [v * 1000 for v in values]
    return (
        f"n={len(ms)} p50={percentile(ms, 50):.1f}ms p90={percentile(ms, 90):.1f}ms "
        f"p99={percentile(ms, 99):.1f}ms max={max(ms):.1f}ms mean={statistics.fmean(ms):.1f}ms"
    )
