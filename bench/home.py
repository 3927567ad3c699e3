"""Benchmark: the Home tabs of 100 QA members and 5 owners, on Slack's rate-limit tiers.

    uv run python -m bench.home [--backend sqlite|postgresql] [--qa 100] [--owners 5]

The fake Slack keeps Slack's default tiers (views.publish: Tier 4, 100 a minute past a burst
of 100) and adds 50 ms to every call. A real `cibot serve` runs against it and the local
cluster.

1. Everyone opens their Home tab (a signed `app_home_opened` each, all at once): from the
   first event to the last Home tab published.
2. A build is reported: from the request to the last Home tab showing it, then to the last
   one offering its review (the preview rolled out meanwhile: that wait is Kubernetes').

Each is printed beside the least time the tier allows for that many publishes (the burst the
bucket holds, then one per interval, plus one call's latency), with the views.publish calls
made per person (one change may publish twice: the build arriving, then its preview ready),
the 429s Slack answered and the jobs dead.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx
from tests.support import slack_requests as slack_req
from tests.support.rows import Rows

from bench.harness import cibot, config, database, fake_slack, namespace, signed_build
from bench.tiers import LATENCY, quiet
from cibot.fakeslack import Workspace

TIER_4_PER_MINUTE = 100.0


def least(count: int, level: float) -> float:
    """The least time `count` publishes take when the bucket holds `level` calls now."""
    return max(0.0, count - level) * 60.0 / TIER_4_PER_MINUTE + LATENCY


def publishes(ws: Workspace, since: float) -> list[float]:
    return [c.time for c in ws.calls("views.publish") if c.ok and c.time >= since]


def report(name: str, took: float, least_seconds: float) -> None:
    ratio = took / least_seconds
    print(f"{name}: {took:.2f} s; least the tier allows {least_seconds:.2f} s; ratio {ratio:.2f}")


def shows(ws: Workspace, user: str, words: str) -> bool:
    view = ws.home_view(user)
    return view is not None and words in view.visible_text


def offers_review(ws: Workspace, user: str, build_id: str) -> bool:
    view = ws.home_view(user)
    return view is not None and any(b.value == build_id for b in view.buttons)


async def run(args: argparse.Namespace) -> None:
    qa = [f"U0QA{i:04d}" for i in range(args.qa)]
    owners = [f"U0OW{i:04d}" for i in range(args.owners)]
    everyone = [*qa, *owners]
    with (
        tempfile.TemporaryDirectory() as tmp,
        database(args.backend, Path(tmp)) as db_url,
        fake_slack(tuple(everyone)) as slack,  # Slack's tiers, nothing relaxed
        namespace() as ns,
    ):
        ws = slack.state
        cfg = config(db_url, slack, ns, poll_interval_seconds=0.2)
        cfg["projects"][0].update(qa=qa, owners=owners, rollout_timeout=120)
        cfg["slack"]["signing_secret"] = slack_req.SIGNING_SECRET
        rows = Rows(db_url)
        with cibot(cfg) as server:
            slack.faults.set_latency(LATENCY)
            print(f"{len(qa)} QA, {len(owners)} owners; {LATENCY * 1000:.0f} ms per Slack call")

            # 1. Everyone opens their Home tab at once.
            level = ws.limits.level("views.publish")
            started = time.time()
            async with httpx.AsyncClient(timeout=60) as client:
                answers = await asyncio.gather(*(_open(client, server.url, u) for u in everyone))
            assert all(a == 200 for a in answers), Counter(answers)
            await ws.wait_for_async(
                lambda s: all(s.home_view(u) is not None for u in everyone), within=600
            )
            opened = publishes(ws, started)
            report("events to the last Home tab", max(opened) + LATENCY - started, least(
                len(everyone), level
            ))  # fmt: skip
            await quiet(ws, rows)

            # 2. A build arrives; then its preview is ready.
            level = ws.limits.level("views.publish")
            body, headers = signed_build(1, "home", "feature/home")
            async with httpx.AsyncClient(timeout=30) as client:
                reported = time.time()
                answer = await client.post(
                    f"{server.url}/build-complete", content=body, headers=headers
                )
            build_id = str(answer.json()["build_id"])
            await ws.wait_for_async(
                lambda s: all(shows(s, u, "feature/home") for u in everyone), within=600
            )
            shown = time.time()
            report("build reported to the last Home tab showing it", shown - reported, least(
                len(everyone), level
            ))  # fmt: skip
            await ws.wait_for_async(
                lambda s: all(offers_review(s, u, build_id) for u in everyone), within=900
            )
            print(f"  to the last one offering its review: {time.time() - reported:.2f} s")
            await quiet(ws, rows)
            per_person = Counter(
                str(c.args.get("user_id")) for c in ws.calls("views.publish") if c.time >= reported
            )
            print(
                f"  views.publish per person since the build: {dict(Counter(per_person.values()))}"
            )

            limited = [c for c in ws.calls() if c.status == 429]
            dead = rows.all("SELECT kind, last_error FROM jobs WHERE state = 'dead'")
            print(f"429s received: {len(limited)} {dict(Counter(c.method for c in limited))}")
            print(f"jobs dead: {len(dead)} {[d['kind'] for d in dead] or ''}")
        rows.engine.dispose()


async def _open(client: httpx.AsyncClient, url: str, user: str) -> int:
    """A signed `app_home_opened` for `user`, as Slack posts it; the status answered."""
    body = json.dumps(slack_req.app_home_opened(user))
    headers = {**slack_req.signed_headers(body), "content-type": "application/json"}
    response = await client.post(f"{url}/slack/events", content=body, headers=headers)
    return response.status_code


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", default="sqlite", choices=["sqlite", "postgresql"])
    parser.add_argument("--qa", type=int, default=100)
    parser.add_argument("--owners", type=int, default=5)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
