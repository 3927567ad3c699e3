"""Benchmark: ci-bot's own time from webhook to the "ready" card, and its memory after builds.

    uv run python -m bench.ready [--builds 30] [--memory-builds 1000] [--backend sqlite]

Part 1 sends builds one at a time (each for a new branch) to `cibot serve` with its workers,
the local control plane and a fake Slack, and times each from the POST to the fake Slack's
receipt of the card update that says "is ready". The rollout's own time (from the applied
objects to the Deployment being available, as ci-bot's watch saw it; logged by ci-bot as
`rollout.finished`) is subtracted: what is left is ci-bot's own time.

Part 2 sends --memory-builds builds (10 branches, so most supersede one another), waits until
every card is drawn, and reads the server's resident memory (VmRSS) from /proc.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import httpx
from tests.support.service import CibotProcess

from bench.harness import (
    CHANNEL,
    cibot,
    config,
    database,
    fake_slack,
    log_events,
    namespace,
    signed_build,
    summary,
)
from cibot.fakeslack import FakeSlackServer

READY = "is ready"


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def ready_update_time(slack: FakeSlackServer, build_id: str) -> float | None:
    for call in slack.state.calls("chat.update"):
        blocks = str(call.args.get("blocks", ""))
        if call.ok and READY in blocks and build_id in blocks:
            return call.time
    return None


async def part_one(url: str, slack: FakeSlackServer, builds: int, process: CibotProcess) -> None:
    totals: dict[str, float] = {}
    async with httpx.AsyncClient(timeout=30) as client:
        for i in range(builds):
            body, headers = signed_build(i, "ready", f"feature/ready-{i}")
            sent = time.time()
            response = await client.post(f"{url}/build-complete", content=body, headers=headers)
            build_id = response.json()["build_id"]
            deadline = time.monotonic() + 60
            while (
                at := ready_update_time(slack, build_id)
            ) is None and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            if at is not None:
                totals[build_id] = at - sent
    rollouts = [e["seconds"] for e in log_events(process, "rollout.finished") if e.get("ready")]
    total = sorted(totals.values())
    own = [t - r for t, r in zip(totals.values(), rollouts, strict=False)]
    print(f"webhook -> ready card, total:      {summary(total)}")
    print(f"rollout's own time (watch):        {summary(rollouts)}")
    print(f"ci-bot's own time (total-rollout): {summary(own)}")


async def part_two(url: str, slack: FakeSlackServer, builds: int, pid: int) -> None:
    print(f"RSS before: {rss_mb(pid):.1f} MB")
    limits = httpx.Limits(max_connections=16)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        sem = asyncio.Semaphore(16)

        async def one(i: int) -> None:
            body, headers = signed_build(i, "memory", f"feature/memory-{i % 10}", numbered=False)
            async with sem:
                await client.post(f"{url}/build-complete", content=body, headers=headers)

        await asyncio.gather(*(one(i) for i in range(builds)))
    print(f"RSS after accepting {builds} builds: {rss_mb(pid):.1f} MB")
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        cards = slack.state.messages(CHANNEL)
        settled = [m for m in cards if "deploying" not in m.visible_text]
        if len(cards) >= builds and len(settled) == len(cards):
            break
        await asyncio.sleep(1)
    print(f"cards drawn: {len(slack.state.messages(CHANNEL))}")
    print(f"RSS after {builds} builds processed: {rss_mb(pid):.1f} MB")


async def run(args: argparse.Namespace) -> None:
    with (
        tempfile.TemporaryDirectory() as tmp,
        database(args.backend, Path(tmp)) as db_url,
        fake_slack() as slack,
        namespace() as ns,
    ):
        with cibot(config(db_url, slack, ns)) as server:
            await part_one(server.url, slack, args.builds, server)
        slack.state.reset()
    with (
        tempfile.TemporaryDirectory() as tmp,
        database(args.backend, Path(tmp)) as db_url,
        fake_slack() as slack,
        namespace() as ns,
        cibot(config(db_url, slack, ns)) as server,
    ):
        assert server.proc is not None
        await part_two(server.url, slack, args.memory_builds, server.proc.pid)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--builds", type=int, default=30)
    parser.add_argument("--memory-builds", type=int, default=1000)
    parser.add_argument("--backend", default="sqlite")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
