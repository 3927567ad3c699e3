"""The one retry policy for outbound calls: exponential backoff with full jitter.

Set from the `retry:` settings (zero attempts in unit tests). A server's `Retry-After` is a
floor on the wait, never ignored. The job runner uses the same delays between job attempts.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


def retry_after_seconds(header: object) -> float | None:
    """A `Retry-After` header in seconds (the only form Slack and Kubernetes send), or None."""
    if isinstance(header, list):  # slack_sdk keeps each header as a list of values
        header = header[0] if header else None
    return float(header) if isinstance(header, str) and header.isdigit() else None


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 5  # tries in all, the first included
    base_seconds: float = 0.5
    max_seconds: float = 30.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait after failed try number `attempt` (1-based)."""
        ceiling = min(self.max_seconds, self.base_seconds * 2 ** max(attempt - 1, 0))
        wait = random.uniform(0, ceiling)
        return max(wait, retry_after or 0.0)


NO_RETRY = RetryPolicy(attempts=1, base_seconds=0.0, max_seconds=0.0)


class RetryLater(Exception):
    """Raised by a call that may succeed if tried again, optionally after `retry_after` s."""

    def __init__(self, cause: BaseException, retry_after: float | None = None) -> None:
        super().__init__(str(cause))
        self.cause = cause
        self.retry_after = retry_after


async def with_retries(policy: RetryPolicy, call: Callable[[], Awaitable[T]]) -> T:
    """Run `call`, retrying each RetryLater per the policy; re-raise the last one."""
    attempt = 1
    while True:
        try:
            return await call()
        except RetryLater as exc:
            if attempt >= policy.attempts:
                raise
            await asyncio.sleep(policy.delay(attempt, exc.retry_after))
            attempt += 1
