"""Retry decisions and backoff, as pure functions.

`decide_retry` looks at one failed attempt and says whether to try again and after how long; it
changes nothing. `log_decision` writes the decision the core finally takes (after the retry
budget and the call's deadline had their say) on the `godeploy` logger: INFO when it retries,
DEBUG when it gives up. The budget itself is pacing state and lives in `_pacing`.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from typing import Final

import attrs
from attrs import define, field

from godeploy._config import integer_at_least, non_negative, statuses
from godeploy._exceptions import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    GoDeployError,
    error_type,
    proves_refusal,
)

__all__ = [
    "RETRYABLE_STATUSES",
    "RETRY_COST",
    "TIMEOUT_RETRY_COST",
    "RetryDecision",
    "RetryPolicy",
    "backoff_delay",
    "decide_retry",
    "log_decision",
    "with_max_retries",
]

logger = logging.getLogger("godeploy")

RETRYABLE_STATUSES: Final = frozenset({408, 429, 500, 502, 503, 504})
RETRY_COST: Final = 5
TIMEOUT_RETRY_COST: Final = 10


@define(frozen=True, kw_only=True)
class RetryPolicy:
    """How a client retries failed calls.

    A GET is retried on the statuses below and on connection errors. A create is retried only
    where it provably did nothing: a connect error, or a status that proves the API refused it
    (408, 429: `proves_refusal`).

    Attributes:
        max_retries: retries after the first attempt (0 turns retrying off).
        backoff_base: the first backoff ceiling in seconds; it doubles each retry.
        backoff_cap: the largest backoff ceiling in seconds.
        retry_after_cap: the longest `Retry-After` honoured, in seconds; longer waits give up.
        retryable_statuses: the statuses worth another attempt.
    """

    max_retries: int = field(default=3, validator=integer_at_least(0))
    backoff_base: float = field(default=0.5, validator=non_negative)
    backoff_cap: float = field(default=8.0, validator=non_negative)
    retry_after_cap: float = field(default=60.0, validator=non_negative)
    # mypy's attrs plugin reads no Converter object: the field stays typed as declared.
    retryable_statuses: frozenset[int] = field(
        default=RETRYABLE_STATUSES,
        converter=statuses,  # type: ignore[misc]
    )


@define(frozen=True, kw_only=True)
class RetryDecision:
    """What to do after a failed attempt.

    Attributes:
        retry: whether to try again.
        delay: seconds to wait first.
        reason: what failed, in the vocabulary of hooks and telemetry (`"503"`, `"timeout"`).
        why: when it is not retried, why not (for logs).
        cost: the retry-budget tokens this retry takes.
    """

    retry: bool
    delay: float = 0.0
    reason: str = ""
    why: str = ""
    cost: int = 0

    def declined(self, why: str) -> RetryDecision:
        """The same failure, not retried after all, for the reason `why`."""
        return RetryDecision(retry=False, reason=self.reason, why=why)


def backoff_delay(
    policy: RetryPolicy, retry_number: int, rand: Callable[[], float] = random.random
) -> float:
    """Full-jitter exponential backoff: uniform in [0, min(cap, base * 2**(n-1))]."""
    ceiling: float = min(policy.backoff_cap, policy.backoff_base * 2.0 ** (retry_number - 1))
    return ceiling * rand()


def decide_retry(
    policy: RetryPolicy,
    error: GoDeployError,
    *,
    retry_number: int,
    idempotent: bool,
    rand: Callable[[], float] = random.random,
) -> RetryDecision:
    """Decide whether the failed attempt behind `error` is worth retry number `retry_number`.

    Args:
        policy: the retry policy.
        error: what the attempt raised.
        retry_number: 1 for the first retry, 2 for the second, ...
        idempotent: whether repeating the request is safe. A request that is not (creating an
            order) is retried only when it provably never reached the server, or the API
            refused it without acting on it (a 408 or a 429).
        rand: the jitter source, in [0, 1).

    Returns:
        The decision (not logged: the core logs the one it takes, with `log_decision`).
    """
    decision = RetryDecision(retry=False, reason=error_type(error))
    if retry_number > policy.max_retries:
        return decision.declined("no retries left")
    if isinstance(error, APIConnectionError):
        if not idempotent and error.request_sent:
            return decision.declined("the request may have arrived")
        cost = TIMEOUT_RETRY_COST if isinstance(error, APITimeoutError) else RETRY_COST
    elif isinstance(error, APIStatusError) and error.status in policy.retryable_statuses:
        # A status that proves the API refused the request (a 429) is safe to repeat even
        # when the request is not: nothing was done.
        if not idempotent and not proves_refusal(error.status):
            return decision.declined("not safe to repeat")
        cost = RETRY_COST
    else:
        return decision.declined("not retryable")
    delay = backoff_delay(policy, retry_number, rand)
    retry_after = error.retry_after if isinstance(error, APIStatusError) else None
    if retry_after is not None:
        if retry_after > policy.retry_after_cap:
            return decision.declined(f"it asked to wait {retry_after:.3g}s, past retry_after_cap")
        delay = max(delay, retry_after)
    return RetryDecision(retry=True, delay=delay, reason=decision.reason, cost=cost)


def log_decision(
    decision: RetryDecision,
    policy: RetryPolicy,
    *,
    retry_number: int,
    method: str,
    path: str,
    operation: str = "",
) -> None:
    """Log the decision taken after a failed attempt: INFO for a retry, DEBUG otherwise."""
    extra = {"operation": operation, "attempt": retry_number, "reason": decision.reason}
    if decision.retry:
        logger.info(
            "retrying %s %s in %.2fs (retry %d of %d): %s",
            method,
            path,
            decision.delay,
            retry_number,
            policy.max_retries,
            decision.reason,
            extra=extra,
        )
    else:
        logger.debug(
            "not retrying %s %s: %s (%s)",
            method,
            path,
            decision.reason,
            decision.why,
            extra=extra,
        )


def with_max_retries(policy: RetryPolicy, max_retries: int | None) -> RetryPolicy:
    """The policy with another retry count (the per-call and client `max_retries=`)."""
    return policy if max_retries is None else attrs.evolve(policy, max_retries=max_retries)
