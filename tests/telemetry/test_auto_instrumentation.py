"""With the aiohttp auto-instrumentation on as well, a godeploy send is counted once: by godeploy.

The instrumentation's own trace config sees every request of the session; an attempt scope sets
the context key it honours, so inside one only godeploy's spans, metrics and `traceparent` exist.
The same request outside a scope is the control: there the instrumentation does its usual work.
"""

from __future__ import annotations

import aiohttp
from opentelemetry.instrumentation.aiohttp_client import create_trace_config
from opentelemetry.trace import SpanKind

from godeploy._observers import Telemetry
from godeploy._otel import OtelObserver
from godeploy.testing import FakeGoDeploy
from tests._support.otel import LIST_ORDERS, needs_http_suppression, total


@needs_http_suppression
async def test_an_attempt_scope_keeps_the_aiohttp_instrumentation_out(otel):
    telemetry = Telemetry.of(
        OtelObserver.of(tracer_provider=otel.tracer_provider, meter_provider=otel.meter_provider)
    )
    assert telemetry is not None
    # Its default semantic conventions: the old `http.client.duration` in some releases, the
    # stable `http.client.request.duration` in others (counted below whichever it is).
    instrumentation = create_trace_config(
        tracer_provider=otel.tracer_provider, meter_provider=otel.meter_provider
    )
    async with (
        FakeGoDeploy(seed=7) as fake,
        aiohttp.ClientSession(trace_configs=[instrumentation]) as session,
    ):
        url = fake.url.joinpath("api/v2/orders").with_query(
            businessUnitId=str(fake.business_unit_id)
        )
        authorization = {"Authorization": f"Bearer {fake.token}"}
        with telemetry.call(LIST_ORDERS, url) as call, call.attempt() as attempt:
            async with session.get(url, headers={**authorization, **attempt.headers}) as response:
                await response.read()
                attempt.answered(response.status)
        # The control: the instrumentation is live on this session.
        async with session.get(url, headers=authorization) as response:
            await response.read()
        ours, control = fake.requests

    godeploy_client, aiohttp_client = otel.spans(SpanKind.CLIENT)
    assert godeploy_client.name == "GET /api/v2/orders"
    assert godeploy_client.instrumentation_scope.name == "godeploy"
    assert aiohttp_client.instrumentation_scope.name.startswith("opentelemetry.instrumentation")
    assert len(otel.spans()) == 3  # godeploy's INTERNAL and CLIENT, and the control's
    assert ours.headers["traceparent"].split("-")[2] == f"{godeploy_client.context.span_id:016x}"
    assert control.headers["traceparent"].split("-")[2] == f"{aiohttp_client.context.span_id:016x}"

    by_scope = otel.scopes()
    metrics = otel.metrics()
    (aiohttp_scope,) = [name for name in by_scope if name != "godeploy"]
    assert "http.client.request.duration" in by_scope["godeploy"]
    aiohttp_durations = {"http.client.duration", "http.client.request.duration"}
    assert aiohttp_durations & set(by_scope[aiohttp_scope])
    # Two requests, two durations: one from godeploy (ours), one from aiohttp (the control).
    measured = sum(total(metrics, name) for name in aiohttp_durations)
    assert measured == 2
