"""End-to-end fixtures: `launch`, to start `cibot serve` (once, again or twice) in a test.

The fake Slack, the namespace and the one-server `cibot` fixture are in tests/conftest.py (the
trust suite uses them too); the project's people and `cibot.yaml` are in tests/support/shop.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.service import CibotProcess
from tests.support.shop import Launch


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
