"""T13: oversized or slow requests are cut off; a flood of forged requests leaves memory bounded.

Defence: a body limit (`webhooks.max_body_bytes`, 16 KiB, for CI; `server.max_body_bytes`,
1 MiB, for Slack) enforced while reading, before the HMAC; server timeouts. Without the
limit, a 10 MiB body would be read whole (and hashed) before being refused; a stream
without Content-Length would be read to its end.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cibot.adapters import webhooks
from tests.support.shop import SECRET
from tests.support.trust import Shared

pytestmark = pytest.mark.kubernetes

TEN_MIB = 10 * 1024 * 1024
FLOOD = 1000


@pytest.mark.parametrize("path", ["/build-complete", "/slack/events"])
async def test_T13_a_10_mib_body_is_a_413_without_being_read(shared: Shared, path: str) -> None:
    body = b"x" * TEN_MIB
    headers = {**webhooks.headers(SECRET, body[:10]), "content-type": "application/json"}

    response = httpx.post(f"{shared.url}{path}", content=body, headers=headers, timeout=30)

    assert response.status_code == 413


async def test_T13_a_body_streamed_without_a_length_is_cut_off_at_the_limit(shared: Shared) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(TEN_MIB // 65536):
            yield b"x" * 65536

    response = httpx.post(
        f"{shared.url}/build-complete",
        content=chunks(),
        headers={"content-type": "application/json"},
        timeout=30,
    )

    assert response.status_code == 413


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


async def test_T13_memory_stays_bounded_under_a_flood_of_forged_requests(shared: Shared) -> None:
    assert shared.cibot.proc is not None
    pid = shared.cibot.proc.pid
    body = b'{"project": "shop", "image": "r.example/x:1", "type": "branch", "target": "main"}'
    headers = {**webhooks.headers("forged", body), "content-type": "application/json"}
    async with httpx.AsyncClient(timeout=10) as client:
        for _ in range(100):  # warm up: allocator and caches reach their working size
            await client.post(f"{shared.url}/build-complete", content=body, headers=headers)
        before = _rss_kib(pid)
        codes = set()
        for _ in range(FLOOD):
            response = await client.post(
                f"{shared.url}/build-complete", content=body, headers=headers
            )
            codes.add(response.status_code)
    after = _rss_kib(pid)

    assert codes == {401}
    assert after - before < 32 * 1024, f"RSS grew by {after - before} KiB over {FLOOD} requests"


async def test_T13_a_client_that_sends_half_a_request_and_stalls_is_disconnected(
    shared: Shared,
) -> None:
    """A body that stops arriving is answered 408 after 10 s (uvicorn itself would wait for
    ever: found by this test), so a slow client cannot hold connections and coroutines."""
    port = shared.cibot.port
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"POST /build-complete HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        sock.settimeout(30)
        started = time.monotonic()
        try:
            data = sock.recv(1024)
        except (ConnectionResetError, TimeoutError):
            data = b""
        waited = time.monotonic() - started
    assert waited < 30, "the half-sent request held its connection for 30 s"
    assert data.startswith(b"HTTP/1.1 408"), data[:100]
