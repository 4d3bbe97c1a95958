"""order_items.for_orders: bounded, lazy, lossless fan-out against the fake."""

from __future__ import annotations

import asyncio
import re
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from typing import Any

import pytest

from godeploy import OrderItemsResult, RequestValidationError
from godeploy.fanout import FanOut
from godeploy.testing import FakeGoDeploy, Fault
from tests._support import acquired_connections, make_client
from tests._support.clock import EPSILON, ClockedAPI, clocked_client, virtual_time
from tests._support.matching import mismatches


def sdk_tasks(tasks: set[asyncio.Task]) -> list[asyncio.Task]:
    """The pending tasks that are not the in-process fake's connection handlers."""
    return [
        task
        for task in tasks
        if not task.done()
        and not getattr(task.get_coro(), "__qualname__", "").startswith("RequestHandler.")
    ]


async def test_one_result_per_order_under_faults_over_4150_orders(fake_godeploy):
    fake_godeploy.faults.add(Fault.status(503), route="listOrderItems", rate=0.05)
    fake_godeploy.faults.add(Fault.reset(), route="listOrderItems", rate=0.01)
    async with make_client(fake_godeploy) as client:
        async with client.order_items.for_orders(
            client.orders.list(page_size=100), concurrency=32
        ) as results:
            seen = Counter()
            failed = 0
            async for result in results:
                seen[result.order_id] += 1
                failed += result.error is not None
                if result.ok:
                    assert not mismatches(result.items, fake_godeploy.order_items(result.order_id))
        assert acquired_connections(client) == 0
    assert sorted(seen) == fake_godeploy.order_ids()
    assert set(seen.values()) == {1}
    assert fake_godeploy.count("listOrderItems", status=503) > 100  # faults really struck
    assert failed < 10  # retries absorbed nearly all of them


async def test_errors_become_results_and_the_rest_go_on(fake_godeploy):
    ids = fake_godeploy.order_ids()[:20]
    fake_godeploy.faults.add(Fault.status(503), route="listOrderItems", times=4)
    async with make_client(fake_godeploy, max_retries=0) as client:
        results = [r async for r in client.order_items.for_orders([*ids, 999_999, 0])]
    errors = {r.order_id: type(r.error).__name__ for r in results if r.error}
    assert len(results) == 22
    assert errors[999_999] == "NotFoundError"
    assert errors[0] == "RequestValidationError"
    assert list(errors.values()).count("ServiceUnavailableError") == 4


async def test_ordered_preserves_input_order(fake_godeploy):
    fake_godeploy.faults.latency(fixed=0.0, jitter=0.02)
    ids = fake_godeploy.order_ids()[:200][::-1]
    async with make_client(fake_godeploy) as client:
        fan_out = client.order_items.for_orders(ids, concurrency=16, ordered=True)
        results = [r.order_id async for r in fan_out]
    assert results == ids


async def test_accepts_order_models(fake_godeploy):
    async with make_client(fake_godeploy) as client:
        orders = [o async for o in client.orders.list(max_items=5)]
        results = [r async for r in client.order_items.for_orders(orders, ordered=True)]
    assert [r.order_id for r in results] == [o.id for o in orders]
    assert all(isinstance(r, OrderItemsResult) and r.items for r in results)


async def test_100k_orders_keep_tasks_bounded_by_concurrency():
    concurrency = 8
    async with FakeGoDeploy(seed=3, order_count=100_000) as fake, make_client(fake) as client:
        consumed = 0

        async def order_ids():
            nonlocal consumed
            for order_id in range(1, 100_001):
                consumed += 1
                yield order_id

        baseline = asyncio.all_tasks()
        peak = 0
        count = 0
        async with client.order_items.for_orders(order_ids(), concurrency=concurrency) as out:
            async for _ in out:
                count += 1
                # The SDK's tasks: the same-loop fake's connection handlers are not counted
                # (the fetches are in flight while the consumer runs, each on a connection).
                peak = max(peak, len(sdk_tasks(asyncio.all_tasks() - baseline)))
                if count == 3_000:
                    # Lazy: the input is read only as far as the slots and the read-ahead
                    # queue (one more `concurrency`, plus the value waiting to enter) allow.
                    assert consumed <= count + 2 * concurrency + 1
                    break
        assert peak <= concurrency + 1  # the fetches and the reader
        assert acquired_connections(client) == 0


async def test_consumer_break_cancels_in_flight_fetches(fake_godeploy):
    fake_godeploy.faults.latency(fixed=0.3)
    async with make_client(fake_godeploy) as client:
        async with client.order_items.for_orders(range(1, 1000), concurrency=20) as results:
            async for _ in results:
                break
        # The 19 others were cancelled, not awaited to completion.
        assert acquired_connections(client) == 0
        assert fake_godeploy.count("listOrderItems") <= 21 + 20


async def test_cancelling_the_consumer_task_releases_connections(fake_godeploy):
    fake_godeploy.faults.latency(fixed=0.3)
    async with make_client(fake_godeploy) as client:

        async def consume() -> None:
            async with client.order_items.for_orders(range(1, 100), concurrency=10) as results:
                async for _ in results:
                    pass

        task = asyncio.create_task(consume())
        while fake_godeploy.count() < 5:
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert acquired_connections(client) == 0
        # Neither a fetch nor a worker of the fan-out is left.
        assert not [t for t in asyncio.all_tasks() if re.search("fetch|_Run", repr(t.get_coro()))]


@virtual_time
async def test_rate_limit_holds_within_one_burst():
    rate = 50
    api = ClockedAPI(latency=0.001)
    async with clocked_client(api, max_requests_per_second=rate) as client:
        results = [r async for r in client.order_items.for_orders(range(1, 101), concurrency=32)]
    assert len(results) == 100
    # 100 requests at 50/s with a burst of 50, on the virtual clock: the first 50 at once,
    # then one every 1/50 s; none sooner than its slot, and the last exactly at 1 s.
    sent = api.times("listOrderItems")
    assert len(sent) == 100
    assert sorted(sent) == sent
    assert all(at >= (n - rate + 1) / rate - EPSILON for n, at in enumerate(sent)), sent
    assert sent[-1] == pytest.approx((100 - rate) / rate)


def test_bad_concurrency_is_refused():
    with pytest.raises(RequestValidationError):
        FanOut([1], lambda x: asyncio.sleep(0), concurrency=0)


async def test_a_fan_out_iterates_once():
    async def work(value: int) -> int:
        return value

    fan_out = FanOut([1, 2], work)
    assert [x async for x in fan_out] in ([1, 2], [2, 1])
    with pytest.raises(RuntimeError):
        aiter(fan_out)


@pytest.mark.parametrize("source", ["list", "async generator"])
async def test_a_freed_slot_is_refilled_before_the_result_is_handed_out(source):
    # So the fetches go on while the consumer works; an async input is read ahead far enough
    # to keep up. The work of input n ends only when the consumer has seen result n - 1, so
    # exactly one result is ready at a time. By the consumer's first await after a result,
    # the input that took the freed slot is running: `concurrency` works are under way.
    concurrency, total = 8, 200
    loop = asyncio.get_running_loop()
    gates = defaultdict(loop.create_future)
    running = 0

    async def work(value: int) -> int:
        nonlocal running
        running += 1
        try:
            await gates[value]
        finally:
            running -= 1
        return value

    async def values():
        for value in range(total):
            yield value

    inputs = range(total) if source == "list" else values()
    seen: list[int] = []
    gates[0].set_result(None)
    async for value in FanOut(inputs, work, concurrency=concurrency):
        await asyncio.sleep(0)
        seen.append(running)
        if value + 1 < total:
            gates[value + 1].set_result(None)
    busy = total - concurrency
    assert seen == [concurrency] * busy + list(range(concurrency - 1, -1, -1))


async def test_concurrency_above_the_pool_runs_at_the_pool_with_one_warning(fake_godeploy, caplog):
    caplog.set_level("WARNING", logger="godeploy")
    order_ids = fake_godeploy.order_ids()[:30]
    async with make_client(fake_godeploy, max_connections=10) as client:
        busiest = 0

        async def watch() -> None:
            nonlocal busiest
            while True:
                busiest = max(busiest, acquired_connections(client))
                await asyncio.sleep(0)

        watcher = asyncio.ensure_future(watch())
        async with client.order_items.for_orders(order_ids, concurrency=20) as results:
            assert results.concurrency == 10
            got = [result.order_id async for result in results]
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
        async with client.order_items.for_orders(order_ids, concurrency=10) as results:
            assert len([result async for result in results]) == 30
    assert sorted(got) == sorted(order_ids)
    assert busiest <= 10
    warnings = [record.getMessage() for record in caplog.records]
    assert len(warnings) == 1, warnings  # the second fan-out fits the pool: no word
    assert "max_connections=10" in warnings[0] and "concurrency=20" in warnings[0]


def fan_out_workers() -> list[asyncio.Task[Any]]:
    """The worker tasks of the fan-outs running now."""
    return [
        task
        for task in asyncio.all_tasks()
        if not task.done() and task.get_coro().__qualname__ == "_Run.worker"
    ]


async def settle() -> None:
    """Let every ready task run until none is left to."""
    for _ in range(10):
        await asyncio.sleep(0)


async def test_a_worker_cancelled_from_outside_while_working_ends_the_loop_cancelled():
    # Say a task group or a shutdown cancels the fan-out's tasks, not the consumer's: the
    # input the worker held ends cancelled, raised in its turn, and the consumer does not hang.
    release = asyncio.Event()

    async def work(value: int) -> int:
        await release.wait()
        return value

    async def consume() -> list[int]:
        return [value async for value in FanOut(range(5), work, concurrency=2)]

    consumer = asyncio.ensure_future(consume())
    await settle()
    fan_out_workers()[0].cancel()
    await settle()
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(consumer, 5)
    assert fan_out_workers() == []


async def test_a_worker_cancelled_from_outside_while_idle_is_replaced():
    feed: asyncio.Queue[int | None] = asyncio.Queue()

    async def inputs() -> AsyncIterator[int]:
        while (value := await feed.get()) is not None:
            yield value

    async def work(value: int) -> int:
        await asyncio.sleep(0)
        return value

    async def consume() -> list[int]:
        return [value async for value in FanOut(inputs(), work, concurrency=2)]

    consumer = asyncio.ensure_future(consume())
    feed.put_nowait(1)
    await settle()
    (idle,) = fan_out_workers()  # done with input 1, waiting for the next
    idle.cancel()
    await settle()
    feed.put_nowait(2)
    feed.put_nowait(None)
    assert await asyncio.wait_for(consumer, 5) == [1, 2]
    assert fan_out_workers() == []
