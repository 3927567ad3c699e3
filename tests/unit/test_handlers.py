"""The service's table of job handlers: every kind of job has one, and it is its own."""

from __future__ import annotations

from typing import Any, cast

from cibot.bootstrap import RENDERERS
from cibot.service.handlers import Dependencies, job_handlers, with_reconcile
from cibot.service.jobs import PAYLOAD_TYPES
from tests.support.fakes import FakeChat, FakeClock, FakeCluster, MemoryStore


def test_every_kind_of_job_has_a_handler_and_only_the_sweep_needs_the_ledger() -> None:
    needs = Dependencies(
        store=MemoryStore(),
        cluster=cast(Any, FakeCluster()),
        chat=cast(Any, FakeChat()),
        clock=FakeClock(),
        projects={},
        render=RENDERERS,
    )
    plain = job_handlers(needs)
    every = with_reconcile(plain, needs, ledger=cast(Any, None), period=60.0)

    assert set(every) == set(PAYLOAD_TYPES.values())
    assert {kind.kind for kind in set(every) - set(plain)} == {"reconcile"}
