"""Pagination: the reference envelope, `_pageInfo` that adds up, `_links.next` with `_page` only."""

from __future__ import annotations

import math
from urllib.parse import parse_qs, urlsplit

import pytest

from godeploy.testing import MAX_PAGE_SIZE, FakeGoDeploy
from tests._support.fake import REFERENCE, Api

PAGE_INFO_KEYS = list(REFERENCE["listOrders"]["_pageInfo"])


def expected_page_info(total: int, page: int, size: int) -> dict:
    """X.PagedList's arithmetic; a page out of range has no items and every flag false."""
    pages = math.ceil(total / size)
    good = 1 <= page <= pages
    first = (page - 1) * size + 1
    return {
        "pageCount": pages,
        "totalItemCount": total,
        "pageNumber": page,
        "pageSize": size,
        "hasPreviousPage": good and page > 1,
        "hasNextPage": good and page < pages,
        "isFirstPage": good and page == 1,
        "isLastPage": good and page == pages,
        "firstItemOnPage": first if good else 0,
        "lastItemOnPage": min(first + size - 1, total) if good else 0,
    }


async def test_first_pages_match_the_reference_page_info(api):
    for route, path in (("listProducts", "/api/v2/products"), ("listOrders", "/api/v2/orders")):
        body = (await api.get(path)).json()
        assert list(body) == ["items", "_pageInfo", "_links"]
        assert body["_pageInfo"] == REFERENCE[route]["_pageInfo"]
        assert list(body["_pageInfo"]) == PAGE_INFO_KEYS
        assert body["_links"] == REFERENCE[route]["_links"]
        assert len(body["items"]) == 10


async def test_a_single_page_list_matches_the_reference(api, fake):
    az300 = fake.products()[0]
    body = (await api.get(f"/api/v2/products/{az300['id']}/feature_sets")).json()
    assert body["_pageInfo"] == REFERENCE["listFeatureSets"]["_pageInfo"]
    assert body["_links"] == {}


@pytest.mark.parametrize("size", [None, "7", "100"])
async def test_following_next_links_walks_every_order_once(api, fake, size):
    params = {} if size is None else {"_pageSize": size}
    effective = 10 if size is None else int(size)
    seen: list[int] = []
    page = 1
    while True:
        body = (await api.get("/api/v2/orders", params={**params, "_page": str(page)})).json()
        info = body["_pageInfo"]
        assert info == expected_page_info(4150, page, effective)
        assert [o["id"] for o in body["items"]] == fake.order_ids()[
            info["firstItemOnPage"] - 1 : info["lastItemOnPage"]
        ]
        seen += [o["id"] for o in body["items"]]
        if not info["hasNextPage"]:
            assert body["_links"] == {}
            break
        # QUIRK: the link keeps only _page; the walker carries its own _pageSize.
        assert body["_links"] == {"next": f"/api/v2/orders?_page={page + 1}"}
        page = int(parse_qs(urlsplit(body["_links"]["next"]).query)["_page"][0])
    assert seen == fake.order_ids()
    assert len(seen) == 4150


async def test_next_links_name_the_list_path(api, fake):
    product = next(p for p in fake.products() if len(fake.feature_sets(p["id"])) > 1)
    order_id = next(i for i in fake.order_ids() if len(fake.order_items(i)) > 1)
    sets = (
        await api.get(f"/api/v2/products/{product['id']}/feature_sets", params={"_pageSize": "1"})
    ).json()
    items = (await api.get(f"/api/v2/orders/{order_id}/items", params={"_pageSize": "1"})).json()
    products = (await api.get("/api/v2/products", params={"_pageSize": "3", "_page": "4"})).json()
    assert sets["_links"] == {"next": f"/api/v2/products/{product['id']}/feature_sets?_page=2"}
    assert items["_links"] == {"next": f"/api/v2/orders/{order_id}/items?_page=2"}
    assert products["_links"] == {"next": "/api/v2/products?_page=5"}


@pytest.mark.parametrize("asked", ["101", "1000", "99999999999999999999999"])
async def test_page_size_is_clamped_to_100(api, asked):
    body = (await api.get("/api/v2/orders", params={"_pageSize": asked})).json()
    assert body["_pageInfo"] == expected_page_info(4150, 1, MAX_PAGE_SIZE)
    assert len(body["items"]) == 100


@pytest.mark.parametrize("page", [416, 500, 10**12])
async def test_a_page_past_the_end_is_empty_with_consistent_page_info(api, page):
    body = (await api.get("/api/v2/orders", params={"_page": str(page)})).json()
    assert body["items"] == []
    assert body["_pageInfo"] == expected_page_info(4150, page, 10)
    assert body["_pageInfo"]["firstItemOnPage"] == body["_pageInfo"]["lastItemOnPage"] == 0
    assert body["_links"] == {}


async def test_the_last_page_is_partial(api):
    body = (await api.get("/api/v2/orders", params={"_page": "42", "_pageSize": "100"})).json()
    assert len(body["items"]) == 50
    assert body["_pageInfo"]["lastItemOnPage"] == 4150
    assert body["_pageInfo"]["isLastPage"]
    assert body["_links"] == {}


async def test_an_empty_list_has_no_pages(session):
    async with FakeGoDeploy(order_count=0) as fake:
        body = (await Api(fake, session).get("/api/v2/orders")).json()
    assert body == {"items": [], "_pageInfo": expected_page_info(0, 1, 10), "_links": {}}
    assert body["_pageInfo"]["pageCount"] == 0


async def test_page_info_adds_up_for_many_pages_and_sizes(api, fake):
    order_id = next(i for i in fake.order_ids() if len(fake.order_items(i)) == 5)
    lists = {
        "/api/v2/products": 287,
        f"/api/v2/orders/{order_id}/items": 5,
        "/api/v2/orders": 4150,
    }
    for path, total in lists.items():
        for size in (1, 2, 3, 10, 33, 100):
            for page in (1, 2, math.ceil(total / size), math.ceil(total / size) + 1):
                params = {"_page": str(page), "_pageSize": str(size)}
                body = (await api.get(path, params=params)).json()
                info = expected_page_info(total, page, size)
                assert body["_pageInfo"] == info, (path, page, size)
                count = (
                    info["lastItemOnPage"]
                    - info["firstItemOnPage"]
                    + (1 if info["firstItemOnPage"] else 0)
                )
                assert len(body["items"]) == count
