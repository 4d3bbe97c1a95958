"""What the client tells the world: hooks, and OpenTelemetry spans and metrics, behind one seam.

The core holds a `Telemetry` (or None when there is nothing to tell) and, per public call, asks
it for a `CallScope`: None again when no hook is set and no OpenTelemetry SDK is configured, so
that a client without telemetry pays one `is None` test per call. A scope then wraps the call:

    with telemetry.call(operation, url) as call:        # INTERNAL span `godeploy getOrder`
        with call.attempt() as attempt:                 # CLIENT span `GET /api/v2/orders/{orderId}`
            headers.update(attempt.headers)             # traceparent
            ...send...
            attempt.answered(status)                    # or attempt.failed(error)
        call.retry(error, delay=..., retry=1, max_retries=3, budget_left=495)

OpenTelemetry is optional (`pip install godeploy[otel]`, the API only). It is imported on first
use; when it is absent every span and metric is skipped, and when it is installed without an SDK
(the global providers are still the API's no-op proxies) the scopes skip it too, checking again
on each call so that an SDK configured after the client was made is picked up.

Spans and metrics follow the OpenTelemetry HTTP semantic conventions. Around its own sends the
SDK sets the context key that the aiohttp (and httpx, requests, ...) auto-instrumentations honour
to stay out of the way, and injects `traceparent` itself: each attempt is counted once.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
import weakref
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Mapping, Sequence, Sized
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

from attrs import define
from yarl import URL

from godeploy._config import check_option, instance_of, optional
from godeploy._exceptions import RequestValidationError, error_type
from godeploy._hooks import (
    CallEvent,
    Hooks,
    ProgressEvent,
    RateLimitEvent,
    RequestEvent,
    ResponseEvent,
    RetryEvent,
    fire,
)
from godeploy._version import __version__

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.metrics import Counter, Histogram, Meter, MeterProvider
    from opentelemetry.metrics import _Gauge as Gauge
    from opentelemetry.trace import Span, Tracer, TracerProvider

__all__ = [
    "CALL_DURATION_BUCKETS",
    "HTTP_DURATION_BUCKETS",
    "AttemptScope",
    "CallScope",
    "FanOutScope",
    "OperationLike",
    "Telemetry",
    "error_type",
    "otel_available",
    "trace_carrier",
]

In = TypeVar("In")
Out = TypeVar("Out")

INSTRUMENTATION_NAME = "godeploy"

HTTP_DURATION_BUCKETS = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.075,
    0.1,
    0.25,
    0.5,
    0.75,
    1.0,
    2.5,
    5.0,
    7.5,
    10.0,
)
"""The bucket boundaries the HTTP semantic conventions give `http.client.request.duration`."""

CALL_DURATION_BUCKETS = (*HTTP_DURATION_BUCKETS, 30.0, 60.0, 120.0)
"""A call spans its retries, backoff and pauses: the HTTP buckets, and a few longer ones."""


@runtime_checkable
class _TracerProviderLike(Protocol):
    """What `tracer_provider=` must offer (an OpenTelemetry `TracerProvider`)."""

    def get_tracer(self, *args: Any, **kwargs: Any) -> Any: ...


@runtime_checkable
class _MeterProviderLike(Protocol):
    """What `meter_provider=` must offer (an OpenTelemetry `MeterProvider`)."""

    def get_meter(self, *args: Any, **kwargs: Any) -> Any: ...


class OperationLike(Protocol):
    """An operation of the spec (the generated `Operation`): what a call scope is named after."""

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


def _public_url(url: URL) -> str:
    """The URL as text, without user or password (the token never is in it; a userinfo may be)."""
    if url.user is not None or url.password is not None:
        url = url.with_user(None)
    return str(url)


@define(frozen=True)
class _Api:
    """The OpenTelemetry API modules, once imported."""

    context: Any
    trace: Any
    metrics: Any
    propagate: Any
    metrics_internal: Any
    suppress_http_key: str | None
    noop_tracer_providers: frozenset[type]
    noop_meter_providers: frozenset[type]


@functools.cache
def _load_api() -> _Api | None:
    """Import the OpenTelemetry API, once; None when it is not installed."""
    try:
        from opentelemetry import context, metrics, propagate, trace
        from opentelemetry.metrics import _internal as metrics_internal
    except ImportError:
        return None
    proxy_meter = getattr(metrics_internal, "_ProxyMeterProvider", metrics.NoOpMeterProvider)
    return _Api(
        context=context,
        trace=trace,
        metrics=metrics,
        propagate=propagate,
        metrics_internal=metrics_internal,
        # The key the HTTP auto-instrumentations check (opentelemetry-instrumentation's
        # is_http_instrumentation_enabled / suppress_http_instrumentation): it lives in the API.
        suppress_http_key=getattr(context, "_SUPPRESS_HTTP_INSTRUMENTATION_KEY", None),
        # Exact types, looked up in a set: isinstance against these ABCs costs a microsecond,
        # paid on every call while no SDK is configured.
        noop_tracer_providers=frozenset(
            {
                trace.ProxyTracerProvider,
                trace.NoOpTracerProvider,
                getattr(trace, "_DefaultTracerProvider", trace.NoOpTracerProvider),
            }
        ),
        noop_meter_providers=frozenset(
            {
                proxy_meter,
                metrics.NoOpMeterProvider,
                getattr(metrics_internal, "_DefaultMeterProvider", metrics.NoOpMeterProvider),
            }
        ),
    )


_MISSING = object()


def _global(module: Any, name: str, getter: Callable[[], Any]) -> Any:
    """The API's global provider, or None while unset.

    The API's getters look at the environment on every call while no provider is set (a
    microsecond or more, paid on every call of a client without an SDK); the module attribute
    they read is checked directly instead. Should it ever move, the getter is used.
    """
    provider = getattr(module, name, _MISSING)
    return getter() if provider is _MISSING else provider


def trace_carrier() -> dict[str, str]:
    """The current trace context as W3C headers (`traceparent`, ...), for a job's payload.

    Empty without OpenTelemetry, or when no span is current.
    """
    api = _load_api()
    carrier: dict[str, str] = {}
    if api is not None:
        api.propagate.inject(carrier)
    return carrier


def otel_available() -> bool:
    """Whether the OpenTelemetry API can be imported."""
    return _load_api() is not None


def _duration_histogram(
    meter: Meter, name: str, *, description: str, buckets: Sequence[float]
) -> Histogram:
    """A histogram of durations in seconds, with the bucket boundaries `buckets` advised."""
    return meter.create_histogram(
        name, unit="s", description=description, explicit_bucket_boundaries_advisory=buckets
    )


class _Instruments:
    """The metric instruments of meter `godeploy`, one set per meter provider.

    What is in flight (attempts, fan-out orders) is counted here in plain integers and reported
    by observable instruments when the metrics are collected: an SDK measurement costs far
    more than an addition, and these change twice per request.
    """

    def __init__(self, api: _Api, meter: Meter) -> None:
        self._observation = api.metrics.Observation
        # Attempts in flight by their attributes (a handful of distinct sets: method, host,
        # port, template), and fan-out orders in flight.
        self.requests_in_flight: dict[tuple[tuple[str, str | int], ...], int] = {}
        self.orders_in_flight = 0
        self.request_duration: Histogram = _duration_histogram(
            meter,
            "http.client.request.duration",
            description="Duration of HTTP client requests (one per attempt).",
            buckets=HTTP_DURATION_BUCKETS,
        )
        meter.create_observable_up_down_counter(
            "http.client.active_requests",
            callbacks=[self._observe_requests],
            unit="{request}",
            description="Number of HTTP requests (attempts) in flight.",
        )
        self.call_duration: Histogram = _duration_histogram(
            meter,
            "godeploy.client.operation.duration",
            description="Duration of one SDK call, its retries, backoff and waits included.",
            buckets=CALL_DURATION_BUCKETS,
        )
        self.retries: Counter = meter.create_counter(
            "godeploy.client.retries",
            unit="{retry}",
            description="Retries, by what failed (error.type).",
        )
        self.pause_duration: Histogram = _duration_histogram(
            meter,
            "godeploy.client.rate_limit.pause.duration",
            description="Client-wide pauses after a 429 with Retry-After, and their length.",
            buckets=CALL_DURATION_BUCKETS,
        )
        self.limiter_wait: Histogram = _duration_histogram(
            meter,
            "godeploy.client.rate_limiter.wait.duration",
            description="Time requests waited for the client's own rate limiter.",
            buckets=HTTP_DURATION_BUCKETS,
        )
        self.budget_tokens: Gauge = meter.create_gauge(
            "godeploy.client.retry_budget.tokens",
            unit="{token}",
            description="Tokens left in the client-wide retry budget.",
        )
        self.budget_limit: Gauge = meter.create_gauge(
            "godeploy.client.retry_budget.limit",
            unit="{token}",
            description="The most tokens the retry budget holds.",
        )
        self.fan_out_orders: Counter = meter.create_counter(
            "godeploy.fan_out.orders",
            unit="{order}",
            description="Orders a fan-out finished, by outcome (ok, failed).",
        )
        meter.create_observable_up_down_counter(
            "godeploy.fan_out.orders.active",
            callbacks=[self._observe_orders],
            unit="{order}",
            description="Orders a fan-out is fetching right now.",
        )

    def _observe_requests(self, options: Any) -> list[Any]:
        """The attempts in flight, per attribute set (read at collection, maybe off-loop)."""
        # dict() copies in one step under the GIL: the loop may change the counts meanwhile.
        counts = dict(self.requests_in_flight)
        return [self._observation(count, dict(key)) for key, count in counts.items()]

    def _observe_orders(self, options: Any) -> list[Any]:
        """The fan-out orders in flight."""
        return [self._observation(self.orders_in_flight)]


# One set of instruments per meter provider: registering an observable instrument twice on
# a meter keeps only the first callbacks, and every client of a provider shares its meter.
_INSTRUMENTS: weakref.WeakKeyDictionary[Any, _Instruments] = weakref.WeakKeyDictionary()


def _instruments_for(api: _Api, provider: MeterProvider) -> _Instruments:
    """The instruments of `provider`, made on first use."""
    instruments = _INSTRUMENTS.get(provider)
    if instruments is None:
        meter = provider.get_meter(INSTRUMENTATION_NAME, __version__)
        instruments = _INSTRUMENTS[provider] = _Instruments(api, meter)
    return instruments


class _Otel:
    """The tracer and instruments, found once their providers are real (not the API's no-ops)."""

    def __init__(
        self,
        api: _Api,
        tracer_provider: TracerProvider | None,
        meter_provider: MeterProvider | None,
        budget: Callable[[], tuple[float, float]] | None,
    ) -> None:
        self.api = api
        # An explicit proxy is the global one: follow the global provider instead.
        if isinstance(tracer_provider, api.trace.ProxyTracerProvider):
            tracer_provider = None
        self._tracer_provider = tracer_provider
        self._meter_provider = meter_provider
        self._budget = budget
        self._budget_seen: tuple[float, float] | None = None
        self.tracer: Tracer | None = None
        self.instruments: _Instruments | None = None
        # Both the tracer and the instruments found: nothing more to look for on each call.
        self.settled = False
        self.first_look()

    def resolve(self) -> bool:
        """Look for real providers not found yet; whether any is in use now."""
        api = self.api
        if self.tracer is None:
            provider = self._tracer_provider or _global(
                api.trace, "_TRACER_PROVIDER", api.trace.get_tracer_provider
            )
            if provider is not None and type(provider) not in api.noop_tracer_providers:
                self.tracer = provider.get_tracer(INSTRUMENTATION_NAME, __version__)
        if self.instruments is None:
            meters = self._meter_provider or _global(
                api.metrics_internal, "_METER_PROVIDER", api.metrics.get_meter_provider
            )
            if meters is not None and type(meters) not in api.noop_meter_providers:
                self.instruments = _instruments_for(api, meters)
                if self._budget is not None:
                    self.record_budget()
        self.settled = self.tracer is not None and self.instruments is not None
        return self.tracer is not None or self.instruments is not None

    def first_look(self) -> None:
        """Let the API load a provider named by `OTEL_PYTHON_*_PROVIDER`, once, then resolve."""
        if self._tracer_provider is None:
            self.api.trace.get_tracer_provider()
        if self._meter_provider is None:
            self.api.metrics.get_meter_provider()
        self.resolve()

    def record_budget(self) -> None:
        """Set the budget gauges when they changed (a success at capacity changes nothing)."""
        if self.instruments is None or self._budget is None:
            return
        budget = self._budget()
        if budget != self._budget_seen:
            self._budget_seen = budget
            tokens, capacity = budget
            self.instruments.budget_tokens.set(tokens)
            self.instruments.budget_limit.set(capacity)


class Telemetry:
    """Hooks and OpenTelemetry for one client; make it with `from_options`."""

    def __init__(self, hooks: Hooks | None, otel: _Otel | None) -> None:
        self.hooks = hooks
        self._otel = otel

    @classmethod
    def from_options(
        cls,
        *,
        hooks: Hooks | None = None,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
        budget: Callable[[], tuple[float, float]] | None = None,
    ) -> Telemetry | None:
        """The client's telemetry, or None when there can be none (no hooks, no OpenTelemetry).

        Args:
            hooks: the event hooks.
            tracer_provider: the tracer provider (default: the global one).
            meter_provider: the meter provider (default: the global one).
            budget: says the retry budget's tokens left and capacity (`Limits.budget`), for
                the gauges.
        """
        check_option("hooks", hooks, optional(instance_of(Hooks, "a godeploy.Hooks")))
        if hooks is not None and hooks.empty:
            hooks = None
        api = _load_api()
        if api is None:
            if tracer_provider is not None or meter_provider is not None:
                raise RequestValidationError(
                    "tracer_provider/meter_provider need OpenTelemetry: "
                    "pip install 'godeploy[otel]'"
                )
            return None if hooks is None else cls(hooks, None)
        tracers = instance_of(_TracerProviderLike, "an OpenTelemetry TracerProvider")
        check_option("tracer_provider", tracer_provider, optional(tracers))
        meters = instance_of(_MeterProviderLike, "an OpenTelemetry MeterProvider")
        check_option("meter_provider", meter_provider, optional(meters))
        return cls(hooks, _Otel(api, tracer_provider, meter_provider, budget))

    def _active(self) -> _Otel | None:
        """The OpenTelemetry side, if a real provider is in use by now."""
        otel = self._otel
        if otel is not None and (otel.settled or otel.resolve()):
            return otel
        return None

    def call(self, operation: OperationLike, url: URL) -> CallScope | None:
        """The scope of one public call to `url`, or None when nothing would be told."""
        # Inlined `_active()`: this runs on every call, with or without an SDK.
        otel = self._otel
        if otel is not None and (otel.settled or otel.resolve()):
            return CallScope(self.hooks, otel, operation, url)
        if self.hooks is None:
            return None
        return CallScope(self.hooks, None, operation, url)

    def fan_out(self, total: int | None = None) -> FanOutScope | None:
        """The scope of one fan-out over `total` inputs (None: unknown), or None."""
        otel = self._active()
        if otel is None and self.hooks is None:
            return None
        return FanOutScope(self.hooks, otel, total)

    @contextlib.contextmanager
    def job(
        self, name: str, carrier: Mapping[str, str] | None, attributes: Mapping[str, str | int]
    ) -> Iterator[None]:
        """Run a job of another process under the trace it was submitted in.

        A CONSUMER span `name`, whose parent is the context in `carrier` (`trace_carrier()`
        of the submitter), is current while the block runs, so the job's calls are its
        children. Without a tracer, or a carrier, the block just runs.
        """
        otel = self._active()
        if otel is None or otel.tracer is None:
            yield
            return
        api = otel.api
        parent = api.propagate.extract(dict(carrier or {}))
        span = otel.tracer.start_span(
            name, context=parent, kind=api.trace.SpanKind.CONSUMER, attributes=dict(attributes)
        )
        token = api.context.attach(api.trace.set_span_in_context(span, parent))
        try:
            yield
        except BaseException as error:
            if not isinstance(error, asyncio.CancelledError):
                span.set_attribute("error.type", error_type(error))
                span.set_status(api.trace.StatusCode.ERROR, str(error))
            raise
        finally:
            api.context.detach(token)
            span.end()

    @staticmethod
    def total_of(inputs: object) -> int | None:
        """The number of inputs when it is known without consuming them (a list, a tuple)."""
        return len(inputs) if isinstance(inputs, Sized) else None


class CallScope:
    """One public call: an INTERNAL span, the call's duration, its retries and waits.

    Use it as a (sync) context manager around the whole call; it ends when the call returns or
    raises. Cancellation ends it without an `error.type`.
    """

    __slots__ = (
        "_attempts",
        "_backoff",
        "_context",
        "_hooks",
        "_otel",
        "_retries",
        "_span",
        "_started",
        "_status",
        "_template",
        "_waited",
        "method",
        "operation",
        "url",
        "url_text",
    )

    def __init__(
        self, hooks: Hooks | None, otel: _Otel | None, operation: OperationLike, url: URL
    ) -> None:
        self._hooks = hooks
        self._otel = otel
        self.operation = operation.id
        self.method = operation.method
        self.url = url
        self.url_text = _public_url(url) if hooks is not None else ""
        self._attempts = 0
        self._retries = 0
        self._backoff = 0.0
        self._waited = 0.0
        self._status: int | None = None
        self._span: Span | None = None
        self._context: Context | None = None
        self._started = 0.0
        self._template = operation.path

    def __enter__(self) -> CallScope:
        self._started = time.perf_counter()
        otel = self._otel
        if otel is not None:
            api = otel.api
            parent = api.context.get_current()
            if otel.tracer is not None:
                self._span = otel.tracer.start_span(
                    f"godeploy {self.operation}",
                    context=parent,
                    kind=api.trace.SpanKind.INTERNAL,
                    attributes={
                        "godeploy.operation": self.operation,
                        "http.request.method": self.method,
                        "url.template": self._template,
                    },
                )
                parent = api.trace.set_span_in_context(self._span, parent)
            self._context = parent
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        elapsed = time.perf_counter() - self._started
        cancelled = isinstance(exc, asyncio.CancelledError)
        failure = None if exc is None or cancelled else exc
        kind = None if failure is None else error_type(failure)
        hooks = self._hooks
        if hooks is not None and hooks.on_call is not None:
            fire(
                hooks.on_call,
                CallEvent(
                    operation=self.operation,
                    method=self.method,
                    url=self.url_text,
                    attempts=self._attempts,
                    retries=self._retries,
                    backoff=self._backoff,
                    waited=self._waited,
                    elapsed=elapsed,
                    status=self._status,
                    error=kind,
                    cancelled=cancelled,
                ),
            )
        otel = self._otel
        if otel is None:
            return
        span = self._span
        if span is not None:
            span.set_attribute("godeploy.attempts", self._attempts)
            if failure is not None and kind is not None:
                span.set_attribute("error.type", kind)
                span.record_exception(failure)
                span.set_status(otel.api.trace.StatusCode.ERROR, str(failure))
            span.end()
        instruments = otel.instruments
        if instruments is not None:
            if exc is None or failure is not None:
                attributes = {"godeploy.operation": self.operation}
                if kind is not None:
                    attributes["error.type"] = kind
                instruments.call_duration.record(elapsed, attributes)
            otel.record_budget()

    def attempt(self) -> AttemptScope:
        """The scope of the next attempt (a context manager around its send)."""
        self._attempts += 1
        return AttemptScope(self, self._attempts)

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
        reason = error_type(error)
        self._retries += 1
        self._backoff += delay
        otel = self._otel
        if otel is not None:
            if self._span is not None:
                self._span.add_event(
                    "godeploy.retry",
                    {
                        "error.type": reason,
                        "godeploy.retry.number": retry,
                        "godeploy.retry.max": max_retries,
                        "godeploy.retry.delay": delay,
                        "godeploy.retry_budget.tokens": budget_left,
                    },
                )
            if otel.instruments is not None:
                otel.instruments.retries.add(
                    1, {"godeploy.operation": self.operation, "error.type": reason}
                )
                otel.record_budget()
        hooks = self._hooks
        if hooks is not None and hooks.on_retry is not None:
            fire(
                hooks.on_retry,
                RetryEvent(
                    operation=self.operation,
                    method=self.method,
                    url=self.url_text,
                    reason=reason,
                    delay=delay,
                    retry=retry,
                    max_retries=max_retries,
                    budget_left=budget_left,
                ),
            )

    def paused(self, seconds: float) -> None:
        """This call's 429 (with `Retry-After`) paused every request of the client."""
        self._wait_event("godeploy.rate_limit.pause", seconds)
        otel = self._otel
        if otel is not None and otel.instruments is not None:
            otel.instruments.pause_duration.record(seconds, {"godeploy.operation": self.operation})
        self._rate_limit_hook("retry_after", seconds)

    def waited_for_pause(self, seconds: float) -> None:
        """This call waited `seconds` for a client-wide pause to end (a span event only)."""
        self._waited += seconds
        self._wait_event("godeploy.rate_limit.wait", seconds)

    def rate_limited(self, seconds: float) -> None:
        """This call waited `seconds` (> 0) for a slot of the client's rate limiter."""
        self._waited += seconds
        self._wait_event("godeploy.rate_limiter.wait", seconds)
        otel = self._otel
        if otel is not None and otel.instruments is not None:
            otel.instruments.limiter_wait.record(seconds, {"godeploy.operation": self.operation})
        self._rate_limit_hook("rate_limiter", seconds)

    def _wait_event(self, name: str, seconds: float) -> None:
        """A span event saying how long the call is held back."""
        if self._span is not None:
            self._span.add_event(name, {"godeploy.wait.duration": seconds})

    def _rate_limit_hook(self, source: Any, seconds: float) -> None:
        """Tell `on_rate_limit`."""
        hooks = self._hooks
        if hooks is not None and hooks.on_rate_limit is not None:
            fire(
                hooks.on_rate_limit,
                RateLimitEvent(operation=self.operation, source=source, seconds=seconds),
            )


class AttemptScope:
    """One attempt: a CLIENT span, its duration, the in-flight count, request/response hooks.

    Enter it right before the send, with the request's headers not yet built: `headers` then
    holds what to add (`traceparent`). Inside, the current OpenTelemetry context carries the
    CLIENT span and the key that keeps HTTP auto-instrumentation out. Report the outcome with
    `answered(status)` or `failed(error)`; an exception leaving the block is recorded too.
    """

    __slots__ = (
        "_attributes",
        "_call",
        "_error",
        "_key",
        "_span",
        "_started",
        "_status",
        "_token",
        "headers",
        "number",
    )

    def __init__(self, call: CallScope, number: int) -> None:
        self._call = call
        self.number = number
        self.headers: dict[str, str] = {}
        self._span: Span | None = None
        self._token: object = None
        self._attributes: dict[str, str | int] | None = None
        self._key: tuple[tuple[str, str | int], ...] = ()
        self._status: int | None = None
        self._error: BaseException | None = None
        self._started = 0.0

    def __enter__(self) -> AttemptScope:
        call = self._call
        hooks = call._hooks
        if hooks is not None and hooks.on_request is not None:
            # Fired outside the context below, so that the hook's own HTTP calls are traced.
            fire(
                hooks.on_request,
                RequestEvent(
                    operation=call.operation,
                    method=call.method,
                    url=call.url_text,
                    url_template=call._template,
                    attempt=self.number,
                ),
            )
        otel = call._otel
        if otel is not None:
            api = otel.api
            url = call.url
            attributes: dict[str, str | int] = {
                "http.request.method": call.method,
                "server.address": url.host or "",
                "server.port": url.port or 0,
                "url.template": call._template,
            }
            self._attributes = attributes
            context = call._context
            if otel.tracer is not None:
                span_attributes: dict[str, str | int] = {
                    **attributes,
                    "url.full": _public_url(url),
                }
                if self.number > 1:
                    span_attributes["http.request.resend_count"] = self.number - 1
                self._span = otel.tracer.start_span(
                    f"{call.method} {call._template}",
                    context=context,
                    kind=api.trace.SpanKind.CLIENT,
                    attributes=span_attributes,
                )
                context = api.trace.set_span_in_context(self._span, context)
                api.propagate.inject(self.headers, context=context)
            if api.suppress_http_key is not None:
                context = api.context.set_value(api.suppress_http_key, True, context)
            self._token = api.context.attach(context)
            if otel.instruments is not None:
                in_flight = otel.instruments.requests_in_flight
                self._key = key = tuple(attributes.items())
                in_flight[key] = in_flight.get(key, 0) + 1
        self._started = time.perf_counter()
        return self

    def answered(self, status: int) -> None:
        """The attempt got an answer with this status (an error status included)."""
        self._status = status

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
        kind: str | None = None
        if not cancelled:
            failure = exc if exc is not None else self._error
            if failure is not None:
                kind = error_type(failure)
            elif status is not None and status >= 400:
                kind = str(status)
        call = self._call
        call._status = status
        otel = call._otel
        if otel is not None:
            api = otel.api
            api.context.detach(self._token)
            span = self._span
            if span is not None:
                ended: dict[str, str | int] = {}
                if status is not None:
                    ended["http.response.status_code"] = status
                if kind is not None:
                    ended["error.type"] = kind
                    span.set_status(api.trace.StatusCode.ERROR)
                if ended:
                    span.set_attributes(ended)
                span.end()
            instruments = otel.instruments
            if instruments is not None:
                attributes = self._attributes
                assert attributes is not None
                instruments.requests_in_flight[self._key] -= 1
                if not cancelled:
                    measured = dict(attributes)
                    if status is not None:
                        measured["http.response.status_code"] = status
                    if kind is not None:
                        measured["error.type"] = kind
                    instruments.request_duration.record(elapsed, measured)
        hooks = call._hooks
        if hooks is not None and hooks.on_response is not None:
            fire(
                hooks.on_response,
                ResponseEvent(
                    operation=call.operation,
                    method=call.method,
                    url=call.url_text,
                    url_template=call._template,
                    attempt=self.number,
                    status=status,
                    error=kind,
                    elapsed=elapsed,
                    cancelled=cancelled,
                ),
            )


class FanOutScope:
    """One fan-out: an INTERNAL span `godeploy fan_out` over its per-input calls, and progress.

    Use it as a (sync) context manager around the whole iteration, and run each input's work
    through `wrap`: the work then runs with the fan-out span as its parent (in its own task's
    context), and each finished input updates the counts, the metrics and `on_progress`.
    """

    __slots__ = ("_context", "_hooks", "_otel", "_span", "done", "failed", "in_flight", "total")

    def __init__(self, hooks: Hooks | None, otel: _Otel | None, total: int | None) -> None:
        self._hooks = hooks
        self._otel = otel
        self.total = total
        self.done = 0
        self.failed = 0
        self.in_flight = 0
        self._span: Span | None = None
        self._context: Context | None = None

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
        """The fan-out starts: open its span (for a caller that cannot use `with`)."""
        otel = self._otel
        if otel is not None and otel.tracer is not None:
            api = otel.api
            parent = api.context.get_current()
            attributes = {} if self.total is None else {"godeploy.fan_out.total": self.total}
            self._span = otel.tracer.start_span(
                "godeploy fan_out",
                context=parent,
                kind=api.trace.SpanKind.INTERNAL,
                attributes=attributes,
            )
            self._context = api.trace.set_span_in_context(self._span, parent)

    def end(self, error: BaseException | None = None) -> None:
        """The fan-out ended, by `error` if given (leaving early or cancellation is no error)."""
        span, self._span = self._span, None
        if span is None:
            return
        assert self._otel is not None
        span.set_attribute("godeploy.fan_out.done", self.done)
        span.set_attribute("godeploy.fan_out.failed", self.failed)
        if error is not None and not isinstance(error, asyncio.CancelledError | GeneratorExit):
            span.set_attribute("error.type", error_type(error))
            span.record_exception(error)
            span.set_status(self._otel.api.trace.StatusCode.ERROR, str(error))
        span.end()

    def wrap(
        self, work: Callable[[In], Awaitable[Out]], failed: Callable[[Out], bool]
    ) -> Callable[[In], Coroutine[Any, Any, Out]]:
        """`work`, instrumented; `failed` tells a result that carries an error."""

        async def run(value: In) -> Out:
            token = self._enter_one()
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
                self._leave_one(token, outcome)
            return result

        return run

    def _enter_one(self) -> object:
        """An input starts: count it; make the fan-out span its parent (this task's context)."""
        self.in_flight += 1
        otel = self._otel
        if otel is None:
            return None
        if otel.instruments is not None:
            otel.instruments.orders_in_flight += 1
        if self._context is None:
            return None
        return otel.api.context.attach(self._context)

    def _leave_one(self, token: object, failed: bool | None) -> None:
        """An input ended (failed True/False) or was cancelled (None)."""
        self.in_flight -= 1
        otel = self._otel
        if otel is not None:
            if token is not None:
                otel.api.context.detach(token)
            if otel.instruments is not None:
                otel.instruments.orders_in_flight -= 1
                if failed is not None:
                    outcome = "failed" if failed else "ok"
                    otel.instruments.fan_out_orders.add(1, {"godeploy.outcome": outcome})
        if failed is None:
            return
        self.done += 1
        if failed:
            self.failed += 1
        hooks = self._hooks
        if hooks is not None and hooks.on_progress is not None:
            fire(
                hooks.on_progress,
                ProgressEvent(
                    total=self.total, done=self.done, failed=self.failed, in_flight=self.in_flight
                ),
            )
