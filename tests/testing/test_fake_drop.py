"""The fake lists orders oldest first, as the reference implies, and can drop a connection."""

from __future__ import annotations

from datetime import UTC, datetime

import aiohttp
import pytest

from godeploy.testing import Fault


def moment(created: str) -> datetime:
    """A `created` value as a UTC moment (stored orders carry no offset: UTC)."""
    value = datetime.fromisoformat(created)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


async def test_orders_are_listed_oldest_first_and_a_new_one_comes_last(api, fake):
    # The reference's page 1 starts with order 1 of 2019; its 4,150 orders end on page 415.
    reply = await api.post_order(api.order_body(purchaseOrderReference="PO-NEWEST"))
    assert reply.status == 201
    first = (await api.get("/api/v2/orders", params={"_pageSize": "100"})).json()
    last_page = first["_pageInfo"]["pageCount"]
    last = (
        await api.get("/api/v2/orders", params={"_pageSize": "100", "_page": str(last_page)})
    ).json()
    assert first["items"][0]["id"] == 1
    for page in (first, last):
        ids = [order["id"] for order in page["items"]]
        assert ids == sorted(ids)
        moments = [moment(order["created"]) for order in page["items"]]
        assert moments == sorted(moments)
    newest = last["items"][-1]
    assert newest["purchasingOrderReference"] == "PO-NEWEST"
    assert abs((datetime.now(UTC) - moment(newest["created"])).total_seconds()) < 60


async def test_a_drop_after_the_handler_stores_the_order_and_sends_nothing(api, fake):
    fake.faults.add(Fault.drop(after_handler=True), route="createOrder", times=1)
    with pytest.raises(aiohttp.ClientError):
        await api.post_order(api.order_body(purchaseOrderReference="PO-LOST-ANSWER"))
    assert [o["purchasingOrderReference"] for o in fake.created_orders] == ["PO-LOST-ANSWER"]
    (record,) = fake.requests
    assert (record.fault, record.status) == ("drop(after_handler)", 201)


async def test_a_drop_before_the_handler_stores_nothing(api, fake):
    fake.faults.add(Fault.drop(), route="createOrder", times=1)
    with pytest.raises(aiohttp.ClientError):
        await api.post_order(api.order_body())
    assert fake.orders_created == 0
    (record,) = fake.requests
    assert (record.fault, record.status) == ("drop", None)
    assert (await api.post_order(api.order_body())).status == 201  # the next one is served
