"""What the fake lets a test observe: the request log, counters and its stored data."""

from __future__ import annotations

import asyncio

from godeploy.testing import FakeGoDeploy, Fault
from tests._support.fake import Api


async def test_each_request_is_logged_with_its_answer(api, fake):
    await api.get("/api/v2/orders", params={"_page": "2", "_pageSize": "5"})
    await api.post_order(api.order_body(purchaseOrderReference="LOGGED"))
    listed, created = fake.requests
    assert (listed.method, listed.path, listed.route, listed.status) == (
        "GET",
        "/api/v2/orders",
        "listOrders",
        200,
    )
    assert listed.query == {
        "businessUnitId": str(fake.business_unit_id),
        "_page": "2",
        "_pageSize": "5",
    }
    assert listed.body == b""
    assert listed.authenticated
    assert listed.fault is None
    assert (created.route, created.status) == ("createOrder", 201)
    assert created.json()["purchaseOrderReference"] == "LOGGED"
    assert created.headers["Content-Type"] == "application/json"


async def test_the_token_never_reaches_the_log(api, fake):
    await api.get("/api/v2/orders")
    await api.get("/api/v2/orders", token="a-wrong-token")
    good, bad = fake.requests
    assert good.headers["Authorization"] == "Bearer ***"
    assert fake.token not in repr(fake.requests)
    assert "a-wrong-token" not in repr(fake.requests)
    assert (good.authenticated, bad.authenticated, bad.status) == (True, False, 401)


async def test_requests_are_logged_on_arrival(api, fake):
    fake.faults.latency(fixed=0.3)
    pending = asyncio.create_task(api.get("/api/v2/orders"))
    while not fake.requests:
        await asyncio.sleep(0.01)
    assert fake.requests[0].status is None
    assert fake.count("listOrders") == 1
    assert fake.count("listOrders", status=200) == 0
    await pending
    assert fake.requests[0].status == 200
    assert fake.count("listOrders", status=200) == 1


async def test_faults_are_logged_by_label(api, fake):
    fake.faults.add(Fault.status(503), route="getOrder", times=1)
    await api.get(f"/api/v2/orders/{fake.order_ids()[0]}")
    assert (fake.requests[-1].fault, fake.requests[-1].status) == ("status(503)", 503)


async def test_counts_by_route_and_status(api, fake):
    fake.faults.add(Fault.status(429, retry_after=0), route="getOrder", times=2)
    for _ in range(3):
        await api.get(f"/api/v2/orders/{fake.order_ids()[0]}")
    await api.get("/api/v2/orders")
    await api.get("/api/v2/no-such-thing")
    await api.call("DELETE", "/api/v2/orders")
    assert fake.count("getOrder") == 3
    assert fake.count("getOrder", status=429) == 2
    assert fake.count("getOrder", status=200) == 1
    assert fake.count("listOrders") == 1
    assert fake.count(status=404) == 1
    assert fake.count(status=405) == 1
    assert fake.count() == 6
    assert [r.route for r in fake.requests[-2:]] == [None, None]


async def test_the_log_is_bounded_but_counts_are_not(session):
    async with FakeGoDeploy(order_count=10, log_size=25) as fake:
        api = Api(fake, session)
        await asyncio.gather(*(api.get("/api/v2/products") for _ in range(300)))
        assert len(fake.requests) == 25
        assert fake.count("listProducts") == 300
        assert fake.count("listProducts", status=200) == 300


async def test_reset_log_forgets_requests_and_counts_but_not_orders(api, fake):
    await api.post_order(api.order_body())
    fake.reset_log()
    assert fake.requests == []
    assert fake.count() == 0
    assert fake.orders_created == 1


async def test_data_helpers_agree_with_the_api(api, fake):
    order_id = fake.order_ids()[123]
    order = fake.order(order_id)
    listed = (await api.get("/api/v2/orders", params={"_page": "13"})).json()["items"]
    assert order == listed[3]
    assert order["id"] == order_id
    items = (await api.get(f"/api/v2/orders/{order_id}/items")).json()["items"]
    assert [i["id"] for i in fake.order_items(order_id)] == [i["id"] for i in items]
    products = (await api.get("/api/v2/products", params={"_pageSize": "100"})).json()["items"]
    assert [p["id"] for p in fake.products()[:100]] == [p["id"] for p in products]
    product = fake.products()[9]
    sets = (await api.get(f"/api/v2/products/{product['id']}/feature_sets")).json()["items"]
    assert [fs["id"] for fs in fake.feature_sets(product["id"])] == [fs["id"] for fs in sets]
    assert fake.order(10**9) is None
    assert fake.order_items(10**9) == []


async def test_order_count_counts_every_stored_order(api, fake):
    other = fake.other_business_unit_id
    assert fake.order_count() == 4150
    before_other = fake.order_count(other)
    await api.post_order(api.order_body())
    assert fake.order_count() == 4151
    assert fake.order_count(other) == before_other


async def test_many_concurrent_requests_are_served(session):
    async with FakeGoDeploy(seed=1, log_size=100) as fake:
        api = Api(fake, session)
        ids = fake.order_ids()[:500]
        replies = await asyncio.gather(*(api.get(f"/api/v2/orders/{i}/items") for i in ids))
        assert {r.status for r in replies} == {200}
        assert fake.count("listOrderItems", status=200) == 500
