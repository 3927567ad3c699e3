"""T19: unsigned bodies that cost memory or time leave memory and Slack acks unaffected.

Defence: the HMAC is checked on the raw bytes, against the secrets the config knows, before
any parsing; only a signed body is parsed. A 1 MiB form of empty fields (`=&=&…`) costs
tens of MB and hundreds of milliseconds of a blocked event loop to parse, so a few of them
a second from anyone would starve Slack's clicks of their 3 s; unparsed, each costs a read
and a hash.

The server here reads CI bodies up to 1 MiB (the small default would refuse these bodies
by size, see T13), so that every body of the flood is read whole and must be refused by
its signature alone. The bounds are far from what the fixed server needs: a click's ack
under 1.5 s (half of Slack's 3 s; a few tens of milliseconds when nothing blocks the loop,
`python -m bench.flood` prints the figures), and the server's peak RSS growing by less
than 64 MiB over the flood.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cibot.fakeslack import Channel, FakeSlackServer, User
from tests.support import door
from tests.support import slack_requests as slack_req
from tests.support.service import CibotProcess

MIB = 1024 * 1024
EMPTY_FIELDS = b"=&" * (MIB // 2)  # the costliest form to parse: half a million empty pairs
FLOODERS = 6
CLICKS = 20
ACK_BOUND = 1.5
RSS_BOUND_KIB = 64 * 1024


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[CibotProcess, FakeSlackServer]]:
    people = [User(id=u, name=u.lower()) for u in (*door.QA, *door.OWNERS)]
    channel = Channel(id=door.CHANNEL, name="door", members=frozenset((*door.QA, *door.OWNERS)))
    with FakeSlackServer(users=people, channels=[channel]) as slack:
        config = door.door_config(
            tmp_path,
            slack.api_url,
            door.project("shop"),
            door.project("own", webhook_secret="own-secret"),
            server={"max_body_bytes": MIB},
            webhooks={"secret": "global-secret"},
        )
        process = CibotProcess(config, tmp_path)
        process.upgrade_db()
        process.start()
        try:
            yield process, slack
        finally:
            process.stop()


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def _forged_webhook_headers() -> dict[str, str]:
    """Headers that look right (a fresh timestamp, a well-formed v1 signature) but are not."""
    return {
        "webhook-id": f"msg_{time.time_ns()}",
        "webhook-timestamp": str(int(time.time())),
        "webhook-signature": "v1," + base64.b64encode(b"\0" * 32).decode(),
        "content-type": "application/x-www-form-urlencoded",
    }


async def _flood(url: str, stop: asyncio.Event, answers: list[int]) -> None:
    paths = ("/build-complete", "/branch-deleted", "/slack/events")
    async with httpx.AsyncClient(timeout=60) as client:
        sent = 0
        while not stop.is_set():
            path = paths[sent % len(paths)]
            headers = _forged_webhook_headers()
            if path == "/slack/events":
                headers = {**slack_req.signed_headers("other body"), **headers}
            response = await client.post(f"{url}{path}", content=EMPTY_FIELDS, headers=headers)
            answers.append(response.status_code)
            sent += 1


async def _acks(url: str, channel: str, count: int) -> list[float]:
    """Each click's round trip: a signed Approve on a build that does not exist."""
    took = []
    async with httpx.AsyncClient(timeout=60) as client:
        for _ in range(count):
            payload = slack_req.block_actions(door.QA[0], "qa_approve", "no-such-build", channel)
            started = time.perf_counter()
            response = await slack_req.post_async(client, url, payload)
            took.append(time.perf_counter() - started)
            assert response.status_code == 200, response.text
            await asyncio.sleep(0.05)
    return took


async def test_T19_a_flood_of_large_unsigned_bodies_leaves_slack_acks_and_memory_unaffected(
    server: tuple[CibotProcess, FakeSlackServer],
) -> None:
    cibot, slack = server
    assert cibot.proc is not None
    pid = cibot.proc.pid
    channel = slack.state.dm_channel(door.QA[0]) or door.CHANNEL
    quiet = await _acks(cibot.url, channel, 5)  # warm up: Bolt, the database, the allocator
    peak_before = _status_kib(pid, "VmHWM")

    stop, answers = asyncio.Event(), []
    flooders = [asyncio.create_task(_flood(cibot.url, stop, answers)) for _ in range(FLOODERS)]
    try:
        await asyncio.sleep(1.0)  # the flood is under way before the first click
        during = await _acks(cibot.url, channel, CLICKS)
    finally:
        stop.set()
        await asyncio.gather(*flooders)
    peak_growth = _status_kib(pid, "VmHWM") - peak_before

    assert len(answers) >= 2 * FLOODERS, f"the flood sent only {len(answers)} bodies"
    assert set(answers) == {401}, sorted(set(answers))
    slowest = max(during)
    assert slowest < ACK_BOUND, (
        f"a click took {slowest:.2f} s to be acknowledged during a flood of {len(answers)} "
        f"unsigned 1 MiB bodies (quiet: {max(quiet):.3f} s)"
    )
    assert peak_growth < RSS_BOUND_KIB, f"peak RSS grew by {peak_growth} KiB during the flood"
