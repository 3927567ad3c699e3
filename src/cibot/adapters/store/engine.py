"""The async engine Alembic runs migrations on (the store itself uses `database.Database`)."""

from __future__ import annotations

from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from cibot.adapters.store.database import tune_sqlite


def create_engine(url: str) -> AsyncEngine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_async_engine(parsed)
    engine = create_async_engine(parsed.set(drivername="sqlite+aiosqlite"))
    tune_sqlite(engine.sync_engine)
    return engine
