"""Alembic environment: runs migrations on the async engine named in the Alembic config,
one upgrade at a time, and records which versions may serve on the result (migrate.py)."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from cibot.adapters.store import migrate
from cibot.adapters.store.engine import create_engine
from cibot.adapters.store.tables import metadata


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        migrate.lock_for_upgrade(connection)
        context.run_migrations()
        migrate.record(connection, context.config)  # who may serve on it: migrate.py


async def _main() -> None:
    engine = create_engine(context.config.get_main_option("sqlalchemy.url") or "")
    try:
        async with engine.connect() as conn:
            await conn.run_sync(_run)
            await conn.commit()
    finally:
        await engine.dispose()


if context.is_offline_mode():  # pragma: no cover - offline SQL generation is not offered
    raise SystemExit("offline migrations are not supported; use `cibot db upgrade`")
asyncio.run(_main())
