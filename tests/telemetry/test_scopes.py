"""The telemetry scopes on their own, recorded by the OpenTelemetry SDK in memory."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
import textwrap

import pytest
from opentelemetry import context as otel_context
from opentelemetry.instrumentation.utils import is_http_instrumentation_enabled
from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.trace import NoOpTracerProvider, SpanKind, StatusCode
from yarl import URL

from godeploy import (
    APIConnectionError,
    APITimeoutError,
    RequestValidationError,
    RetryBudget,
    ServiceUnavailableError,
)
from godeploy._hooks import Hooks, HooksObserver
from godeploy._observers import Telemetry, error_type
from godeploy._otel import HTTP_DURATION_BUCKETS, OtelObserver
from godeploy._pacing import LocalLimits
from tests._support.otel import GET_ORDER, Recorder, total
from tests._support.reference_examples import ROOT

UNIT = "8b3c5f2e-0c1a-4f7e-9d2b-1a2b3c4d5e6f"
URL_ = URL(f"https://api.example.test/api/v2/orders/987654?businessUnitId={UNIT}")


def telemetry_of(hooks: Hooks | None = None, **otel_options) -> Telemetry | None:
    """The observers a client makes of its options (hooks first, as the client does)."""
    return Telemetry.of(HooksObserver.of(hooks), OtelObserver.of(**otel_options))


def make(otel: Recorder, **options) -> Telemetry:
    telemetry = telemetry_of(
        tracer_provider=otel.tracer_provider, meter_provider=otel.meter_provider, **options
    )
    assert telemetry is not None
    return telemetry


def unavailable() -> ServiceUnavailableError:
    return ServiceUnavailableError(
        "GET /api/v2/orders/987654 answered 503", status=503, method="GET", url=URL_
    )


def test_a_503_then_200_call_is_one_internal_span_over_two_client_spans(otel):
    telemetry = make(otel)
    sent: list[dict[str, str]] = []
    scope = telemetry.call(GET_ORDER, URL_)
    assert scope is not None
    with scope as call:
        with call.attempt() as attempt:
            sent.append(dict(attempt.headers))
            attempt.answered(503)
        call.retry(unavailable(), delay=0.25, retry=1, max_retries=3, budget_left=495)
        with call.attempt() as attempt:
            sent.append(dict(attempt.headers))
            attempt.answered(200)

    (internal,) = otel.spans(SpanKind.INTERNAL)
    first, second = otel.spans(SpanKind.CLIENT)
    assert internal.name == "godeploy getOrder"
    assert internal.status.status_code is StatusCode.UNSET
    assert internal.attributes["godeploy.attempts"] == 2
    assert "error.type" not in internal.attributes
    assert [event.name for event in internal.events] == ["godeploy.retry"]
    assert internal.events[0].attributes["error.type"] == "503"
    for span in (first, second):
        assert span.name == "GET /api/v2/orders/{orderId}"
        assert span.parent.span_id == internal.context.span_id
        assert span.context.trace_id == internal.context.trace_id
        assert span.attributes["http.request.method"] == "GET"
        assert span.attributes["server.address"] == "api.example.test"
        assert span.attributes["server.port"] == 443
        assert span.attributes["url.full"] == str(URL_)
        assert span.attributes["url.template"] == "/api/v2/orders/{orderId}"
    assert first.attributes["http.response.status_code"] == 503
    assert first.attributes["error.type"] == "503"
    assert first.status.status_code is StatusCode.ERROR
    assert "http.request.resend_count" not in first.attributes
    assert second.attributes["http.response.status_code"] == 200
    assert second.attributes["http.request.resend_count"] == 1
    assert "error.type" not in second.attributes
    assert second.status.status_code is StatusCode.UNSET
    # Each attempt carries its own CLIENT span in `traceparent` (W3C: version-trace-span-flags).
    for headers, span in zip(sent, (first, second), strict=True):
        version, trace_id, span_id, flags = headers["traceparent"].split("-")
        assert version == "00"
        assert int(flags, 16) & 1  # sampled
        assert int(trace_id, 16) == span.context.trace_id
        assert int(span_id, 16) == span.context.span_id


def test_the_metrics_of_a_retried_call(otel):
    telemetry = make(otel)
    with telemetry.call(GET_ORDER, URL_) as call:
        for status in (503, 503, 200):
            with call.attempt() as attempt:
                attempt.answered(status)
            if status == 503:
                call.retry(unavailable(), delay=0.0, retry=1, max_retries=3, budget_left=490)
    metrics = otel.metrics()
    durations = metrics["http.client.request.duration"]
    assert sum(point.count for point in durations) == 3
    assert total(metrics, "http.client.request.duration", **{"error.type": "503"}) == 2
    assert total(metrics, "http.client.request.duration", **{"http.response.status_code": 200}) == 1
    assert tuple(durations[0].explicit_bounds) == HTTP_DURATION_BUCKETS
    assert total(metrics, "godeploy.client.retries", **{"error.type": "503"}) == 2
    assert (
        total(metrics, "godeploy.client.operation.duration", **{"godeploy.operation": "getOrder"})
        == 1
    )
    assert total(metrics, "http.client.active_requests") == 0


def test_no_order_id_business_unit_or_token_in_metric_attributes(otel):
    telemetry = make(otel, budget=LocalLimits().budget)
    with telemetry.call(GET_ORDER, URL_) as call:
        with call.attempt() as attempt:
            attempt.answered(503)
        call.retry(unavailable(), delay=0.0, retry=1, max_retries=3, budget_left=495)
        call.paused(1.5)
        call.rate_limited(0.2)
        with call.attempt() as attempt:
            attempt.answered(200)
    seen = otel.metrics()
    assert len(seen) >= 8
    for points in seen.values():
        for point in points:
            for value in point.attributes.values():
                assert "987654" not in str(value)
                assert UNIT not in str(value)
                assert "Bearer" not in str(value)


def test_a_cancelled_attempt_leaves_nothing_in_flight_and_no_error_type(otel):
    responses = []
    telemetry = make(otel, hooks=Hooks(on_response=responses.append))

    async def stuck() -> None:
        with telemetry.call(GET_ORDER, URL_) as call, call.attempt():
            await asyncio.sleep(3600)

    async def run() -> None:
        task = asyncio.ensure_future(stuck())
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(run())
    internal, client = otel.spans(SpanKind.INTERNAL), otel.spans(SpanKind.CLIENT)
    assert len(internal) == len(client) == 1
    for span in (*internal, *client):
        assert "error.type" not in span.attributes
        assert span.status.status_code is StatusCode.UNSET
    metrics = otel.metrics()
    assert total(metrics, "http.client.active_requests") == 0
    # A cancelled attempt has no duration to report; the call neither.
    assert "http.client.request.duration" not in metrics
    assert "godeploy.client.operation.duration" not in metrics
    (response,) = responses
    assert response.cancelled and response.error is None and response.status is None


def test_a_failed_call_marks_its_internal_span(otel):
    telemetry = make(otel)
    error = APITimeoutError("GET /api/v2/orders/987654 timed out", method="GET", url=URL_)

    def call() -> None:
        with telemetry.call(GET_ORDER, URL_) as call:
            with call.attempt() as attempt:
                attempt.failed(error)
            raise error

    with pytest.raises(APITimeoutError):
        call()
    (internal,) = otel.spans(SpanKind.INTERNAL)
    (client,) = otel.spans(SpanKind.CLIENT)
    assert internal.attributes["error.type"] == client.attributes["error.type"] == "timeout"
    assert internal.status.status_code is StatusCode.ERROR
    assert "http.response.status_code" not in client.attributes
    assert [event.name for event in internal.events] == ["exception"]
    metrics = otel.metrics()
    assert total(metrics, "godeploy.client.operation.duration", **{"error.type": "timeout"}) == 1


def test_an_exception_leaving_an_attempt_is_its_error_type(otel):
    telemetry = make(otel)
    with pytest.raises(APIConnectionError), telemetry.call(GET_ORDER, URL_) as call, call.attempt():
        raise APIConnectionError("reset", method="GET", url=URL_)
    (client,) = otel.spans(SpanKind.CLIENT)
    assert client.attributes["error.type"] == "APIConnectionError"


def test_error_types():
    assert error_type(unavailable()) == "503"
    assert error_type(APITimeoutError("t", method="GET", url=URL_)) == "timeout"
    assert error_type(TimeoutError()) == "timeout"
    assert error_type(APIConnectionError("c", method="GET", url=URL_)) == "APIConnectionError"
    assert error_type(ValueError()) == "ValueError"


def test_the_send_is_hidden_from_http_auto_instrumentation(otel):
    telemetry = make(otel)
    assert is_http_instrumentation_enabled()
    with telemetry.call(GET_ORDER, URL_) as call:
        assert is_http_instrumentation_enabled()
        with call.attempt() as attempt:
            assert not is_http_instrumentation_enabled()
            attempt.answered(200)
        assert is_http_instrumentation_enabled()
    assert is_http_instrumentation_enabled()


def test_metrics_only_still_hides_the_send(otel):
    telemetry = telemetry_of(meter_provider=otel.meter_provider)
    assert telemetry is not None
    with telemetry.call(GET_ORDER, URL_) as call, call.attempt() as attempt:
        assert not is_http_instrumentation_enabled()
        assert "traceparent" not in attempt.headers  # no tracer configured, nothing to carry
        attempt.answered(200)
    assert otel.spans() == []
    assert total(otel.metrics(), "http.client.request.duration") == 1


def test_waits_are_span_events_metrics_and_hooks(otel):
    waits = []
    telemetry = make(otel, hooks=Hooks(on_rate_limit=waits.append))
    with telemetry.call(GET_ORDER, URL_) as call:
        call.rate_limited(0.125)
        with call.attempt() as attempt:
            attempt.answered(429)
        call.paused(2.0)
        call.waited_for_pause(1.5)
    (internal,) = otel.spans(SpanKind.INTERNAL)
    assert [
        (event.name, event.attributes["godeploy.wait.duration"]) for event in internal.events
    ] == [
        ("godeploy.rate_limiter.wait", 0.125),
        ("godeploy.rate_limit.pause", 2.0),
        ("godeploy.rate_limit.wait", 1.5),
    ]
    metrics = otel.metrics()
    (pause,) = metrics["godeploy.client.rate_limit.pause.duration"]
    assert (pause.count, pause.sum) == (1, 2.0)
    (limiter,) = metrics["godeploy.client.rate_limiter.wait.duration"]
    assert (limiter.count, limiter.sum) == (1, 0.125)
    assert [(event.source, event.seconds) for event in waits] == [
        ("rate_limiter", 0.125),
        ("retry_after", 2.0),
    ]


def test_the_retry_budget_gauges(otel):
    budget = RetryBudget(capacity=50)
    telemetry = make(otel, budget=LocalLimits(retry_budget=budget).budget)
    metrics = otel.metrics()
    assert [point.value for point in metrics["godeploy.client.retry_budget.limit"]] == [50]
    assert [point.value for point in metrics["godeploy.client.retry_budget.tokens"]] == [50]
    with telemetry.call(GET_ORDER, URL_) as call:
        budget.pay(5)
        call.retry(unavailable(), delay=0, retry=1, max_retries=3, budget_left=budget.tokens)
        budget.refund()
    metrics = otel.metrics()
    assert [point.value for point in metrics["godeploy.client.retry_budget.tokens"]] == [46]


def test_nothing_configured_is_no_scope_at_all(otel):
    # The global providers of this process are the API's proxies: no SDK is configured.
    telemetry = telemetry_of()
    assert telemetry is not None  # an SDK configured later is picked up...
    assert telemetry.call(GET_ORDER, URL_) is None  # ...but until then a call costs nothing
    assert telemetry.fan_out() is None
    explicit = telemetry_of(
        tracer_provider=NoOpTracerProvider(), meter_provider=NoOpMeterProvider()
    )
    assert explicit is not None and explicit.call(GET_ORDER, URL_) is None
    assert HooksObserver.of(Hooks()) is None  # empty hooks: no observer
    assert HooksObserver.of(Hooks(on_progress=print)).call(GET_ORDER, URL_) is None


def test_hooks_only_is_a_scope_without_otel():
    telemetry = telemetry_of(hooks=Hooks(on_request=lambda event: None))
    assert telemetry is not None
    scope = telemetry.call(GET_ORDER, URL_)
    assert scope is not None
    with scope as call, call.attempt() as attempt:
        assert attempt.headers == {}
        assert is_http_instrumentation_enabled()  # no OpenTelemetry in use: nothing to hide


def test_bad_hooks_are_refused():
    with pytest.raises(RequestValidationError, match="hooks must be a godeploy.Hooks"):
        HooksObserver.of(print)


def test_an_sdk_configured_after_the_client_is_picked_up():
    # The global providers can be set once per process: in a child.
    script = textwrap.dedent(
        """
        import time

        from opentelemetry import metrics, trace
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        from yarl import URL

        from godeploy._observers import Telemetry
        from godeploy._otel import OtelObserver
        from tests._support.otel import GET_ORDER

        telemetry = Telemetry.of(OtelObserver.of())
        url = URL("https://api.example.test/api/v2/orders/1")
        assert telemetry.call(GET_ORDER, url) is None
        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        trace.set_tracer_provider(provider)
        time.sleep(0.01)  # the observer looks for global providers every 5 ms at most
        with telemetry.call(GET_ORDER, url) as call, call.attempt() as attempt:
            attempt.answered(200)
        reader = InMemoryMetricReader()
        metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
        time.sleep(0.01)
        with telemetry.call(GET_ORDER, url) as call, call.attempt() as attempt:
            attempt.answered(200)
        names = sorted(span.name for span in exporter.get_finished_spans())
        (scope,) = reader.get_metrics_data().resource_metrics[0].scope_metrics
        print(names, sorted(metric.name for metric in scope.metrics))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.split("] [")[0] == (
        "['GET /api/v2/orders/{orderId}', 'GET /api/v2/orders/{orderId}', "
        "'godeploy getOrder', 'godeploy getOrder'"
    )
    assert "'http.client.request.duration'" in result.stdout


def test_a_hook_that_raises_is_logged_and_the_scope_goes_on(otel, caplog):
    def broken(event):
        raise RuntimeError("hook bug")

    telemetry = make(otel, hooks=Hooks(on_request=broken, on_response=broken))
    with (
        caplog.at_level(logging.WARNING, logger="godeploy"),
        telemetry.call(GET_ORDER, URL_) as call,
        call.attempt() as attempt,
    ):
        attempt.answered(200)
    assert [record.levelno for record in caplog.records] == [logging.WARNING] * 2
    assert "RequestEvent" in caplog.records[0].getMessage()
    assert len(otel.spans(SpanKind.CLIENT)) == 1
    assert otel_context.get_current() == otel_context.Context()


async def test_fan_out_parents_the_per_order_calls_and_counts_outcomes(otel):
    progress = []
    telemetry = make(otel, hooks=Hooks(on_progress=progress.append))
    inputs = [1, 2, 3, 4, 5]
    scope = telemetry.fan_out(Telemetry.total_of(inputs))
    assert scope is not None

    async def fetch(order: int) -> tuple[int, bool]:
        url = URL(f"https://api.example.test/api/v2/orders/{order}/items")
        with telemetry.call(GET_ORDER, url) as call, call.attempt() as attempt:
            await asyncio.sleep(0)
            attempt.answered(200 if order % 2 else 503)
        return order, order % 2 == 0

    with scope:
        work = scope.wrap(fetch, failed=lambda result: result[1])
        results = await asyncio.gather(*(work(order) for order in inputs))
    assert len(results) == 5
    (fan_out,) = [span for span in otel.spans() if span.name == "godeploy fan_out"]
    calls = [span for span in otel.spans() if span.name == "godeploy getOrder"]
    assert len(calls) == 5
    assert {span.parent.span_id for span in calls} == {fan_out.context.span_id}
    assert fan_out.attributes["godeploy.fan_out.total"] == 5
    assert fan_out.attributes["godeploy.fan_out.done"] == 5
    assert fan_out.attributes["godeploy.fan_out.failed"] == 2
    metrics = otel.metrics()
    assert total(metrics, "godeploy.fan_out.orders", **{"godeploy.outcome": "ok"}) == 3
    assert total(metrics, "godeploy.fan_out.orders", **{"godeploy.outcome": "failed"}) == 2
    assert total(metrics, "godeploy.fan_out.orders.active") == 0
    assert [event.done for event in progress] == [1, 2, 3, 4, 5]
    assert progress[-1].failed == 2 and progress[-1].total == 5
    assert progress[-1].in_flight == 0


async def test_a_cancelled_fan_out_input_is_neither_done_nor_failed(otel):
    progress = []
    telemetry = make(otel, hooks=Hooks(on_progress=progress.append))
    scope = telemetry.fan_out()

    async def forever(order: int) -> int:
        await asyncio.sleep(3600)
        return order

    with scope:
        task = asyncio.ensure_future(scope.wrap(forever, failed=lambda _: False)(1))
        await asyncio.sleep(0)
        assert scope.in_flight == 1
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert (scope.done, scope.failed, scope.in_flight) == (0, 0, 0)
    assert progress == []
    assert total(otel.metrics(), "godeploy.fan_out.orders.active") == 0
    (fan_out,) = otel.spans()
    assert fan_out.status.status_code is StatusCode.UNSET
    assert "godeploy.fan_out.total" not in fan_out.attributes


def test_providers_set_while_calls_are_in_flight_fail_no_call():
    # Issue 17.3: an attempt that started without a meter looked the instruments up again on
    # its way out and found the new provider's: KeyError(()). Each attempt keeps what it began.
    result = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "_support" / "providers_mid_call.py")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    seen = json.loads(result.stdout)
    assert seen["held"] == ["ok", "ok"]
    assert seen["later"] == seen["after"] == "ok"
    assert seen["requests"] == seen["responses"] == 5
    assert seen["active_requests"] == 0
    assert seen["active_orders"] == 0
    # Attempts that started before the meter provider are not measured; later ones are.
    assert seen["durations"] == 2
    assert seen["spans"].count("godeploy getOrder") == 3
