"""The client core: one call = auth, pacing, attempts, retries, errors and decoding.

Resources build a URL and say what the answer decodes to; `ClientCore.request` does the rest:
it adds the business unit and the bearer token, waits out a client-wide 429 pause and the rate
limit, sends through the transport, maps an error status to its typed error, retries what the
policy allows within the call's deadline, and decodes the body into a model.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import attrs
from attrs import define
from yarl import URL

from godeploy._config import Timeout, check_business_unit_id
from godeploy._converter import structure_json
from godeploy._exceptions import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    ClientClosedError,
    GoDeployError,
    RequestValidationError,
    status_error_class,
)
from godeploy._retry import RetryBudget, RetryPolicy, decide_retry, parse_retry_after
from godeploy._transport import AsyncTransport, TransportRequest, TransportResponse

__all__ = [
    "CallOptions",
    "ClientCore",
    "RateLimiter",
    "TokenProvider",
    "TokenSource",
]

logger = logging.getLogger("godeploy")

T = TypeVar("T")

TokenProvider = str | Callable[[], Awaitable[str]]
"""A bearer token, or an async callable that returns a fresh one (rotating JWTs)."""

_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")
_REQUEST_ID_HEADERS = ("x-request-id", "request-id", "x-correlation-id", "x-trace-id")
_MAX_ERROR_TEXT = 2000


@define(frozen=True, kw_only=True)
class CallOptions:
    """The per-call overrides every operation accepts.

    Attributes:
        business_unit_id: the business unit of this call (the client's default when None).
        timeout: the time limits of this call.
        max_retries: retries of this call (the client's policy when None).
    """

    business_unit_id: str
    timeout: Timeout
    max_retries: int | None = None


class TokenSource:
    """Hands out the bearer token; asks a callable again, once, when a 401 shows it is stale.

    A token from a callable is kept until a 401 answers a request made with it. Then the first
    request to notice asks the callable once more; requests that carried the same stale token
    wait for that one refresh instead of starting their own.
    """

    def __init__(self, token: TokenProvider) -> None:
        if isinstance(token, str):
            if not token.strip():
                raise RequestValidationError("token must not be empty")
            if _CONTROL_CHARACTERS.search(token):
                # It could not go in a header: refused here rather than by aiohttp mid-request.
                raise RequestValidationError("token must not contain control characters")
            self._static: str | None = token
            self._provider: Callable[[], Awaitable[str]] | None = None
        elif callable(token):
            self._static = None
            self._provider = token
        else:
            raise RequestValidationError("token must be a string or an async callable")
        self._current: str | None = self._static
        self._generation = 0
        self._lock = asyncio.Lock()

    @property
    def refreshable(self) -> bool:
        """Whether a stale token can be replaced."""
        return self._provider is not None

    @property
    def refresh_count(self) -> int:
        """How many times the callable was asked for a token."""
        return self._generation

    def cached(self) -> tuple[str, int] | None:
        """The token to use and its generation when no await is needed (the common case)."""
        if self._current is None:
            return None
        return self._current, self._generation

    async def get(self) -> tuple[str, int]:
        """Return the token to use and its generation."""
        if self._current is not None:
            return self._current, self._generation
        async with self._lock:
            if self._current is None:
                await self._fetch()
            assert self._current is not None
            return self._current, self._generation

    async def refresh(self, stale_generation: int) -> bool:
        """Replace the token of `stale_generation` unless another request already did."""
        if self._provider is None:
            return False
        async with self._lock:
            if self._generation == stale_generation:
                await self._fetch()
        return True

    async def _fetch(self) -> None:
        """Ask the callable for a token (under the lock)."""
        assert self._provider is not None
        token = await self._provider()
        if not isinstance(token, str) or not token.strip() or _CONTROL_CHARACTERS.search(token):
            raise RequestValidationError(
                "the token callable must return a non-empty string without control characters"
            )
        self._current = token
        self._generation += 1

    def __repr__(self) -> str:
        kind = "callable" if self._provider is not None else "static"
        return f"<TokenSource {kind} token=***>"


class RateLimiter:
    """A token bucket over every request of a client (GCRA: each request books a slot).

    Args:
        rate: requests per second on average.
        burst: requests that may go at once after a quiet spell.
        clock: the monotonic clock (for tests).
    """

    def __init__(
        self, rate: float, burst: int | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if not rate > 0:
            raise RequestValidationError(f"max_requests_per_second must be > 0, got {rate!r}")
        self.rate = float(rate)
        self.burst = max(1, int(burst if burst is not None else max(1.0, rate)))
        self._interval = 1.0 / self.rate
        self._clock = clock
        self._theoretical_arrival = clock()

    def reserve(self) -> float:
        """Book the next slot and return the seconds to wait for it."""
        now = self._clock()
        arrival = max(self._theoretical_arrival, now) + self._interval
        self._theoretical_arrival = arrival
        return max(0.0, arrival - self.burst * self._interval - now)

    async def acquire(self) -> None:
        """Wait for this request's slot."""
        wait = self.reserve()
        if wait > 0:
            await asyncio.sleep(wait)


class ClientCore:
    """What every resource calls: builds, sends, retries and decodes one API call."""

    def __init__(
        self,
        *,
        transport: AsyncTransport,
        base_url: URL,
        token: TokenSource,
        business_unit_id: str | None,
        timeout: Timeout,
        retry_policy: RetryPolicy,
        retry_budget: RetryBudget,
        rate_limiter: RateLimiter | None,
        user_agent: str,
    ) -> None:
        self.transport = transport
        self.base_url = base_url
        self.token = token
        self.business_unit_id = business_unit_id
        self.timeout = timeout
        self.retry_policy = retry_policy
        self.retry_budget = retry_budget
        self.rate_limiter = rate_limiter
        self.user_agent = user_agent
        self.closed = False
        self.stats: dict[str, int] = {"requests": 0, "retries": 0, "token_refreshes": 0}
        self._paused_until = 0.0

    def url(self, *segments: str | int) -> URL:
        """The absolute URL of an API path below the base URL."""
        return self.base_url.joinpath(*map(str, segments))

    def options(
        self,
        *,
        business_unit_id: object = None,
        timeout: Timeout | None = None,
        max_retries: int | None = None,
    ) -> CallOptions:
        """Resolve a call's overrides against the client's defaults, checking them."""
        if max_retries is not None and (isinstance(max_retries, bool) or max_retries < 0):
            raise RequestValidationError(f"max_retries must be >= 0, got {max_retries!r}")
        unit = business_unit_id if business_unit_id is not None else self.business_unit_id
        return CallOptions(
            business_unit_id=check_business_unit_id(unit),
            timeout=timeout or self.timeout,
            max_retries=max_retries,
        )

    async def request(
        self,
        method: str,
        url: URL,
        cast_to: type[T],
        options: CallOptions,
        *,
        query: Mapping[str, str | int] | None = None,
        json_body: Any = None,
        idempotent: bool = True,
    ) -> T:
        """Make one API call and decode its answer into `cast_to`.

        Args:
            method: the HTTP method.
            url: the absolute URL (its own query is kept, then `query` and the unit are set).
            cast_to: the model the 2xx body decodes to.
            options: the call's business unit, timeout and retries.
            query: query parameters to set.
            json_body: JSON-ready data to send.
            idempotent: False for a call that must not be repeated once it may have arrived.

        Returns:
            The decoded model.
        """
        if self.closed:
            raise ClientClosedError("the client is closed")
        loop = asyncio.get_running_loop()
        timeout = options.timeout
        deadline = None if timeout.total is None else loop.time() + timeout.total
        policy = self.retry_policy
        if options.max_retries is not None:
            policy = attrs.evolve(policy, max_retries=options.max_retries)
        parameters = {**(query or {}), "businessUnitId": options.business_unit_id}
        # The same URL either way; with_query is the cheaper when the URL has no query yet.
        full_url = (
            url.update_query(parameters) if url.raw_query_string else url.with_query(parameters)
        )
        body = None if json_body is None else json.dumps(json_body).encode()
        retry_number = 0
        refreshed = False
        while True:
            if self._paused_until > time.monotonic():
                await self._wait_for_pause(deadline, method, full_url)
            if self.rate_limiter is not None:
                await self.rate_limiter.acquire()
            token, generation = self.token.cached() or await self.token.get()
            outcome = await self._attempt(
                method, full_url, body, token, timeout, deadline, retry_number + 1
            )
            if not isinstance(outcome, GoDeployError):
                self.retry_budget.refund()
                return structure_json(outcome.body, cast_to, url=full_url)
            error = outcome
            if isinstance(error, AuthenticationError) and self.token.refreshable and not refreshed:
                # The token expired: one fresh token, one more try, not counted as a retry.
                refreshed = True
                await self.token.refresh(generation)
                self.stats["token_refreshes"] = self.token.refresh_count
                continue
            retry_number += 1
            decision = decide_retry(
                policy,
                error,
                retry_number=retry_number,
                method=method,
                path=full_url.path,
                idempotent=idempotent,
                budget_available=self.retry_budget.can_pay,
            )
            if not decision.retry:
                raise error
            if deadline is not None and loop.time() + decision.delay >= deadline:
                logger.info("not retrying %s %s: the call's deadline", method, full_url.path)
                raise error
            self.retry_budget.pay(decision.cost)
            self.stats["retries"] += 1
            await asyncio.sleep(decision.delay)

    async def _attempt(
        self,
        method: str,
        url: URL,
        body: bytes | None,
        token: str,
        timeout: Timeout,
        deadline: float | None,
        attempt: int,
    ) -> TransportResponse | GoDeployError:
        """Send one attempt; return the 2xx response or the error it came to."""
        loop = asyncio.get_running_loop()
        attempt_timeout = timeout.attempt
        if deadline is not None:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise APITimeoutError(
                    f"{method} {url.path}: the call's deadline passed",
                    method=method,
                    url=url,
                    request_sent=attempt > 1,
                )
            attempt_timeout = (
                remaining if attempt_timeout is None else min(attempt_timeout, remaining)
            )
        headers = {
            "Authorization": f"Bearer {token}",
            "Accept": "application/json",
            "User-Agent": self.user_agent,
        }
        if body is not None:
            headers["Content-Type"] = "application/json"
        request = TransportRequest(
            method=method,
            url=url,
            headers=headers,
            body=body,
            timeout=attempt_timeout,
            connect_timeout=timeout.connect,
        )
        started = loop.time()
        self.stats["requests"] += 1
        try:
            response = await self.transport.send(request)
        except APIConnectionError as error:
            elapsed = (loop.time() - started) * 1000
            logger.debug(
                "%s %s failed (%s) %.1fms attempt=%d",
                method,
                url.path,
                type(error).__name__,
                elapsed,
                attempt,
            )
            return error
        if logger.isEnabledFor(logging.DEBUG):
            elapsed = (loop.time() - started) * 1000
            logger.debug(
                "%s %s %d %.1fms attempt=%d", method, url.path, response.status, elapsed, attempt
            )
        if 200 <= response.status < 300:
            return response
        status_error = self._status_error(method, url, response)
        if status_error.status == 429 and status_error.retry_after:
            self._pause(min(status_error.retry_after, self.retry_policy.retry_after_cap))
        return status_error

    def _status_error(self, method: str, url: URL, response: TransportResponse) -> APIStatusError:
        """Build the typed error of an error response."""
        body: Any = response.body.decode("utf-8", errors="replace")
        if "json" in response.headers.get("Content-Type", ""):
            # RecursionError: a body nested deeper than the decoder goes is kept as text.
            with contextlib.suppress(ValueError, RecursionError):
                body = json.loads(body)
        if isinstance(body, str) and len(body) > _MAX_ERROR_TEXT:
            body = body[:_MAX_ERROR_TEXT] + "…"
        request_id = next(
            (response.headers[name] for name in _REQUEST_ID_HEADERS if name in response.headers),
            None,
        )
        if request_id is None and isinstance(body, dict) and isinstance(body.get("traceId"), str):
            request_id = body["traceId"]
        detail = ""
        if isinstance(body, dict):
            detail = str(body.get("detail") or body.get("title") or "")
            if isinstance(body.get("errors"), dict):
                fields = ", ".join(sorted(str(key) for key in body["errors"]))
                detail = f"{detail} ({fields})" if detail else fields
        message = f"{method} {url.path} answered {response.status}"
        if detail:
            message += f": {detail}"
        cls = status_error_class(response.status)
        return cls(
            message,
            status=response.status,
            method=method,
            url=url,
            body=body,
            request_id=request_id,
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
        )

    def _pause(self, seconds: float) -> None:
        """Hold every request of this client for a while (after a 429 with Retry-After)."""
        until = time.monotonic() + seconds
        if until > self._paused_until:
            self._paused_until = until
            logger.info("rate limited: pausing all requests of this client for %.2fs", seconds)

    async def _wait_for_pause(self, deadline: float | None, method: str, url: URL) -> None:
        """Wait out a client-wide pause, within the call's deadline."""
        while (wait := self._paused_until - time.monotonic()) > 0:
            loop = asyncio.get_running_loop()
            if deadline is not None and loop.time() + wait >= deadline:
                raise APITimeoutError(
                    f"{method} {url.path}: rate-limit pause outlasts the call's deadline",
                    method=method,
                    url=url,
                    request_sent=False,
                )
            await asyncio.sleep(wait)
