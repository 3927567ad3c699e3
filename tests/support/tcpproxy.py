"""A TCP proxy on loopback that a test can pause, cut and restore: a Kubernetes that goes away.

The local control plane is shared with other test runs, so it is never stopped; instead one
`cibot serve` talks to it through this proxy (a kubeconfig whose server is the proxy's
port; TLS passes through untouched, the certificate names 127.0.0.1 whatever the port).

- `cut()`: every open connection is closed and new ones are closed at once — the API server
  is down.
- `pause()`: connections are accepted and bytes are held, in both directions — the API
  server hangs.
- `restore()`: traffic flows again (held bytes first).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
from pathlib import Path
from types import TracebackType
from urllib.parse import urlparse

import yaml


def api_server_address(kubeconfig: Path) -> tuple[str, int]:
    """Host and port of the API server a kubeconfig names: what to put the proxy in front of."""
    server = yaml.safe_load(kubeconfig.read_text())["clusters"][0]["cluster"]["server"]
    parsed = urlparse(server)
    assert parsed.hostname and parsed.port
    return parsed.hostname, parsed.port


class TcpProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self._target = (target_host, target_port)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="tcpproxy", daemon=True)
        self._started = threading.Event()
        self._stop: asyncio.Event | None = None
        self._flowing: asyncio.Event | None = None
        self._cut = False
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = 0
        self.connections = 0  # accepted while not cut: how often the client came

    # -- control, from the test thread ----------------------------------------------------

    def start(self) -> TcpProxy:
        self._thread.start()
        if not self._started.wait(10):
            raise RuntimeError("the TCP proxy did not start")
        return self

    def stop(self) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    def cut(self) -> None:
        self._call(self._do_cut)

    def pause(self) -> None:
        self._call(self._events_flowing_clear)

    def restore(self) -> None:
        def go() -> None:
            self._cut = False
            self._events()[1].set()

        self._call(go)

    def kubeconfig(self, original: Path, path: Path) -> Path:
        """A copy of `original` whose API server is this proxy."""
        text = original.read_text()
        path.write_text(
            re.sub(
                r"server: https://127\.0\.0\.1:\d+", f"server: https://127.0.0.1:{self.port}", text
            )
        )
        return path

    def __enter__(self) -> TcpProxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- the proxy, on its own loop --------------------------------------------------------

    def _call(self, fn: object) -> None:
        done = threading.Event()

        def run() -> None:
            try:
                fn()  # type: ignore[operator]
            finally:
                done.set()

        self._loop.call_soon_threadsafe(run)
        if not done.wait(5):  # else a test would go on believing the API was cut or paused
            raise RuntimeError("the proxy's loop did not take the change within 5 s")

    def _events_flowing_clear(self) -> None:
        self._events()[1].clear()

    def _events(self) -> tuple[asyncio.Event, asyncio.Event]:
        assert self._stop is not None and self._flowing is not None
        return self._stop, self._flowing

    def _do_cut(self) -> None:
        self._cut = True
        for writer in list(self._writers):
            with contextlib.suppress(Exception):
                writer.transport.abort()
        self._writers.clear()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._serve())
        pending = asyncio.all_tasks(self._loop)
        for task in pending:
            task.cancel()
        self._loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        self._loop.close()

    async def _serve(self) -> None:
        self._stop, self._flowing = asyncio.Event(), asyncio.Event()
        self._flowing.set()
        server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        self._started.set()
        async with server:
            await self._stop.wait()
        self._do_cut()

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        if self._cut:
            client_w.transport.abort()
            return
        self.connections += 1
        try:
            server_r, server_w = await asyncio.open_connection(*self._target)
        except OSError:
            client_w.transport.abort()
            return
        self._writers |= {client_w, server_w}
        try:
            await asyncio.gather(
                self._pipe(client_r, server_w),
                self._pipe(server_r, client_w),
                return_exceptions=True,
            )
        finally:
            for w in (client_w, server_w):
                self._writers.discard(w)
                w.transport.abort()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        _stop, flowing = self._events()
        while chunk := await reader.read(65536):
            await flowing.wait()
            if self._cut:
                return
            writer.write(chunk)
            await writer.drain()
        writer.transport.abort()
