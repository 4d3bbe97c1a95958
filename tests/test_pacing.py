"""Pacing: the GCRA rate limiter, the 429 pause and the retry budget behind `Limits`."""

from __future__ import annotations

import pytest

from godeploy import (
    Admission,
    GoDeployClient,
    Limits,
    LocalLimits,
    RetryBudget,
)
from godeploy._pacing import RateLimiter

UNIT = "2286550d-91ef-4cdd-84f0-7bffa47e7cc2"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_local_limits_speak_the_protocol():
    assert isinstance(LocalLimits(), Limits)


def test_the_limiter_books_nothing_beyond_max_wait():
    clock = Clock()
    limiter = RateLimiter(10, burst=2, clock=clock)
    assert [limiter.reserve(0.15)[0] for _ in range(2)] == [0.0, 0.0]
    assert limiter.reserve(0.15) == pytest.approx((0.1, True))
    wait, booked = limiter.reserve(0.15)  # the next slot is 0.2 s away
    assert not booked and wait == pytest.approx(0.2)
    # Nothing was booked: the same slot is still the next one.
    assert limiter.reserve(None) == pytest.approx((0.2, True))


def test_a_released_slot_goes_to_the_next_caller():
    clock = Clock()
    limiter = RateLimiter(1, burst=1, clock=clock)
    limiter.reserve()
    assert limiter.reserve() == pytest.approx((1.0, True))
    limiter.release()
    assert limiter.reserve() == pytest.approx((1.0, True))


async def test_a_pause_books_nothing_and_only_ever_extends():
    clock = Clock()
    limits = LocalLimits(max_requests_per_second=1, clock=clock)
    await limits.pause(5)
    await limits.pause(2)  # shorter: the 5 s pause stands
    admission = await limits.admit(None)
    assert admission == Admission(paused=5.0, booked=False)
    assert limits.paused_for() == 5.0
    clock.now += 5
    assert limits.paused_for() == 0.0
    assert (await limits.admit(None)).booked  # the burst slot was never taken by the pause


async def test_the_budget_pays_only_what_it_holds():
    limits = LocalLimits(retry_budget=RetryBudget(capacity=10))
    assert await limits.try_pay(5)
    assert await limits.try_pay(5)
    assert not await limits.try_pay(5)
    for _ in range(20):
        limits.refund()
    assert limits.budget() == (10.0, 10.0)


async def test_a_client_shares_limits_it_is_given_and_does_not_close_them():
    limits = LocalLimits(max_requests_per_second=3)
    async with (
        GoDeployClient("t", UNIT, limits=limits) as first,
        GoDeployClient("t", UNIT, limits=limits) as second,
    ):
        assert first.limits is second.limits is limits
