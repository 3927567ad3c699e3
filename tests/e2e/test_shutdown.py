"""SIGTERM drains the real `cibot serve`: nothing new is claimed from the signal on, and a job
still running when `jobs.drain_seconds` are up is handed back, all within a pod's grace period.
Its log is JSON throughout, and the deploy job's lines name the build and its project.

A preview of an image that never becomes ready keeps its deploy job waiting (rollout timeout
120 s). A client holds an HTTP request open, so the HTTP side drains for uvicorn's 10 s; a job
that falls due meanwhile must stay in the queue for another replica, not be started by a
process on its way out.
"""

from __future__ import annotations

import json
import signal
import socket
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from cibot.fakeslack import FakeSlackServer
from cibot.service import jobs
from cibot.service.jobs import NotifyUser
from tests.support.flow import card_saying, report_build
from tests.support.rows import Rows
from tests.support.service import CibotProcess
from tests.support.shop import CHANNEL, SECRET, service_config

pytestmark = pytest.mark.kubernetes

GRACE_PERIOD = 30  # a pod's terminationGracePeriodSeconds, by default


def slow_request(port: int) -> socket.socket:
    """A request whose body never finishes arriving: the HTTP side has something to drain."""
    client = socket.create_connection(("127.0.0.1", port))
    client.sendall(
        b"POST /build-complete HTTP/1.1\r\nHost: cibot\r\ncontent-type: application/json\r\n"
        b"content-length: 1000\r\n\r\n{"
    )
    return client


def due_soon(rows: Rows, seconds: float) -> int:
    """A job committed by another replica, due in `seconds`: its id."""
    kind, payload = jobs.encode(NotifyUser(CHANNEL, "U0OWNER1", "hello"))
    now = datetime.now(UTC)
    with rows.engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO jobs (kind, payload, state, run_at, attempts, created_at, updated_at)"
            " VALUES (?, ?, 'pending', ?, 0, ?, ?)",
            (kind, payload, (now + timedelta(seconds=seconds)).isoformat(" "), now, now),
        )
    return int(rows.all("SELECT max(id) AS id FROM jobs")[0]["id"])


async def test_sigterm_claims_nothing_more_and_hands_the_running_job_back_within_the_grace_period(
    sqlite_url: str,
    kubeconfig_path: Path,
    fake_slack: FakeSlackServer,
    namespace: str,
    tmp_path: Path,
) -> None:
    config: dict[str, Any] = service_config(
        sqlite_url, kubeconfig_path, fake_slack.api_url, namespace
    )
    config["jobs"]["drain_seconds"] = 2
    config["projects"][0]["rollout_timeout"] = 120
    process = CibotProcess(config, tmp_path)
    process.upgrade_db()
    process.start()
    rows = Rows(sqlite_url)
    try:
        build = report_build(process.url, SECRET, project="shop", image="unpullable.invalid/shop:1",
                     type="branch", target="main").json()["build_id"]  # fmt: skip
        await card_saying(fake_slack, CHANNEL, build, "deploying", within=30)
        [deploy] = rows.jobs_of("deploy_preview", build)
        assert deploy["state"] == "running"
        held = slow_request(process.port)
        later = due_soon(rows, seconds=1.0)

        assert process.proc is not None
        signalled = time.monotonic()
        process.proc.send_signal(signal.SIGTERM)
        process.proc.wait(timeout=GRACE_PERIOD + 10)
        took = time.monotonic() - signalled
        held.close()

        assert took < GRACE_PERIOD, f"exited {took:.1f} s after SIGTERM"
        [handed_back] = rows.jobs_of("deploy_preview", build)
        assert handed_back["state"] == "pending" and handed_back["lease_owner"] is None
        assert handed_back["last_error"] == "interrupted: ci-bot stopped"
        [untouched] = rows.all("SELECT state, attempts FROM jobs WHERE id = :id", id=later)
        assert (untouched["state"], untouched["attempts"]) == ("pending", 0), "never claimed"
        lines = [json.loads(line) for line in process.logs().splitlines() if line]  # all JSON
        assert {"jobs.draining", "job.released"} <= {line["event"] for line in lines}
        of_the_deploy = [line for line in lines if line.get("job_id") == deploy["id"]]
        assert of_the_deploy, "the deploy job's work was logged"
        assert all(
            (line.get("build_id"), line.get("project")) == (build, "shop") for line in of_the_deploy
        )
    finally:
        process.kill()
        rows.dispose()
