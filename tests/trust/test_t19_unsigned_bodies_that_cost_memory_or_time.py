"""T19: unsigned bodies that cost memory or time leave memory and Slack acks unaffected.

Defence: the HMAC is checked on the raw bytes, against the secrets the config knows, before
any parsing; only a signed body is parsed. A 1 MiB form of empty fields (`=&=&…`) costs
tens of MB and hundreds of milliseconds of a blocked event loop to parse, so a few of them
a second from anyone would starve Slack's clicks of their 3 s; unparsed, each costs a read
and a hash.

The server here reads CI bodies up to 1 MiB (`webhooks.max_body_bytes`, the most it
allows; the 16 KiB default refuses these bodies by size, see T13), so that every body of
the flood is read whole and must be refused by its signature alone. The bounds are far
from what the fixed server needs: a click's ack under 1.5 s (half of Slack's 3 s; tens of
milliseconds when nothing blocks the loop, `python -m bench.flood` prints the figures),
and the server's peak RSS growing by less than 64 MiB over the flood.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from cibot.fakeslack import Channel, FakeSlackServer, User
from tests.support import door
from tests.support.service import CibotProcess

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
            webhooks={"secret": "global-secret", "max_body_bytes": door.MIB},
        )
        process = CibotProcess(config, tmp_path)
        process.upgrade_db()
        process.start()
        try:
            yield process, slack
        finally:
            process.stop()


async def test_T19_a_flood_of_large_unsigned_bodies_leaves_slack_acks_and_memory_unaffected(
    server: tuple[CibotProcess, FakeSlackServer],
) -> None:
    cibot, slack = server
    assert cibot.proc is not None
    pid = cibot.proc.pid
    channel = slack.state.dm_channel(door.QA[0]) or door.CHANNEL
    quiet = await door.click_acks(cibot.url, channel, 5)  # warm up: Bolt, database, allocator
    peak_before = door.status_kib(pid, "VmHWM")

    stop, answers = asyncio.Event(), list[int]()
    flooders = [
        asyncio.create_task(door.flood(cibot.url, door.EMPTY_FIELDS, stop, answers))
        for _ in range(FLOODERS)
    ]
    try:
        await asyncio.sleep(1.0)  # the flood is under way before the first click
        during = await door.click_acks(cibot.url, channel, CLICKS)
    finally:
        stop.set()
        await asyncio.gather(*flooders)
    peak_growth = door.status_kib(pid, "VmHWM") - peak_before

    assert len(answers) >= 2 * FLOODERS, f"the flood sent only {len(answers)} bodies"
    assert set(answers) == {401}, sorted(set(answers))
    slowest = max(during)
    assert slowest < ACK_BOUND, (
        f"a click took {slowest:.2f} s to be acknowledged during a flood of {len(answers)} "
        f"unsigned 1 MiB bodies (quiet: {max(quiet):.3f} s)"
    )
    assert peak_growth < RSS_BOUND_KIB, f"peak RSS grew by {peak_growth} KiB during the flood"
