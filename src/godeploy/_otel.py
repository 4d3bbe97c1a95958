"""OpenTelemetry spans and metrics: one observer of the core's seam (`godeploy._observers`).

OpenTelemetry is optional (`pip install godeploy[otel]`, the API only). It is imported on first
use; when it is absent there is no observer at all, and when it is installed without an SDK
(the global providers are still the API's no-ops) the observer skips every call, looking again
so that an SDK configured after the client was made is picked up: by every call that starts 5 ms
or more after it was configured. (The API's public getters read the environment on each use
while no provider is set, a few microseconds: looked up on every call, they would cost a client
without an SDK more than all the rest of its telemetry seam.) A call keeps the tracer and
instruments it started with, and so do its attempts and a fan-out: a provider configured
meanwhile is used from the next call on.

Only the public API of `opentelemetry-api` is used: a provider is taken for a no-op when its
class comes from the API package itself (the API holds no implementation; its proxies, no-op
and default providers all live there), which holds in every release.

Spans and metrics follow the OpenTelemetry HTTP semantic conventions. Around its own sends the
SDK suppresses HTTP auto-instrumentation (aiohttp's, httpx's, ...) with the public
`opentelemetry.instrumentation.utils.suppress_http_instrumentation()`, and injects `traceparent`
itself: each attempt is counted once. The context key behind it is private to the API (and
opentelemetry-instrumentation's own code says its home is not settled), so the key is never
named here; without `opentelemetry-instrumentation` installed no HTTP auto-instrumentation can
be present, and there is nothing to suppress.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from attrs import define
from yarl import URL

from godeploy._config import check_option, instance_of, optional
from godeploy._exceptions import RequestValidationError, error_type, safe_url
from godeploy._observers import (
    AttemptEnd,
    CallEnd,
    FanOutScope,
    OperationLike,
    Wait,
)
from godeploy._version import __version__

if TYPE_CHECKING:
    from opentelemetry.metrics import Counter, Histogram, Meter, MeterProvider
    from opentelemetry.trace import Span, Tracer, TracerProvider

__all__ = [
    "CALL_DURATION_BUCKETS",
    "HTTP_DURATION_BUCKETS",
    "OtelObserver",
    "otel_available",
    "trace_headers",
]

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

_API_PACKAGES = ("opentelemetry.trace", "opentelemetry.metrics")
"""Where the API's own (no-op, proxy, default) providers are defined."""

_LOOK_AGAIN_AFTER = 0.005
"""Seconds between two looks for a global provider configured meanwhile."""

_WAIT_EVENTS: dict[Wait, str] = {
    "paused": "godeploy.rate_limit.pause",
    "waited_for_pause": "godeploy.rate_limit.wait",
    "rate_limited": "godeploy.rate_limiter.wait",
}


@define(frozen=True)
class _Api:
    """The OpenTelemetry API modules, once imported."""

    context: Any
    trace: Any
    metrics: Any
    propagate: Any
    # opentelemetry-instrumentation's suppress_http_instrumentation, when installed.
    suppress_http: Callable[[], contextlib.AbstractContextManager[None]] | None


@functools.cache
def _load_api() -> _Api | None:
    """Import the OpenTelemetry API, once; None when it is not installed."""
    try:
        from opentelemetry import context, metrics, propagate, trace
    except ImportError:
        return None
    try:
        from opentelemetry.instrumentation.utils import suppress_http_instrumentation
    except ImportError:  # no HTTP auto-instrumentation can be installed: nothing to hide from
        suppress_http = None
    else:
        suppress_http = suppress_http_instrumentation
    return _Api(
        context=context,
        trace=trace,
        metrics=metrics,
        propagate=propagate,
        suppress_http=suppress_http,
    )


_REAL: dict[type, bool] = {}


def _is_real(provider_type: type) -> bool:
    """Whether a provider of this class records anything (is not one of the API's own)."""
    real = _REAL.get(provider_type)
    if real is None:
        real = _REAL[provider_type] = not provider_type.__module__.startswith(_API_PACKAGES)
    return real


def trace_headers() -> dict[str, str]:
    """The current trace context as W3C headers (`traceparent`, ...), to carry elsewhere.

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
        # The API names its synchronous gauge class privately: typed by what is used of it.
        self.budget_tokens: Any = meter.create_gauge(
            "godeploy.client.retry_budget.tokens",
            unit="{token}",
            description="Tokens left in the client-wide retry budget.",
        )
        self.budget_limit: Any = meter.create_gauge(
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


@define(frozen=True)
class _Found:
    """The tracer and instruments in use at one moment; a call keeps the one it started with."""

    tracer: Tracer | None
    instruments: _Instruments | None


@runtime_checkable
class _TracerProviderLike(Protocol):
    """What `tracer_provider=` must offer (an OpenTelemetry `TracerProvider`)."""

    def get_tracer(self, *args: Any, **kwargs: Any) -> Any: ...


@runtime_checkable
class _MeterProviderLike(Protocol):
    """What `meter_provider=` must offer (an OpenTelemetry `MeterProvider`)."""

    def get_meter(self, *args: Any, **kwargs: Any) -> Any: ...


class OtelObserver:
    """Spans and metrics of one client's calls; make it with `OtelObserver.of`."""

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
        self._found: _Found | None = None
        # Both the tracer and the instruments found: nothing more to look for on each call.
        self._settled = False
        self._next_look = 0.0
        self._look()

    @classmethod
    def of(
        cls,
        *,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
        budget: Callable[[], tuple[float, float]] | None = None,
    ) -> OtelObserver | None:
        """The client's OpenTelemetry observer, or None when OpenTelemetry is not installed.

        Args:
            tracer_provider: the tracer provider (default: the global one).
            meter_provider: the meter provider (default: the global one).
            budget: says the retry budget's tokens left and capacity (`Limits.budget`), for
                the gauges.

        Raises:
            RequestValidationError: a provider was given without OpenTelemetry installed.
        """
        api = _load_api()
        if api is None:
            if tracer_provider is not None or meter_provider is not None:
                raise RequestValidationError(
                    "tracer_provider/meter_provider need OpenTelemetry: "
                    "pip install 'godeploy[otel]'"
                )
            return None
        tracers = instance_of(_TracerProviderLike, "an OpenTelemetry TracerProvider")
        check_option("tracer_provider", tracer_provider, optional(tracers))
        meters = instance_of(_MeterProviderLike, "an OpenTelemetry MeterProvider")
        check_option("meter_provider", meter_provider, optional(meters))
        return cls(api, tracer_provider, meter_provider, budget)

    def _look(self) -> _Found | None:
        """What is in use now, looking for new providers if the last look is old enough."""
        now = time.monotonic()
        if now < self._next_look:
            return self._found
        self._next_look = now + _LOOK_AGAIN_AFTER
        return self._resolve()

    def _resolve(self) -> _Found | None:
        """Look for real providers not found yet (with the API's public getters)."""
        found = self._found
        tracer = None if found is None else found.tracer
        instruments = None if found is None else found.instruments
        api = self.api
        if tracer is None:
            provider = self._tracer_provider or api.trace.get_tracer_provider()
            if _is_real(type(provider)):
                tracer = provider.get_tracer(INSTRUMENTATION_NAME, __version__)
        if instruments is None:
            meters = self._meter_provider or api.metrics.get_meter_provider()
            if _is_real(type(meters)):
                instruments = _instruments_for(api, meters)
        if tracer is None and instruments is None:
            return None
        if found is None or tracer is not found.tracer or instruments is not found.instruments:
            # A new snapshot: calls in flight keep the one they started with.
            self._found = found = _Found(tracer, instruments)
            self._settled = tracer is not None and instruments is not None
            if instruments is not None:
                self._record_budget(instruments)
        return found

    def _record_budget(self, instruments: _Instruments) -> None:
        """Set the budget gauges when they changed (a success at capacity changes nothing)."""
        if self._budget is None:
            return
        budget = self._budget()
        if budget != self._budget_seen:
            self._budget_seen = budget
            tokens, capacity = budget
            instruments.budget_tokens.set(tokens)
            instruments.budget_limit.set(capacity)

    def call(self, operation: OperationLike, url: URL) -> _OtelCall | None:
        """Watch a call, when a tracer or a meter is in use by now."""
        found = self._found if self._settled else self._look()
        return None if found is None else _OtelCall(self, found, operation, url)

    def fan_out(self, total: int | None) -> _OtelFanOut | None:
        """Watch a fan-out, when a tracer or a meter is in use by now."""
        found = self._found if self._settled else self._look()
        return None if found is None else _OtelFanOut(self.api, found, total)

    @contextlib.contextmanager
    def continue_trace(
        self, name: str, carrier: Mapping[str, str] | None, attributes: Mapping[str, str | int]
    ) -> Iterator[None]:
        """Run the block under a CONSUMER span `name` whose parent is the context in `carrier`.

        `carrier` holds another process's `trace_headers()`; the block's calls become the
        span's children. Without a tracer the block just runs.
        """
        found = self._found if self._settled else self._look()
        if found is None or found.tracer is None:
            yield
            return
        api = self.api
        parent = api.propagate.extract(dict(carrier or {}))
        span = found.tracer.start_span(
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


class _OtelCall:
    """One call: an INTERNAL span over its attempts, its duration, retries and waits."""

    __slots__ = (
        "_context",
        "_found",
        "_observer",
        "_span",
        "method",
        "operation",
        "template",
        "url",
    )

    def __init__(
        self, observer: OtelObserver, found: _Found, operation: OperationLike, url: URL
    ) -> None:
        self._observer = observer
        self._found = found
        self.operation = operation.id
        self.method = operation.method
        self.template = operation.path
        self.url = url
        api = observer.api
        parent = api.context.get_current()
        self._span: Span | None = None
        if found.tracer is not None:
            self._span = found.tracer.start_span(
                f"godeploy {self.operation}",
                context=parent,
                kind=api.trace.SpanKind.INTERNAL,
                attributes={
                    "godeploy.operation": self.operation,
                    "http.request.method": self.method,
                    "url.template": self.template,
                },
            )
            parent = api.trace.set_span_in_context(self._span, parent)
        self._context = parent

    def attempt(self, number: int, headers: dict[str, str]) -> _OtelAttempt:
        return _OtelAttempt(self, number, headers)

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
        instruments = self._found.instruments
        if instruments is not None:
            instruments.retries.add(1, {"godeploy.operation": self.operation, "error.type": reason})
            self._observer._record_budget(instruments)

    def wait(self, kind: Wait, seconds: float) -> None:
        if self._span is not None:
            self._span.add_event(_WAIT_EVENTS[kind], {"godeploy.wait.duration": seconds})
        instruments = self._found.instruments
        if instruments is not None:
            if kind == "paused":
                instruments.pause_duration.record(seconds, {"godeploy.operation": self.operation})
            elif kind == "rate_limited":
                instruments.limiter_wait.record(seconds, {"godeploy.operation": self.operation})

    def end(self, ended: CallEnd) -> None:
        span = self._span
        if span is not None:
            span.set_attribute("godeploy.attempts", ended.attempts)
            if ended.failure is not None and ended.error is not None:
                span.set_attribute("error.type", ended.error)
                span.record_exception(ended.failure)
                span.set_status(self._observer.api.trace.StatusCode.ERROR, str(ended.failure))
            span.end()
        instruments = self._found.instruments
        if instruments is not None:
            if not ended.cancelled:
                attributes = {"godeploy.operation": self.operation}
                if ended.error is not None:
                    attributes["error.type"] = ended.error
                instruments.call_duration.record(ended.elapsed, attributes)
            self._observer._record_budget(instruments)


class _OtelAttempt:
    """One attempt: a CLIENT span (current while it runs), its duration, the in-flight count.

    While it runs, the current context carries the CLIENT span, and HTTP auto-instrumentation
    is suppressed.
    """

    __slots__ = ("_api", "_attributes", "_instruments", "_key", "_span", "_suppress", "_token")

    def __init__(self, call: _OtelCall, number: int, headers: dict[str, str]) -> None:
        api = self._api = call._observer.api
        found = call._found
        url = call.url
        attributes: dict[str, str | int] = {
            "http.request.method": call.method,
            "server.address": url.host or "",
            "server.port": url.port or 0,
            "url.template": call.template,
        }
        self._attributes = attributes
        self._span: Span | None = None
        self._token: object = None
        if found.tracer is not None:
            span_attributes: dict[str, str | int] = {**attributes, "url.full": str(safe_url(url))}
            if number > 1:
                span_attributes["http.request.resend_count"] = number - 1
            self._span = found.tracer.start_span(
                f"{call.method} {call.template}",
                context=call._context,
                kind=api.trace.SpanKind.CLIENT,
                attributes=span_attributes,
            )
            context = api.trace.set_span_in_context(self._span, call._context)
            api.propagate.inject(headers, context=context)
            self._token = api.context.attach(context)
        self._suppress: contextlib.AbstractContextManager[None] | None = None
        if api.suppress_http is not None:
            self._suppress = api.suppress_http()
            self._suppress.__enter__()
        # The instruments this attempt started with are the ones it ends with.
        self._instruments = instruments = found.instruments
        self._key: tuple[tuple[str, str | int], ...] = ()
        if instruments is not None:
            in_flight = instruments.requests_in_flight
            self._key = key = tuple(attributes.items())
            in_flight[key] = in_flight.get(key, 0) + 1

    def end(self, ended: AttemptEnd) -> None:
        if self._suppress is not None:
            self._suppress.__exit__(None, None, None)
        if self._token is not None:
            self._api.context.detach(self._token)
        status, kind = ended.status, ended.error
        span = self._span
        if span is not None:
            attributes: dict[str, str | int] = {}
            if status is not None:
                attributes["http.response.status_code"] = status
            if kind is not None:
                attributes["error.type"] = kind
                span.set_status(self._api.trace.StatusCode.ERROR)
            if attributes:
                span.set_attributes(attributes)
            span.end()
        instruments = self._instruments
        if instruments is not None:
            instruments.requests_in_flight[self._key] -= 1
            if not ended.cancelled:
                measured = dict(self._attributes)
                if status is not None:
                    measured["http.response.status_code"] = status
                if kind is not None:
                    measured["error.type"] = kind
                instruments.request_duration.record(ended.elapsed, measured)


class _OtelFanOut:
    """One fan-out: an INTERNAL span `godeploy fan_out` over its per-input calls, and counts."""

    __slots__ = ("_api", "_context", "_found", "_span", "_total")

    def __init__(self, api: _Api, found: _Found, total: int | None) -> None:
        self._api = api
        self._found = found
        self._total = total
        self._span: Span | None = None
        self._context: object = None

    def start(self) -> None:
        tracer = self._found.tracer
        if tracer is not None:
            api = self._api
            parent = api.context.get_current()
            attributes = {} if self._total is None else {"godeploy.fan_out.total": self._total}
            self._span = tracer.start_span(
                "godeploy fan_out",
                context=parent,
                kind=api.trace.SpanKind.INTERNAL,
                attributes=attributes,
            )
            self._context = api.trace.set_span_in_context(self._span, parent)

    def input_started(self) -> object:
        """Count the input; make the fan-out span its parent (in the input's own task)."""
        instruments = self._found.instruments
        if instruments is not None:
            instruments.orders_in_flight += 1
        return None if self._context is None else self._api.context.attach(self._context)

    def input_ended(self, token: object, failed: bool | None, scope: FanOutScope) -> None:
        if token is not None:
            self._api.context.detach(token)
        instruments = self._found.instruments
        if instruments is not None:
            instruments.orders_in_flight -= 1
            if failed is not None:
                outcome = "failed" if failed else "ok"
                instruments.fan_out_orders.add(1, {"godeploy.outcome": outcome})

    def end(self, error: BaseException | None, scope: FanOutScope) -> None:
        span, self._span = self._span, None
        if span is None:
            return
        span.set_attribute("godeploy.fan_out.done", scope.done)
        span.set_attribute("godeploy.fan_out.failed", scope.failed)
        if error is not None:
            span.set_attribute("error.type", error_type(error))
            span.record_exception(error)
            span.set_status(self._api.trace.StatusCode.ERROR, str(error))
        span.end()
