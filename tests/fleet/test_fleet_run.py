"""Submit, work, read: every order exactly once, the report adds up, resubmits are no-ops."""

from __future__ import annotations

import contextlib

import pytest
from arq.connections import RedisSettings
from arq.constants import default_queue_name
from arq.worker import create_worker, func

from godeploy import NotFoundError, OrderItemsResult, RequestValidationError
from godeploy.fleet import Fleet, FleetWorker, job_deserializer, job_serializer
from godeploy.testing import FakeGoDeploy, Fault, RedisServer

from .conftest import client_of, read_all, run_burst


async def test_every_order_comes_back_once(
    fake_godeploy: FakeGoDeploy, redis_server: RedisServer, fleet: Fleet, order_ids: list[int]
):
    ids = order_ids[:250]
    run = await fleet.submit(ids, chunk_size=40)
    assert (run.total, run.chunks, run.enqueued) == (250, 7, 7)
    await run_burst(FleetWorker(client_of(fake_godeploy), concurrency=8), redis_server.url)
    results = await read_all(fleet, run)
    assert sorted(r.order_id for r in results) == sorted(ids)
    assert [r for r in results if not (r.ok and r.items)] == []
    assert all(item.order_id == r.order_id for r in results for item in r.items)
    report = await fleet.report(run)
    assert (report.total, report.succeeded, report.failed) == (250, 250, 0)
    assert (report.missing, report.in_flight, report.duplicates_suppressed) == (0, 0, 0)
    # Read once: nothing is left in Redis.
    assert await read_all(fleet, run) == []


async def test_a_resubmitted_run_enqueues_nothing(
    fake_godeploy: FakeGoDeploy, redis_server: RedisServer, fleet: Fleet, order_ids: list[int]
):
    ids = order_ids[:90]
    first = await fleet.submit(ids, chunk_size=20, run_id="nightly")
    queued = await fleet.redis.zcard(fleet.queue_name)
    again = await fleet.submit(iter(ids), chunk_size=20, run_id="nightly")
    assert (first.enqueued, again.enqueued, again.chunks) == (5, 0, 5)
    assert await fleet.redis.zcard(fleet.queue_name) == queued == 5
    await run_burst(FleetWorker(client_of(fake_godeploy), concurrency=4), redis_server.url)
    assert len(await read_all(fleet, first)) == 90
    # After the run: still nothing to enqueue, nothing new to read, nothing fetched again.
    requests = fake_godeploy.count("listOrderItems")
    after = await fleet.submit(ids, chunk_size=20, run_id="nightly")
    assert after.enqueued == 0
    assert await fleet.redis.zcard(fleet.queue_name) == 0
    await run_burst(FleetWorker(client_of(fake_godeploy), concurrency=4), redis_server.url)
    assert await read_all(fleet, after) == []
    assert fake_godeploy.count("listOrderItems") == requests
    report = await fleet.report("nightly")
    assert (report.total, report.succeeded, report.duplicates_suppressed) == (90, 90, 0)


async def test_a_resubmit_with_other_orders_is_refused(fleet: Fleet):
    await fleet.submit([1, 2, 3], chunk_size=2, run_id="r")
    with pytest.raises(RequestValidationError, match="chunk 1 holds other orders"):
        await fleet.submit([1, 2, 4], chunk_size=2, run_id="r")
    with pytest.raises(RequestValidationError, match="chunk_size=2"):
        await fleet.submit([1, 2, 3], chunk_size=3, run_id="r")


@pytest.mark.parametrize(
    ("orders", "message"), [([0], "order must be an id"), (["7"], "order must be an id")]
)
async def test_bad_orders_are_refused_before_enqueueing(fleet: Fleet, orders, message):
    with pytest.raises(RequestValidationError, match=message):
        await fleet.submit(orders, run_id="bad")
    assert await fleet.redis.zcard(fleet.queue_name) == 0


async def test_results_of_an_unknown_run_are_refused(fleet: Fleet):
    with pytest.raises(RequestValidationError, match="no run 'nope'"):
        await read_all(fleet, "nope")
    with pytest.raises(RequestValidationError, match="no run"):
        await fleet.report("nope")


async def test_orders_stream_from_the_pager_and_failures_are_results(
    fake_godeploy: FakeGoDeploy, redis_server: RedisServer, fleet: Fleet, order_ids: list[int]
):
    fake_godeploy.faults.add(Fault.status(404), route="listOrderItems", times=3)
    async with client_of(fake_godeploy)() as client:
        run = await fleet.submit(client.orders.list(page_size=100), chunk_size=64)
    assert run.total == len(order_ids) == 400
    await run_burst(FleetWorker(client_of(fake_godeploy), concurrency=8), redis_server.url)
    # Jobs carry order ids, results carry items and errors: the token is never in Redis.
    everything = await _everything_in(fleet)
    assert b"NotFoundError" in everything  # the unread results are in there
    assert fake_godeploy.token.encode() not in everything
    results = await read_all(fleet, run)
    assert sorted(r.order_id for r in results) == sorted(order_ids)
    failed = [r for r in results if not r.ok]
    assert len(failed) == 3
    assert all(isinstance(r.error, NotFoundError) and r.error.status == 404 for r in failed)
    report = await fleet.report(run)
    assert (report.succeeded, report.failed, report.missing) == (397, 3, 0)


async def _everything_in(fleet: Fleet) -> bytes:
    """Every key and value in the Redis, read by type, concatenated."""
    redis = fleet.redis
    parts: list[bytes] = []
    for key in await redis.keys("*"):
        kind = (await redis.type(key)).decode()
        if kind == "string":
            parts.append(await redis.get(key))
        elif kind == "list":
            parts += await redis.lrange(key, 0, -1)
        elif kind == "hash":
            parts += [b"%s=%s" % pair for pair in (await redis.hgetall(key)).items()]
        elif kind == "zset":
            parts += await redis.zrange(key, 0, -1)
        parts.append(key)
    return b"\n".join(parts)


async def test_a_result_hook_keeps_the_items_out_of_redis(
    fake_godeploy: FakeGoDeploy, redis_server: RedisServer, fleet: Fleet, order_ids: list[int]
):
    stored: dict[int, int] = {}

    async def store(result: OrderItemsResult) -> None:
        stored[result.order_id] = len(result.items)

    ids = order_ids[:60]
    run = await fleet.submit(ids, chunk_size=25)
    worker = FleetWorker(client_of(fake_godeploy), concurrency=4, on_result=store)
    await run_burst(worker, redis_server.url)
    results = await read_all(fleet, run)
    assert sorted(stored) == sorted(ids) == sorted(r.order_id for r in results)
    assert all(count > 0 for count in stored.values())
    assert all(r.ok and r.items == [] for r in results)


def test_the_fleet_repr_hides_the_redis_password():
    fleet = Fleet("redis://:s3cret-pw@127.0.0.1:6379/0")
    assert "s3cret-pw" not in repr(fleet)
    assert "127.0.0.1:6379" in repr(fleet)


async def test_a_reader_that_stops_mid_batch_loses_nothing(
    fake_godeploy: FakeGoDeploy, redis_server: RedisServer, fleet: Fleet, order_ids: list[int]
):
    ids = order_ids[:150]
    run = await fleet.submit(ids, chunk_size=50)
    await run_burst(FleetWorker(client_of(fake_godeploy), concurrency=8), redis_server.url)
    first: list[int] = []
    async with contextlib.aclosing(fleet.results(run)) as results:
        async for result in results:
            first.append(result.order_id)
            if len(first) == 30:  # mid-batch: a batch is 100
                break
    rest = [result.order_id for result in await read_all(fleet, run)]
    assert len(first) == 30
    assert sorted(first + rest) == sorted(ids)  # none lost, none twice


async def test_godeploys_job_runs_in_an_arq_app_of_your_own(
    fake_godeploy: FakeGoDeploy, redis_server: RedisServer, order_ids: list[int]
):
    """The README's recipe: your WorkerSettings, your queue, your job beside godeploy's."""
    done: list[str] = []
    godeploy_jobs = FleetWorker(client_of(fake_godeploy), concurrency=4)

    async def your_job(ctx, text: str) -> None:
        done.append(text)

    async def startup(ctx):
        await godeploy_jobs.startup(ctx)

    async def shutdown(ctx):
        await godeploy_jobs.shutdown(ctx)

    class WorkerSettings:
        functions = [func(your_job, name="your_job"), godeploy_jobs.function]  # noqa: RUF012
        on_startup, on_shutdown = startup, shutdown
        redis_settings = RedisSettings.from_dsn(redis_server.url)
        job_serializer, job_deserializer = job_serializer, job_deserializer

    async with Fleet(redis_server.url, queue_name=default_queue_name) as fleet:
        run = await fleet.submit(order_ids[:40], chunk_size=10)
        await fleet.redis.enqueue_job("your_job", "hello")
        worker = create_worker(WorkerSettings, burst=True, handle_signals=False, poll_delay=0.05)
        try:
            await worker.async_run()
        finally:
            await worker.pool.aclose(close_connection_pool=True)
            await godeploy_jobs.shutdown()
        results = await read_all(fleet, run)
    assert done == ["hello"]
    assert sorted(r.order_id for r in results) == sorted(order_ids[:40])


async def test_a_reader_that_raises_is_acknowledged_before_its_block_exits(
    fake_godeploy: FakeGoDeploy, redis_server: RedisServer, fleet: Fleet, order_ids: list[int]
):
    run = await fleet.submit(order_ids[:150], chunk_size=50)
    await run_burst(FleetWorker(client_of(fake_godeploy), concurrency=8), redis_server.url)
    reading = f"{fleet.namespace}:run:{run.id}:reading"
    seen: list[int] = []

    async def consume() -> None:
        async with fleet.results(run) as results:
            async for result in results:
                seen.append(result.order_id)
                if len(seen) == 30:
                    assert await fleet.redis.llen(reading) == 100  # a batch, none acknowledged
                    raise LookupError("the consumer fails mid-batch")

    with pytest.raises(LookupError):
        await consume()
    # The block has exited: the 30 handed out are acknowledged, the other 70 wait.
    assert await fleet.redis.llen(reading) == 70
    rest = [result.order_id for result in await read_all(fleet, run)]
    assert sorted(seen + rest) == sorted(order_ids[:150])


async def test_closing_the_fleet_closes_its_readers(
    fake_godeploy: FakeGoDeploy, redis_server: RedisServer, order_ids: list[int]
):
    fleet = Fleet(redis_server.url)
    await fleet.open()
    run = await fleet.submit(order_ids[:20], chunk_size=10)
    await run_burst(FleetWorker(client_of(fake_godeploy), concurrency=4), redis_server.url)
    results = fleet.results(run)
    assert (await anext(results)).order_id in order_ids
    reading = f"{fleet.namespace}:run:{run.id}:reading"
    assert await fleet.redis.llen(reading) == 20
    await fleet.aclose()
    async with Fleet(redis_server.url) as again:
        assert await again.redis.llen(reading) == 19
        with pytest.raises(StopAsyncIteration):
            await anext(results)
        assert len(await read_all(again, run)) == 19
