"""A TCP proxy on loopback that holds every client→server chunk for a fixed delay.

Put in front of the local API server (a kubeconfig pointing at it), it makes every
Kubernetes API call at least `delay` seconds slower, TLS and keep-alive included, since it
never looks inside the stream. For benchmarks of "slow Kubernetes" only.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()
    loop = asyncio.get_running_loop()

    async def forward() -> None:
        while True:
            due, chunk = await queue.get()
            await asyncio.sleep(max(0.0, due - loop.time()))
            if not chunk:
                break
            writer.write(chunk)
            await writer.drain()

    sender = asyncio.create_task(forward())
    try:
        while chunk := await reader.read(65536):
            queue.put_nowait((loop.time() + delay, chunk))
    finally:
        queue.put_nowait((loop.time() + delay, b""))
        with contextlib.suppress(Exception):
            await sender
        writer.close()


async def _serve(
    target: tuple[str, int],
    delay: float,
    started: threading.Event,
    box: list[int],
    stop: asyncio.Event,
) -> None:
    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            server_r, server_w = await asyncio.open_connection(*target)
        except OSError:
            client_w.close()
            return
        # Cancelled when the proxy stops: end quietly (asyncio logs a handler that re-raises).
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(
                _pipe(client_r, server_w, delay),
                _pipe(server_r, client_w, 0.0),
                return_exceptions=True,
            )

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    box.append(server.sockets[0].getsockname()[1])
    started.set()
    async with server:
        await stop.wait()


@contextlib.contextmanager
def slow_proxy(target_host: str, target_port: int, delay: float) -> Iterator[int]:
    """Run the proxy in a thread; yields its port on 127.0.0.1."""
    started, box = threading.Event(), list[int]()
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(_serve((target_host, target_port), delay, started, box, stop))
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    started.wait(10)
    try:
        yield box[0]
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(5)
