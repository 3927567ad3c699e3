"""The domain's own errors: each names the rule that was broken."""

from __future__ import annotations

from enum import StrEnum


class DomainError(Exception):
    """A request that the rules refuse."""


class InvalidTransition(DomainError):
    def __init__(self, build_id: str, source: StrEnum, target: StrEnum) -> None:
        super().__init__(f"build {build_id} cannot go from {source} to {target}")
        self.build_id, self.source, self.target = build_id, source, target
