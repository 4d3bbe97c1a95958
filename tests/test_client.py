"""GoDeployClient against FakeGoDeploy on loopback: operations, paging, errors, retries, auth."""

from __future__ import annotations

import asyncio
import gc
import logging
from typing import Any

import aiohttp
import pytest

from godeploy import (
    APIStatusError,
    APITimeoutError,
    AsyncPager,
    AuthenticationError,
    BadRequestError,
    ClientClosedError,
    GoDeployClient,
    NotFoundError,
    OrderStatus,
    PaginationError,
    RateLimitError,
    RequestValidationError,
    ResponseValidationError,
    RetryBudget,
    RetryPolicy,
    ServiceUnavailableError,
    Timeout,
)
from godeploy.testing import FakeGoDeploy, Fault
from tests._support import RecordingTransport, make_client
from tests._support.matching import assert_matches

# --- operations -------------------------------------------------------------------------------


async def test_products_list_walks_every_page(fake_godeploy, godeploy_client):
    codes = [product.code async for product in godeploy_client.products.list(page_size=50)]
    assert len(codes) == 287 == len(set(codes))
    assert fake_godeploy.count("listProducts") == 6


async def test_product_and_its_feature_sets(fake_godeploy, godeploy_client):
    product = await godeploy_client.products.get(fake_godeploy.products()[3]["id"])
    assert_matches(product, fake_godeploy.products()[3])
    feature_sets = [fs async for fs in godeploy_client.feature_sets.list(product.id)]
    assert_matches(feature_sets, fake_godeploy.feature_sets(product.id))
    one = await godeploy_client.feature_sets.get(product.id, feature_sets[0].id)
    assert one == feature_sets[0]
    assert all(price.value.as_tuple().exponent == -4 for price in one.prices)


async def test_next_link_keeps_business_unit_and_page_size_to_page_3(fake_godeploy):
    async with make_client(fake_godeploy) as client:
        pager = client.orders.list(page_size=7, max_items=21)
        ids = [order.id async for order in pager]
    assert len(ids) == 21
    pages = [r for r in fake_godeploy.requests if r.route == "listOrders"]
    assert [r.query["_page"] for r in pages] == ["1", "2", "3"]
    for record in pages:
        assert record.query["_pageSize"] == "7"
        assert record.query["businessUnitId"] == str(fake_godeploy.business_unit_id)


async def test_pages_expose_page_info_and_number(godeploy_client):
    pages = [page async for page in godeploy_client.orders.list(page_size=100).pages()]
    assert [page.number for page in pages] == list(range(1, 43))
    assert sum(len(page.items) for page in pages) == 4150
    assert pages[-1].page_info.is_last_page
    assert pages[-1].links.next is None
    assert pages[0].page_info.total_item_count == 4150


async def test_start_page_and_page_past_the_end(godeploy_client):
    late = [o async for o in godeploy_client.orders.list(page_size=100, start_page=42)]
    assert len(late) == 50
    assert [o async for o in godeploy_client.orders.list(page_size=100, start_page=99)] == []


async def test_order_get_omits_what_the_list_has(fake_godeploy, godeploy_client):
    listed = [o async for o in godeploy_client.orders.list(max_items=1)][0]
    got = await godeploy_client.orders.get(listed.id)
    assert listed.business_unit is not None and listed.links is not None
    assert got.business_unit is None and got.created_by_user is None and got.links is None
    assert got.id == listed.id and got.created == listed.created
    assert got.created.tzinfo is not None


async def test_unknown_statuses_are_kept(godeploy_client):
    statuses = {o.order_status async for o in godeploy_client.orders.list(page_size=100)}
    assert {OrderStatus.NEW, OrderStatus.CANCELLED} <= statuses
    assert statuses - {OrderStatus.NEW, OrderStatus.CANCELLED}, "the fake serves other statuses"


async def test_create_then_read_back(fake_godeploy, godeploy_client):
    feature_set = fake_godeploy.feature_sets(fake_godeploy.products()[0]["id"])[0]
    order = await godeploy_client.orders.create(
        purchase_order_reference="PO-1",
        email_keys=True,
        contact_email="buyer@example.com",
        order_items=[
            {"feature_set_id": feature_set["id"], "quantity": 2, "source_reference": "s1"}
        ],
    )
    assert order.order_status == OrderStatus.NEW
    assert order.purchasing_order_reference == "PO-1"
    assert (await godeploy_client.orders.get(order.id)).id == order.id
    items = [item async for item in godeploy_client.order_items.list(order.id)]
    assert [(str(i.feature_set_id), i.quantity) for i in items] == [(feature_set["id"], 2)]
    assert fake_godeploy.orders_created == 1


async def test_create_accepts_the_request_model(fake_godeploy, godeploy_client):
    from godeploy import CreateOrderItem, CreateOrderRequest

    feature_set = fake_godeploy.feature_sets(fake_godeploy.products()[0]["id"])[0]
    request = CreateOrderRequest(
        purchase_order_reference="PO-2",
        email_keys=False,
        order_items=[CreateOrderItem(feature_set_id=feature_set["id"], quantity=1)],
    )
    order = await godeploy_client.orders.create(request)
    assert order.purchasing_order_reference == "PO-2"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"order_items": [{"feature_set_id": "FS", "quantity": 0}]}, "orderItems[0].quantity"),
        ({"order_items": []}, "orderItems"),
        ({"email_keys": True}, "contactEmail"),
        (
            {"order_items": [{"feature_set_id": "nope", "quantity": 1}]},
            "orderItems[0].featureSetId",
        ),
        ({"order_items": [{"featureSetId": "FS", "quantity": 1}]}, "orderItems[0]"),
        ({"purchase_order_reference": ""}, "purchaseOrderReference"),
    ],
)
async def test_bad_create_input_is_refused_before_io(fake_godeploy, godeploy_client, kwargs, field):
    feature_set_id = str(fake_godeploy.feature_sets(fake_godeploy.products()[0]["id"])[0]["id"])
    call = {
        "purchase_order_reference": "PO",
        "email_keys": False,
        "order_items": [{"feature_set_id": feature_set_id, "quantity": 1}],
    } | kwargs
    for item in call["order_items"]:
        for key, value in item.items():
            if value == "FS":
                item[key] = feature_set_id
    with pytest.raises(RequestValidationError) as caught:
        await godeploy_client.orders.create(**call)
    assert field in caught.value.errors
    assert fake_godeploy.count("createOrder") == 0


async def test_api_400_lists_the_bad_fields(fake_godeploy, godeploy_client):
    unknown_feature_set = "00000000-0000-4000-8000-000000000000"
    with pytest.raises(BadRequestError) as caught:
        await godeploy_client.orders.create(
            purchase_order_reference="PO",
            email_keys=False,
            order_items=[{"feature_set_id": unknown_feature_set, "quantity": 1}],
        )
    [reason] = (caught.value.problem.errors or {})["orderItems[0].featureSetId"]
    assert "does not exist in business unit" in reason
    # The API's reasons are in the message (what the CLI prints), each with its field.
    assert f"orderItems[0].featureSetId: {reason}" in str(caught.value)
    assert "nothing was created" in str(caught.value)
    assert fake_godeploy.orders_created == 0


@pytest.mark.parametrize("bad", [0, -1, True, "7", 1.5])
async def test_malformed_ids_are_refused_before_io(fake_godeploy, godeploy_client, bad):
    with pytest.raises(RequestValidationError):
        await godeploy_client.orders.get(bad)
    with pytest.raises(RequestValidationError):
        await godeploy_client.products.get("not-a-uuid")
    assert fake_godeploy.count() == 0


async def test_not_found_carries_status_url_body_and_request_id(godeploy_client):
    with pytest.raises(NotFoundError) as caught:
        await godeploy_client.orders.get(999_999)
    error = caught.value
    assert error.status == 404 and error.method == "GET"
    assert error.url.path == "/api/v2/orders/999999"
    assert error.problem.status == 404
    assert error.request_id


async def test_business_unit_override(fake_godeploy, godeploy_client):
    other = fake_godeploy.other_business_unit_id
    theirs = [o async for o in godeploy_client.orders.list(business_unit_id=other, max_items=3)]
    assert theirs and all(o.business_unit_id == other for o in theirs)
    mine = fake_godeploy.order_ids()[0]
    with pytest.raises(NotFoundError):
        await godeploy_client.orders.get(mine, business_unit_id=other)


# --- paging safety ----------------------------------------------------------------------------


async def test_cross_origin_next_link_is_refused_and_nothing_is_sent_there(fake_godeploy):
    async with FakeGoDeploy(seed=8, order_count=30) as foreign:
        link = str(foreign.url.with_path("/api/v2/orders").with_query({"_page": 2}))
        fake_godeploy.faults.add(Fault.next_link(link), route="listOrders")
        async with make_client(fake_godeploy) as client:
            with pytest.raises(PaginationError, match="another origin"):
                async for _ in client.orders.list():
                    pass
        assert foreign.count() == 0


async def test_absolute_next_link_on_own_origin_is_followed(fake_godeploy):
    link = str(fake_godeploy.url.with_path("/api/v2/orders").with_query({"_page": 2}))
    fake_godeploy.faults.add(Fault.next_link(link), route="listOrders", times=1)
    async with make_client(fake_godeploy) as client:
        ids = [o.id async for o in client.orders.list(page_size=5, max_items=10)]
    assert len(ids) == 10
    assert fake_godeploy.requests[-1].query["_pageSize"] == "5"


async def walk(pager: AsyncPager[Any], how: str) -> list[Any]:
    """Every item, by iterating the pager or by `collect()` (which fetches page 1 itself)."""
    return await pager.collect() if how == "collect" else [item async for item in pager]


@pytest.mark.parametrize("how", ["iterate", "collect"])
async def test_repeated_page_raises(fake_godeploy, godeploy_client, how):
    fake_godeploy.faults.add(Fault.repeat_page(), route="listOrders", skip=1)
    with pytest.raises(PaginationError, match="twice|answered page"):
        await walk(godeploy_client.orders.list(), how)
    assert fake_godeploy.count("listOrders") == 2


@pytest.mark.parametrize("how", ["iterate", "collect"])
@pytest.mark.parametrize("skip", [0, 1])  # the first page answered wrong, or the second
async def test_wrong_page_raises(fake_godeploy, godeploy_client, how, skip):
    fake_godeploy.faults.add(Fault.serve_page(5), route="listOrders", skip=skip)
    with pytest.raises(PaginationError, match="answered page 5"):
        await walk(godeploy_client.orders.list(), how)
    assert fake_godeploy.count("listOrders") == skip + 1


async def test_redirect_is_not_followed_with_the_token(fake_godeploy):
    async with FakeGoDeploy(seed=9) as foreign:
        fake_godeploy.faults.add(Fault.redirect(str(foreign.url) + "/api/v2/orders/1"))
        async with make_client(fake_godeploy) as client:
            with pytest.raises(APIStatusError) as caught:
                await client.orders.get(1)
        assert caught.value.status == 307
        assert foreign.count() == 0


# --- retries ----------------------------------------------------------------------------------


async def test_429_without_retries_raises_rate_limit_error(fake_godeploy):
    fake_godeploy.faults.add(Fault.status(429, retry_after=0), route="getOrder")
    async with make_client(fake_godeploy, max_retries=0) as client:
        with pytest.raises(RateLimitError) as caught:
            await client.orders.get(1)
    assert caught.value.retry_after == 0


async def test_retry_budget_runs_out(fake_godeploy):
    fake_godeploy.faults.add(Fault.status(500), route="getOrder")
    async with make_client(fake_godeploy, retry_budget=RetryBudget(capacity=10)) as client:
        with pytest.raises(APIStatusError):
            await client.orders.get(1)
        assert fake_godeploy.count("getOrder") == 3  # two retries paid 5 tokens each
        with pytest.raises(APIStatusError):
            await client.orders.get(1)
        assert fake_godeploy.count("getOrder") == 4  # no tokens left: no retry


async def test_per_call_max_retries(fake_godeploy):
    fake_godeploy.faults.add(Fault.status(503), route="getOrder")
    async with make_client(fake_godeploy) as client:
        with pytest.raises(ServiceUnavailableError):
            await client.orders.get(1, max_retries=0)
    assert fake_godeploy.count("getOrder") == 1


async def test_attempt_timeout_raises_api_timeout_error(fake_godeploy):
    fake_godeploy.faults.add(Fault.stall(5), route="getOrder")
    async with make_client(fake_godeploy, max_retries=1) as client:
        with pytest.raises(APITimeoutError) as caught:
            await client.orders.get(1, timeout=0.2)
    assert isinstance(caught.value, TimeoutError)


async def test_deadline_bounds_all_attempts(fake_godeploy):
    fake_godeploy.faults.add(Fault.stall(5), route="getOrder")
    policy = RetryPolicy(max_retries=10, backoff_base=0.001)
    async with make_client(fake_godeploy, retry_policy=policy) as client:
        with pytest.raises(APITimeoutError):
            await client.orders.get(1, timeout=Timeout(attempt=0.2, total=0.5))
    assert fake_godeploy.count("getOrder") <= 4


async def test_malformed_body_raises_response_validation_error(fake_godeploy, godeploy_client):
    fake_godeploy.faults.add(Fault.malformed(), route="getOrder")
    with pytest.raises(ResponseValidationError):
        await godeploy_client.orders.get(fake_godeploy.order_ids()[0])


# --- create is never repeated blindly ---------------------------------------------------------


async def test_create_refused_by_status_before_storing_is_a_definite_error(fake_godeploy):
    fake_godeploy.faults.add(Fault.status(429, retry_after=0), route="createOrder")
    feature_set = fake_godeploy.feature_sets(fake_godeploy.products()[0]["id"])[0]
    async with make_client(fake_godeploy, max_retries=0) as client:
        with pytest.raises(RateLimitError):
            await client.orders.create(
                purchase_order_reference="PO",
                email_keys=False,
                order_items=[{"feature_set_id": feature_set["id"], "quantity": 1}],
            )
    assert fake_godeploy.orders_created == 0


async def test_create_retries_a_connect_error_that_sent_nothing(fake_godeploy):
    class RefusesOnce(RecordingTransport):
        async def send(self, request):
            if not self.sent:
                self.sent.append(request)
                from godeploy import APIConnectionError

                raise APIConnectionError(
                    "refused", method=request.method, url=request.url, request_sent=False
                )
            return await super().send(request)

    feature_set = fake_godeploy.feature_sets(fake_godeploy.products()[0]["id"])[0]
    refuses_once = RefusesOnce()
    async with make_client(fake_godeploy, transport=refuses_once) as client:
        order = await client.orders.create(
            purchase_order_reference="PO",
            email_keys=False,
            order_items=[{"feature_set_id": feature_set["id"], "quantity": 1}],
        )
    await refuses_once.aclose()
    assert order.order_status == "New"
    assert fake_godeploy.orders_created == 1


# --- auth -------------------------------------------------------------------------------------


async def test_token_refresh_happens_once_for_20_concurrent_calls(fake_godeploy):
    asked = 0

    async def token() -> str:
        nonlocal asked
        asked += 1
        await asyncio.sleep(0.01)
        return fake_godeploy.token

    async with make_client(fake_godeploy) as client:
        client_with_callable = GoDeployClient(
            token, fake_godeploy.business_unit_id, base_url=fake_godeploy.url
        )
        async with client_with_callable:
            await client_with_callable.orders.get(fake_godeploy.order_ids()[0])
            assert asked == 1
            fake_godeploy.rotate_token()
            ids = fake_godeploy.order_ids()[:20]
            orders = await asyncio.gather(*(client_with_callable.orders.get(i) for i in ids))
            assert [o.id for o in orders] == ids
            assert asked == 2
        assert client.stats["requests"] == 0


async def test_static_token_401_raises_authentication_error(fake_godeploy, godeploy_client):
    fake_godeploy.rotate_token()
    with pytest.raises(AuthenticationError) as caught:
        await godeploy_client.orders.get(1)
    assert caught.value.status == 401


async def test_token_never_leaks(fake_godeploy, caplog):
    caplog.set_level(logging.DEBUG)
    token = fake_godeploy.token
    fake_godeploy.faults.script("getOrder", [Fault.status(503), None])
    errors: list[BaseException] = []
    async with make_client(fake_godeploy) as client:
        await client.orders.get(fake_godeploy.order_ids()[0])
        fake_godeploy.rotate_token()
        try:
            await client.orders.get(1)
        except AuthenticationError as error:
            errors.append(error)
        texts = [repr(client), str(client), repr(client._core.token)]
    texts += [str(e) for e in errors] + [repr(e) for e in errors]
    texts += [record.getMessage() for record in caplog.records]
    assert errors and caplog.records
    assert not [text for text in texts if token in text]


# --- lifecycle --------------------------------------------------------------------------------


async def test_closed_client_refuses_calls_and_close_is_idempotent(fake_godeploy):
    client = make_client(fake_godeploy)
    await client.orders.get(fake_godeploy.order_ids()[0])
    await client.aclose()
    await client.aclose()
    assert client.is_closed
    with pytest.raises(ClientClosedError):
        await client.orders.get(1)


async def test_unclosed_client_warns(fake_godeploy):
    client = make_client(fake_godeploy)
    await client.orders.get(fake_godeploy.order_ids()[0])
    session = client.transport.session  # type: ignore[attr-defined]
    with pytest.warns(ResourceWarning, match="unclosed"):
        del client
        gc.collect()
    await session.close()


async def test_borrowed_session_is_not_closed(fake_godeploy):
    async with aiohttp.ClientSession() as session:
        async with make_client(fake_godeploy, session=session) as client:
            await client.orders.get(fake_godeploy.order_ids()[0])
        assert not session.closed
