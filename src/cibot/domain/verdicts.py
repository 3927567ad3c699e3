"""A QA member's verdict on a build: the one fact the quorum is counted from."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Verdict(StrEnum):
    APPROVED = "approved"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class VerdictRecord:
    """One QA member's verdict on one build. There is at most one per (build, user)."""

    build_id: str
    user: str
    verdict: Verdict
    at: datetime
    reason: str | None = None
