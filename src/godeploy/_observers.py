"""The observer seam: the core says what happens to its calls; observers do what they like with it.

The core holds a `Telemetry` (None when nobody listens: one `is None` test per call) and, per
public call, asks it for a `CallScope`, itself None when no observer wants the call (no hook
set, no OpenTelemetry SDK configured). The scope then wraps the call:

    with telemetry.call(operation, url) as call:       # the call starts
        with call.attempt() as attempt:                # an attempt starts
            headers.update(attempt.headers)            # what observers add (`traceparent`)
            ...send...
            attempt.answered(status, headers)          # or attempt.failed(error): it ends
        call.retry(error, delay=..., retry=1, max_retries=3, budget_left=495)
        call.rate_limited(seconds)                     # waits: limiter, 429 pause

The scopes count what every observer needs (attempts, retries, backoff, waits, elapsed time,
`error.type`) once, and tell each observer through the small protocols below. Hooks
(`godeploy._hooks.HooksObserver`) and OpenTelemetry (`godeploy._otel.OtelObserver`) are two
implementations; each keeps its own state per call and per attempt, so what an attempt began
with is what it ends with.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence, Sized
from types import TracebackType
from typing import Any, Literal, Protocol, TypeVar

from yarl import URL

from godeploy._exceptions import NO_HEADERS, error_type

__all__ = [
    "NO_HEADERS",
    "AttemptEnd",
    "AttemptObserver",
    "AttemptScope",
    "CallEnd",
    "CallObserver",
    "CallScope",
    "FanOutObserver",
    "FanOutScope",
    "Observer",
    "OperationLike",
    "Telemetry",
    "Wait",
]

In = TypeVar("In")
Out = TypeVar("Out")
O = TypeVar("O")  # noqa: E741

Wait = Literal["paused", "waited_for_pause", "rate_limited"]
"""A wait of a call: its 429 paused the client; it waited out a pause; it waited for the
client's rate limiter."""


class OperationLike(Protocol):
    """An operation of the spec (the generated `Operation`): what a call is named after."""

    @property
    def id(self) -> str:
        """The spec's operationId, such as `getOrder`."""
        ...

    @property
    def method(self) -> str:
        """The HTTP method in upper case."""
        ...

    @property
    def path(self) -> str:
        """The spec's path template, such as `/api/v2/orders/{orderId}`."""
        ...


class AttemptEnd:
    """How an attempt ended, told to every observer of it.

    Attributes:
        status: the HTTP status, or None when no answer came.
        headers: the answer's headers (read-only, case-insensitive; empty without an answer).
        error: the `error.type`, or None (success, or cancellation).
        failure: the exception the attempt failed with, if any.
        elapsed: seconds from the attempt's start to its end.
        cancelled: the call was cancelled during the attempt.
    """

    __slots__ = ("cancelled", "elapsed", "error", "failure", "headers", "status")

    def __init__(
        self,
        status: int | None,
        headers: Mapping[str, str],
        error: str | None,
        failure: BaseException | None,
        elapsed: float,
        cancelled: bool,
    ) -> None:
        self.status = status
        self.headers = headers
        self.error = error
        self.failure = failure
        self.elapsed = elapsed
        self.cancelled = cancelled


class CallEnd:
    """How a call ended, told to every observer of it.

    Attributes:
        attempts: the attempts it sent.
        retries: the retries among them.
        backoff: the seconds it slept between attempts.
        waited: the seconds it waited for a 429 pause or the rate limiter.
        elapsed: seconds from the call's start to its end.
        status: the status of its last answer, or None.
        error: the `error.type` of its failure, or None (success, or cancellation).
        failure: the exception it failed with, if any (not a cancellation).
        cancelled: the call was cancelled.
    """

    __slots__ = (
        "attempts",
        "backoff",
        "cancelled",
        "elapsed",
        "error",
        "failure",
        "retries",
        "status",
        "waited",
    )

    def __init__(self, scope: CallScope, elapsed: float, exc: BaseException | None) -> None:
        self.attempts = scope.attempts
        self.retries = scope.retries
        self.backoff = scope.backoff
        self.waited = scope.waited
        self.status = scope.status
        self.elapsed = elapsed
        self.cancelled = isinstance(exc, asyncio.CancelledError)
        self.failure = None if self.cancelled else exc
        self.error = None if self.failure is None else error_type(self.failure)


class AttemptObserver(Protocol):
    """What an observer keeps of one attempt, told when it ends."""

    def end(self, ended: AttemptEnd) -> None:
        """The attempt ended."""
        ...


class CallObserver(Protocol):
    """What an observer keeps of one call."""

    def attempt(self, number: int, headers: dict[str, str]) -> AttemptObserver | None:
        """Attempt `number` (1, 2, ...) starts; add to `headers` what it should send."""
        ...

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
        """A failed attempt (`reason`: its `error.type`) will be retried after `delay`."""
        ...

    def wait(self, kind: Wait, seconds: float) -> None:
        """The call is held back for `seconds`."""
        ...

    def end(self, ended: CallEnd) -> None:
        """The call ended."""
        ...


class FanOutObserver(Protocol):
    """What an observer keeps of one fan-out."""

    def start(self) -> None:
        """The fan-out starts running."""
        ...

    def input_started(self) -> object:
        """An input starts, in its own task; what is returned comes back to `input_ended`."""
        ...

    def input_ended(self, token: object, failed: bool | None, scope: FanOutScope) -> None:
        """An input ended (failed True/False; None: cancelled); `scope` has the counts."""
        ...

    def end(self, error: BaseException | None, scope: FanOutScope) -> None:
        """The fan-out ended, by `error` if given."""
        ...


class Observer(Protocol):
    """Something told what a client does: it picks the calls and fan-outs it wants to watch."""

    def call(self, operation: OperationLike, url: URL) -> CallObserver | None:
        """A call starts: its observer, or None to skip it."""
        ...

    def fan_out(self, total: int | None) -> FanOutObserver | None:
        """A fan-out over `total` inputs (None: unknown) is made: its observer, or None."""
        ...


class Telemetry:
    """The observers of one client, told as one; make it with `Telemetry.of`."""

    __slots__ = ("observers",)

    def __init__(self, observers: Sequence[Observer]) -> None:
        self.observers = tuple(observers)

    @classmethod
    def of(cls, *observers: Observer | None) -> Telemetry | None:
        """The observers given (None ones left out), or None when there is none."""
        present = [observer for observer in observers if observer is not None]
        return cls(present) if present else None

    def find(self, kind: type[O]) -> O | None:
        """The observer of type `kind`, if there is one."""
        return next((o for o in self.observers if isinstance(o, kind)), None)

    def call(self, operation: OperationLike, url: URL) -> CallScope | None:
        """The scope of one public call to `url`, or None when no observer wants it."""
        observers = self.observers
        if len(observers) == 1:  # the common case, without a list
            watcher = observers[0].call(operation, url)
            return None if watcher is None else CallScope(watcher)
        watchers = [w for o in observers if (w := o.call(operation, url)) is not None]
        if not watchers:
            return None
        return CallScope(watchers[0] if len(watchers) == 1 else _CallObservers(watchers))

    def fan_out(self, total: int | None = None) -> FanOutScope | None:
        """The scope of one fan-out over `total` inputs (None: unknown), or None."""
        watchers = [w for o in self.observers if (w := o.fan_out(total)) is not None]
        return FanOutScope(watchers, total) if watchers else None

    @staticmethod
    def total_of(inputs: object) -> int | None:
        """The number of inputs when it is known without consuming them (a list, a tuple)."""
        return len(inputs) if isinstance(inputs, Sized) else None


class _AttemptObservers:
    """Several observers of one attempt: ended in the reverse of the order they started."""

    __slots__ = ("_observers",)

    def __init__(self, observers: list[AttemptObserver]) -> None:
        self._observers = observers

    def end(self, ended: AttemptEnd) -> None:
        for observer in reversed(self._observers):
            observer.end(ended)


class _CallObservers:
    """Several observers of one call, told in turn (ends in reverse, as contexts nest)."""

    __slots__ = ("_observers",)

    def __init__(self, observers: list[CallObserver]) -> None:
        self._observers = observers

    def attempt(self, number: int, headers: dict[str, str]) -> AttemptObserver | None:
        started = [a for o in self._observers if (a := o.attempt(number, headers)) is not None]
        if not started:
            return None
        return started[0] if len(started) == 1 else _AttemptObservers(started)

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
        for observer in self._observers:
            observer.retry(
                error,
                reason,
                delay=delay,
                retry=retry,
                max_retries=max_retries,
                budget_left=budget_left,
            )

    def wait(self, kind: Wait, seconds: float) -> None:
        for observer in self._observers:
            observer.wait(kind, seconds)

    def end(self, ended: CallEnd) -> None:
        for observer in reversed(self._observers):
            observer.end(ended)


class CallScope:
    """One public call, as the core reports it: a (sync) context manager around the whole call.

    It ends when the call returns or raises; cancellation ends it without an `error.type`.
    """

    __slots__ = (
        "_observer",
        "_started",
        "attempts",
        "backoff",
        "retries",
        "status",
        "waited",
    )

    def __init__(self, observer: CallObserver) -> None:
        self._observer = observer
        self.attempts = 0
        self.retries = 0
        self.backoff = 0.0
        self.waited = 0.0
        self.status: int | None = None
        self._started = 0.0

    def __enter__(self) -> CallScope:
        self._started = time.perf_counter()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._observer.end(CallEnd(self, time.perf_counter() - self._started, exc))

    def attempt(self) -> AttemptScope:
        """The scope of the next attempt (a context manager around its send)."""
        self.attempts += 1
        return AttemptScope(self, self.attempts)

    def retry(
        self,
        error: BaseException,
        *,
        delay: float,
        retry: int,
        max_retries: int,
        budget_left: float,
    ) -> None:
        """A failed attempt will be retried after `delay` seconds (call it before the sleep)."""
        self.retries += 1
        self.backoff += delay
        self._observer.retry(
            error,
            error_type(error),
            delay=delay,
            retry=retry,
            max_retries=max_retries,
            budget_left=budget_left,
        )

    def paused(self, seconds: float) -> None:
        """This call's 429 (with `Retry-After`) paused every request of the client."""
        self._observer.wait("paused", seconds)

    def waited_for_pause(self, seconds: float) -> None:
        """This call waits `seconds` for a client-wide pause to end."""
        self.waited += seconds
        self._observer.wait("waited_for_pause", seconds)

    def rate_limited(self, seconds: float) -> None:
        """This call waits `seconds` (> 0) for a slot of the client's rate limiter."""
        self.waited += seconds
        self._observer.wait("rate_limited", seconds)


class AttemptScope:
    """One attempt: enter it right before the send, with the request's headers not yet built.

    `headers` then holds what the observers add (`traceparent`). Report the outcome with
    `answered(status, headers)` or `failed(error)`; an exception leaving the block is recorded
    too, and a cancellation is told as one.
    """

    __slots__ = (
        "_answer",
        "_call",
        "_error",
        "_observer",
        "_started",
        "_status",
        "headers",
        "number",
    )

    def __init__(self, call: CallScope, number: int) -> None:
        self._call = call
        self.number = number
        self.headers: dict[str, str] = {}
        self._observer: AttemptObserver | None = None
        self._status: int | None = None
        self._answer: Mapping[str, str] = NO_HEADERS
        self._error: BaseException | None = None
        self._started = 0.0

    def __enter__(self) -> AttemptScope:
        self._observer = self._call._observer.attempt(self.number, self.headers)
        self._started = time.perf_counter()
        return self

    def answered(self, status: int, headers: Mapping[str, str] = NO_HEADERS) -> None:
        """The attempt got an answer with this status (an error status included)."""
        self._status = status
        self._answer = headers

    def failed(self, error: BaseException) -> None:
        """The attempt got no answer: this is why."""
        self._error = error

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        elapsed = time.perf_counter() - self._started
        cancelled = isinstance(exc, asyncio.CancelledError)
        status = self._status
        self._call.status = status
        failure: BaseException | None = None
        kind: str | None = None
        if not cancelled:
            failure = exc if exc is not None else self._error
            if failure is not None:
                kind = error_type(failure)
            elif status is not None and status >= 400:
                kind = str(status)
        if self._observer is not None:
            self._observer.end(AttemptEnd(status, self._answer, kind, failure, elapsed, cancelled))


class FanOutScope:
    """One fan-out: its counts, and its observers told of each input that starts and ends.

    Use it as a (sync) context manager around the whole iteration (or `start()`/`end()`), and
    run each input's work through `wrap`: each observer may set the input's context (in its own
    task), and each finished input updates the counts.
    """

    __slots__ = ("_observers", "done", "failed", "in_flight", "total")

    def __init__(self, observers: list[FanOutObserver], total: int | None) -> None:
        self._observers = observers
        self.total = total
        self.done = 0
        self.failed = 0
        self.in_flight = 0

    def __enter__(self) -> FanOutScope:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.end(exc)

    def start(self) -> None:
        """The fan-out starts (for a caller that cannot use `with`)."""
        for observer in self._observers:
            observer.start()

    def end(self, error: BaseException | None = None) -> None:
        """The fan-out ended, by `error` if given (leaving early or cancellation is no error)."""
        if error is not None and isinstance(error, asyncio.CancelledError | GeneratorExit):
            error = None
        for observer in reversed(self._observers):
            observer.end(error, self)

    def wrap(
        self, work: Callable[[In], Awaitable[Out]], failed: Callable[[Out], bool]
    ) -> Callable[[In], Coroutine[Any, Any, Out]]:
        """`work`, observed; `failed` tells a result that carries an error."""
        observers = self._observers

        async def run(value: In) -> Out:
            self.in_flight += 1
            tokens = [observer.input_started() for observer in observers]
            outcome: bool | None = None  # True: failed; None: cancelled
            try:
                result = await work(value)
                outcome = failed(result)
            except asyncio.CancelledError:
                raise
            except BaseException:
                outcome = True
                raise
            finally:
                self.in_flight -= 1
                if outcome is not None:
                    self.done += 1
                    self.failed += outcome
                for observer, token in zip(reversed(observers), reversed(tokens), strict=True):
                    observer.input_ended(token, outcome, self)
            return result

        return run
