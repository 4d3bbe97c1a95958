"""A fleet run continues the submitter's trace: its trace context travels in each job."""

from __future__ import annotations

from opentelemetry.trace import SpanKind

from godeploy import GoDeployClient
from godeploy.fleet import Fleet, FleetWorker
from godeploy.testing import FakeGoDeploy, RedisServer
from tests._support.otel import Recorder, total


async def test_workers_continue_the_trace_of_the_submitting_call(
    otel: Recorder, redis_server: RedisServer
):
    async with FakeGoDeploy(seed=7, order_count=60, log_size=0) as fake:
        ids = fake.order_ids()[:30]

        def client() -> GoDeployClient:
            return GoDeployClient(
                fake.token,
                fake.business_unit_id,
                base_url=fake.url,
                tracer_provider=otel.tracer_provider,
                meter_provider=otel.meter_provider,
            )

        tracer = otel.tracer_provider.get_tracer("the submitter")
        async with Fleet(redis_server.url) as fleet:
            with tracer.start_as_current_span("nightly sync") as submitting:
                run = await fleet.submit(ids, chunk_size=10)
            await FleetWorker(client, concurrency=4).run(redis_server.url, burst=True)
            results = [result async for result in fleet.results(run)]
    assert sorted(result.order_id for result in results) == sorted(ids)

    chunks = [span for span in otel.spans() if span.name == "godeploy fleet_chunk"]
    assert len(chunks) == 3
    for chunk in chunks:
        assert chunk.kind is SpanKind.CONSUMER
        assert chunk.context.trace_id == submitting.get_span_context().trace_id
        assert chunk.parent.span_id == submitting.get_span_context().span_id
        assert chunk.attributes["godeploy.fleet.run"] == run.id
    fan_outs = [span for span in otel.spans() if span.name == "godeploy fan_out"]
    assert {span.parent.span_id for span in fan_outs} <= {c.context.span_id for c in chunks}
    calls = [span for span in otel.spans() if span.name == "godeploy listOrderItems"]
    assert len(calls) == 30
    assert {span.context.trace_id for span in calls} == {submitting.get_span_context().trace_id}
    assert {span.parent.span_id for span in calls} <= {f.context.span_id for f in fan_outs}
    # And the workers report the same metrics as any client.
    metrics = otel.metrics()
    assert total(metrics, "http.client.request.duration") == 30
    assert total(metrics, "godeploy.fan_out.orders", **{"godeploy.outcome": "ok"}) == 30


async def test_a_run_submitted_outside_any_trace_starts_its_own(
    otel: Recorder, redis_server: RedisServer
):
    async with FakeGoDeploy(seed=7, order_count=20, log_size=0) as fake:

        def client() -> GoDeployClient:
            return GoDeployClient(
                fake.token,
                fake.business_unit_id,
                base_url=fake.url,
                tracer_provider=otel.tracer_provider,
            )

        async with Fleet(redis_server.url) as fleet:
            run = await fleet.submit(fake.order_ids()[:5], chunk_size=5)
            await FleetWorker(client, concurrency=2).run(redis_server.url, burst=True)
            assert len([result async for result in fleet.results(run)]) == 5
    (chunk,) = [span for span in otel.spans() if span.name == "godeploy fleet_chunk"]
    assert chunk.parent is None
