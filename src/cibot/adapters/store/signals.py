"""Wake-ups across replicas on PostgreSQL: LISTEN/NOTIFY on one channel, `cibot_jobs`.

A commit wakes its own process's workers (`SqlStore.on_commit`); the other replicas, and a
replica whose workers are all busy when another process enqueues, would only find the work
at their next poll. So a commit that makes jobs due is followed by a NOTIFY, sent after it
and coalesced with those of other commits (signal_sender.py; `cibot jobs retry`, rare and in
a process of its own, sends one in its transaction: NOTIFY, delivered at its commit, never
for a rollback), and each replica listens on a connection of its own and tells its runner
(`JobRunner.nudge`): one worker looks, and brings in more if it finds work. The signal only
hastens a look: a replica that misses one (its listening connection was down) finds the work
at its poll, as before; on (re)connecting it looks once.

A replica hears its own NOTIFYs too (LISTEN does not filter them out), though its commit has
already woken its workers: each would be a look for nothing, on a busy replica one per
NOTIFY it sends. So the listener is told the server process its own sender speaks through
(`SignalSender.server_pid`) and ignores what comes from it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
import structlog

from cibot.adapters.store.database import Database

log = structlog.get_logger(__name__)

CHANNEL = "cibot_jobs"
NOTIFY = sa.select(sa.func.pg_notify(CHANNEL, ""))  # in a transaction: sent at its commit
RETRY_SECONDS = 1.0  # between tries to (re)connect the listening connection
CHECK_SECONDS = 30.0  # how often an idle listening connection is checked (a dead peer)


class JobSignals:
    """Listens on `CHANNEL` while started, and calls `on_signal` at each notification, but
    those sent by the PostgreSQL backend `own()` names (this replica's sender's, if any)."""

    def __init__(
        self,
        database: Database,
        on_signal: Callable[[], None],
        own: Callable[[], int | None] = lambda: None,
    ) -> None:
        self._database = database
        self._on_signal = on_signal
        self._own = own
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._listen(), name="cibot-job-signals")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _listen(self) -> None:
        while True:
            try:
                await self._listen_once()
            except Exception as exc:  # the server went away, or never answered: try again
                log.warning("jobs.signals_lost", error=f"{type(exc).__name__}: {exc}")
            await asyncio.sleep(RETRY_SECONDS)

    async def _listen_once(self) -> None:
        conn = await self._database.connect_driver()
        try:
            lost = asyncio.Event()
            conn.add_termination_listener(lambda _conn: lost.set())
            await conn.add_listener(CHANNEL, self._signalled)
            self._on_signal()  # what was committed while nobody listened
            while not lost.is_set():
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(CHECK_SECONDS):
                        await lost.wait()
                if not lost.is_set():
                    await conn.execute("SELECT 1")  # raises if the peer is gone
        finally:
            with contextlib.suppress(Exception):
                await conn.close(timeout=1)

    def _signalled(self, _conn: Any, pid: int, _channel: str, _payload: str) -> None:
        if pid != self._own():
            self._on_signal()
