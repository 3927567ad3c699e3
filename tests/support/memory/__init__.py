"""An in-memory fake of the Store port, one module per repository as in the SQL adapter.

Pruning is tested on the real store: the memory one keeps no row times to prune by, and its
`prune` methods delete nothing.
"""

from tests.support.memory.store import MemoryStore, MemoryTransaction

__all__ = ["MemoryStore", "MemoryTransaction"]
