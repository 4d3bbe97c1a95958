"""Pacing: the request-rate limit, the pause after a 429 and the retry budget, behind one protocol.

A client holds one `Limits`; every attempt of every call asks it for a slot (`admit`), a 429
with `Retry-After` sets a pause through it, and every retry pays for itself from its budget.
`LocalLimits` (the default) keeps that state in this process; `godeploy.fleet.FleetLimits`
shares it through Redis between every client of a fleet. The core only speaks the protocol, so
either plugs in without touching the call loop.

The core's side of the contract, for one attempt::

    admission = await limits.admit(max_wait=seconds_left_of_the_call)
    # paused > 0: nothing booked; wait out the pause (or fail fast) and ask again
    # not booked: the slot is further than the deadline; fail at once, nothing sent
    # else: sleep `wait`, then send; release(admission) if the call ends before sending
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol, runtime_checkable

from attrs import define, field

from godeploy._config import (
    check_option,
    instance_of,
    integer_at_least,
    is_callable,
    optional,
    positive,
    positive_or_none,
)

__all__ = [
    "GO",
    "Admission",
    "Limits",
    "LocalLimits",
    "RateLimiter",
    "RetryBudget",
]


@define(frozen=True, slots=True, kw_only=True)
class Admission:
    """The limits' answer to one attempt asking to go.

    Attributes:
        wait: seconds until the booked slot (0: go now); when nothing was booked because the
            slot is too far, how far it is.
        paused: when > 0, a 429 pause holds for this many more seconds and nothing was booked.
        booked: whether a slot was booked for this attempt.
        ticket: the limits' own handle on the slot, for `Limits.release`.
    """

    wait: float = 0.0
    paused: float = 0.0
    booked: bool = True
    ticket: object = None


GO = Admission()
"""Go now: no limit, no pause (shared, since it is immutable)."""


@runtime_checkable
class Limits(Protocol):
    """The pacing shared by every call of a client (or, with `FleetLimits`, of a fleet)."""

    async def admit(self, max_wait: float | None) -> Admission:
        """Book a slot for one attempt if it can start within `max_wait` seconds (None: any).

        Checks the 429 pause in the same step; books nothing while paused or when the slot
        is further away than `max_wait`.
        """
        ...

    def release(self, admission: Admission) -> None:
        """Give back a booked slot that will not be used (cancelled, closed, timed out)."""
        ...

    def paused_for(self) -> float:
        """Seconds left of a pause known here (no I/O): checked again after a rate wait."""
        ...

    async def pause(self, seconds: float) -> None:
        """Hold every request for `seconds` after a 429 (only ever extends a pause)."""
        ...

    async def try_pay(self, cost: int) -> bool:
        """Pay a retry's cost from the retry budget; False when it cannot."""
        ...

    def refund(self) -> None:
        """Give one token back to the retry budget after a success (no I/O)."""
        ...

    def budget(self) -> tuple[float, float]:
        """The retry budget's tokens left and its capacity."""
        ...

    async def aclose(self) -> None:
        """Release what the limits own; calling it twice is harmless."""
        ...


@define(kw_only=True)
class RetryBudget:
    """A token bucket that pays for retries (the AWS SDKs' standard retry mode).

    A retry takes `RETRY_COST` tokens (`TIMEOUT_RETRY_COST` after a timeout); a successful
    request gives one back. When the bucket cannot pay, failures are raised at once instead of
    retried, so an API that is down gets a few retries, not a storm of them.

    Attributes:
        capacity: the most tokens the bucket holds.
        tokens: the tokens it holds now.
    """

    capacity: int = field(default=500, validator=integer_at_least(1))
    tokens: float = field(init=False)

    def __attrs_post_init__(self) -> None:
        self.tokens = float(self.capacity)

    def pay(self, cost: int) -> bool:
        """Take the cost of a retry if the bucket holds it; say whether it did."""
        if self.tokens < cost:
            return False
        self.tokens -= cost
        return True

    def refund(self, amount: float = 1.0) -> None:
        """Give tokens back after a success."""
        if amount >= 0 and self.tokens == self.capacity:
            return  # full already (the common case): no write, whose attrs hooks cost
        tokens = self.tokens + amount
        self.tokens = tokens if tokens < self.capacity else float(self.capacity)


class RateLimiter:
    """A token bucket over every request (GCRA: each request books the next free slot).

    Args:
        rate: requests per second on average.
        burst: requests that may go at once after a quiet spell (default: one second's worth).
        clock: the monotonic clock (for tests).
    """

    def __init__(
        self, rate: float, burst: int | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = float(check_option("max_requests_per_second", rate, positive))
        if burst is None:
            burst = max(1, int(rate))
        self.burst = check_option("burst", burst, integer_at_least(1))
        self._interval = 1.0 / self.rate
        self._clock = clock
        self._theoretical_arrival = clock()

    def reserve(self, max_wait: float | None = None) -> tuple[float, bool]:
        """Book the next slot unless it is more than `max_wait` away; return (wait, booked)."""
        now = self._clock()
        arrival = max(self._theoretical_arrival, now) + self._interval
        wait = arrival - self.burst * self._interval - now
        if wait <= 0:
            wait = 0.0
        elif max_wait is not None and wait > max_wait:
            return wait, False
        self._theoretical_arrival = arrival
        return wait, True

    def release(self) -> None:
        """Give one booked slot back (its request will not be sent)."""
        self._theoretical_arrival -= self._interval


class LocalLimits:
    """The pacing of one client, in this process: the default `Limits`.

    Args:
        max_requests_per_second: a request-rate limit over every call (None: no limit).
        burst: requests that may go at once after a quiet spell (default: one second's worth).
        retry_budget: the token bucket that pays for retries (default: 500 tokens).
        clock: the monotonic clock (for tests).
    """

    def __init__(
        self,
        *,
        max_requests_per_second: float | None = None,
        burst: int | None = None,
        retry_budget: RetryBudget | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        check_option("max_requests_per_second", max_requests_per_second, positive_or_none)
        check_option("burst", burst, optional(integer_at_least(1)))
        check_option("retry_budget", retry_budget, optional(instance_of(RetryBudget)))
        check_option("clock", clock, is_callable)
        self._rate = (
            None
            if max_requests_per_second is None
            else RateLimiter(max_requests_per_second, burst, clock)
        )
        self.retry_budget = retry_budget if retry_budget is not None else RetryBudget()
        self._clock = clock
        self._paused_until = 0.0

    @property
    def max_requests_per_second(self) -> float | None:
        """The request-rate limit, if any."""
        return None if self._rate is None else self._rate.rate

    def admits_at_once(self) -> bool:
        """Whether `admit` would answer `GO` now, with nothing to book: no rate, no pause.

        Checked without an await first (the core's fast path): a call that nothing holds back
        need not suspend to be told so.
        """
        return self._rate is None and not self._paused_until

    async def admit(self, max_wait: float | None) -> Admission:
        """See `Limits.admit`."""
        if self._paused_until:
            paused = self._paused_until - self._clock()
            if paused > 0:
                return Admission(paused=paused, booked=False)
            self._paused_until = 0.0
        if self._rate is None:
            return GO
        wait, booked = self._rate.reserve(max_wait)
        return GO if wait == 0 else Admission(wait=wait, booked=booked)

    def release(self, admission: Admission) -> None:
        """See `Limits.release`."""
        if admission.booked and self._rate is not None:
            self._rate.release()

    def paused_for(self) -> float:
        """See `Limits.paused_for`."""
        return max(0.0, self._paused_until - self._clock()) if self._paused_until else 0.0

    async def pause(self, seconds: float) -> None:
        """See `Limits.pause`."""
        self._paused_until = max(self._paused_until, self._clock() + seconds)

    async def try_pay(self, cost: int) -> bool:
        """See `Limits.try_pay`."""
        return self.retry_budget.pay(cost)

    def refund(self) -> None:
        """See `Limits.refund`."""
        self.retry_budget.refund()

    def budget(self) -> tuple[float, float]:
        """See `Limits.budget`."""
        return self.retry_budget.tokens, float(self.retry_budget.capacity)

    async def aclose(self) -> None:
        """Nothing to release."""

    def __repr__(self) -> str:
        rate = self.max_requests_per_second
        tokens, capacity = self.budget()
        return (
            f"<LocalLimits max_requests_per_second={rate!r} retry_budget={tokens:g}/{capacity:g}>"
        )
