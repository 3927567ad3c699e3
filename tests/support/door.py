"""A `cibot serve` for tests of the front door alone: requests, signatures, answers.

Such tests never reach Kubernetes, so the server gets a kubeconfig that names an address
nobody listens on, and needs no cluster to start. The fake Slack and SQLite are real.
Also the flood of unsigned bodies and the timed clicks that T19 and `bench.flood` share.
"""

from __future__ import annotations

import asyncio
import base64
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.support import slack_requests

CHANNEL, QA, OWNERS = "C0DOOR0001", ("U0DOORQA1",), ("U0DOOROWN1",)


def unreachable_kubeconfig(workdir: Path) -> Path:
    """A kubeconfig for an API server that is not there (port 9 on loopback: discard)."""
    path = workdir / "unreachable-kubeconfig.yaml"
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "none", "cluster": {"server": "https://127.0.0.1:9"}}],
        "users": [{"name": "none", "user": {"token": "unused"}}],
        "contexts": [{"name": "none", "context": {"cluster": "none", "user": "none"}}],
        "current-context": "none",
    }
    path.write_text(yaml.safe_dump(config))
    return path


def project(project_id: str, **keys: Any) -> dict[str, Any]:
    return {
        "id": project_id,
        "url": f"https://{project_id}.example.com",
        "channel": CHANNEL,
        "qa": list(QA),
        "owners": list(OWNERS),
        **keys,
    }


def door_config(
    workdir: Path, slack_api_url: str, *projects: dict[str, Any], **sections: Any
) -> dict[str, Any]:
    """The config of a door-only server on SQLite; `sections` replace whole sections."""
    return {
        "database": {"url": f"sqlite+aiosqlite:///{workdir / 'door.db'}"},
        "slack": {
            "bot_token": "xoxb-fake",
            "signing_secret": slack_requests.SIGNING_SECRET,
            "api_url": slack_api_url,
        },
        "kubernetes": {"kubeconfig": str(unreachable_kubeconfig(workdir))},
        "jobs": {"poll_interval_seconds": 0.2},
        "retry": {"attempts": 1, "base_seconds": 0, "max_seconds": 0},
        "logging": {"level": "warning", "format": "json"},
        "projects": list(projects) or [project("shop")],
        **sections,
    }


MIB = 1024 * 1024
EMPTY_FIELDS = b"=&" * (MIB // 2)  # the costliest form to parse: half a million empty pairs


def status_kib(pid: int, field: str) -> int:
    """A process's VmRSS or VmHWM (its peak RSS), in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def forged_webhook_headers() -> dict[str, str]:
    """Headers that look right (a fresh timestamp, a well-formed v1 signature) but are not."""
    return {
        "webhook-id": f"msg_{time.time_ns()}",
        "webhook-timestamp": str(int(time.time())),
        "webhook-signature": "v1," + base64.b64encode(b"\0" * 32).decode(),
        "content-type": "application/x-www-form-urlencoded",
    }


async def flood(url: str, body: bytes, stop: asyncio.Event, answers: list[int]) -> None:
    """Send `body`, unsigned, to each signed route in turn until `stop`; collect the codes."""
    paths = ("/build-complete", "/branch-deleted", "/slack/events")
    async with httpx.AsyncClient(timeout=60) as client:
        sent = 0
        while not stop.is_set():
            path = paths[sent % len(paths)]
            headers = forged_webhook_headers()
            if path == "/slack/events":
                headers = {**slack_requests.signed_headers("another body"), **headers}
            response = await client.post(f"{url}{path}", content=body, headers=headers)
            answers.append(response.status_code)
            sent += 1


async def click_acks(url: str, channel: str, count: int, pause: float = 0.05) -> list[float]:
    """Each click's round trip, until Slack would have its 200: a signed Approve of a build
    that does not exist (verified, parsed, looked up in the database, answered)."""
    took = []
    async with httpx.AsyncClient(timeout=60) as client:
        for _ in range(count):
            payload = slack_requests.block_actions(QA[0], "qa_approve", "no-such-build", channel)
            started = time.perf_counter()
            response = await slack_requests.post_async(client, url, payload)
            took.append(time.perf_counter() - started)
            assert response.status_code == 200, response.text
            await asyncio.sleep(pause)
    return took
