"""Runs the fake Slack with uvicorn on loopback, in a background thread.

Tests start one per test (or per session) with port 0, point `slack_sdk` at `api_url`, read
`state` and arm `faults` from the test thread, and stop it on exit of the `with` block.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import threading
import time
from collections.abc import Iterable, Mapping
from types import TracebackType

import uvicorn

from cibot.fakeslack.app import FakeSlackApp
from cibot.fakeslack.config import WorkspaceConfig
from cibot.fakeslack.delivery import Bot
from cibot.fakeslack.faults import FaultPlan
from cibot.fakeslack.records import Channel, User
from cibot.fakeslack.state import Workspace


class FakeSlackServer:
    """A fake Slack Web API server on 127.0.0.1: `with FakeSlackServer(...) as slack: …`."""

    def __init__(
        self,
        *,
        users: Iterable[User] = (),
        channels: Iterable[Channel] = (),
        groups: Mapping[str, Iterable[str]] | None = None,
        config: WorkspaceConfig | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        if not ipaddress.ip_address(host).is_loopback:
            raise ValueError(f"the fake Slack binds to loopback only, not {host}")
        self.state = Workspace(config, users=users, channels=channels, groups=groups)
        self.faults = FaultPlan()
        self.app = FakeSlackApp(self.state, self.faults)
        self._host = host
        self._port = port
        self._socket: socket.socket | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        if self._socket is None:
            raise RuntimeError("the fake Slack is not started")
        return self._port

    @property
    def url(self) -> str:
        """The server's root, e.g. `http://127.0.0.1:41234`."""
        return f"http://{self._host}:{self.port}"

    @property
    def api_url(self) -> str:
        """What to give `slack_sdk` as `base_url` (ends with `/api/`)."""
        return f"{self.url}/api/"

    @property
    def admin_url(self) -> str:
        """The root of the admin HTTP API (ends with `/_fake/`)."""
        return f"{self.url}/_fake/"

    def connect(self, bot: Bot) -> FakeSlackServer:
        """Tells the fake where the bot listens: the playground's clicks, submissions,
        commands and build notifications go there, signed with its secrets."""
        self.app.delivery.bot = bot
        return self

    def start(self, timeout: float = 10.0) -> FakeSlackServer:
        """Binds the port and serves in a daemon thread; returns once requests are accepted."""
        if self._thread is not None:
            raise RuntimeError("the fake Slack is already started")
        family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self._host, self._port))
        self._socket, self._port = sock, sock.getsockname()[1]
        config = uvicorn.Config(
            self.app,
            http="h11",
            ws="wsproto",  # Socket Mode's WebSocket (sockets.py)
            lifespan="off",
            log_config=None,
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=1,
        )
        server = uvicorn.Server(config)
        self._server = server
        self._thread = threading.Thread(
            target=lambda: asyncio.run(server.serve(sockets=[sock])),
            name=f"fakeslack-{self._port}",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the fake Slack did not start")
            time.sleep(0.01)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stops serving (in-flight stalled calls get at most a second) and frees the port."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive() and self._server is not None:
                self._server.force_exit = True
                self._thread.join(timeout)
        if self._socket is not None:
            self._socket.close()
        self._server = self._thread = self._socket = None

    def __enter__(self) -> FakeSlackServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
