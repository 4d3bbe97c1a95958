"""GoDeployClient's spans, metrics, hooks and logs, against FakeGoDeploy, with the SDK in memory."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter

import aiohttp
import pytest
from opentelemetry.instrumentation.aiohttp_client import AioHttpClientInstrumentor
from opentelemetry.trace import SpanKind, StatusCode

from godeploy import (
    GoDeployClient,
    Hooks,
    RetryBudget,
    RetryPolicy,
    ServiceUnavailableError,
    Timeout,
)
from godeploy.testing import FakeGoDeploy, Fault
from tests._support.otel import Recorder, needs_http_suppression, total

FAST_RETRIES = RetryPolicy(max_retries=3, backoff_base=0.001, backoff_cap=0.01)


def make_client(fake: FakeGoDeploy, otel: Recorder, **options) -> GoDeployClient:
    options.setdefault("retry_policy", FAST_RETRIES)
    return GoDeployClient(
        fake.token,
        fake.business_unit_id,
        base_url=fake.url,
        tracer_provider=otel.tracer_provider,
        meter_provider=otel.meter_provider,
        **options,
    )


def span_id_of(traceparent: str) -> int:
    return int(traceparent.split("-")[2], 16)


async def test_a_503_then_200_get_is_one_call_span_over_two_attempt_spans(fake_godeploy, otel):
    order_id = fake_godeploy.order_ids()[0]
    fake_godeploy.faults.script("getOrder", [Fault.status(503)])
    async with make_client(fake_godeploy, otel) as client:
        order = await client.orders.get(order_id)
    assert order.id == order_id

    (internal,) = otel.spans(SpanKind.INTERNAL)
    first, second = otel.spans(SpanKind.CLIENT)
    assert internal.name == "godeploy getOrder"
    assert {first.parent.span_id, second.parent.span_id} == {internal.context.span_id}
    assert first.name == second.name == "GET /api/v2/orders/{orderId}"
    assert first.attributes["error.type"] == "503"
    assert first.attributes["http.response.status_code"] == 503
    assert first.status.status_code is StatusCode.ERROR
    assert second.attributes["http.request.resend_count"] == 1
    assert second.attributes["http.response.status_code"] == 200
    assert "error.type" not in second.attributes
    assert second.attributes["url.full"] == str(
        fake_godeploy.url.joinpath("api/v2/orders", str(order_id)).with_query(
            businessUnitId=str(fake_godeploy.business_unit_id)
        )
    )
    assert second.attributes["server.port"] == fake_godeploy.url.port
    # The fake got two traceparent headers, naming those two CLIENT spans.
    received = [span_id_of(record.headers["traceparent"]) for record in fake_godeploy.requests]
    assert received == [first.context.span_id, second.context.span_id]

    metrics = otel.metrics()
    assert total(metrics, "http.client.request.duration") == fake_godeploy.count() == 2
    assert total(metrics, "godeploy.client.retries", **{"error.type": "503"}) == 1
    assert total(metrics, "godeploy.client.operation.duration") == 1
    assert total(metrics, "http.client.active_requests") == 0


async def test_retries_by_reason_equal_the_faults_injected(fake_godeploy, otel):
    faults = [Fault.status(503), Fault.status(502), Fault.reset()]
    fake_godeploy.faults.script("getOrder", faults)
    async with make_client(fake_godeploy, otel) as client:
        await client.orders.get(fake_godeploy.order_ids()[0])
    metrics = otel.metrics()
    retries = Counter(
        {p.attributes["error.type"]: p.value for p in metrics["godeploy.client.retries"]}
    )
    assert retries == Counter({"503": 1, "502": 1, "APIConnectionError": 1})
    assert total(metrics, "http.client.request.duration") == fake_godeploy.count() == 4
    (internal,) = otel.spans(SpanKind.INTERNAL)
    assert [event.attributes["error.type"] for event in internal.events] == [
        "503",
        "502",
        "APIConnectionError",
    ]


async def test_a_timed_out_attempt_is_error_type_timeout(fake_godeploy, otel):
    fake_godeploy.faults.script("getOrder", [Fault.stall(5)])
    async with make_client(fake_godeploy, otel) as client:
        await client.orders.get(fake_godeploy.order_ids()[0], timeout=Timeout(attempt=0.3))
    first, _ = otel.spans(SpanKind.CLIENT)
    assert first.attributes["error.type"] == "timeout"
    assert "http.response.status_code" not in first.attributes
    assert total(otel.metrics(), "godeploy.client.retries", **{"error.type": "timeout"}) == 1


async def test_a_cancelled_call_leaves_nothing_in_flight_and_no_error_type(fake_godeploy, otel):
    responses = []
    fake_godeploy.faults.add(Fault.stall(30), route="getOrder")
    async with make_client(fake_godeploy, otel, hooks=Hooks(on_response=responses.append)) as c:
        call = asyncio.ensure_future(c.orders.get(fake_godeploy.order_ids()[0]))
        while not fake_godeploy.count("getOrder"):
            await asyncio.sleep(0.01)
        assert total(otel.metrics(), "http.client.active_requests") == 1
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
    metrics = otel.metrics()
    assert total(metrics, "http.client.active_requests") == 0
    for span in otel.spans():
        assert "error.type" not in span.attributes
        assert span.status.status_code is StatusCode.UNSET
    assert len(otel.spans(SpanKind.CLIENT)) == 1
    (response,) = responses
    assert response.cancelled and response.error is None


@needs_http_suppression
async def test_the_aiohttp_auto_instrumentation_at_the_same_time_counts_nothing_twice(otel):
    instrumentor = AioHttpClientInstrumentor()
    instrumentor.instrument(
        tracer_provider=otel.tracer_provider, meter_provider=otel.meter_provider
    )
    try:
        async with FakeGoDeploy(seed=7) as fake:
            fake.faults.script("getOrder", [Fault.status(503)])
            async with make_client(fake, otel) as client:
                await client.orders.get(fake.order_ids()[0])
                assert len(otel.spans()) == 3
                assert {span.instrumentation_scope.name for span in otel.spans()} == {"godeploy"}
                by_scope = otel.scopes()
                assert list(by_scope) == ["godeploy"]
                durations = [name for name in by_scope["godeploy"] if "duration" in name]
                assert "http.client.request.duration" in durations
                assert "http.client.duration" not in durations
                metrics = otel.metrics()
                assert total(metrics, "http.client.request.duration") == fake.count() == 2
            # The control: a session of the user's own is instrumented all right.
            async with aiohttp.ClientSession() as session, session.get(fake.url) as response:
                await response.read()
            assert len(otel.spans()) == 4
            assert len(otel.scopes()) == 2
    finally:
        instrumentor.uninstrument()


async def test_each_page_is_a_call_and_a_fan_out_parents_its_orders(fake_godeploy, otel):
    progress = []
    async with make_client(fake_godeploy, otel, hooks=Hooks(on_progress=progress.append)) as c:
        orders = [order async for order in c.orders.list(page_size=5, max_items=12)]
        assert len(orders) == 12
        list_calls = [span for span in otel.spans() if span.name == "godeploy listOrders"]
        assert len(list_calls) == 3
        otel.exporter.clear()
        ids = [order.id for order in orders[:4]] + [999_999_999]
        async with c.order_items.for_orders(ids, concurrency=2) as results:
            outcomes = [result.ok async for result in results]
    assert sorted(outcomes) == [False, True, True, True, True]
    (fan_out,) = [span for span in otel.spans() if span.name == "godeploy fan_out"]
    item_calls = [span for span in otel.spans() if span.name == "godeploy listOrderItems"]
    assert len(item_calls) >= 5
    assert {span.parent.span_id for span in item_calls} == {fan_out.context.span_id}
    assert fan_out.attributes["godeploy.fan_out.total"] == 5
    assert fan_out.attributes["godeploy.fan_out.failed"] == 1
    metrics = otel.metrics()
    assert total(metrics, "godeploy.fan_out.orders", **{"godeploy.outcome": "ok"}) == 4
    assert total(metrics, "godeploy.fan_out.orders", **{"godeploy.outcome": "failed"}) == 1
    assert total(metrics, "godeploy.fan_out.orders.active") == 0
    assert [event.done for event in progress] == [1, 2, 3, 4, 5]
    assert progress[-1].failed == 1
    for points in metrics.values():
        for point in points:
            assert not {str(value) for value in point.attributes.values()} & {
                str(fake_godeploy.business_unit_id),
                fake_godeploy.token,
                *(str(i) for i in ids),
            }


async def test_a_429_pause_is_a_span_event_a_metric_a_hook_and_one_warning(
    fake_godeploy, otel, caplog
):
    caplog.set_level(logging.WARNING, logger="godeploy")
    waits = []
    fake_godeploy.faults.script("getOrder", [Fault.status(429, retry_after=1)])
    async with make_client(fake_godeploy, otel, hooks=Hooks(on_rate_limit=waits.append)) as c:
        await c.orders.get(fake_godeploy.order_ids()[0])
    (internal,) = otel.spans(SpanKind.INTERNAL)
    assert [event.name for event in internal.events] == [
        "godeploy.rate_limit.pause",
        "godeploy.retry",
    ]
    (pause,) = otel.metrics()["godeploy.client.rate_limit.pause.duration"]
    assert (pause.count, pause.sum) == (1, 1.0)
    assert [(event.source, event.seconds) for event in waits] == [("retry_after", 1.0)]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "pausing all requests" in warnings[0].getMessage()


async def test_an_exhausted_retry_budget_warns_once_per_episode(fake_godeploy, otel, caplog):
    caplog.set_level(logging.WARNING, logger="godeploy")
    order_id = fake_godeploy.order_ids()[0]
    budget = RetryBudget(capacity=5)
    async with make_client(fake_godeploy, otel, retry_budget=budget, max_retries=1) as client:

        async def failing_get() -> None:
            rule = fake_godeploy.faults.add(Fault.status(503), route="getOrder")
            with pytest.raises(ServiceUnavailableError):
                await client.orders.get(order_id)
            fake_godeploy.faults.remove(rule)

        await failing_get()  # pays its retry: 0 tokens left
        await failing_get()  # cannot pay: the episode starts (one WARNING)
        await failing_get()  # still in it: silent
        for _ in range(5):  # five successes refill the five tokens
            await client.orders.get(order_id)
        await failing_get()  # pays again: the episode is over
        await failing_get()  # a new episode: a second WARNING
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert all(message.startswith("retry budget exhausted") for message in warnings)
    gauges = otel.metrics()
    assert [point.value for point in gauges["godeploy.client.retry_budget.limit"]] == [5]
    assert [point.value for point in gauges["godeploy.client.retry_budget.tokens"]] == [0]


async def test_logs_keep_their_shape_and_carry_extra_fields(fake_godeploy, otel, caplog):
    caplog.set_level(logging.DEBUG, logger="godeploy")
    fake_godeploy.faults.script("getOrder", [Fault.status(503)])
    async with make_client(fake_godeploy, otel) as client:
        await client.orders.get(fake_godeploy.order_ids()[0])
    retry = next(r for r in caplog.records if r.levelno == logging.INFO)
    assert "(retry 1 of 3)" in retry.getMessage()
    assert (retry.operation, retry.attempt) == ("getOrder", 1)
    attempts = [r for r in caplog.records if r.levelno == logging.DEBUG and "attempt=" in r.msg]
    assert [(r.operation, r.attempt, r.status) for r in attempts] == [
        ("getOrder", 1, 503),
        ("getOrder", 2, 200),
    ]
    assert all(isinstance(r.elapsed_ms, float) for r in attempts)


async def test_a_client_on_fleet_limits_reports_the_same_metrics(otel, redis_server):
    from godeploy.fleet import FleetLimits

    policy = RetryPolicy(max_retries=5, backoff_base=0, backoff_cap=0)
    async with FakeGoDeploy(seed=3, order_count=20) as fake:
        fake.faults.add(Fault.status(503), route="getOrder")
        limits = FleetLimits(redis_server.url, max_requests_per_second=100, retry_budget=10)
        async with limits, make_client(fake, otel, limits=limits, retry_policy=policy) as client:
            with pytest.raises(ServiceUnavailableError):
                await client.orders.get(fake.order_ids()[0])
            requests = fake.count()
    metrics = otel.metrics()
    assert total(metrics, "godeploy.client.retries", **{"error.type": "503"}) == 2
    assert total(metrics, "http.client.request.duration") == requests == 3
    # The fleet's budget, as the client's limits see it: two retries of 5 took all 10 tokens.
    assert [p.value for p in metrics["godeploy.client.retry_budget.tokens"]] == [0]
    assert [p.value for p in metrics["godeploy.client.retry_budget.limit"]] == [10]
    (internal,) = otel.spans(SpanKind.INTERNAL)
    assert internal.attributes["error.type"] == "503"
