"""Frozen instances built slot by slot are the instances their `__init__` makes."""

import pytest
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from godeploy import TransportRequest, TransportResponse
from godeploy._slots import setters
from godeploy._transport import _build_response, build_request
from godeploy.models import Links, OrderItem, PageInfo, Price
from godeploy.pagination import Page, _build_page
from godeploy.resources.order_items import OrderItemsResult, _items_of


def test_setters_refuse_a_class_whose_fields_changed() -> None:
    assert len(setters(Price, ("currency", "value"))) == 2
    with pytest.raises(TypeError, match="make codegen"):
        setters(Price, ("currency",))


def test_the_per_request_objects_equal_what_their_init_makes() -> None:
    url = URL("https://api.example/api/v2/orders/1/items?_page=1")
    headers = {"Authorization": "Bearer t"}
    assert build_request("GET", url, headers, None, 5.0, 1.0) == TransportRequest(
        method="GET", url=url, headers=headers, body=None, timeout=5.0, connect_timeout=1.0
    )
    read_only = CIMultiDictProxy(CIMultiDict({"Content-Type": "application/json"}))
    assert _build_response(200, read_only, b"{}", url) == TransportResponse(
        status=200, headers=read_only, body=b"{}", url=url
    )
    info = PageInfo(
        page_count=1,
        total_item_count=0,
        page_number=1,
        page_size=100,
        has_previous_page=False,
        has_next_page=False,
        is_first_page=True,
        is_last_page=True,
        first_item_on_page=0,
        last_item_on_page=0,
    )
    items: list[OrderItem] = []
    assert _build_page(items, info, Links()) == Page(
        items=items, page_info=info, number=1, links=Links()
    )
    assert _items_of(7, items) == OrderItemsResult(order_id=7, items=items)
