"""What the repositories of one SQL transaction share: its connection and its clock."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.dialects import sqlite

from cibot.adapters.store.database import Conn
from cibot.service.ports import Clock


class SqlRepository:
    def __init__(self, conn: Conn, clock: Clock) -> None:
        self._conn = conn
        self._clock = clock

    def _insert(self) -> Callable[..., Any]:
        """The dialect's INSERT, for its ON CONFLICT clauses. (SQLAlchemy's PostgreSQL
        dialect is imported where it is used, so that SQLite does not load it.)"""
        if self._conn.dialect.name == "postgresql":
            from sqlalchemy.dialects import postgresql

            return postgresql.insert
        return sqlite.insert
