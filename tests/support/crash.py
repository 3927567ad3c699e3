"""Crash tests: a `cibot serve` that dies at a named point, and its restart on the same database.

`CIBOT_CRASH_AT=<point>` (src/cibot/crashpoints.py) makes the process `os._exit(137)` at that
point, like `kill -9`: no graceful stop, its running jobs keep their leases. The restarted
process takes them over once the lease expires, so these tests use a short lease.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import httpx

from cibot.adapters.store import migrate
from cibot.crashpoints import EXIT_CODE
from tests.support.service import CibotProcess

LEASE_SECONDS = 2


def with_short_leases(config: dict[str, Any]) -> dict[str, Any]:
    config = copy.deepcopy(config)
    config.setdefault("jobs", {})["lease_seconds"] = LEASE_SECONDS
    return config


async def armed(config: dict[str, Any], workdir: Path, point: str) -> CibotProcess:
    """A started process that will die at `point` (the database migrated in-process: quicker)."""
    await migrate.upgrade_async(config["database"]["url"])
    return CibotProcess(config, workdir).start(env={"CIBOT_CRASH_AT": point})


def died_at_its_point(process: CibotProcess) -> None:
    code = process.wait_for_death()
    assert code == EXIT_CODE, f"exit {code}, not the crash point's:\n{process.logs()[-3000:]}"


def restarted(config: dict[str, Any], workdir: Path) -> CibotProcess:
    """A new, unarmed process on the same configuration and database."""
    return CibotProcess(config, workdir).start()


def no_answer(call: Any) -> bool:
    """True when the request got no HTTP answer at all (the process died under it)."""
    try:
        call()
    except httpx.TransportError:
        return True
    return False
