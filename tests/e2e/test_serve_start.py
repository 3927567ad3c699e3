"""What the real `cibot serve` leaves out of its start, and what it turns back on before
serving (bench/coldstart.py times the start; entrypoints/startup.py says why the collector
is paused meanwhile)."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cibot.fakeslack import FakeSlackServer
from tests.support.service import CibotProcess
from tests.support.shop import service_config

pytestmark = pytest.mark.kubernetes


@pytest.fixture
def process(
    sqlite_url: str, kubeconfig_path: Path, fake_slack: FakeSlackServer, tmp_path: Path
) -> Iterator[CibotProcess]:
    """`cibot serve` over HTTP (the default `slack.mode`), migrated, not yet started."""
    config = service_config(sqlite_url, kubeconfig_path, fake_slack.api_url, "e2e-unused")
    process = CibotProcess(config, tmp_path)
    process.upgrade_db()
    yield process
    process.stop()


def collections(url: str) -> float:
    """How many times the collector has run, all generations, from /metrics."""
    metrics = httpx.get(f"{url}/metrics", timeout=10).text
    found = re.findall(r'^python_gc_collections_total\{generation="\d"\} (\S+)$', metrics, re.M)
    assert len(found) == 3, "the collector's figures are in /metrics"
    return sum(float(count) for count in found)


async def test_a_started_serve_collects_garbage_again(process: CibotProcess) -> None:
    """The collector, paused while the service is imported and built, runs again once it
    serves. It runs when live objects outnumber those at its last run by 700: requests
    answered one at a time free nearly all they made, fifty at once do not."""
    process.start()
    before = collections(process.url)

    deadline = time.monotonic() + 30
    limits = httpx.Limits(max_connections=50)
    async with httpx.AsyncClient(base_url=process.url, timeout=10, limits=limits) as client:
        while collections(process.url) == before:
            assert time.monotonic() < deadline, "no collection in 30 s of requests"
            answers = await asyncio.gather(*(client.get("/healthz") for _ in range(50)))
            assert {answer.status_code for answer in answers} == {200}


IMPORTED = re.compile(r"^import time:.*\| +(\S+)$", re.MULTILINE)


def test_serve_over_http_loads_neither_socket_mode_nor_websockets_nor_the_fake_slack(
    process: CibotProcess,
) -> None:
    """Over HTTP with a Slack configured, Socket Mode's clients, uvicorn's WebSocket protocols
    (ci-bot has no WebSocket route) and the local fake Slack are not imported."""
    process.start(env={"PYTHONPROFILEIMPORTTIME": "1"})
    assert httpx.get(f"{process.url}/healthz", timeout=10).status_code == 200
    process.stop()

    imported = set(IMPORTED.findall(process.logs()))
    assert "cibot.entrypoints.process" in imported, "the import log was read"
    socket_mode = ("cibot.entrypoints.socket_mode", "slack_bolt.adapter.socket_mode")
    websockets = ("uvicorn.protocols.websockets", "websockets")
    unwanted = (*socket_mode, "slack_sdk.socket_mode", *websockets, "cibot.fakeslack")
    loaded = sorted(m for m in imported for u in unwanted if m == u or m.startswith(f"{u}."))
    assert loaded == []
