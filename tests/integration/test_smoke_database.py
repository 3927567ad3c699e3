"""The test bed's databases are real: a row survives a round trip on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

metadata = sa.MetaData()
probe = sa.Table(
    "probe",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("text", sa.Text, nullable=False),
)


async def test_a_row_written_is_read_back_on_each_backend(database_url: str) -> None:
    engine = create_async_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
            await conn.execute(probe.insert().values(id=1, text="héllo ✓"))
        async with engine.connect() as conn:
            text = await conn.scalar(sa.select(probe.c.text).where(probe.c.id == 1))
            dialect = conn.dialect.name
    finally:
        await engine.dispose()
    assert text == "héllo ✓"
    assert dialect in database_url.split("+", maxsplit=1)[0]
