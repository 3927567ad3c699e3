"""The pacer: a method's calls go in a burst, then one per interval of its tier; a 429 holds
the method for every caller; one call of each burst is kept in hand against jitter."""

from __future__ import annotations

from cibot.adapters.slack.pacing import PER_CHANNEL_POST, TIER_3, Pacer


class Clock:
    """Time that passes only when a caller sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


async def start_times(
    pacer: Pacer, clock: Clock, calls: int, method: str, **kw: str
) -> list[float]:
    """When each of `calls` concurrent callers is let through, from now."""
    begun = clock.now
    seen: list[float] = []

    async def one() -> None:
        await pacer.wait(method, kw.get("channel"))
        seen.append(round(clock.now - begun, 3))

    # The fake clock moves per sleeper: run the callers one after another, as they queue.
    for _ in range(calls):
        await one()
    return seen


async def test_a_tier_3_method_goes_in_a_burst_less_one_then_one_every_1_2_seconds() -> None:
    clock = Clock()
    pacer = Pacer(clock=clock, sleep=clock.sleep)

    times = await start_times(pacer, clock, 52, "chat.update")

    burst = int(TIER_3.burst) - 1  # one kept in hand
    assert times[:burst] == [0.0] * burst
    assert times[burst:] == [1.2, 2.4, 3.6]


async def test_chat_post_message_is_paced_per_channel() -> None:
    clock = Clock()
    pacer = Pacer(clock=clock, sleep=clock.sleep)

    one_channel = await start_times(pacer, clock, 4, "chat.postMessage", channel="D1")
    others = [
        await start_times(pacer, clock, 1, "chat.postMessage", channel=f"D{i}") for i in range(2, 6)
    ]

    assert one_channel == [0.0, 0.0, 1.0, 2.0], "a short burst, then one a second"
    assert others == [[0.0]] * 4, "another conversation has its own budget"
    assert PER_CHANNEL_POST.per_minute == 60


async def test_a_429_holds_the_method_for_every_caller_then_resumes_without_a_burst() -> None:
    clock = Clock()
    pacer = Pacer(clock=clock, sleep=clock.sleep)
    pacer.hold("chat.update", None, 3.0)

    times = await start_times(pacer, clock, 3, "chat.update")

    assert times == [3.0, 4.2, 5.4]
    assert pacer.take_now("views.open"), "other methods are not held"


async def test_a_call_that_cannot_wait_gets_a_slot_now_or_none() -> None:
    clock = Clock()
    pacer = Pacer(clock=clock, sleep=clock.sleep)
    pacer.hold("views.open", None, 1.0)

    assert not pacer.take_now("views.open")
    clock.now += 1.0
    assert pacer.take_now("views.open")
