"""Benchmark: click acknowledgement under a slow Kubernetes, and DM fan-out to 105 people.

    uv run python -m bench.review [--backend sqlite] [--delay 2.0]

Part 1: every Kubernetes API call goes through a proxy that holds it for --delay seconds
(bench/slowproxy.py). Once a preview is ready, 20 QA members approve at once, then 20 deploy
clicks from the owners arrive at once; each click's HTTP round trip (signed `block_actions`
to `POST /slack/events`, until Slack would have its 200) is timed. The production deploy
itself runs later, in a job, against the slow API.

Part 2: 100 QA members and 5 owners; the fake Slack adds 50 ms to every call and answers
one `chat.postMessage` with 429 `Retry-After: 1` midway through the DMs. Measured: from the
card update that says "ready" to the last DM delivered; and that each person got one DM.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import yaml
from tests.support import slack_requests as slack_req
from tests.support import testbed
from tests.support.service import CIBOT, CibotProcess
from tests.support.tcpproxy import api_server_address

from bench.harness import (
    CHANNEL,
    cibot,
    config,
    database,
    fake_slack,
    namespace,
    signed_build,
    summary,
)
from bench.slowproxy import slow_proxy
from cibot.fakeslack import FakeSlackServer

LATENCY = 0.05


def slowed_kubeconfig(port: int, workdir: Path) -> Path:
    data = yaml.safe_load(testbed.kubeconfig().read_text())
    for cluster in data["clusters"]:
        cluster["cluster"]["server"] = f"https://127.0.0.1:{port}"
    path = workdir / "slow-kubeconfig.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def people(qa: int, owners: int) -> tuple[list[str], list[str]]:
    return [f"U0QA{i:04d}" for i in range(qa)], [f"U0OW{i:04d}" for i in range(owners)]


@contextmanager
def slow_team(
    backend: str, delay: float, qa: list[str], owners: list[str], executable: str = CIBOT
) -> Iterator[tuple[CibotProcess, FakeSlackServer]]:
    """A real `cibot serve` for one project of `qa` and `owners`, on `backend`, with a fake
    Slack and every Kubernetes call held `delay` seconds (the slow proxy)."""
    api_host, api_port = api_server_address(testbed.kubeconfig())
    with (
        tempfile.TemporaryDirectory() as tmp,
        database(backend, Path(tmp)) as db_url,
        fake_slack((*qa, *owners)) as slack,
        namespace() as ns,
        slow_proxy(api_host, api_port, delay) as port,
    ):
        cfg = config(db_url, slack, ns)
        cfg["kubernetes"]["kubeconfig"] = str(slowed_kubeconfig(port, Path(tmp)))
        cfg["projects"][0].update(qa=qa, owners=owners)
        cfg["slack"]["signing_secret"] = slack_req.SIGNING_SECRET
        with cibot(cfg, executable) as server:
            yield server, slack


async def wait_ready(url: str, slack: FakeSlackServer, everyone: list[str], within: float) -> str:
    body, headers = signed_build(1, "review", "feature/review")
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.post(f"{url}/build-complete", content=body, headers=headers)
    build_id: str = response.json()["build_id"]
    await slack.state.wait_for_async(
        lambda s: all(len(s.dm_messages(u)) == 1 for u in everyone), within=within
    )
    return build_id


async def clicks(
    url: str, slack: FakeSlackServer, users: list[str], action: str, build_id: str
) -> list[float]:
    async with httpx.AsyncClient(timeout=30) as client:

        async def one(user: str) -> float:
            channel = slack.state.dm_channel(user) or ""
            trigger_id = slack_req.issued(slack, user)
            payload = slack_req.block_actions(
                user, action, build_id, channel, trigger_id=trigger_id
            )
            started = time.perf_counter()
            response = await slack_req.post_async(client, url, payload)
            assert response.status_code == 200, response.text
            return time.perf_counter() - started

        return list(await asyncio.gather(*(one(u) for u in users)))


async def part_one(args: argparse.Namespace) -> None:
    qa, owners = people(20, 2)
    with slow_team(args.backend, args.delay, qa, owners) as (server, slack):
        started = time.perf_counter()
        build_id = await wait_ready(server.url, slack, [*qa, *owners], within=300)
        print(f"preview ready through the slow API in {time.perf_counter() - started:.1f} s")
        approvals = await clicks(server.url, slack, qa, "qa_approve", build_id)
        print(f"20 concurrent approvals, ack: {summary(approvals)}")
        deploys = await clicks(
            server.url, slack, [owners[i % 2] for i in range(20)], "deploy_production", build_id
        )
        print(f"20 concurrent deploy clicks, ack: {summary(deploys)}")
        print(f"all 40 clicks, ack: {summary(approvals + deploys)}")


def arm_429_midway(slack: FakeSlackServer, everyone: list[str], stop: threading.Event) -> None:
    """When half the DMs are out, make the next chat.postMessage answer 429 Retry-After: 1."""
    while not stop.is_set():
        if sum(1 for u in everyone if slack.state.dm_channel(u)) >= len(everyone) // 2:
            slack.faults.rate_limit(1, retry_after=1, method="chat.postMessage")
            return
        time.sleep(0.002)


async def part_two(args: argparse.Namespace) -> None:
    qa, owners = people(100, 5)
    everyone = [*qa, *owners]
    with (
        tempfile.TemporaryDirectory() as tmp,
        database(args.backend, Path(tmp)) as db_url,
        fake_slack(tuple(everyone)) as slack,
        namespace() as ns,
    ):
        cfg = config(db_url, slack, ns)
        cfg["projects"][0].update(qa=qa, owners=owners)
        with cibot(cfg) as server:
            slack.faults.set_latency(LATENCY)
            stop = threading.Event()
            armer = threading.Thread(
                target=arm_429_midway, args=(slack, everyone, stop), daemon=True
            )
            armer.start()
            build_id = await wait_ready(server.url, slack, everyone, within=120)
            stop.set()
            ready_at = min(
                c.time
                for c in slack.state.calls("chat.update")
                if "ready" in str(c.args.get("text", "")) and c.args.get("channel") == CHANNEL
            )
            dm_posts = [
                c
                for c in slack.state.calls("chat.postMessage")
                if c.ok and c.args.get("channel") in everyone
            ]
            delivered = max(c.time for c in dm_posts) + LATENCY
            limited = [c for c in slack.state.calls("chat.postMessage") if c.status == 429]
            counts = {u: len(slack.state.dm_messages(u)) for u in everyone}
            print(f"build {build_id}: {len(dm_posts)} DMs posted, 429s answered: {len(limited)}")
            print(f"each person exactly one DM: {set(counts.values()) == {1}}")
            print(
                f"from 'ready' card update to the last DM delivered: {delivered - ready_at:.2f} s"
            )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", default="sqlite")
    parser.add_argument("--delay", type=float, default=2.0)
    parser.add_argument("--part", choices=["1", "2", "both"], default="both")
    args = parser.parse_args()
    if args.part in ("1", "both"):
        asyncio.run(part_one(args))
    if args.part in ("2", "both"):
        asyncio.run(part_two(args))


if __name__ == "__main__":
    main()
