"""Retry decisions and backoff, as pure functions, plus the client-wide retry budget.

`decide_retry` looks at one failed attempt and says whether to try again and after how long; it
logs its decision on the `godeploy` logger (INFO when it retries, DEBUG when it gives up) and
changes nothing. The `RetryBudget` is the only state: a token bucket shared by every call of a
client, in the manner of the AWS SDKs' standard retry mode, so that an API that is down gets a
few retries, not a storm of them.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from typing import Final

from attrs import define, field

from godeploy._exceptions import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    GoDeployError,
)

__all__ = [
    "RETRYABLE_STATUSES",
    "RETRY_COST",
    "TIMEOUT_RETRY_COST",
    "RetryBudget",
    "RetryDecision",
    "RetryPolicy",
    "backoff_delay",
    "decide_retry",
    "parse_retry_after",
]

logger = logging.getLogger("godeploy")

RETRYABLE_STATUSES: Final = frozenset({408, 429, 500, 502, 503, 504})
RETRY_COST: Final = 5
TIMEOUT_RETRY_COST: Final = 10


@define(frozen=True, kw_only=True)
class RetryPolicy:
    """How a client retries failed GETs.

    Attributes:
        max_retries: retries after the first attempt (0 turns retrying off).
        backoff_base: the first backoff ceiling in seconds; it doubles each retry.
        backoff_cap: the largest backoff ceiling in seconds.
        retry_after_cap: the longest `Retry-After` honoured, in seconds; longer waits give up.
        retryable_statuses: the statuses worth another attempt.
    """

    max_retries: int = 3
    backoff_base: float = 0.5
    backoff_cap: float = 8.0
    retry_after_cap: float = 60.0
    retryable_statuses: frozenset[int] = RETRYABLE_STATUSES

    def __attrs_post_init__(self) -> None:
        if self.max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        if self.backoff_base < 0 or self.backoff_cap < 0 or self.retry_after_cap < 0:
            raise ValueError("backoff and Retry-After limits must be >= 0")


@define(frozen=True, kw_only=True)
class RetryDecision:
    """What to do after a failed attempt.

    Attributes:
        retry: whether to try again.
        delay: seconds to wait first.
        reason: a short explanation, for logs.
        cost: the retry-budget tokens this retry takes.
    """

    retry: bool
    delay: float = 0.0
    reason: str = ""
    cost: int = 0


def backoff_delay(
    policy: RetryPolicy, retry_number: int, rand: Callable[[], float] = random.random
) -> float:
    """Full-jitter exponential backoff: uniform in [0, min(cap, base * 2**(n-1))]."""
    ceiling: float = min(policy.backoff_cap, policy.backoff_base * 2.0 ** (retry_number - 1))
    return ceiling * rand()


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Read `Retry-After` as seconds (`"3"`) or as an HTTP date; None when absent or unreadable."""
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        seconds = float(when.timestamp()) - (time.time() if now is None else now)
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)


def decide_retry(
    policy: RetryPolicy,
    error: GoDeployError,
    *,
    retry_number: int,
    method: str,
    path: str,
    idempotent: bool,
    budget_available: Callable[[int], bool] = lambda cost: True,
    rand: Callable[[], float] = random.random,
) -> RetryDecision:
    """Decide whether the failed attempt behind `error` is worth retry number `retry_number`.

    Args:
        policy: the retry policy.
        error: what the attempt raised.
        retry_number: 1 for the first retry, 2 for the second, ...
        method: the request method, for the log line.
        path: the request path, for the log line.
        idempotent: whether repeating the request is safe. A request that is not (creating an
            order) is retried only when it provably never reached the server.
        budget_available: says whether the client-wide budget can pay a retry's cost.
        rand: the jitter source, in [0, 1).

    Returns:
        The decision; it has been logged.
    """
    decision = _decide(
        policy,
        error,
        retry_number=retry_number,
        idempotent=idempotent,
        budget_available=budget_available,
        rand=rand,
    )
    if decision.retry:
        logger.info(
            "retrying %s %s in %.2fs (retry %d of %d): %s",
            method,
            path,
            decision.delay,
            retry_number,
            policy.max_retries,
            decision.reason,
        )
    else:
        logger.debug("not retrying %s %s: %s", method, path, decision.reason)
    return decision


def _decide(
    policy: RetryPolicy,
    error: GoDeployError,
    *,
    retry_number: int,
    idempotent: bool,
    budget_available: Callable[[int], bool],
    rand: Callable[[], float],
) -> RetryDecision:
    """The decision of `decide_retry`, without the logging."""
    reason = _describe(error)
    if retry_number > policy.max_retries:
        return RetryDecision(retry=False, reason=f"{reason}; no retries left")
    if isinstance(error, APIConnectionError):
        if not idempotent and error.request_sent:
            return RetryDecision(retry=False, reason=f"{reason}; the request may have arrived")
        cost = TIMEOUT_RETRY_COST if isinstance(error, APITimeoutError) else RETRY_COST
    elif isinstance(error, APIStatusError) and error.status in policy.retryable_statuses:
        if not idempotent:
            return RetryDecision(retry=False, reason=f"{reason}; not safe to repeat")
        cost = RETRY_COST
    else:
        return RetryDecision(retry=False, reason=f"{reason}; not retryable")
    if not budget_available(cost):
        return RetryDecision(retry=False, reason=f"{reason}; client retry budget exhausted")
    delay = backoff_delay(policy, retry_number, rand)
    retry_after = error.retry_after if isinstance(error, APIStatusError) else None
    if retry_after is not None:
        if retry_after > policy.retry_after_cap:
            return RetryDecision(
                retry=False, reason=f"{reason}; Retry-After {retry_after:.0f}s is too long"
            )
        delay = max(delay, retry_after)
    return RetryDecision(retry=True, delay=delay, reason=reason, cost=cost)


def _describe(error: GoDeployError) -> str:
    """A short cause for a log line."""
    if isinstance(error, APIStatusError):
        return f"status {error.status}"
    if isinstance(error, APITimeoutError):
        return "timeout"
    if isinstance(error, APIConnectionError):
        return "connection error"
    return type(error).__name__


@define(kw_only=True)
class RetryBudget:
    """A client-wide token bucket that pays for retries (the AWS SDKs' standard retry mode).

    A retry takes `RETRY_COST` tokens (`TIMEOUT_RETRY_COST` after a timeout); a successful
    request gives one back. When the bucket cannot pay, failures are raised at once instead of
    retried.

    Attributes:
        capacity: the most tokens the bucket holds.
        tokens: the tokens it holds now.
    """

    capacity: int = 500
    tokens: float = field(init=False)

    def __attrs_post_init__(self) -> None:
        self.tokens = float(self.capacity)

    def can_pay(self, cost: int) -> bool:
        """Whether a retry of this cost can be paid now."""
        return self.tokens >= cost

    def pay(self, cost: int) -> None:
        """Take the cost of a retry."""
        self.tokens = max(0.0, self.tokens - cost)

    def refund(self, amount: float = 1.0) -> None:
        """Give tokens back after a success."""
        self.tokens = min(float(self.capacity), self.tokens + amount)
