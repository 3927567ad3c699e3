"""Benchmark: a team of 100 QA and 5 owners on Slack's rate-limit tiers.

    uv run python -m bench.tiers [--backend sqlite|postgresql] [--qa 100] [--owners 5]

The fake Slack keeps Slack's default tiers (cibot/fakeslack/limits.py: nothing relaxed) and
adds 50 ms to every call. A real `cibot serve` runs against it and the local cluster.

1. A build is reported; from the channel card saying "ready" to the last DM delivered.
2. One QA member approves (the quorum), the service settles; then an owner clicks
   "Deploy to production": from the click to the last DM redrawn.

Each is printed beside the least time Slack's tiers allow for the same calls, and their ratio.
That least time is what the calls cost if every one went the moment its method's bucket
allowed (each bucket read from the fake just before; chat.postMessage per channel), all at
once, plus one call's latency; waiting on Kubernetes (the production rollout) is not Slack's
and is printed apart. The deploy's figure is also set beside the least time for one redraw of
each DM: the click redraws everyone ("being deployed"), and so does the deploy's outcome;
the first leaves what it has not begun to the second, but what it drew before counts. Also
printed: the 429s Slack answered, the jobs dead, and each person's DMs (lost: none, doubled:
more than one) and the owners' thread replies.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx
from tests.support import slack_requests as slack_req
from tests.support.rows import Rows

from bench.harness import CHANNEL, cibot, config, database, fake_slack, namespace, signed_build
from cibot.fakeslack import ApiCall, FakeSlackServer, Workspace
from cibot.fakeslack.limits import PER_CHANNEL

LATENCY = 0.05  # seconds the fake adds to every call


def least_seconds(
    ws: Workspace, calls: list[ApiCall], levels: dict[tuple[str, str], float]
) -> float:
    """The least time `calls` take within the tiers: each bucket spends the tokens it holds
    (`levels`, read before), then one call per interval; every call takes LATENCY."""
    per_bucket = Counter(_bucket(ws, c) for c in calls)
    longest = 0.0
    for (method, channel), count in per_bucket.items():
        limit = ws.limits.limit_of(method)
        if limit is None:
            continue
        level = levels.get((method, channel), limit.burst)
        longest = max(longest, max(0.0, count - level) * 60.0 / limit.per_minute)
    return longest + LATENCY


def _bucket(ws: Workspace, call: ApiCall) -> tuple[str, str]:
    channel = str(call.args.get("channel") or "")
    if call.method in PER_CHANNEL:
        return call.method, ws.conversation_key(channel)
    return call.method, ""


def levels_now(ws: Workspace, everyone: list[str]) -> dict[tuple[str, str], float]:
    """The tokens each bucket the next calls may use holds now."""
    found = {("chat.update", ""): ws.limits.level("chat.update")}
    for user in everyone:
        key = ws.conversation_key(user)
        found["chat.postMessage", key] = ws.limits.level("chat.postMessage", key)
    return found


def dm_calls(ws: Workspace, method: str, everyone: list[str], since: float) -> list[ApiCall]:
    dms = {ws.dm_channel(u) for u in everyone} | set(everyone)
    return [
        c
        for c in ws.calls(method)
        if c.ok and c.time >= since and c.args.get("channel") in dms and not c.args.get("thread_ts")
    ]


async def quiet(ws: Workspace, rows: Rows, seconds: float = 3.0, within: float = 600) -> None:
    """Wait until no job is due and no Slack call came for `seconds`."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        await rows.idle(within=within)
        last = max((c.time for c in ws.calls()), default=0.0)
        if time.time() - last >= seconds and rows.busy_jobs() == 0:
            return
        await asyncio.sleep(0.5)
    raise TimeoutError("the service did not settle")


async def click(url: str, slack: FakeSlackServer, user: str, action: str, build_id: str) -> float:
    """A signed click from `user`'s DM, with a trigger id the fake issued; when it was sent."""
    channel = slack.state.dm_channel(user) or ""
    trigger_id = slack_req.issued(slack, user)
    payload = slack_req.block_actions(user, action, build_id, channel, trigger_id=trigger_id)
    async with httpx.AsyncClient(timeout=30) as client:
        at = time.time()
        response = await slack_req.post_async(client, url, payload)
    assert response.status_code == 200, response.text
    return at


def report(name: str, took: float, least: float) -> None:
    print(f"{name}: {took:.2f} s; least the tiers allow {least:.2f} s; ratio {took / least:.2f}")


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

            # 1. From "ready" to the last DM.
            levels = levels_now(ws, everyone)
            body, headers = signed_build(1, "tiers", "feature/tiers")
            async with httpx.AsyncClient(timeout=30) as client:
                answer = await client.post(
                    f"{server.url}/build-complete", content=body, headers=headers
                )
            build_id = str(answer.json()["build_id"])
            await ws.wait_for_async(
                lambda s: all(len(s.dm_messages(u)) == 1 for u in everyone), within=600
            )
            ready_at = min(  # the card's first post may say ready already, or an update does
                c.time
                for c in ws.calls()
                if c.ok and c.args.get("channel") == CHANNEL and "ready" in str(c.args.get("text"))
            )
            posts = dm_calls(ws, "chat.postMessage", everyone, ready_at)
            last_dm = max(c.time for c in posts) + LATENCY
            report("'ready' to the last DM", last_dm - ready_at, least_seconds(ws, posts, levels))
            await quiet(ws, rows)

            # 2. One approval (the quorum), then from a deploy click to the last DM redrawn.
            await click(server.url, slack, qa[0], "qa_approve", build_id)
            await ws.wait_for_async(
                lambda s: all(sum(len(m.replies) for m in s.dm_messages(o)) == 1 for o in owners),
                within=600,
            )
            await quiet(ws, rows)
            levels = levels_now(ws, everyone)
            clicked = await click(server.url, slack, owners[0], "deploy_production", build_id)
            await ws.wait_for_async(lambda s: all(_deployed(s, u) for u in everyone), within=900)
            await quiet(ws, rows)
            redraws = dm_calls(ws, "chat.update", everyone, clicked)
            last_redraw = max(c.time for c in redraws) + LATENCY
            deployed = _deployed_at(ws, clicked)
            least = least_seconds(ws, redraws, levels)
            report("deploy click to the last DM redrawn", last_redraw - clicked, least)
            once = list({c.args.get("channel"): c for c in redraws}.values())  # one per DM
            print(
                f"  {len(redraws)} chat.update calls into {len(everyone)} DMs since the click; "
                f"the first DM said deployed {deployed - clicked:.2f} s after the click"
            )
            print(
                f"  least for one redraw of each DM: {least_seconds(ws, once, levels):.2f} s "
                f"(ratio {(last_redraw - clicked) / least_seconds(ws, once, levels):.2f})"
            )

            tally(ws, rows, everyone, owners)
        rows.engine.dispose()


def tally(ws: Workspace, rows: Rows, everyone: list[str], owners: list[str]) -> None:
    """429s, dead jobs, and each person's messages: none lost, none doubled."""
    limited = [c for c in ws.calls() if c.status == 429]
    dead = rows.all("SELECT kind, last_error FROM jobs WHERE state = 'dead'")
    counts = Counter(len(ws.dm_messages(u)) for u in everyone)
    replies = Counter(sum(len(m.replies) for m in ws.dm_messages(o)) for o in owners)
    stale = [u for u in everyone if not _deployed(ws, u)]
    by_method = Counter(c.method for c in limited)
    print(f"429s received: {len(limited)} {dict(by_method) or ''}")
    print(f"jobs dead: {len(dead)} {[d['kind'] for d in dead] or ''}")
    doubled = sum(n for k, n in counts.items() if k > 1)
    print(
        f"DMs lost: {counts.get(0, 0)}, doubled: {doubled}; "
        f"owner replies per DM: {dict(replies)} (1 expected); "
        f"DMs not redrawn: {len(stale)}"
    )
    methods = Counter(c.method for c in ws.calls())
    print(f"Slack calls in all: {len(ws.calls())} {dict(methods)}")


DEPLOYED = ("Deployed to production by", "Already deployed to production")


def _deployed(ws: Workspace, user: str) -> bool:
    """The user's DM says the build is in production (owners and voters: by whom)."""
    text = "\n".join(m.visible_text for m in ws.dm_messages(user))
    return any(words in text for words in DEPLOYED)


def _deployed_at(ws: Workspace, since: float) -> float:
    """When the first DM was redrawn to say so: the rollout was done by then."""
    return min(
        c.time
        for c in ws.calls("chat.update")
        if c.ok and c.time >= since and any(w in str(c.args.get("blocks")) for w in DEPLOYED)
    )


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
