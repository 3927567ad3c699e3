"""The real SQL store on a migrated database, for integration tests of the store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from cibot.adapters.store import migrate
from cibot.adapters.store.database import Database
from cibot.adapters.store.signal_sender import SignalSender
from cibot.adapters.store.sql import SqlStore
from cibot.service.ports import Clock


@asynccontextmanager
async def migrated_store(url: str, clock: Clock) -> AsyncIterator[SqlStore]:
    await migrate.upgrade_async(url)
    database = Database(url)
    try:
        yield SqlStore(database, clock)
    finally:
        await database.dispose()


@asynccontextmanager
async def signalling(
    store: SqlStore, database: Database | None = None
) -> AsyncIterator[SignalSender]:
    """The store's commits that make jobs due wake the other replicas, as in `cibot serve`
    (bootstrap.py): through a sender on `database` (the store's unless given), closed at the
    end as `Parts.aclose` closes it."""
    sender = SignalSender(database or store.database)
    store.signal_replicas = sender.signal
    try:
        yield sender
    finally:
        await sender.aclose()
