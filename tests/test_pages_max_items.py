"""`.pages()` honours `max_items`: the pages stop at the limit and the last one is cut to it."""

from __future__ import annotations

import pytest

from godeploy import GoDeployClient, Page
from godeploy.testing import FakeGoDeploy


def make_client(fake: FakeGoDeploy) -> GoDeployClient:
    return GoDeployClient(fake.token, fake.business_unit_id, base_url=fake.url)


@pytest.mark.parametrize(
    ("max_items", "sizes"),
    [(25, [10, 10, 5]), (20, [10, 10]), (1, [1]), (0, []), (None, [10] * 415)],
)
async def test_pages_stop_at_max_items_and_cut_the_last(fake_godeploy, max_items, sizes):
    async with make_client(fake_godeploy) as client:
        pager = client.orders.list(page_size=10, max_items=max_items)
        pages: list[Page] = [page async for page in pager.pages()]
        items = [order async for order in client.orders.list(page_size=10, max_items=max_items)]
    assert [len(page.items) for page in pages] == sizes
    assert [page.number for page in pages] == list(range(1, len(sizes) + 1))
    # The same orders as the item walk, and no page fetched past the limit.
    assert [order for page in pages for order in page.items] == items
    assert [order.id for order in items] == fake_godeploy.order_ids()[: sum(sizes)]
    assert fake_godeploy.count("listOrders") == 2 * len(sizes)


async def test_a_cut_page_keeps_what_the_server_said(fake_godeploy):
    async with make_client(fake_godeploy) as client:
        pages = [page async for page in client.orders.list(page_size=10, max_items=5).pages()]
    (page,) = pages
    assert len(page.items) == 5
    assert page.page_info.page_size == 10  # the server's page, as it was sent


@pytest.mark.parametrize("max_items", [None, 25, 0])
async def test_collect_is_the_item_walk_in_one_list(fake_godeploy, max_items):
    async with make_client(fake_godeploy) as client:
        walked = [o async for o in client.orders.list(page_size=100, max_items=max_items)]
        collected = await client.orders.list(page_size=100, max_items=max_items).collect()
    assert collected == walked
    assert len(collected) == (4150 if max_items is None else max_items)
