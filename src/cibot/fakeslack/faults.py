"""Planned misbehaviour: the rate limits, errors, stalls and dropped connections to serve.

Tests arm faults ("the next 2 `chat.postMessage` calls get a 429") and the server consumes them
one call at a time. The plan is shared between the test thread and the server thread, so every
access holds a lock.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, Self

from cibot.fakeslack.records import JsonRecord


class FaultKind(StrEnum):
    """What to do instead of (or before) answering a call."""

    RATE_LIMIT = "ratelimit"  # HTTP 429, `Retry-After`, {"ok": false, "error": "ratelimited"}
    SERVER_ERROR = "server_error"  # HTTP 5xx, nothing stored
    STALL = "stall"  # sleep, then answer normally (the call still takes effect)
    DROP = "drop"  # close the connection without answering, nothing stored


@dataclass(frozen=True)
class Fault(JsonRecord):
    """One armed fault: it applies to the next `count` calls of `method` (any when None)."""

    kind: FaultKind
    count: int = 1
    method: str | None = None
    retry_after: int = 1
    status: int = 500
    seconds: float = 0.0

    def matches(self, method: str) -> bool:
        return self.count > 0 and (self.method is None or self.method == method)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        """A fault as the admin API receives it, checked (ValueError naming what is wrong)."""
        fault = super().from_json(data)
        fault.check()
        return fault

    def check(self) -> None:
        """Raises ValueError for a fault that cannot be served."""
        if self.count < 1:
            raise ValueError("count must be at least 1")
        if self.kind is FaultKind.SERVER_ERROR and not 500 <= self.status <= 599:
            raise ValueError("status must be a 5xx code")
        if self.retry_after < 0 or self.seconds < 0:
            raise ValueError("retry_after and seconds must not be negative")


class FaultPlan:
    """The faults still to serve, in the order they were armed, and a latency for every call."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._latency = 0.0

    def add(self, fault: Fault) -> Fault:
        fault.check()
        with self._lock:
            self._faults.append(fault)
        return fault

    def rate_limit(
        self, count: int = 1, *, retry_after: int = 1, method: str | None = None
    ) -> Fault:
        """The next `count` calls answer 429 with `Retry-After: retry_after`."""
        return self.add(Fault(FaultKind.RATE_LIMIT, count, method, retry_after=retry_after))

    def server_error(
        self, count: int = 1, *, status: int = 500, method: str | None = None
    ) -> Fault:
        """The next `count` calls answer with HTTP `status` (500, 502, 503…)."""
        return self.add(Fault(FaultKind.SERVER_ERROR, count, method, status=status))

    def stall(self, seconds: float, count: int = 1, *, method: str | None = None) -> Fault:
        """The next `count` calls wait `seconds` before being handled (and still take effect)."""
        return self.add(Fault(FaultKind.STALL, count, method, seconds=seconds))

    def drop(self, count: int = 1, *, method: str | None = None) -> Fault:
        """The next `count` calls get their connection closed without an answer."""
        return self.add(Fault(FaultKind.DROP, count, method))

    @property
    def latency(self) -> float:
        """Seconds added before answering every call (0 by default)."""
        with self._lock:
            return self._latency

    def set_latency(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("latency must not be negative")
        with self._lock:
            self._latency = seconds

    def take(self, method: str) -> Fault | None:
        """The first armed fault matching `method`, used up by one call; None when there is none."""
        with self._lock:
            for index, fault in enumerate(self._faults):
                if fault.matches(method):
                    left = replace(fault, count=fault.count - 1)
                    if left.count:
                        self._faults[index] = left
                    else:
                        del self._faults[index]
                    return fault
        return None

    def pending(self) -> list[Fault]:
        """The faults still armed, with their remaining counts."""
        with self._lock:
            return list(self._faults)

    def clear(self) -> None:
        """Disarms every fault and removes the latency."""
        with self._lock:
            self._faults.clear()
            self._latency = 0.0

    def to_json(self) -> dict[str, Any]:
        with self._lock:
            return {"faults": [f.to_json() for f in self._faults], "latency": self._latency}
