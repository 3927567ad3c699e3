"""Running the real `cibot` console script as a subprocess, as a user would.

`CibotProcess` writes a config file, migrates the database (`cibot db upgrade`, or a copy
of a database it migrated: migrated.py), starts `cibot serve`, waits for `/healthz`, and
can stop it gently or kill it (-9) to test crash recovery.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.support import migrated

CIBOT = str(Path(sys.executable).with_name("cibot"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CIBOT, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        check=False,
    )


class CibotProcess:
    def __init__(self, config: dict[str, Any], workdir: Path, executable: str = CIBOT) -> None:
        self.executable = executable  # another version's `cibot` (tests of upgrades)
        self.port = free_port()
        config.setdefault("server", {}).update(host="127.0.0.1", port=self.port)
        self.config = config
        self.path = workdir / f"cibot-{self.port}.yaml"
        self.log_path = workdir / f"cibot-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def write_config(self) -> None:
        self.path.write_text(yaml.safe_dump(self.config, sort_keys=False))

    def upgrade_db(self) -> None:
        """The database migrated to this tree's head by this tree's `cibot db upgrade`, or,
        when empty, as a copy of a database that command migrated (migrated.py)."""
        self.write_config()
        migrated.migrate(self.config["database"]["url"], self._upgrade)

    def _upgrade(self, url: str) -> None:
        config = self.path.with_suffix(".upgrade.yaml")
        config.write_text(yaml.safe_dump({"database": {"url": url}}))
        done = run_cli("db", "upgrade", "--config", str(config))
        assert done.returncode == 0, done.stderr

    def start(self, timeout: float = 90.0, env: dict[str, str] | None = None) -> CibotProcess:
        """Start `cibot serve`; `env` adds variables (e.g. `CIBOT_CRASH_AT`) for this run."""
        self.write_config()
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [self.executable, "serve", "--config", str(self.path)],
            stdout=log,
            stderr=log,
            env={**os.environ, **(env or {})},
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"cibot serve exited {self.proc.returncode}:\n{self.logs()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"cibot serve did not answer within {timeout} s:\n{self.logs()}")

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    def wait_for_death(self, timeout: float = 60.0) -> int:
        """The exit code of a process expected to die by itself (a crash point)."""
        assert self.proc is not None
        return self.proc.wait(timeout=timeout)

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
