"""`list(concurrency=N)`: pages side by side after the first, handed out in page order."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest

from godeploy import BadRequestError, PaginationError, RequestValidationError
from godeploy.testing import FakeGoDeploy, Fault
from tests._support import make_client


@pytest.fixture
def fake_godeploy_options() -> dict[str, Any]:
    """1,000 orders: 10 pages of 100, enough to have several in flight, quick to walk."""
    return {"seed": 7, "order_count": 1000}


@asynccontextmanager
async def in_flight_peak(fake: FakeGoDeploy) -> AsyncIterator[list[int]]:
    """Sample how many requests the fake holds unanswered; yield a list holding the peak."""
    peak = [0]

    async def sample() -> None:
        while True:
            peak[0] = max(peak[0], sum(1 for r in fake.requests if r.status is None))
            await asyncio.sleep(0.002)

    sampler = asyncio.ensure_future(sample())
    try:
        yield peak
    finally:
        sampler.cancel()
        await asyncio.gather(sampler, return_exceptions=True)


@pytest.mark.parametrize("concurrency", [2, 5])
async def test_a_concurrent_walk_yields_the_serial_walk_with_at_most_n_in_flight(
    fake_godeploy, concurrency
):
    fake = fake_godeploy
    fake.faults.latency(fixed=0.01, jitter=0.02)  # pages come back out of order
    async with make_client(fake) as client:
        serial = [o async for o in client.orders.list(page_size=100)]
        serial_requests = fake.count("listOrders")
        async with in_flight_peak(fake) as peak:
            walked = [o async for o in client.orders.list(page_size=100, concurrency=concurrency)]
    assert walked == serial
    assert [o.id for o in walked] == fake.order_ids()
    assert fake.count("listOrders") == 2 * serial_requests
    assert 2 <= peak[0] <= concurrency


async def test_pages_come_in_page_order(fake_godeploy):
    fake_godeploy.faults.latency(fixed=0.0, jitter=0.02)
    async with make_client(fake_godeploy) as client:
        pager = client.orders.list(page_size=100, start_page=3, concurrency=8)
        numbers = [page.number async for page in pager.pages()]
    assert numbers == list(range(3, 11))


@pytest.mark.parametrize("max_items", [0, 1, 250, 300, 1000, 5000])
async def test_max_items_fetches_no_page_past_the_limit(fake_godeploy, max_items):
    fake = fake_godeploy
    async with make_client(fake) as client:
        serial = await client.orders.list(page_size=100, max_items=max_items).collect()
        serial_requests = fake.count("listOrders")
        walked = [
            o async for o in client.orders.list(page_size=100, max_items=max_items, concurrency=4)
        ]
    assert walked == serial
    assert fake.count("listOrders") == 2 * serial_requests


async def test_a_list_that_grows_during_the_walk_is_followed_to_its_end():
    async with FakeGoDeploy(seed=3, order_count=250) as fake, make_client(fake) as client:
        order_input: dict[str, Any] = {
            "email_keys": False,
            "order_items": [
                {
                    "feature_set_id": fake.feature_sets(fake.products()[0]["id"])[0]["id"],
                    "quantity": 1,
                }
            ],
        }
        ids = []
        async for page in client.orders.list(page_size=100, concurrency=4).pages():
            if page.number == 1:  # says 3 pages; 60 more make a fourth
                for number in range(60):
                    await client.orders.create(purchase_order_reference=f"G{number}", **order_input)
            ids += [o.id for o in page.items]
    assert ids == fake.order_ids()
    assert len(ids) == 310


@pytest.mark.parametrize("on_page", [1, 2])
async def test_a_next_link_to_another_origin_is_refused_by_a_concurrent_walk(
    fake_godeploy, on_page
):
    fake = fake_godeploy
    evil = Fault.next_link("https://evil.example/api/v2/orders?_page=3")
    fake.faults.script("listOrders", [None] * (on_page - 1) + [evil])
    seen: list[int] = []
    async with make_client(fake) as client:

        async def walk() -> None:
            async for page in client.orders.list(page_size=100, concurrency=4).pages():
                seen.append(page.number)

        with pytest.raises(PaginationError, match="another origin"):
            await walk()
    assert seen[:on_page] == list(range(1, on_page + 1))  # handed out before the refusal
    assert all(r.path.startswith("/api/v2/") for r in fake.requests)


@pytest.mark.parametrize(
    "fault", [Fault.next_link("/api/v2/orders?_page=1"), Fault.serve_page(1)], ids=["loop", "wrong"]
)
async def test_the_loop_guard_holds_in_a_concurrent_walk(fake_godeploy, fault):
    fake_godeploy.faults.script("listOrders", [None, None, fault])
    async with make_client(fake_godeploy) as client:
        with pytest.raises(PaginationError):
            async for _ in client.orders.list(page_size=100, concurrency=3):
                pass


async def test_a_failed_page_is_raised_after_the_pages_before_it(fake_godeploy):
    fake = fake_godeploy
    got: list[int] = []
    async with make_client(fake) as client:
        serial = await client.orders.list(page_size=100).collect()
        fake.faults.add(Fault.status(400), route="listOrders", skip=5, times=1)

        async def walk() -> None:
            async for order in client.orders.list(page_size=100, concurrency=4):
                got.append(order.id)

        with pytest.raises(BadRequestError):
            await walk()
    assert got == [o.id for o in serial[: len(got)]]
    assert len(got) % 100 == 0


Listing = Callable[[Any, FakeGoDeploy], Any]


@pytest.mark.parametrize(
    "listing",
    [
        lambda client, fake: client.products.list(concurrency=3),
        lambda client, fake: client.feature_sets.list(fake.products()[0]["id"], concurrency=3),
        lambda client, fake: client.orders.list(concurrency=3),
        lambda client, fake: client.order_items.list(fake.order_ids()[0], concurrency=3),
    ],
    ids=["products", "feature_sets", "orders", "order_items"],
)
async def test_every_listing_takes_concurrency(fake_godeploy, listing: Listing):
    async with make_client(fake_godeploy) as client:
        pager = listing(client, fake_godeploy)
        assert pager.concurrency == 3
        first = [item async for item in pager][:25]
    assert first


@pytest.mark.parametrize("bad", [0, -1, True, 1.5, "2"])
async def test_a_bad_concurrency_is_refused_before_anything_is_sent(fake_godeploy, bad):
    async with make_client(fake_godeploy) as client:
        with pytest.raises(RequestValidationError, match="concurrency"):
            client.orders.list(concurrency=bad)
    assert fake_godeploy.count() == 0


async def test_an_unknown_list_keyword_is_a_type_error(fake_godeploy):
    async with make_client(fake_godeploy) as client:
        with pytest.raises(TypeError, match="page_sise"):
            client.orders.list(page_sise=10)  # type: ignore[call-arg]


def page_fetches() -> list[asyncio.Task[Any]]:
    """The tasks of the fan-out that fetches the pages (its workers) that have not finished."""
    return [
        task
        for task in asyncio.all_tasks()
        if not task.done() and getattr(task.get_coro(), "__qualname__", "") == "_Run.worker"
    ]


async def test_aclose_cancels_the_pages_in_flight(fake_godeploy):
    fake_godeploy.faults.latency(fixed=0.05)
    async with make_client(fake_godeploy) as client:
        pages = aiter(client.orders.list(page_size=10, concurrency=8).pages())
        await anext(pages)
        await anext(pages)  # the fan-out is running: up to 8 pages in flight
        running = len(page_fetches())
        stop: Callable[[], Awaitable[None]] = pages.aclose  # type: ignore[attr-defined]
        await stop()
        left = page_fetches()
        with pytest.raises(StopAsyncIteration):
            await anext(pages)
    assert running > 0
    assert left == []


async def test_a_break_cancels_the_pages_in_flight_at_once(fake_godeploy):
    fake_godeploy.faults.latency(fixed=0.05)
    async with make_client(fake_godeploy) as client:
        async for page in client.orders.list(page_size=10, concurrency=8).pages():
            if page.number == 2:
                running = len(page_fetches())
                break
        await asyncio.sleep(0)  # one turn: the cancelled fetches finish
        left = page_fetches()
    assert running > 0
    assert left == []
