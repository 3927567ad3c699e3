"""An in-memory fake of the Store port, one module per repository as in the SQL adapter."""

from tests.support.memory.store import MemoryStore, MemoryTransaction

__all__ = ["MemoryStore", "MemoryTransaction"]
