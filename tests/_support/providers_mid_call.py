"""Run as a script: an OpenTelemetry meter provider set globally while calls are in flight.

The global providers can be set once per process, hence a child. A client traced by its own
tracer provider, with no meter provider yet, starts a call and a fan-out whose requests the
transport holds; the global meter provider is set; another call starts (it finds it) and ends;
then the held requests are let go. Prints what every call came to, the hooks' event counts and
the in-flight gauges, as JSON.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from opentelemetry import metrics
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from godeploy import (
    AiohttpTransport,
    GoDeployClient,
    Hooks,
    TransportRequest,
    TransportResponse,
)
from godeploy.testing import FakeGoDeploy


class HeldTransport:
    """The real transport; while `held` is set, each send waits for it to be released."""

    def __init__(self) -> None:
        self.inner = AiohttpTransport()
        self.gate = asyncio.Event()
        self.waiting = 0
        self.holding = True

    async def send(self, request: TransportRequest) -> TransportResponse:
        if self.holding:
            self.waiting += 1
            await self.gate.wait()
        return await self.inner.send(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def points(reader: InMemoryMetricReader, name: str) -> list[Any]:
    data = reader.get_metrics_data()
    if data is None:
        return []
    return [
        point
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name == name
        for point in metric.data.data_points
    ]


async def outcome(work: Any) -> str:
    try:
        result = await work
    except Exception as error:  # noqa: BLE001 - what the test looks for: no call may fail
        return f"{type(error).__name__}: {error!r}"
    return "ok" if result else "empty"


async def scenario() -> dict[str, Any]:
    requests: list[Any] = []
    responses: list[Any] = []
    hooks = Hooks(on_request=requests.append, on_response=responses.append)
    transport = HeldTransport()
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    async with FakeGoDeploy(seed=7) as fake:
        client = GoDeployClient(
            fake.token,
            fake.business_unit_id,
            base_url=fake.url,
            transport=transport,
            hooks=hooks,
            tracer_provider=tracer_provider,
        )
        order_id = fake.order_ids()[0]

        async def fan_out() -> list[bool]:
            ids = fake.order_ids()[:2]
            async with client.order_items.for_orders(ids, concurrency=2) as results:
                return [result.ok async for result in results]

        async with client:
            held_get = asyncio.ensure_future(outcome(client.orders.get(order_id)))
            held_fan_out = asyncio.ensure_future(outcome(fan_out()))
            while transport.waiting < 3:
                await asyncio.sleep(0.01)
            # Mid-flight: a meter provider is configured.
            reader = InMemoryMetricReader()
            metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
            await asyncio.sleep(0.01)  # the client looks for global providers every 5 ms at most
            transport.holding = False
            later = await outcome(client.orders.get(order_id))
            transport.gate.set()
            held = [await held_get, await held_fan_out]
            after = await outcome(client.orders.get(order_id))
            await transport.aclose()
    return {
        "held": held,
        "later": later,
        "after": after,
        "requests": len(requests),
        "responses": len(responses),
        "active_requests": sum(p.value for p in points(reader, "http.client.active_requests")),
        "active_orders": sum(p.value for p in points(reader, "godeploy.fan_out.orders.active")),
        "durations": sum(p.count for p in points(reader, "http.client.request.duration")),
        "spans": sorted(span.name for span in exporter.get_finished_spans()),
    }


if __name__ == "__main__":
    print(json.dumps(asyncio.run(scenario())))
