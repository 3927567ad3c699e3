"""The wake-up for the other replicas (signals.py), sent after the commit and coalesced.

Sending `pg_notify` inside every transaction that made jobs due made each one wait for it: a
round trip, and commits made one after another, since a transaction that queued a
notification holds PostgreSQL's lock on the notification queue for the whole of its commit
(on the local PostgreSQL, before and after this sender: a transaction enqueueing one job took
2.07 ms, then 1.62; sixteen at once committed 880 a second, then 1,090). So the store calls
`signal()` once the commit is done, and this sender sends the NOTIFY, one at a time: the
commits that arrive while one is in flight are folded into one more, sent as soon as it
returns. No timer: an idle replica's commit is signalled at once; a busy one sends one
NOTIFY per round trip however many commits it makes (sixteen at once above: a third as many
NOTIFYs as commits). Every commit is followed by a NOTIFY sent after it (the one in flight
when it committed does not count for it: it may have left before).

Only what `cibot serve` is built of has a sender (bootstrap.py: the CLI's processes have
none). It sends on a connection of its own, outside the pool, opened at its first signal and
kept: not a pooled one, which would take a place the intake needs and add a ping and a
BEGIN/COMMIT round trip to each NOTIFY; not the listening connection of `JobSignals`, which a
replica without workers does not have (yet its intake must wake the others), and on which
asyncpg runs one statement at a time (a send would queue behind the listener's liveness
check, and the check behind a send). A connection that fails, or hangs past SEND_SECONDS, is
dropped and a new one tried at once, once; a NOTIFY that still cannot be sent is logged and
dropped, and the next commit tries a new connection.

A signal is only a hastener: one lost (the process killed between commit and NOTIFY, the
connection down, the server out of reach) delays the work to the other replicas' next poll,
as before signals existed; nothing waits for one. `aclose()` (with `Parts.aclose`) sends
what is pending, for at most CLOSE_SECONDS, then closes the connection; later signals are
dropped: the process is stopping.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import structlog

from cibot.adapters.store.database import Database
from cibot.adapters.store.signals import CHANNEL

log = structlog.get_logger(__name__)

STATEMENT = f"NOTIFY {CHANNEL}"  # outside any transaction: committed, so delivered, at once
SEND_SECONDS = 5.0  # bounds connecting plus one NOTIFY: a hung server does not hold signals
CLOSE_SECONDS = 2.0  # how long `aclose` waits for the NOTIFY in flight and the one pending
TASK_NAME = "cibot-signal-sender"  # the task that sends, while there is something to send


class SignalSender:
    """Sends a NOTIFY on `CHANNEL` after each `signal()`, never two at once (see above)."""

    def __init__(self, database: Database, send_seconds: float = SEND_SECONDS) -> None:
        self._database = database
        self._send_seconds = send_seconds
        self._conn: Any = None  # asyncpg's connection, made at the first signal
        self._task: asyncio.Task[None] | None = None
        self._pending = False
        self._closed = False

    def signal(self) -> None:
        """A commit made jobs due: a NOTIFY will leave after this call (not in its way)."""
        if self._closed:
            return
        self._pending = True
        if self._task is None:
            self._task = asyncio.create_task(self._send_pending(), name=TASK_NAME)

    def server_pid(self) -> int | None:
        """The PostgreSQL backend this sender's NOTIFYs come from (None before the first):
        its own replica's listener ignores them (signals.py)."""
        conn = self._conn
        return None if conn is None or conn.is_closed() else int(conn.get_server_pid())

    async def aclose(self) -> None:
        self._closed = True
        task = self._task
        if task is not None:
            done, _ = await asyncio.wait({task}, timeout=CLOSE_SECONDS)
            if not done:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close(timeout=1)

    async def _send_pending(self) -> None:
        try:
            while self._pending:
                self._pending = False  # a commit from here on asks for one more
                await self._send()
        finally:
            self._task = None  # no await since the loop's test: no signal is missed

    async def _send(self) -> None:
        for last_try in (False, True):
            try:
                async with asyncio.timeout(self._send_seconds):
                    if self._conn is None or self._conn.is_closed():
                        self._drop()
                        self._conn = await self._database.connect_driver()
                    await self._conn.execute(STATEMENT)
                return
            except Exception as exc:  # dead connection, server gone or hung: a new one
                self._drop()
                if last_try:
                    log.warning("jobs.signal_not_sent", error=f"{type(exc).__name__}: {exc}")

    def _drop(self) -> None:
        """Forget the connection at once: it failed or hangs, a polite goodbye could hang too."""
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.terminate()
