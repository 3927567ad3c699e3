"""A private, throw-away PostgreSQL server for one test: its own data directory and port.

The shared PostgreSQL (scripts/localpg) is never restarted; a test that needs to restart
the database mid-flow (TRUST F14) starts one of these instead, the same way localpg does
(initdb, pg_ctl), restarts it at will, and removes it at the end.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType

from tests.support.service import free_port


def _bin() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parts[-3]))
    if not found:
        raise RuntimeError("PostgreSQL is not installed (scripts/localpg installs it)")
    return found[-1].parent


class PrivatePostgres:
    def __init__(self) -> None:
        self.bin = _bin()
        self.dir = Path(tempfile.mkdtemp(prefix="cibot-privpg-"))
        self.data = self.dir / "data"
        self.port = free_port()

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://cibot@127.0.0.1:{self.port}/cibot"

    def _as_owner(self, *args: str) -> None:
        command = [str(self.bin / args[0]), *args[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def start(self) -> PrivatePostgres:
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres")
        if not self.data.exists():
            self._as_owner(
                "initdb", "-D", str(self.data), "-U", "cibot", "--auth=trust", "--no-sync"
            )
        self._pg_ctl_start()
        self._as_owner("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "cibot", "cibot")
        return self

    def _pg_ctl_start(self) -> None:
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.dir} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off"
        )
        log = str(self.dir / "server.log")
        self._as_owner(
            "pg_ctl", "-D", str(self.data), "-l", log, "-w", "-t", "60", "start", "-o", options
        )

    def stop(self) -> None:
        """Stop it fast: open connections are terminated, as in a crash of the server."""
        self._as_owner("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def start_again(self) -> None:
        """Start the stopped server on the same data and port."""
        self._pg_ctl_start()

    def remove(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> PrivatePostgres:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.remove()
