"""The keeper of the periodic jobs (the user-group refresh, the daily retention prune).

A periodic job is one job per period (its slot), with a dedupe key, and each queues its
successor before its own work. That chain could still end: a database down for longer
than a job's attempts kills the job before its successor is written. So every replica
that runs jobs also schedules each periodic job's current slot again, once per period,
here: the dedupe key makes that a no-op while the chain holds, and mends it when it broke.
The tasks belong to the service's lifespan: started with it, cancelled when it stops.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence

import structlog

log = structlog.get_logger(__name__)

Schedule = Callable[[], Awaitable[None]]


class Keeper:
    """Calls each schedule at once, then every `every` seconds, until stopped."""

    def __init__(self, schedules: Sequence[tuple[str, float, Schedule]]) -> None:
        self._schedules = schedules
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        for name, every, schedule in self._schedules:
            task = asyncio.create_task(self._keep(name, every, schedule), name=f"keep-{name}")
            self._tasks.append(task)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    @staticmethod
    async def _keep(name: str, every: float, schedule: Schedule) -> None:
        while True:
            try:
                await schedule()
            except Exception:  # the database away: the next round tries again
                log.exception("periodic.schedule_failed", job=name)
            await asyncio.sleep(every)
