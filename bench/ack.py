"""Benchmark: a click's acknowledgement, verified and committed, against a bare 200.

    uv run python -m bench.ack [--backend sqlite] [--delay 2.0] [--rounds 3]

Every Kubernetes API call goes through a proxy that holds it for --delay seconds
(bench/slowproxy.py). Two builds' previews come up through it; then, in one run and
alternately, the same `cibot serve` is timed answering:
  * QA approve clicks (signed `block_actions` to `POST /slack/events`: signature checked,
    verdict and audit row committed, jobs queued) — one at a time, and 20 at once;
  * `GET /healthz` — a bare 200 that checks and stores nothing: the floor of the same
    server, HTTP client and machine — one at a time, and 20 at once.
It prints p50 and p99 of each and the ratio click/floor (goal: within 2x). Then the same
server, restarted on the same database with its workers off, is timed once more one at a
time: a click's own cost, without the redraws the clicks before it queued running beside it.

    uv run python -m bench.ack --profile [--clicks 80] [--gap 0.3]

--profile: where the server's time for one click goes instead. `cibot serve` runs under
cProfile (bench/profiled.py); --clicks approvals are sent one at a time, --gap seconds apart
so that the redraws each one queues are done before the next; the profile is summarised per
click: the Slack route, Bolt's dispatch, the click's use case and its parts (the transaction
and each step in it).
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import pstats
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
from tests.support import slack_requests as slack_req
from tests.support.service import CibotProcess

from bench.harness import (
    cibot,
    percentile,
    quiet_collector,
    signed_build,
)
from bench.profiled import callees, collect, cumulative, find, profiled_cibot, where
from bench.review import people, slow_team
from cibot.fakeslack import FakeSlackServer

Timed = Callable[[httpx.AsyncClient, int], Awaitable[float]]


def approve(url: str, slack: FakeSlackServer, qa: list[str], build_id: str) -> Timed:
    """The i-th QA member's approve click on `build_id`, timed."""

    async def one(client: httpx.AsyncClient, i: int) -> float:
        user = qa[i]
        channel = slack.state.dm_channel(user) or ""
        trigger_id = slack_req.issued(slack, user)
        payload = slack_req.block_actions(
            user, "qa_approve", build_id, channel, trigger_id=trigger_id
        )
        started = time.perf_counter()
        response = await slack_req.post_async(client, url, payload)
        assert response.status_code == 200, response.text
        return time.perf_counter() - started

    return one


def bare(url: str) -> Timed:
    async def one(client: httpx.AsyncClient, _i: int) -> float:
        started = time.perf_counter()
        response = await client.get(f"{url}/healthz")
        assert response.status_code == 200
        return time.perf_counter() - started

    return one


async def one_at_a_time(client: httpx.AsyncClient, timed: Timed, count: int) -> list[float]:
    return [await timed(client, i) for i in range(count)]


async def at_once(client: httpx.AsyncClient, timed: Timed, count: int) -> list[float]:
    return list(await asyncio.gather(*(timed(client, i) for i in range(count))))


async def ready_builds(url: str, slack: FakeSlackServer, qa: list[str], count: int) -> list[str]:
    """`count` builds of as many branches, once every QA member has a DM about each."""
    builds = []
    async with httpx.AsyncClient(timeout=30) as client:
        for i in range(count):
            body, headers = signed_build(i + 1, "ack", f"feature/ack-{i}")
            response = await client.post(f"{url}/build-complete", content=body, headers=headers)
            builds.append(response.json()["build_id"])
    await slack.state.wait_for_async(
        lambda s: all(len(s.dm_messages(u)) >= count for u in qa), within=600
    )
    return builds


def line(name: str, values: list[float]) -> str:
    p50, p99 = percentile(values, 50) * 1e3, percentile(values, 99) * 1e3
    return f"{name:36s} p50 {p50:7.2f} ms  p99 {p99:7.2f} ms"


async def run(args: argparse.Namespace) -> None:
    qa, owners = people(20, 1)
    with slow_team(args.backend, args.delay, qa, owners) as (server, slack):
        builds = await ready_builds(server.url, slack, qa, 2 * args.rounds + 1)
        print(f"{len(builds)} previews ready through a Kubernetes API held {args.delay} s a call")
        got: dict[str, list[float]] = {}
        async with httpx.AsyncClient(timeout=30) as client:
            await at_once(client, bare(server.url), 20)  # warm
            for r in range(args.rounds):
                first, second = (approve(server.url, slack, qa, b) for b in builds[2 * r :][:2])
                for name, shape, timed in (
                    ("click, one at a time", one_at_a_time, first),
                    ("bare 200, one at a time", one_at_a_time, bare(server.url)),
                    ("click, 20 at once", at_once, second),
                    ("bare 200, 20 at once", at_once, bare(server.url)),
                ):
                    got.setdefault(name, []).extend(await shape(client, timed, 20))
        server.stop()
        got |= await without_jobs(server, slack, qa, builds[-1])
    for name, values in got.items():
        print(line(name, values))
    for how in ("one at a time", "20 at once", QUIET):
        click, floor = got[f"click, {how}"], got[f"bare 200, {how}"]
        p50 = percentile(click, 50) / percentile(floor, 50)
        p99 = percentile(click, 99) / percentile(floor, 99)
        print(f"ratio click/bare 200, {how}: p50 {p50:.2f}x, p99 {p99:.2f}x")


QUIET = "one at a time, workers off"


async def without_jobs(
    stopped: CibotProcess, slack: FakeSlackServer, qa: list[str], build_id: str
) -> dict[str, list[float]]:
    """A click's own cost: the same server on the same database, restarted with its workers
    off, so that nothing runs beside a click (one at a time, each click queues redraws of
    its DMs and card, which run while the next is answered), against its bare 200."""
    quiet = copy.deepcopy(stopped.config)
    quiet["jobs"]["workers"] = 0
    with cibot(quiet) as server:
        async with httpx.AsyncClient(timeout=30) as client:
            await at_once(client, bare(server.url), 20)  # warm
            clicks = await one_at_a_time(client, approve(server.url, slack, qa, build_id), 20)
            floor = await one_at_a_time(client, bare(server.url), 20)
    return {f"click, {QUIET}": clicks, f"bare 200, {QUIET}": floor}


async def profile(args: argparse.Namespace) -> None:
    qa, owners = people(20, 1)
    rounds = -(-args.clicks // len(qa))
    with tempfile.TemporaryDirectory() as tmp:
        profiled = profiled_cibot(Path(tmp))
        with slow_team(args.backend, args.delay, qa, owners, profiled.executable) as team:
            server, slack = team
            builds = await ready_builds(server.url, slack, qa, rounds)
            latencies = []
            async with httpx.AsyncClient(timeout=30) as client:
                for i in range(args.clicks):
                    await asyncio.sleep(args.gap)
                    timed = approve(server.url, slack, qa, builds[i // len(qa)])
                    latencies.append(await timed(client, i % len(qa)))
            stats = await collect(server, profiled)
    print(line(f"{args.clicks} clicks, profiled", latencies))
    report_profile(stats, args.clicks)


def report_profile(stats: pstats.Stats, clicks: int) -> None:
    """Each layer of a click, outermost first, then the parts of the use case."""
    per = clicks / 1e3  # seconds in all -> ms per click
    print("server time per click (profiled, cumulative):")
    for file, name, what in (
        ("cibot/entrypoints/web/slack.py", "__call__", "the Slack route (signature, Bolt)"),
        ("slack_bolt/app/async_app.py", "async_dispatch", "Bolt's dispatch to the listener"),
        ("cibot/service/review.py", "click", "the click's use case (one transaction)"),
    ):
        spent = cumulative(stats, find(stats, file, name))
        print(f"  {spent / per:7.3f} ms  {what}")
    print("the use case's parts (enter and exit of the transaction: begin; flush, commit):")
    click = find(stats, "cibot/service/review.py", "click")
    for function, spent in callees(stats, click):
        if spent / per >= 0.01:
            print(f"  {spent / per:7.3f} ms  {where(function)}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", default="sqlite")
    parser.add_argument("--delay", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="profile clicks instead")
    parser.add_argument("--clicks", type=int, default=80, help="--profile: clicks to send")
    parser.add_argument("--gap", type=float, default=0.3, help="--profile: seconds between")
    args = parser.parse_args()
    quiet_collector()
    asyncio.run(profile(args) if args.profile else run(args))


if __name__ == "__main__":
    main()
