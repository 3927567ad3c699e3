"""Group commit's order within a batch: by the key each unit gives, arrival order within a key.

Two batches that lock the same targets must take the locks in one order, or two replicas
on one PostgreSQL could each hold one and wait for the other. (Durability and isolation are
tested on the real store: tests/integration/test_group_commit.py.)
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from cibot.service.group_commit import GroupCommit
from cibot.service.ports import Transaction
from tests.support.fakes import MemoryStore


async def test_a_batch_runs_its_units_by_key_and_in_arrival_order_within_a_key() -> None:
    group = GroupCommit(MemoryStore())
    ran: list[str] = []

    def unit(name: str) -> Callable[[Transaction], Awaitable[str]]:
        async def work(_tx: Transaction) -> str:
            ran.append(name)
            return name

        return work

    arrivals = [("b1", "b"), ("a1", "a"), ("c1", "c"), ("b2", "b"), ("a2", "a")]
    answers = await asyncio.gather(*(group.run(unit(name), order=key) for name, key in arrivals))

    assert answers == ["b1", "a1", "c1", "b2", "a2"]  # each its own answer
    assert ran == ["a1", "a2", "b1", "b2", "c1"]  # one batch, by key
