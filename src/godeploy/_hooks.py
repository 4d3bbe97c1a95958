"""Event hooks: plain callables told what a client does, with no dependency at all.

`HooksObserver` is how they hear of it: one observer of the core's seam (`godeploy._observers`).

`Hooks` holds up to six sync callables; each receives one frozen event. For one call they fire
in the order request, response, retry, request, response, ..., call: every request event is
answered by exactly one response event, even when the call is cancelled mid-request, and the
call event closes the call. A hook
that raises is logged at WARNING on the `godeploy` logger and the call goes on: a hook can
watch a call, never break it. Hooks run inline on the event loop, so keep them quick (append to
a list, bump a counter, print a line).
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Mapping
from typing import Any, Literal, TypeVar

from attrs import Attribute, define, field
from yarl import URL

from godeploy._config import check_option, instance_of, optional
from godeploy._exceptions import NO_HEADERS, RequestValidationError, request_id_from, safe_url
from godeploy._observers import (
    AttemptEnd,
    CallEnd,
    FanOutScope,
    OperationLike,
    Wait,
)

__all__ = [
    "CallEvent",
    "Hooks",
    "HooksObserver",
    "ProgressEvent",
    "RateLimitEvent",
    "RequestEvent",
    "ResponseEvent",
    "RetryEvent",
    "fire",
]

logger = logging.getLogger("godeploy")

E = TypeVar("E")


@define(frozen=True, kw_only=True)
class RequestEvent:
    """An attempt is about to be sent.

    Attributes:
        operation: the spec's operationId (`getOrder`, `listOrderItems`, ...).
        method: the HTTP method.
        url: the full URL, query included, without credentials (never the token: it travels
            in a header that no event carries).
        url_template: the spec's path template (`/api/v2/orders/{orderId}`).
        attempt: 1 for the first attempt of the call, 2 for the next, ...
    """

    operation: str
    method: str
    url: str
    url_template: str
    attempt: int


@define(frozen=True, kw_only=True)
class ResponseEvent:
    """An attempt ended: answered, failed, or cancelled.

    Attributes:
        operation: the spec's operationId.
        method: the HTTP method.
        url: the full URL, without credentials.
        url_template: the spec's path template.
        attempt: the attempt's number, as in its `RequestEvent`.
        status: the HTTP status, or None when no answer came.
        error: why the attempt failed, or None: the status as a string (`"503"`), `"timeout"`,
            or the error's class name (`"APIConnectionError"`); None on cancellation.
        elapsed: seconds from sending to the answer (or to the failure or cancellation).
        cancelled: the call was cancelled while this attempt was in flight.
        headers: the answer's headers, read-only and looked up case-insensitively (the same
            mapping as `APIStatusError.headers`); empty when no answer came.
        request_id: the server's request id, from the same headers the errors read
            (`X-Request-Id`, ...), or None.
    """

    operation: str
    method: str
    url: str
    url_template: str
    attempt: int
    status: int | None
    error: str | None
    elapsed: float
    cancelled: bool = False
    headers: Mapping[str, str] = NO_HEADERS
    request_id: str | None = None


@define(frozen=True, kw_only=True)
class RetryEvent:
    """A failed attempt will be retried, after `delay` seconds (fired before the wait).

    Attributes:
        operation: the spec's operationId.
        method: the HTTP method.
        url: the full URL, without credentials.
        reason: what failed, as in `ResponseEvent.error` (`"503"`, `"timeout"`, ...).
        delay: the seconds the client waits before the next attempt.
        retry: 1 for the first retry of the call, 2 for the second, ...
        max_retries: the most retries this call may make.
        budget_left: the tokens left in the client-wide retry budget, this retry paid.
    """

    operation: str
    method: str
    url: str
    reason: str
    delay: float
    retry: int
    max_retries: int
    budget_left: float


@define(frozen=True, kw_only=True)
class RateLimitEvent:
    """The client holds requests back.

    Attributes:
        operation: the spec's operationId of the call concerned.
        source: `"retry_after"` when a 429 with `Retry-After` pauses every request of the
            client for `seconds`; `"rate_limiter"` when this call waited `seconds` for a slot
            of the client's own `max_requests_per_second`.
        seconds: the length of the pause, or of the wait.
    """

    operation: str
    source: Literal["retry_after", "rate_limiter"]
    seconds: float


@define(frozen=True, kw_only=True)
class CallEvent:
    """A public call ended (each page of a pager is a call of its own).

    Attributes:
        operation: the spec's operationId.
        method: the HTTP method.
        url: the full URL of its first attempt, without credentials.
        attempts: the attempts it sent (0 when it ended before the first, e.g. its deadline
            passed during a pause).
        retries: the retries among them.
        backoff: the seconds it slept between attempts.
        waited: the seconds it waited for a 429 pause or the rate limiter.
        elapsed: the seconds from the call's start to its end.
        status: the status of its last answer, or None when none came.
        error: why it failed, as in `ResponseEvent.error` (also `"ResponseValidationError"`
            etc. for a body that did not decode); None on success and on cancellation.
        cancelled: the call was cancelled.
    """

    operation: str
    method: str
    url: str
    attempts: int
    retries: int
    backoff: float
    waited: float
    elapsed: float
    status: int | None
    error: str | None
    cancelled: bool = False


@define(frozen=True, kw_only=True)
class ProgressEvent:
    """A fan-out finished one more input (the items of one order).

    Attributes:
        total: the number of inputs, when known (a list or tuple was given), else None.
        done: the inputs finished so far, failed ones included.
        failed: those of `done` that came out with an error.
        in_flight: the inputs being fetched right now.
    """

    total: int | None
    done: int
    failed: int
    in_flight: int


def _sync_callable_or_none(instance: Any, attribute: Attribute[Any], value: Any) -> None:
    """Accept None or a plain callable; refuse an async function (its coroutine would be lost)."""
    if value is None:
        return
    if not callable(value):
        raise RequestValidationError(f"{attribute.name} must be a callable or None, got {value!r}")
    if inspect.iscoroutinefunction(value) or inspect.iscoroutinefunction(
        getattr(value, "__call__", None)  # noqa: B004 (an object with an async __call__)
    ):
        raise RequestValidationError(
            f"{attribute.name} must be a plain (sync) callable: hooks run inline and are not "
            "awaited; schedule your own task from it if you need to await"
        )


@define(frozen=True, kw_only=True)
class Hooks:
    """Callables the client calls as it works; every one is optional.

    ::

        hooks = Hooks(on_retry=lambda event: print("retry", event.retry, event.reason))
        async with GoDeployClient(token, unit, hooks=hooks) as client:
            ...

    Attributes:
        on_request: called with a `RequestEvent` before each attempt is sent.
        on_response: called with a `ResponseEvent` when each attempt ends (always, once per
            `on_request`, cancellation included).
        on_retry: called with a `RetryEvent` when a failed attempt will be retried, before
            the backoff sleep.
        on_rate_limit: called with a `RateLimitEvent` when a 429 pauses the client or a call
            waits for the client's rate limiter.
        on_progress: called with a `ProgressEvent` each time a fan-out
            (`order_items.for_orders`) finishes an order.
        on_call: called with a `CallEvent` when a call ends, after its last response event:
            one summary per call (the CLI's `--trace` prints these).
    """

    on_request: Callable[[RequestEvent], object] | None = field(
        default=None, validator=_sync_callable_or_none
    )
    on_response: Callable[[ResponseEvent], object] | None = field(
        default=None, validator=_sync_callable_or_none
    )
    on_retry: Callable[[RetryEvent], object] | None = field(
        default=None, validator=_sync_callable_or_none
    )
    on_rate_limit: Callable[[RateLimitEvent], object] | None = field(
        default=None, validator=_sync_callable_or_none
    )
    on_progress: Callable[[ProgressEvent], object] | None = field(
        default=None, validator=_sync_callable_or_none
    )
    on_call: Callable[[CallEvent], object] | None = field(
        default=None, validator=_sync_callable_or_none
    )

    @property
    def empty(self) -> bool:
        """Whether no hook is set (then the client treats it as no hooks at all)."""
        return (
            self.on_request is None
            and self.on_response is None
            and self.on_retry is None
            and self.on_rate_limit is None
            and self.on_progress is None
            and self.on_call is None
        )


def fire(hook: Callable[[E], object] | None, event: E) -> None:
    """Call one hook with its event; log what it raises at WARNING and go on."""
    if hook is None:
        return
    try:
        hook(event)
    except Exception:
        # The hook is the user's code watching the call: its bug must not become the call's.
        logger.warning("a godeploy hook raised on %s; ignored", type(event).__name__, exc_info=True)


_RATE_LIMIT_SOURCE: dict[Wait, Literal["retry_after", "rate_limiter"]] = {
    "paused": "retry_after",
    "rate_limited": "rate_limiter",
}


class HooksObserver:
    """The hooks, as an observer of the client's calls and fan-outs."""

    __slots__ = ("_calls", "hooks")

    def __init__(self, hooks: Hooks) -> None:
        self.hooks = hooks
        # Whether any hook is told of calls (else only fan-outs are watched).
        self._calls = not (
            hooks.on_request is None
            and hooks.on_response is None
            and hooks.on_retry is None
            and hooks.on_rate_limit is None
            and hooks.on_call is None
        )

    @classmethod
    def of(cls, hooks: object) -> HooksObserver | None:
        """The observer of `hooks`, or None without any hook set.

        Raises:
            RequestValidationError: `hooks` is not a `Hooks`.
        """
        check_option("hooks", hooks, optional(instance_of(Hooks, "a godeploy.Hooks")))
        if hooks is None:
            return None
        assert isinstance(hooks, Hooks)  # checked above; for the type checker
        return None if hooks.empty else cls(hooks)

    def call(self, operation: OperationLike, url: URL) -> _HookedCall | None:
        """Watch a call, unless no hook is told of calls."""
        return _HookedCall(self.hooks, operation, url) if self._calls else None

    def fan_out(self, total: int | None) -> _HookedFanOut | None:
        """Watch a fan-out when `on_progress` is set."""
        on_progress = self.hooks.on_progress
        return None if on_progress is None else _HookedFanOut(on_progress)


class _HookedCall:
    """One call's hooks: request, response, retry and rate-limit events, then the call event."""

    __slots__ = ("hooks", "method", "operation", "template", "url")

    def __init__(self, hooks: Hooks, operation: OperationLike, url: URL) -> None:
        self.hooks = hooks
        self.operation = operation.id
        self.method = operation.method
        self.template = operation.path
        self.url = str(safe_url(url))

    def attempt(self, number: int, headers: dict[str, str]) -> _HookedAttempt | None:
        hooks = self.hooks
        if hooks.on_request is not None:
            fire(
                hooks.on_request,
                RequestEvent(
                    operation=self.operation,
                    method=self.method,
                    url=self.url,
                    url_template=self.template,
                    attempt=number,
                ),
            )
        return None if hooks.on_response is None else _HookedAttempt(self, number)

    def retry(
        self,
        error: BaseException,
        reason: str,
        *,
        delay: float,
        retry: int,
        max_retries: int,
        budget_left: float,
    ) -> None:
        if self.hooks.on_retry is not None:
            fire(
                self.hooks.on_retry,
                RetryEvent(
                    operation=self.operation,
                    method=self.method,
                    url=self.url,
                    reason=reason,
                    delay=delay,
                    retry=retry,
                    max_retries=max_retries,
                    budget_left=budget_left,
                ),
            )

    def wait(self, kind: Wait, seconds: float) -> None:
        source = _RATE_LIMIT_SOURCE.get(kind)
        if source is not None and self.hooks.on_rate_limit is not None:
            fire(
                self.hooks.on_rate_limit,
                RateLimitEvent(operation=self.operation, source=source, seconds=seconds),
            )

    def end(self, ended: CallEnd) -> None:
        if self.hooks.on_call is not None:
            fire(
                self.hooks.on_call,
                CallEvent(
                    operation=self.operation,
                    method=self.method,
                    url=self.url,
                    attempts=ended.attempts,
                    retries=ended.retries,
                    backoff=ended.backoff,
                    waited=ended.waited,
                    elapsed=ended.elapsed,
                    status=ended.status,
                    error=ended.error,
                    cancelled=ended.cancelled,
                ),
            )


class _HookedAttempt:
    """One attempt's response event (fired however the attempt ends)."""

    __slots__ = ("call", "number")

    def __init__(self, call: _HookedCall, number: int) -> None:
        self.call = call
        self.number = number

    def end(self, ended: AttemptEnd) -> None:
        call = self.call
        fire(
            call.hooks.on_response,
            ResponseEvent(
                operation=call.operation,
                method=call.method,
                url=call.url,
                url_template=call.template,
                attempt=self.number,
                status=ended.status,
                error=ended.error,
                elapsed=ended.elapsed,
                cancelled=ended.cancelled,
                headers=ended.headers,
                request_id=request_id_from(ended.headers) if ended.headers else None,
            ),
        )


class _HookedFanOut:
    """One fan-out's progress events."""

    __slots__ = ("on_progress",)

    def __init__(self, on_progress: Callable[[ProgressEvent], object]) -> None:
        self.on_progress = on_progress

    def start(self) -> None:
        pass

    def input_started(self) -> object:
        return None

    def input_ended(self, token: object, failed: bool | None, scope: FanOutScope) -> None:
        if failed is not None:
            fire(
                self.on_progress,
                ProgressEvent(
                    total=scope.total,
                    done=scope.done,
                    failed=scope.failed,
                    in_flight=scope.in_flight,
                ),
            )

    def end(self, error: BaseException | None, scope: FanOutScope) -> None:
        pass
