"""The Store port on SQLAlchemy: a transaction (`store.py`) and its repositories, one module
each (builds, reviews, releases, …), all sharing the transaction's connection."""

from cibot.adapters.store.sql.store import SqlStore, SqlTransaction, is_transient

__all__ = ["SqlStore", "SqlTransaction", "is_transient"]
