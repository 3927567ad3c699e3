"""Group commit: units of work that arrive together share one transaction and one commit.

Why: most of what a signed intake costs the database is the transaction around it, not its
own statements: taking the connection and the write lock (`BEGIN IMMEDIATE`) or a pooled
PostgreSQL connection, the before-commit hook (whose Home tabs to publish), the statements
that write the buffered job and audit rows, and the commit itself (on PostgreSQL a flush of
its log to disk). Requests that arrive while a commit is in flight would wait for it anyway;
run together in the next transaction, they pay for all that once.

What does not change: `run` answers only once the transaction holding its unit has
committed (a 202 still means the build and its jobs are on disk), and a failed commit gives
every unit in it the error, never a result. Units run one after another in the batch; when
one of several raises (a webhook id reused for another body, a conflict), the batch is
rolled back and run again with each unit in its own savepoint, so that one is undone alone
and the others commit. No unit waits for company: a batch starts as soon as the previous
one is done, with whatever has arrived by then.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from cibot.service.ports import Store, Transaction

T = TypeVar("T")
Work = Callable[[Transaction], Awaitable[T]]

MAX_BATCH = 100  # units per transaction: bounds how long one holds the write lock


@dataclass(frozen=True, slots=True)
class _Unit:
    work: Work[Any]
    answer: asyncio.Future[Any]
    order: str


class GroupCommit:
    """Runs units of work on `store`, those waiting together in one transaction."""

    def __init__(self, store: Store, max_batch: int = MAX_BATCH) -> None:
        self._store = store
        self._max_batch = max_batch
        self._waiting: deque[_Unit] = deque()
        self._committer: asyncio.Task[None] | None = None

    async def run(self, work: Work[T], order: str = "") -> T:
        """`work(tx)`'s result once its transaction has committed; its error, or the commit's.

        `work` may run twice (again after its batch was rolled back), so it must act only
        through `tx`. A batch runs its units by `order` (those with the same key as they
        came): give the key of what `work` locks, so that every batch takes its locks in one
        order and two batches (two replicas on one PostgreSQL) cannot deadlock on them.
        """
        unit = _Unit(work, asyncio.get_running_loop().create_future(), order)
        self._waiting.append(unit)
        if self._committer is None:
            self._committer = asyncio.create_task(self._commit_all())
        result: T = await unit.answer
        return result

    async def _commit_all(self) -> None:
        try:
            await asyncio.sleep(0)  # one turn of the loop: requests already read join in
            while self._waiting:
                count = min(self._max_batch, len(self._waiting))
                batch = [self._waiting.popleft() for _ in range(count)]
                batch.sort(key=lambda unit: unit.order)  # stable: arrival order within a key
                await self._commit([unit for unit in batch if not unit.answer.done()])
        finally:
            self._committer = None

    async def _commit(self, batch: list[_Unit]) -> None:
        """One transaction for `batch`; each unit answered only after its commit.

        Units run straight, with no savepoint (two statements each) for the common case where
        none fails. If one does, the batch is rolled back and run again, each unit in its own
        savepoint this time, so the failing one is undone alone and answered with its error.
        """
        isolated = False
        while True:
            try:
                done, failed = await self._run(batch, isolated)
            except _RunIsolated:
                isolated = True
                continue
            except BaseException as exc:  # nothing of the batch is committed
                for unit in batch:
                    _fail(unit, exc)
                if not isinstance(exc, Exception):
                    raise
                return
            break
        for unit, value in done:
            if not unit.answer.done():
                unit.answer.set_result(value)
        for unit, own in failed:
            _fail(unit, own)

    async def _run(
        self, batch: list[_Unit], isolated: bool
    ) -> tuple[list[tuple[_Unit, Any]], list[tuple[_Unit, Exception]]]:
        """Run the units in one transaction: (results, failures), committed."""
        done: list[tuple[_Unit, Any]] = []
        failed: list[tuple[_Unit, Exception]] = []
        async with self._store.transaction() as tx:
            for unit in batch:
                if not isolated:
                    try:
                        done.append((unit, await unit.work(tx)))
                    except Exception as exc:
                        if len(batch) == 1:
                            raise  # alone: its own error, its transaction rolled back
                        raise _RunIsolated from exc
                    continue
                try:
                    async with tx.savepoint():
                        done.append((unit, await unit.work(tx)))
                except Exception as exc:  # its own failure, undone alone
                    failed.append((unit, exc))
        return done, failed


class _RunIsolated(Exception):
    """A unit failed in a batch run straight: roll it all back, run it again in savepoints."""


def _fail(unit: _Unit, exc: BaseException) -> None:
    if unit.answer.done():
        return
    if isinstance(exc, asyncio.CancelledError):
        unit.answer.cancel()
    else:
        unit.answer.set_exception(exc)
