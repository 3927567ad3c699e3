"""What the real `cibot serve` leaves out of its start (bench/coldstart.py times it)."""

from __future__ import annotations

import re
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
