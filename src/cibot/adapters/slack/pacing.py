"""Pacing Web API calls within Slack's rate-limit tiers, for every worker of one process.

Slack limits each method per workspace by tier (https://docs.slack.dev/apis/web-api/rate-limits:
Tier 2 "20+ per minute", Tier 3 "50+", Tier 4 "100+"; chat.postMessage about one message a
second per channel, short bursts allowed) and answers 429 with `Retry-After` past it. Sending
a fan-out as fast as the connection allows earns a 429 for every call past the burst, and each
of those costs a retry. Here every call first takes a slot from its method's token bucket (for
chat.postMessage, its channel's): a burst goes at once, the rest follows at the tier's rate, so
a fan-out of any size takes about the least time the tier allows and draws no 429.

The buckets live in one process. Other replicas (and calls made before a restart) spend the
same workspace budget unseen, so a 429 still comes now and then: its `Retry-After` holds the
method's bucket (every worker waits, not just the one refused), after which calls resume at
the tier's rate, without a burst. The tiers are those of Slack's method pages, as Slack's
java-slack-sdk tabulates them (`MethodsRateLimits`).

A bucket is kept as its theoretical arrival time (the "virtual scheduling" form of a token
bucket): a call may go when `tat - now <= (burst - 1) * interval`, and each call moves `tat`
one interval on. Reserving is done without awaiting, so concurrent callers queue in order.

One call of each bucket's burst is kept in hand (`HEADROOM`): calls granted at the very edge
of the budget reach Slack a few milliseconds off the spacing they left with (another delay,
another order), and at the edge that is a 429, which holds the method for a second or more for
every worker. Keeping one call in hand absorbs that jitter for the price of one interval.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Tier:
    per_minute: float
    burst: float

    @property
    def interval(self) -> float:
        return 60.0 / self.per_minute


TIER_2 = Tier(20, 20)
TIER_3 = Tier(50, 50)
TIER_4 = Tier(100, 100)
SPECIAL_600 = Tier(600, 600)  # auth.test, chat.getPermalink
PER_CHANNEL_POST = Tier(60, 3)  # chat.postMessage, per channel: 1 a second, short bursts

TIERS: dict[str, Tier] = {
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
PER_CHANNEL: dict[str, Tier] = {"chat.postMessage": PER_CHANNEL_POST}
HEADROOM = 1.0  # calls of each burst kept in hand against jitter (module docstring)
_EPSILON = 1e-6  # seconds: a slot computed in floating point is not missed by a rounding


class Pacer:
    """Token buckets per method (per channel for chat.postMessage), shared by all workers."""

    def __init__(
        self,
        tiers: dict[str, Tier] | None = None,
        per_channel: dict[str, Tier] | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        headroom: float = HEADROOM,
    ) -> None:
        self._headroom = headroom
        self._tiers = TIERS if tiers is None else tiers
        self._per_channel = PER_CHANNEL if per_channel is None else per_channel
        self._clock = clock
        self._sleep = sleep
        self._tat: dict[tuple[str, str], float] = {}
        self._held: dict[tuple[str, str], float] = {}  # no call before this time (a 429)
        self.waited = 0.0  # seconds callers spent waiting for a slot, all told (for figures)

    def _key(self, method: str, channel: str | None) -> tuple[tuple[str, str], Tier] | None:
        """The bucket of a call, and its tier less the headroom."""
        if method in self._per_channel:
            key, tier = (method, channel or ""), self._per_channel[method]
        elif method in self._tiers:
            key, tier = (method, ""), self._tiers[method]
        else:
            return None
        return key, Tier(tier.per_minute, max(1.0, tier.burst - self._headroom))

    def _reserve(self, method: str, channel: str | None, *, only_now: bool) -> float | None:
        """Seconds until this call's slot (reserving it); None when `only_now` and not now."""
        found = self._key(method, channel)
        if found is None:
            return 0.0
        key, tier = found
        now = self._clock()
        tat = max(self._tat.get(key, now), now)
        start = max(now, tat - (tier.burst - 1) * tier.interval, self._held.get(key, 0.0))
        if only_now and start > now:
            return None
        self._tat[key] = tat + tier.interval
        return start - now

    async def wait(self, method: str, channel: str | None = None) -> None:
        """Wait for a slot for one call of `method` (into `channel`); a 429 that came while
        waiting sends the caller back into the queue behind it."""
        found = self._key(method, channel)
        while True:
            delay = self._reserve(method, channel, only_now=False) or 0.0
            if delay > 0:
                self.waited += delay
                await self._sleep(delay)
            if found is None or self._clock() >= self._held.get(found[0], 0.0) - _EPSILON:
                return

    def take_now(self, method: str, channel: str | None = None) -> bool:
        """A slot at once, or False (and nothing reserved): for calls that cannot wait."""
        return self._reserve(method, channel, only_now=True) is not None

    def hold(self, method: str, channel: str | None, retry_after: float) -> None:
        """Slack said 429: no call of `method` before `retry_after` s, then one per interval."""
        found = self._key(method, channel)
        if found is None:
            return
        key, tier = found
        resume = self._clock() + retry_after
        self._held[key] = max(self._held.get(key, 0.0), resume)
        self._tat[key] = max(self._tat.get(key, 0.0), resume + (tier.burst - 1) * tier.interval)
