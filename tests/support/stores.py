"""The real SQL store on a migrated database, for integration tests of the store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from cibot.adapters.store import migrate
from cibot.adapters.store.database import Database
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
