"""Slack's Web API rate limits: per method, per workspace, by tier; `chat.postMessage` per channel.

Slack publishes a tier for every method (https://docs.slack.dev/apis/web-api/rate-limits):
Tier 1 "1+ per minute", Tier 2 "20+ per minute … occasional bursts", Tier 3 "50+ per minute
… sporadic bursts are welcome", Tier 4 "100+ per minute … generous burst behavior", and
special limits, such as chat.postMessage "generally allows posting one message per second per
channel" ("Posting messages: 1 per second, short bursts >1 allowed"). Past a limit Slack
answers HTTP 429 with `Retry-After` (seconds) and `{"ok": false, "error": "ratelimited"}`.

Each method's tier is the one on its reference page (https://docs.slack.dev/reference/methods/
<method>), as Slack's own java-slack-sdk tabulates them (slack-api-client `MethodsRateLimits`,
`MethodsRateLimitTier`: auth.test and chat.getPermalink 600 per minute, chat.postMessage 60
per minute per channel). A limit is a token bucket: `per_minute` tokens refill evenly over the
minute, and up to `burst` may be spent at once (a tier's whole minute for Tiers 2 to 4, "bursts
welcome"; three messages for a channel's "short bursts"). The rates are Slack's by default; a
test may relax them (`relax`), saying why.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Limit:
    """`per_minute` calls a minute, up to `burst` at once."""

    per_minute: float
    burst: float

    @property
    def per_second(self) -> float:
        return self.per_minute / 60.0


TIER_2 = Limit(20, 20)
TIER_3 = Limit(50, 50)
TIER_4 = Limit(100, 100)
SPECIAL_600 = Limit(600, 600)  # auth.test, chat.getPermalink: "hundreds of requests per minute"
PER_CHANNEL_POST = Limit(60, 3)  # chat.postMessage, in each channel: 1 per second, short bursts

# The tier of each method the fake serves (https://docs.slack.dev/reference/methods/<method>).
TIERS: dict[str, Limit] = {
    "apps.manifest.export": TIER_3,
    "auth.test": SPECIAL_600,
    "chat.getPermalink": SPECIAL_600,
    "chat.postEphemeral": TIER_4,
    "chat.update": TIER_3,
    "conversations.open": TIER_3,
    "conversations.info": TIER_3,
    "conversations.history": TIER_3,
    "conversations.replies": TIER_3,
    "users.info": TIER_4,
    "users.lookupByEmail": TIER_3,
    "usergroups.users.list": TIER_2,
    "views.open": TIER_4,
    "views.update": TIER_4,
    "views.publish": TIER_4,
}
PER_CHANNEL = {"chat.postMessage": PER_CHANNEL_POST}


class _Bucket:
    def __init__(self, limit: Limit, now: float) -> None:
        self.limit = limit
        self.tokens = limit.burst
        self.at = now

    def refill(self, now: float) -> None:
        gained = (now - self.at) * self.limit.per_second
        self.tokens = min(self.limit.burst, self.tokens + gained)
        self.at = now

    def take(self, now: float) -> float:
        """0 when a call may go now (and spends its token), else the seconds to wait."""
        self.refill(now)
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.limit.per_second


class RateLimits:
    """The workspace's buckets; `check` is asked once per call, before the method runs."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[tuple[str, str], _Bucket] = {}
        self._factor = 1.0  # relax(): every rate and burst multiplied by this
        self._set: dict[str, Limit] = {}  # set_limit(): one method's own limit, for a test
        self.error = "ratelimited"  # Slack also answers `rate_limited` on some paths

    def limit_of(self, method: str) -> Limit | None:
        found = self._set.get(method) or PER_CHANNEL.get(method) or TIERS.get(method)
        if found is None or math.isinf(self._factor):
            return None
        return Limit(found.per_minute * self._factor, found.burst * self._factor)

    def check(self, method: str, channel: str | None = None) -> int | None:
        """None when the call may go ahead (its token spent); else `Retry-After` in seconds."""
        limit = self.limit_of(method)
        if limit is None:
            return None
        key = (method, channel or "") if method in PER_CHANNEL else (method, "")
        with self._lock:
            now = self._clock()
            bucket = self._buckets.get(key)
            if bucket is None or bucket.limit != limit:
                bucket = self._buckets[key] = _Bucket(limit, now)
            wait = bucket.take(now)
        return None if wait == 0 else max(1, math.ceil(wait))

    def level(self, method: str, channel: str | None = None) -> float:
        """The calls `method` could make at once now (its bucket's tokens)."""
        limit = self.limit_of(method)
        if limit is None:
            return math.inf
        key = (method, channel or "") if method in PER_CHANNEL else (method, "")
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                return limit.burst
            bucket.refill(self._clock())
            return bucket.tokens

    def relax(self, factor: float = math.inf) -> None:
        """Multiply every limit by `factor` (infinite: no limits). For tests that say why."""
        if factor <= 0:
            raise ValueError("the factor must be positive")
        with self._lock:
            self._factor = factor
            self._buckets.clear()

    def set_limit(self, method: str, limit: Limit) -> None:
        """`method` gets `limit` instead of its tier: for a test that needs a tier's arithmetic
        at another speed (saying why; the bot's pacer must be given the same)."""
        with self._lock:
            self._set[method] = limit
            self._buckets.clear()

    def reset(self) -> None:
        """Full buckets and Slack's usual error code (a relaxed factor and set limits stay)."""
        with self._lock:
            self._buckets.clear()
            self.error = "ratelimited"

    def to_json(self) -> dict[str, Any]:
        with self._lock:
            factor = None if math.isinf(self._factor) else self._factor
            return {"factor": factor, "error": self.error}
