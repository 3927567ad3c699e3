"""The job runner: a few asyncio workers that claim jobs, run their handlers, and settle them.

A job's lease is renewed while its handler runs. A renewal that fails (a database blip) is
tried again while the lease still holds; if the lease is lost (taken over) or cannot be
renewed before its last sixth, the handler is cancelled, so it has stopped before another
worker may claim the job: a job never runs twice at once (TRUST F17).

Transient failures are retried with backoff. A job gives up after `max_attempts`, unless its
failure names a deadline (`Transient.until`: a deploy waiting for an unreachable Kubernetes)
that has not passed: then it is retried until the deadline, however many attempts that takes
(F16). A job that gives up is marked dead with its last error, and `on_dead` settles what it
held (a build's state, the production slot), so nothing stays "in progress" for ever.

Workers sleep until woken by a commit that enqueued work, or until the poll interval passes
(work enqueued by another replica). A commit wakes as many sleeping workers as it made jobs
due, not all of them: every claim is a write transaction, and on SQLite the clicks being
answered wait behind each one. A worker that finds work without knowing how much (its poll
interval passed, or `nudge()`: on PostgreSQL another replica's commit signalled it) wakes
one more sleeper the same way, so a burst enqueued elsewhere has every worker on it within
a few claims, not each after its own poll interval; the chain ends with one empty claim.

Stopping drains: from `drain()` (SIGTERM) on, nothing new is claimed; jobs in flight get
`drain_seconds` to finish, then are cancelled and handed back at once for another replica.
Every log line of a job's work carries its id, kind, build and project (structlog
contextvars, bound here for the handler's task).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import secrets
import socket
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog

from cibot.adapters.retry import RetryPolicy
from cibot.service.errors import Permanent
from cibot.service.handlers import Handler
from cibot.service.jobs import Job, JobPayload
from cibot.service.ports import Clock, JobQueue

log = structlog.get_logger(__name__)

# Settles what a job that gave up held: (its payload, why it gave up).
OnDead = Callable[[JobPayload, str], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class WorkerSettings:
    workers: int = 4
    lease_seconds: float = 60.0
    max_attempts: int = 8
    backoff: RetryPolicy = field(default_factory=lambda: RetryPolicy(8, 1.0, 60.0))
    poll_interval_seconds: float = 0.5
    drain_seconds: float = 20.0  # after SIGTERM, how long jobs in flight may take to finish


def log_context(job: Job) -> dict[str, object]:
    """What every log line of this job's work carries."""
    context: dict[str, object] = {"job_id": job.id, "kind": job.payload.kind}
    build_id = getattr(job.payload, "build_id", None)
    if build_id:
        context["build_id"] = build_id
    project = job.project_id or getattr(job.payload, "project_id", None)
    if project:
        context["project"] = project
    return context


class JobRunner:
    def __init__(
        self,
        queue: JobQueue,
        clock: Clock,
        handlers: Mapping[type[JobPayload], Handler],
        settings: WorkerSettings,
        *,
        observe: Callable[[str, str], None] = lambda kind, outcome: None,
        on_dead: OnDead | None = None,
    ) -> None:
        self._queue = queue
        self._clock = clock
        self._handlers = handlers
        self._settings = settings
        self._observe = observe  # (job kind, outcome): done, retry, dead, released, lost
        self._on_dead = on_dead
        # Each resolved True when woken to look for work of unknown amount (`_explore`).
        self._sleepers: collections.deque[asyncio.Future[bool]] = collections.deque()
        self._missed = 0  # wakes that found nobody asleep: the next sleeps return at once
        self._stopping = asyncio.Event()
        self._drain_until: float | None = None  # loop time when jobs in flight are handed back
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: list[asyncio.Task[None]] = []
        # Unique per process, even where host name and pid repeat (pid 1 in a container
        # restarted in the same pod): with the attempt number, the lease's fencing token.
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"

    def wake(self, jobs: int = 1) -> None:
        """`jobs` new jobs were committed: wake that many sleeping workers."""
        for _ in range(jobs):
            while self._sleepers and self._sleepers[0].done():  # timed out, not yet gone
                self._sleepers.popleft()
            if not self._sleepers:
                # Everyone is busy or about to sleep: let that many of the next sleeps pass.
                self._missed = min(self._missed + 1, self._settings.workers)
                continue
            self._sleepers.popleft().set_result(False)

    def nudge(self) -> None:
        """Work may have become due that no count of this process's came with (another
        replica's commit): one sleeping worker looks, and brings in more if it finds some."""
        self._explore()

    def _explore(self) -> None:
        """Wake one sleeper to look for work of unknown amount (if it finds a job, it wakes
        the next one the same way)."""
        while self._sleepers:
            sleeper = self._sleepers.popleft()
            if not sleeper.done():
                sleeper.set_result(True)
                return
        # Nobody asleep: every worker is busy, and claims again as soon as it is done.

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        for index in range(self._settings.workers):
            self._tasks.append(asyncio.create_task(self._work(), name=f"cibot-worker-{index}"))

    def drain(self) -> None:
        """Claim nothing more; jobs in flight have `drain_seconds` left. Safe to call from a
        signal handler (it only schedules the change on the event loop)."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._begin_drain)

    def _begin_drain(self) -> None:
        if self._drain_until is None:
            loop = asyncio.get_running_loop()
            drain = self._settings.drain_seconds
            self._drain_until = loop.time() + drain
            if self._tasks:
                log.info("jobs.draining", seconds=drain)
                # Whatever the HTTP side still waits for, jobs are handed back on time.
                loop.call_later(drain, self._cancel_workers)
        self._stopping.set()
        while self._sleepers:
            sleeper = self._sleepers.popleft()
            if not sleeper.done():
                sleeper.set_result(False)

    def _cancel_workers(self) -> None:
        """Cancel the workers still busy: each hands its job back to the queue."""
        for task in self._tasks:
            task.cancel()

    async def stop(self) -> None:
        """Drain (if not draining yet), wait for the jobs in flight until the drain ends,
        then cancel what is left: those jobs are handed back to the queue at once."""
        self._begin_drain()
        assert self._drain_until is not None
        remaining = self._drain_until - asyncio.get_running_loop().time()
        if self._tasks and remaining > 0:
            await asyncio.wait(self._tasks, timeout=remaining)
        self._cancel_workers()
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

    async def _work(self) -> None:
        exploring = False  # woken with no count of the jobs waiting: found one, wake another
        while not self._stopping.is_set():
            try:
                job = await self._claim()
            except Exception:
                log.exception("job.claim_failed")
                job = None
            if job is None:
                exploring = await self._sleep()
                continue
            if exploring:
                exploring = False
                self._explore()
            try:
                if self._stopping.is_set():  # claimed as the drain began: not ours to start
                    await self._release(job, log.bind(**log_context(job)))
                else:
                    await self._run(job)
            except Exception:
                # Settling the job failed (the database went away meanwhile): its lease runs
                # out and it is claimed again; this worker must live on to claim it.
                log.exception("job.settle_failed", job_id=job.id, kind=job.payload.kind)

    async def _sleep(self) -> bool:
        """Until woken or the poll interval passes. True: to look for work of unknown amount
        (the poll interval passed, or a worker that found work so woke it); False: by a count."""
        if self._missed:
            self._missed -= 1
            return False
        if self._stopping.is_set():
            return False
        sleeper: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._sleepers.append(sleeper)
        try:
            async with asyncio.timeout(self._settings.poll_interval_seconds):
                return await sleeper
        except TimeoutError:
            return True
        finally:
            with contextlib.suppress(ValueError):
                self._sleepers.remove(sleeper)

    async def _run(self, job: Job) -> None:
        handler = self._handlers[type(job.payload)]
        # Bound before the handler's task is made, so the task's copy of the context has them.
        with structlog.contextvars.bound_contextvars(**log_context(job), attempt=job.attempts):
            await self._supervise(job, asyncio.create_task(handler(job.payload)))

    async def _supervise(self, job: Job, work: asyncio.Task[None]) -> None:
        keeper = asyncio.create_task(self._keep_lease(job, work))
        try:
            await work
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():  # stopped: hand the job back
                await self._release(job, log)
                raise
            log.warning("job.lease_lost")  # the keeper fenced the work off; nothing to settle
            self._observe(job.payload.kind, "lost")
            return
        except Exception as exc:
            await self._failed(job, exc)
            return
        finally:
            keeper.cancel()
        if await self._queue.complete(job):
            self._observe(job.payload.kind, "done")
        else:
            log.warning("job.complete_lost_lease")
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
        """Renew the lease every third of it; cancel the work once it cannot be kept.

        Lease times are followed on the event loop's monotonic clock, from the expiry the
        claim (or the last renewal) wrote, counted from before that write was sent.
        """
        lease = self._settings.lease_seconds
        loop = asyncio.get_running_loop()
        expires = loop.time() + (job.lease_expires_at - self._clock.now()).total_seconds()
        current: Job | None = job
        while current is not None:
            await asyncio.sleep(lease / 3)
            sent = loop.time()
            current = await self._renew(current, give_up_at=expires - lease / 6)
            expires = sent + lease
        work.cancel()

    async def _renew(self, job: Job, give_up_at: float) -> Job | None:
        """The renewed lease; None when it was taken over or could not be renewed in time."""
        loop = asyncio.get_running_loop()
        pause = min(1.0, self._settings.lease_seconds / 15)
        while (left := give_up_at - loop.time()) > 0:
            try:
                async with asyncio.timeout(left):
                    return await self._queue.extend(
                        job, self._clock.now(), self._settings.lease_seconds
                    )
            except Exception as exc:
                log.warning("job.renewal_failed", error=f"{type(exc).__name__}: {exc}")
            await asyncio.sleep(min(pause, max(give_up_at - loop.time(), 0)))
        log.error("job.lease_expiring", message="the lease could not be renewed: work cancelled")
        return None

    async def _failed(self, job: Job, exc: Exception) -> None:
        error = f"{type(exc).__name__}: {exc}"
        now = self._clock.now()
        until: datetime | None = getattr(exc, "until", None)
        left = (until - now).total_seconds() if until is not None else 0.0
        out_of_attempts = job.attempts >= self._settings.max_attempts and left <= 0
        if isinstance(exc, Permanent) or out_of_attempts:
            await self._give_up(job, error)
            return
        # A server's Retry-After (Slack's rate limit) is a floor on the wait, as for calls.
        retry_after = getattr(exc, "retry_after", None)
        delay = self._settings.backoff.delay(min(job.attempts, 64), retry_after)
        if left > 0:  # the last try comes at the deadline, where the handler decides
            delay = max(min(delay, left), retry_after or 0.0)
        log.warning("job.retry", error=error, delay=round(delay, 3))
        self._observe(job.payload.kind, "retry")
        await self._queue.retry(job, now + timedelta(seconds=delay), error)

    async def _give_up(self, job: Job, error: str) -> None:
        log.error("job.gave_up", error=error)
        if not await self._queue.give_up(job, error):
            return  # the lease was lost meanwhile: the job is someone else's now
        self._observe(job.payload.kind, "dead")
        if self._on_dead is None:
            return
        reason = f"ci-bot gave up after {job.attempts} attempt(s): {error}"
        try:
            await self._on_dead(job.payload, reason)
        except Exception:
            # The reconciler settles it later (at start and periodically).
            log.exception("job.settle_dead_failed")
