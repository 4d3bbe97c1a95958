"""The call loop: one API call = its options, the pacing, the attempts, the errors, the decoding.

Resources name the operation, build its URL and say what the answer decodes to;
`ClientCore.request` does the rest: it adds the business unit and the bearer token, asks the
client's `Limits` for a slot (waiting out a 429 pause and the rate limit), sends through the
transport, maps an error status to its typed error, retries what the policy allows, and decodes
the body into a model.

Every wait of a call (the token callable, the pause, the rate limit, each attempt and each
retry's sleep) ends by the call's deadline (`Timeout.total`): a wait that cannot end in time
fails at once instead of being slept through. Closing the client wakes every call that sleeps
with `ClientClosedError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import re
from collections.abc import Awaitable, Mapping
from typing import Any, TypeVar

from attrs import define
from yarl import URL

from godeploy._auth import TokenSource
from godeploy._config import Timeout, check_business_unit_id, check_option, coerce_timeout
from godeploy._config import integer_at_least as _integer_at_least
from godeploy._converter import structure_json
from godeploy._exceptions import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    ClientClosedError,
    GoDeployError,
    RateLimitError,
    error_from_response,
    error_type,
    proves_refusal,
)
from godeploy._generated.operations import Operation
from godeploy._json import dumps
from godeploy._observers import CallScope, Telemetry
from godeploy._options import NO_EXTRAS, check_headers, check_query, merge_headers
from godeploy._pacing import GO, Admission, Limits, LocalLimits
from godeploy._response import RAW_CAPTURE
from godeploy._retry import RetryPolicy, decide_retry, log_decision, with_max_retries
from godeploy._transport import (
    AsyncTransport,
    TransportResponse,
    build_request,
    check_loop_free,
)

__all__ = ["CallOptions", "ClientCore"]

logger = logging.getLogger("godeploy")

T = TypeVar("T")

_UNRESERVED_PATH = re.compile(r"[A-Za-z0-9/_.~-]*")
"""Path text that needs no percent-encoding: the API's literal paths, integers and UUIDs."""

_JSON_BODY = {"Content-Type": "application/json"}
"""The header of a request with a body (it replaces a Content-Type from the default headers)."""

_NO_SCOPE = contextlib.nullcontext()
"""What a call is wrapped in when it has no telemetry scope (reusable, and cheap)."""

_RESUME_SPREAD_CAP = 1.0
"""The widest window (seconds) over which calls held by a 429 pause resume, so that they do not
all hit the API in the same millisecond when it ends."""


@define(frozen=True, kw_only=True)
class CallOptions:
    """The per-call settings every operation resolves before any I/O.

    Attributes:
        business_unit_id: the business unit of this call.
        timeout: the time limits of this call.
        retry_policy: the retry policy of this call (the client's, with `max_retries=` applied).
        extra_headers: headers added to this call's requests (None: none).
        extra_query: query parameters added to every request of this call, pages included.
    """

    business_unit_id: str
    timeout: Timeout
    retry_policy: RetryPolicy
    extra_headers: Mapping[str, str] | None = None
    extra_query: Mapping[str, str | int] | None = None


class ClientCore:
    """What every resource calls: builds, paces, sends, retries and decodes one API call."""

    def __init__(
        self,
        *,
        transport: AsyncTransport,
        base_url: URL,
        token: TokenSource,
        business_unit_id: str | None,
        timeout: Timeout,
        retry_policy: RetryPolicy,
        limits: Limits,
        user_agent: str,
        telemetry: Telemetry | None = None,
        default_headers: Mapping[str, str] = NO_EXTRAS,
    ) -> None:
        self.transport = transport
        self.base_url = base_url
        # The parts every URL is built from, read once (each read of a yarl property costs).
        self._base_parts = (base_url.scheme, base_url.raw_authority, base_url.raw_path)
        self.token = token
        self.business_unit_id = business_unit_id
        self.timeout = timeout
        self.retry_policy = retry_policy
        self.limits = limits
        # The default limits say synchronously when nothing holds an attempt back (no rate
        # limit, no pause): then it goes without awaiting `admit`. Any other `Limits` (a
        # subclass too, which may override `admit`) is always asked.
        self._local_limits = limits if type(limits) is LocalLimits else None
        self.user_agent = user_agent
        self.default_headers = default_headers
        # None when there is nothing to tell (no hooks, no OpenTelemetry): one test per call.
        self.telemetry = telemetry
        self.closed = False
        self.stats: dict[str, int] = {"requests": 0, "retries": 0, "token_refreshes": 0}
        self._sleepers: set[asyncio.Future[None]] = set()
        # The event loop of the calls: the client follows them to the next loop once this one
        # has stopped, and refuses a second loop running at the same time.
        self._loop: asyncio.AbstractEventLoop | None = None
        self._headers_token = ""
        self._headers: tuple[dict[str, str], dict[str, str]] = ({}, {})
        self._default_options: CallOptions | None = None
        # Whether the retry budget could not pay the last retry asked of it (one WARNING).
        self.budget_exhausted = False

    def url(self, *segments: str | int) -> URL:
        """The absolute URL of an API path below the base URL."""
        path = "/".join(map(str, segments))
        if not _UNRESERVED_PATH.fullmatch(path):
            return self.base_url.joinpath(*map(str, segments))
        # Built from parts that need no encoding, a URL costs a tenth of a joinpath.
        scheme, authority, base_path = self._base_parts
        return URL.build(scheme=scheme, authority=authority, path=base_path + path, encoded=True)

    def options(
        self,
        *,
        business_unit_id: object = None,
        timeout: float | Timeout | None = None,
        max_retries: int | None = None,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, str | int] | None = None,
    ) -> CallOptions:
        """Resolve a call's overrides against the client's defaults, checking them."""
        if (
            business_unit_id is None
            and timeout is None
            and max_retries is None
            and extra_headers is None
            and extra_query is None
        ):
            # The common case, resolved once.
            if self._default_options is None:
                self._default_options = CallOptions(
                    business_unit_id=check_business_unit_id(self.business_unit_id),
                    timeout=self.timeout,
                    retry_policy=self.retry_policy,
                )
            return self._default_options
        if max_retries is not None:
            check_option("max_retries", max_retries, _integer_at_least(0))
        unit = business_unit_id if business_unit_id is not None else self.business_unit_id
        return CallOptions(
            business_unit_id=check_business_unit_id(unit),
            timeout=coerce_timeout(timeout, self.timeout),
            retry_policy=with_max_retries(self.retry_policy, max_retries),
            # Checked here, before any I/O; empty ones count as none (the fast path).
            extra_headers=None
            if extra_headers is None
            else check_headers(extra_headers, "extra_headers") or None,
            extra_query=None if extra_query is None else check_query(extra_query) or None,
        )

    async def request(
        self,
        operation: Operation,
        url: URL,
        cast_to: type[T],
        options: CallOptions,
        *,
        query: Mapping[str, str | int] | None = None,
        json_body: Any = None,
    ) -> T:
        """Make one API call and decode its answer into `cast_to`.

        Args:
            operation: the spec's operation (its method; POST is never repeated once it may
                have arrived).
            url: the absolute URL (its own query is kept, then `query` and the unit are set).
            cast_to: the model the 2xx body decodes to.
            options: the call's business unit, timeout and retry policy.
            query: query parameters to set.
            json_body: JSON-ready data to send.

        Returns:
            The decoded model.
        """
        if self.closed:
            raise ClientClosedError("the client is closed")
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            check_loop_free(self._loop, loop, "this GoDeployClient")
            self._loop = loop
        timeout = options.timeout
        deadline = None if timeout.total is None else loop.time() + timeout.total
        policy = options.retry_policy
        if options.extra_query is not None:
            # The SDK's own parameters cannot be among the extras (checked): no clash.
            query = {**options.extra_query, **(query or {})}
        full_url = _with_query(url, query, options.business_unit_id)
        body = None if json_body is None else dumps(json_body).encode()
        call = _Call(self, operation, full_url, deadline, policy, loop)
        call.extra_headers = options.extra_headers
        if self.telemetry is not None:
            call.scope = self.telemetry.call(operation, full_url)
        retry_number = 0
        refreshed = False
        with call.scope or _NO_SCOPE:
            while True:
                token, generation = self.token.cached() or await call.fetch_token()
                local = self._local_limits
                if local is not None and local.admits_at_once():
                    # What `admit` answers; the deadline is checked by the attempt as by `admit`.
                    admission = GO
                else:
                    admission = await call.admit()
                outcome = await call.attempt(body, token, timeout, admission)
                if not isinstance(outcome, GoDeployError):
                    self.limits.refund()
                    raw = RAW_CAPTURE.get()
                    if raw is not None:
                        # `with_raw_response`: it keeps the answer beside the decoded model.
                        raw.captured(outcome, operation.method, full_url)
                    return structure_json(outcome.body, cast_to, url=full_url)
                error = outcome
                if self.closed:
                    raise call.closed_during(error)
                if (
                    isinstance(error, AuthenticationError)
                    and self.token.refreshable
                    and not refreshed
                ):
                    # The token expired: one fresh token, one more try, not counted as a retry.
                    refreshed = True
                    await call.refresh_token(generation)
                    self.stats["token_refreshes"] = self.token.refresh_count
                    continue
                retry_number += 1
                await call.retry(error, retry_number)

    async def sleep(self, seconds: float) -> None:
        """Sleep, unless the client is closed meanwhile (then raise `ClientClosedError`)."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        handle = loop.call_later(seconds, _wake, waiter)
        self._sleepers.add(waiter)
        try:
            await waiter
        finally:
            handle.cancel()
            self._sleepers.discard(waiter)

    def close(self) -> None:
        """Refuse new calls and wake every call that sleeps with `ClientClosedError`."""
        check_loop_free(self._loop, asyncio.get_running_loop(), "this GoDeployClient")
        self.closed = True
        for waiter in self._sleepers:
            # A closed loop's sleepers are gone with it (and it can run no callback).
            if not waiter.done() and not waiter.get_loop().is_closed():
                waiter.set_exception(ClientClosedError("the client was closed during the call"))
        self._sleepers.clear()

    def headers(self, token: str, has_body: bool) -> dict[str, str]:
        """The request headers for a token (built once per token, never changed afterwards)."""
        if token != self._headers_token:
            plain = {
                "Accept": "application/json",
                "User-Agent": self.user_agent,
            }
            # The client's default headers may replace Accept or User-Agent, never the token
            # (refused when they were given).
            plain = merge_headers(plain, self.default_headers)
            plain["Authorization"] = f"Bearer {token}"
            self._headers = (plain, merge_headers(plain, _JSON_BODY))
            self._headers_token = token
        return self._headers[has_body]


def _with_query(url: URL, query: Mapping[str, str | int] | None, unit: str) -> URL:
    """The URL with the call's query and its business unit (a canonical UUID) set."""
    if not url.raw_query_string:
        # Integers and the unit's UUID need no encoding: the query text is written directly.
        if not query:
            return url.with_query(f"businessUnitId={unit}")
        parts = []
        for key, value in query.items():
            if type(value) is not int:
                break
            parts.append(f"{key}={value}")
        else:
            parts.append(f"businessUnitId={unit}")
            return url.with_query("&".join(parts))
    parameters = {**(query or {}), "businessUnitId": unit}
    return url.update_query(parameters) if url.raw_query_string else url.with_query(parameters)


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class _Call:
    """The state of one call across its attempts: where it goes, its deadline, what was sent."""

    __slots__ = (
        "attempts",
        "core",
        "deadline",
        "extra_headers",
        "loop",
        "method",
        "operation",
        "policy",
        "scope",
        "sent",
        "url",
    )

    def __init__(
        self,
        core: ClientCore,
        operation: Operation,
        url: URL,
        deadline: float | None,
        policy: RetryPolicy,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.core = core
        self.operation = operation
        self.method = operation.method
        self.url = url
        self.deadline = deadline
        self.policy = policy
        self.loop = loop  # the loop the call runs on, asked for once (on 3.11 that is a syscall)
        # Whether any attempt so far may have reached the server.
        self.sent = False
        self.attempts = 0
        self.scope: CallScope | None = None
        self.extra_headers: Mapping[str, str] | None = None

    def remaining(self) -> float | None:
        """Seconds left before the deadline (None: no deadline)."""
        if self.deadline is None:
            return None
        return self.deadline - self.loop.time()

    def timed_out(self, why: str) -> APITimeoutError:
        """The error of a call whose deadline cannot be met."""
        return APITimeoutError(
            f"{self.method} {self.url.path}: {why}",
            method=self.method,
            url=self.url,
            request_sent=self.sent,
        )

    def closed_during(self, error: GoDeployError) -> GoDeployError:
        """The error of a call whose client was closed while an attempt was under way.

        A request that is not safe to repeat (a create) and may have reached the server keeps
        that: the order may exist. Anything else is a plain `ClientClosedError`.
        """
        closed: GoDeployError
        if self.method == "POST" and self.sent:
            closed = APIConnectionError(
                f"{self.method} {self.url.path}: the client was closed during the call, after "
                "the request may have reached the server",
                method=self.method,
                url=self.url,
                request_sent=True,
            )
        else:
            closed = ClientClosedError("the client was closed during the call")
        closed.__cause__ = error
        return closed

    async def fetch_token(self) -> tuple[str, int]:
        """The token from the callable, within the call's deadline."""
        return await self._by_deadline(self.core.token.get())

    async def refresh_token(self, generation: int) -> None:
        """A fresh token after a 401, within the call's deadline."""
        await self._by_deadline(self.core.token.refresh(generation))

    async def _by_deadline(self, waiting: Awaitable[T]) -> T:
        """Await the token callable's work, failing the call when its deadline passes first."""
        try:
            async with asyncio.timeout_at(self.deadline):
                return await waiting
        except TimeoutError:
            raise self.timed_out(
                "the token callable did not return within the call's deadline"
            ) from None

    async def admit(self) -> Admission:
        """Wait for the limits to let this attempt go, or fail at once if it cannot in time."""
        limits = self.core.limits
        while True:
            remaining = self.remaining()
            if remaining is not None and remaining <= 0:
                raise self.timed_out("the call's deadline passed")
            admission = await limits.admit(remaining)
            if admission is GO:
                return admission
            if admission.paused:
                await self._wait_out_pause(admission.paused, remaining)
                continue
            if not admission.booked:
                raise self.timed_out(
                    f"the rate limit's next free slot is {admission.wait:.2f}s away, "
                    "after the call's deadline; nothing was sent"
                )
            if admission.wait > 0:
                if self.scope is not None:
                    self.scope.rate_limited(admission.wait)
                try:
                    await self.core.sleep(admission.wait)
                except BaseException:
                    limits.release(admission)
                    raise
                if limits.paused_for() > 0:
                    # A 429 paused the client while this attempt waited for its slot.
                    limits.release(admission)
                    continue
            return admission

    async def _wait_out_pause(self, paused: float, remaining: float | None) -> None:
        """Sleep through a 429 pause (plus a little jitter), or fail fast if it is too long."""
        if remaining is not None and paused >= remaining:
            raise self.timed_out(
                f"the client is paused by a 429 for {paused:.2f}s more, "
                "past the call's deadline; nothing was sent"
            )
        if paused > self.policy.retry_after_cap:
            raise RateLimitError(
                f"{self.method} {self.url.path}: the client is paused by a 429 for "
                f"{paused:.0f}s, longer than the retry policy waits "
                f"(retry_after_cap={self.policy.retry_after_cap:g}s); nothing was sent",
                status=429,
                method=self.method,
                url=self.url,
                retry_after=paused,
            )
        spread = min(_RESUME_SPREAD_CAP, paused / 4)
        if remaining is not None:
            spread = min(spread, remaining - paused)
        wait = paused + random.uniform(0, spread)  # noqa: S311 - jitter
        if self.scope is not None:
            self.scope.waited_for_pause(wait)
        await self.core.sleep(wait)

    async def attempt(
        self, body: bytes | None, token: str, timeout: Timeout, admission: Admission
    ) -> TransportResponse | GoDeployError:
        """Send one attempt; return the 2xx response or the error it came to."""
        core = self.core
        method, url = self.method, self.url
        attempt_timeout = timeout.attempt
        if self.deadline is not None:
            remaining = self.deadline - self.loop.time()
            if remaining <= 0:
                core.limits.release(admission)
                raise self.timed_out("the call's deadline passed")
            if attempt_timeout is None or remaining < attempt_timeout:
                attempt_timeout = remaining
        headers = core.headers(token, body is not None)
        if self.extra_headers is not None:
            headers = merge_headers(headers, self.extra_headers)
        # The attempt's telemetry, if the call has any: its span, and the traceparent it adds.
        instrumented = None if self.scope is None else self.scope.attempt()
        with instrumented or _NO_SCOPE:
            if instrumented is not None:
                headers = {**headers, **instrumented.headers}
            request = build_request(method, url, headers, body, attempt_timeout, timeout.connect)
            core.stats["requests"] += 1
            self.attempts += 1
            debug = logger.isEnabledFor(logging.DEBUG)
            started = self.loop.time() if debug else 0.0
            try:
                response = await core.transport.send(request)
            except APIConnectionError as error:
                self.sent = self.sent or error.request_sent
                if debug:
                    self._log_attempt(type(error).__name__, started)
                if instrumented is not None:
                    instrumented.failed(error)
                return error
            if instrumented is not None:
                instrumented.answered(response.status, response.headers)
        if debug:
            self._log_attempt(response.status, started)
        if 200 <= response.status < 300:
            return response
        if not proves_refusal(response.status):
            self.sent = True
        status_error = error_from_response(
            method, url, response.status, response.headers, response.body
        )
        if status_error.status == 429 and status_error.retry_after:
            await self._pause(status_error)
        return status_error

    async def _pause(self, error: APIStatusError) -> None:
        """Hold the client (or the fleet) for the 429's Retry-After, all of it."""
        assert error.retry_after is not None
        if self.core.limits.paused_for() <= 0:
            # Once per episode: the calls that hit the same pause say nothing more.
            logger.warning(
                "rate limited: pausing all requests of this client for %.2fs (Retry-After)",
                error.retry_after,
                extra={"operation": self.operation.id, "status": 429},
            )
        await self.core.limits.pause(error.retry_after)
        if self.scope is not None:
            self.scope.paused(error.retry_after)

    async def retry(self, error: GoDeployError, retry_number: int) -> None:
        """Sleep before retry number `retry_number`, or raise `error` if it is not retried."""
        decision = decide_retry(
            self.policy,
            error,
            retry_number=retry_number,
            idempotent=self.method != "POST",
        )
        if decision.retry:
            remaining = self.remaining()
            if remaining is not None and decision.delay >= remaining:
                decision = decision.declined("the call's deadline comes first")
            elif not await self.core.limits.try_pay(decision.cost):
                decision = decision.declined("client retry budget exhausted")
                self._budget_exhausted(error)
            else:
                self.core.budget_exhausted = False
        log_decision(
            decision,
            self.policy,
            retry_number=retry_number,
            method=self.method,
            path=self.url.path,
            operation=self.operation.id,
        )
        if not decision.retry:
            raise error
        self.core.stats["retries"] += 1
        if self.scope is not None:
            self.scope.retry(
                error,
                delay=decision.delay,
                retry=retry_number,
                max_retries=self.policy.max_retries,
                budget_left=self.core.limits.budget()[0],
            )
        await self.core.sleep(decision.delay)

    def _budget_exhausted(self, error: GoDeployError) -> None:
        """Warn, once per episode (until a retry is paid again), that failures go unretried."""
        if self.core.budget_exhausted:
            return
        self.core.budget_exhausted = True
        tokens, capacity = self.core.limits.budget()
        logger.warning(
            "retry budget exhausted (%g of %g tokens): failures are raised without retries "
            "until successes refill it",
            tokens,
            capacity,
            extra={"operation": self.operation.id, "reason": error_type(error)},
        )

    def _log_attempt(self, outcome: int | str, started: float) -> None:
        """The DEBUG line of one attempt."""
        elapsed = (self.loop.time() - started) * 1000
        logger.debug(
            "%s %s %s %.1fms attempt=%d",
            self.method,
            self.url.path,
            outcome,
            elapsed,
            self.attempts,
            extra={
                "operation": self.operation.id,
                "attempt": self.attempts,
                "status": outcome,
                "elapsed_ms": round(elapsed, 1),
            },
        )
