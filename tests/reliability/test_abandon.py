"""Stopping without `async with`: a `break` (or an exception) out of a fan-out, a pager or its
pages leaves nothing behind once the loop has turned once.

Users write `async for r in client.order_items.for_orders(ids): break` with no `async with` and
no `aclose()`. Each scenario here does that in a fresh event loop (`LoopAudit`) with the garbage
collector off, so what is cleaned up is cleaned up at once, not by a collection that may come
much later; then it turns the loop once and looks: no task beyond those it had before, no
connection acquired. After a `gc.collect()` it looks again, and the audit adds that the loop
logged no error ("Task was destroyed but it is pending!") and no ResourceWarning was raised.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest

from godeploy import FanOut, GoDeployClient
from tests._support.reliability import LoopAudit, ThreadedFake, acquired_connections, make_client

ORDERS = 120


class BoomError(Exception):
    """Raised by a loop body, to leave the loop by an exception."""


@pytest.fixture(scope="module")
def server() -> Iterator[ThreadedFake]:
    with ThreadedFake(seed=5, order_count=ORDERS) as server:
        # Slow enough that fetches are in flight when the consumer leaves.
        server.fake.faults.latency(fixed=0.02, jitter=0.01)
        yield server


Scenario = Callable[[GoDeployClient, dict[str, Any]], Awaitable[Any]]


def leaves_nothing(server: ThreadedFake, scenario: Scenario) -> dict[str, Any]:
    """Run a scenario that stops early; assert what it leaves after one turn of the loop."""
    found: dict[str, Any] = {}

    async def main() -> None:
        client = make_client(server.fake)
        try:
            before = asyncio.all_tasks()
            gc.disable()
            try:
                # Whatever the scenario returns stays referenced until the checks are done.
                kept = await scenario(client, found)
                await asyncio.sleep(0)  # one turn of the loop
                found["left"] = [t for t in asyncio.all_tasks() - before if not t.done()]
                found["acquired"] = acquired_connections(client)
                del kept
            finally:
                gc.enable()
            gc.collect()
            await asyncio.sleep(0)
            found["left_after_gc"] = [t for t in asyncio.all_tasks() - before if not t.done()]
        finally:
            await client.aclose()

    audit = LoopAudit()
    audit.run(main())
    server.settle()
    assert found["left"] == [], found["left"]
    assert found["acquired"] == 0
    assert found["left_after_gc"] == [], found["left_after_gc"]
    assert audit.loop_errors == [], audit.loop_errors
    assert audit.warnings == [], audit.warnings
    return found


@pytest.mark.parametrize("ordered", [False, True], ids=["as-completed", "ordered"])
@pytest.mark.parametrize("after", [1, 30], ids=["first", "thirtieth"])
def test_break_out_of_for_orders(server, ordered, after):
    async def scenario(client: GoDeployClient, found: dict[str, Any]) -> None:
        count = 0
        async for _ in client.order_items.for_orders(
            server.fake.order_ids(), concurrency=16, ordered=ordered
        ):
            count += 1
            if count == after:
                break
        found["count"] = count

    assert leaves_nothing(server, scenario)["count"] == after


def test_an_exception_out_of_for_orders(server):
    async def scenario(client: GoDeployClient, found: dict[str, Any]) -> None:
        async def consume() -> None:
            async for _ in client.order_items.for_orders(server.fake.order_ids()):
                raise BoomError

        with pytest.raises(BoomError):
            await consume()

    leaves_nothing(server, scenario)


def test_break_while_the_fan_out_object_is_still_referenced(server):
    # Only the iterator `async for` took from it goes away at the break, not the FanOut.
    async def scenario(client: GoDeployClient, found: dict[str, Any]) -> Any:
        fan_out = client.order_items.for_orders(server.fake.order_ids(), concurrency=8)
        async for _ in fan_out:
            break
        return fan_out

    leaves_nothing(server, scenario)


def test_break_out_of_for_orders_fed_by_the_order_pager(server):
    async def scenario(client: GoDeployClient, found: dict[str, Any]) -> None:
        results = client.order_items.for_orders(client.orders.list(page_size=10), concurrency=8)
        async for _ in results:
            break

    leaves_nothing(server, scenario)


def test_break_closes_an_async_generator_input(server):
    async def scenario(client: GoDeployClient, found: dict[str, Any]) -> None:
        found["closed"] = False

        async def order_ids() -> AsyncIterator[int]:
            try:
                for order_id in server.fake.order_ids():
                    yield order_id
            finally:
                found["closed"] = True

        async for _ in client.order_items.for_orders(order_ids(), concurrency=4):
            break

    assert leaves_nothing(server, scenario)["closed"] is True


def test_break_out_of_a_pager(server):
    async def scenario(client: GoDeployClient, found: dict[str, Any]) -> None:
        async for _ in client.orders.list(page_size=10):
            break

    leaves_nothing(server, scenario)


@pytest.mark.parametrize("walk", ["items", "pages"])
def test_break_out_of_a_concurrent_pager_with_pages_in_flight(server, walk):
    async def scenario(client: GoDeployClient, found: dict[str, Any]) -> None:
        pager = client.orders.list(page_size=10, concurrency=8)
        count = 0
        async for _ in pager if walk == "items" else pager.pages():
            count += 1
            if count == (15 if walk == "items" else 2):  # the fan-out is fetching
                break

    leaves_nothing(server, scenario)


@pytest.mark.parametrize("listing", ["orders", "order_items"])
def test_break_out_of_pages(server, listing):
    async def scenario(client: GoDeployClient, found: dict[str, Any]) -> None:
        if listing == "orders":
            pager: Any = client.orders.list(page_size=10)
        else:
            pager = client.order_items.list(server.fake.order_ids()[0], page_size=1)
        async for _ in pager.pages():
            break

    leaves_nothing(server, scenario)


def test_aclose_from_another_task_while_the_consumer_waits(server):
    async def scenario(client: GoDeployClient, found: dict[str, Any]) -> None:
        fan_out = client.order_items.for_orders(server.fake.order_ids(), concurrency=4)
        got: list[int] = []

        async def consume() -> None:
            async for result in fan_out:
                got.append(result.order_id)

        consumer = asyncio.ensure_future(consume())
        while not got:
            await asyncio.sleep(0.005)
        await fan_out.aclose()  # the consumer is waiting for the next result meanwhile
        await consumer  # its loop simply ends
        await fan_out.aclose()  # idempotent
        found["got"] = len(got)

    assert 1 <= leaves_nothing(server, scenario)["got"] < ORDERS


def test_an_error_of_work_nobody_waits_for_any_more_is_not_logged():
    # After a break, work that fails (or had failed) has no one to report to: asyncio must not
    # log "Task exception was never retrieved" for it when its task is collected.
    found: dict[str, Any] = {}

    async def work(value: int) -> int:
        if value:
            await asyncio.sleep(0.001 * value)
            raise ValueError(value)
        return value

    async def main() -> None:
        before = asyncio.all_tasks()
        async for _ in FanOut(range(10), work, concurrency=10):
            await asyncio.sleep(0.005)  # some of the others fail meanwhile
            break
        await asyncio.sleep(0)
        found["left"] = [t for t in asyncio.all_tasks() - before if not t.done()]

    audit = LoopAudit()
    audit.run(main())
    assert found["left"] == []
    assert audit.loop_errors == [], audit.loop_errors
    assert audit.warnings == [], audit.warnings


def test_an_iterator_the_caller_keeps_runs_on_until_its_aclose():
    found: dict[str, Any] = {}

    async def work(value: int) -> int:
        await asyncio.sleep(0.01)
        return value

    async def main() -> None:
        before = asyncio.all_tasks()
        iterator = aiter(FanOut(range(100), work, concurrency=8))
        await anext(iterator)
        await asyncio.sleep(0)
        found["kept"] = len([t for t in asyncio.all_tasks() - before if not t.done()])
        await iterator.aclose()  # type: ignore[attr-defined]
        found["left"] = [t for t in asyncio.all_tasks() - before if not t.done()]
        found["after"] = [value async for value in iterator]

    audit = LoopAudit()
    audit.run(main())
    assert found["kept"] >= 1  # still working: it is the caller's to stop
    assert found["left"] == []
    assert found["after"] == []
    assert audit.loop_errors == [], audit.loop_errors
