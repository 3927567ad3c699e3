"""What the repositories of one in-memory transaction share: the draft of the state."""

from __future__ import annotations

from tests.support.memory.state import State


class MemoryRepository:
    def __init__(self, state: State) -> None:
        self.state = state
