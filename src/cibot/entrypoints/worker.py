"""The job runner: a few asyncio workers that claim jobs, run their handlers, and settle them.

A job's lease is renewed while its handler runs; if the lease is lost (this process stalled
and another took the job over), the handler is cancelled rather than finishing twice.
Transient failures are retried with backoff; a job that keeps failing is marked dead after
`max_attempts`, with its last error kept. Workers sleep until woken by a commit that
enqueued work, or until the poll interval passes (work enqueued by another replica). A
commit wakes as many sleeping workers as it made jobs due, not all of them: every claim is
a write transaction, and on SQLite the clicks being answered wait behind each one.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import socket
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import structlog

from cibot.adapters.retry import RetryPolicy
from cibot.service.errors import Permanent
from cibot.service.jobs import Job, JobPayload
from cibot.service.ports import Clock, JobQueue

log = structlog.get_logger(__name__)

Handler = Callable[[Any], Coroutine[Any, Any, None]]


@dataclass(frozen=True, slots=True)
class WorkerSettings:
    workers: int = 4
    lease_seconds: float = 60.0
    max_attempts: int = 8
    backoff: RetryPolicy = field(default_factory=lambda: RetryPolicy(8, 1.0, 60.0))
    poll_interval_seconds: float = 0.5


class JobRunner:
    def __init__(
        self,
        queue: JobQueue,
        clock: Clock,
        handlers: Mapping[type[JobPayload], Handler],
        settings: WorkerSettings,
        observe: Callable[[str, str], None] = lambda kind, outcome: None,
    ) -> None:
        self._queue = queue
        self._clock = clock
        self._handlers = handlers
        self._settings = settings
        self._observe = observe  # (job kind, outcome): done, retry, dead, released, lost
        self._sleepers: collections.deque[asyncio.Future[None]] = collections.deque()
        self._missed = 0  # wakes that found nobody asleep: the next sleeps return at once
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.owner = f"{socket.gethostname()}:{os.getpid()}"

    def wake(self, jobs: int = 1) -> None:
        """`jobs` new jobs were committed: wake that many sleeping workers."""
        for _ in range(jobs):
            while self._sleepers and self._sleepers[0].done():  # timed out, not yet gone
                self._sleepers.popleft()
            if not self._sleepers:
                # Everyone is busy or about to sleep: let that many of the next sleeps pass.
                self._missed = min(self._missed + 1, self._settings.workers)
                continue
            self._sleepers.popleft().set_result(None)

    def start(self) -> None:
        for index in range(self._settings.workers):
            self._tasks.append(asyncio.create_task(self._loop(), name=f"cibot-worker-{index}"))

    async def stop(self) -> None:
        self._stopping.set()
        self.wake(len(self._sleepers))
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    async def run_until_idle(self) -> int:
        """Run jobs in this task until none is due; the count run. For tests and tools."""
        count = 0
        while (job := await self._claim()) is not None:
            await self._run(job)
            count += 1
        return count

    async def _claim(self) -> Job | None:
        return await self._queue.claim(self.owner, self._clock.now(), self._settings.lease_seconds)

    async def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                job = await self._claim()
            except Exception:
                log.exception("job.claim_failed")
                job = None
            if job is None:
                await self._sleep()
                continue
            try:
                await self._run(job)
            except Exception:
                # Settling the job failed (the database went away meanwhile): its lease runs
                # out and it is claimed again; this worker must live on to claim it.
                log.exception("job.settle_failed", job_id=job.id, kind=job.payload.kind)

    async def _sleep(self) -> None:
        if self._missed:
            self._missed -= 1
            return
        sleeper = asyncio.get_running_loop().create_future()
        self._sleepers.append(sleeper)
        try:
            async with asyncio.timeout(self._settings.poll_interval_seconds):
                await sleeper
        except TimeoutError:
            pass
        finally:
            with contextlib.suppress(ValueError):
                self._sleepers.remove(sleeper)

    async def _run(self, job: Job) -> None:
        handler = self._handlers[type(job.payload)]
        bound = log.bind(job_id=job.id, kind=job.payload.kind, attempt=job.attempts)
        work = asyncio.create_task(handler(job.payload))
        keeper = asyncio.create_task(self._keep_lease(job, work))
        try:
            await work
        except asyncio.CancelledError:
            if self._stopping.is_set():
                await self._release(job, bound)
                raise
            if not work.cancelled():
                raise
            bound.warning("job.lease_lost")
            self._observe(job.payload.kind, "lost")
            return
        except Exception as exc:
            await self._failed(job, exc, bound)
            return
        finally:
            keeper.cancel()
        if await self._queue.complete(job):
            self._observe(job.payload.kind, "done")
        else:
            bound.warning("job.complete_lost_lease")
            self._observe(job.payload.kind, "lost")

    async def _release(self, job: Job, bound: Any) -> None:
        """Shutting down mid-job: hand the job back now instead of holding its lease.

        Another replica (or this one, restarted) can run it at once rather than after the
        lease expires. Running it again is safe: every handler re-reads the state.
        """
        release = self._queue.retry(job, self._clock.now(), "interrupted: ci-bot stopped")
        try:
            await asyncio.shield(release)
        except Exception:
            bound.exception("job.release_failed")
        else:
            bound.info("job.released")
            self._observe(job.payload.kind, "released")

    async def _keep_lease(self, job: Job, work: asyncio.Task[None]) -> None:
        period = self._settings.lease_seconds / 3
        current: Job | None = job
        while current is not None:
            await asyncio.sleep(period)
            current = await self._queue.extend(
                current, self._clock.now(), self._settings.lease_seconds
            )
        work.cancel()

    async def _failed(self, job: Job, exc: Exception, bound: Any) -> None:
        error = f"{type(exc).__name__}: {exc}"
        if isinstance(exc, Permanent) or job.attempts >= self._settings.max_attempts:
            bound.error("job.gave_up", error=error)
            await self._queue.give_up(job, error)
            self._observe(job.payload.kind, "dead")
            return
        # A server's Retry-After (Slack's rate limit) is a floor on the wait, as for calls.
        delay = self._settings.backoff.delay(job.attempts, getattr(exc, "retry_after", None))
        bound.warning("job.retry", error=error, delay=round(delay, 3))
        self._observe(job.payload.kind, "retry")
        await self._queue.retry(job, self._clock.now() + timedelta(seconds=delay), error)
