"""Fault injection: statuses, broken bodies, resets, stalls, ambiguous POSTs, pagination tricks."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest

from godeploy.testing import FakeGoDeploy, Fault, FaultKind
from tests._support.fake import Api, assert_schema


async def get_order(api: Api, fake: FakeGoDeploy, **kwargs):
    return await api.get(f"/api/v2/orders/{fake.order_ids()[0]}", **kwargs)


# -- when faults strike -------------------------------------------------------------------------


async def test_times_spoils_the_next_calls_then_leaves_the_plan(api, fake):
    rule = fake.faults.add(Fault.status(503), route="getOrder", times=2)
    assert (await api.get("/api/v2/orders")).status == 200  # another route is untouched
    statuses = [(await get_order(api, fake)).status for _ in range(4)]
    assert statuses == [503, 503, 200, 200]
    assert (rule.fired, rule.remaining, rule.exhausted) == (2, 0, True)
    assert fake.faults.rules == ()


async def test_a_script_plays_call_by_call(api, fake):
    fake.faults.script(
        "getOrder", [Fault.status(503), None, Fault.status(429, retry_after=1), Fault.status(502)]
    )
    replies = [await get_order(api, fake) for _ in range(5)]
    assert [r.status for r in replies] == [503, 200, 429, 502, 200]
    assert replies[2].headers["Retry-After"] == "1"
    assert "Retry-After" not in replies[0].headers


async def test_skip_lets_calls_through_first(api, fake):
    fake.faults.add(Fault.status(500), route="listOrders", skip=2, times=1)
    statuses = [(await api.get("/api/v2/orders")).status for _ in range(4)]
    assert statuses == [200, 200, 500, 200]


async def test_global_rules_strike_every_route(api, fake):
    fake.faults.add(Fault.status(504), times=3)
    assert (await api.get("/api/v2/products")).status == 504
    assert (await api.get("/api/v2/orders")).status == 504
    assert (await api.post_order(api.order_body())).status == 504
    assert (await api.get("/api/v2/products")).status == 200
    assert fake.orders_created == 0


async def test_a_rule_can_watch_several_routes(api, fake):
    fake.faults.add(Fault.status(500), route=["listOrders", "getOrder"])
    assert (await api.get("/api/v2/orders")).status == 500
    assert (await get_order(api, fake)).status == 500
    assert (await api.get("/api/v2/products")).status == 200


async def test_the_first_rule_that_fires_wins(api, fake):
    fake.faults.add(Fault.status(502), route="getOrder", times=1)
    fake.faults.add(Fault.status(503), route="getOrder", times=1)
    assert [(await get_order(api, fake)).status for _ in range(3)] == [502, 503, 200]


async def pattern(seed: int, session) -> list[int]:
    async with FakeGoDeploy(seed=seed, order_count=20) as fake:
        fake.faults.add(Fault.status(503), rate=0.3)
        api = Api(fake, session)
        return [(await api.get("/api/v2/products")).status for _ in range(200)]


async def test_rates_are_deterministic_for_a_seed(session):
    first, again, other = (
        await pattern(7, session),
        await pattern(7, session),
        await pattern(8, session),
    )
    assert first == again
    assert first != other
    assert 35 <= first.count(503) <= 85


async def test_latency_delays_answers_per_route(api, fake):
    fake.faults.latency(fixed=0.15)
    fake.faults.latency(fixed=0.0, route="listProducts")
    await api.get("/api/v2/orders")
    await api.get("/api/v2/products")
    assert [(r.route, r.held) for r in fake.requests] == [
        ("listOrders", 0.15),
        ("listProducts", 0.0),
    ]


async def test_jitter_stays_within_bounds(api, fake):
    fake.faults.latency(fixed=0.01, jitter=0.04)
    for _ in range(8):
        await api.get("/api/v2/products")
    held = [r.held for r in fake.requests]
    assert all(0.01 <= seconds < 0.05 for seconds in held)
    assert len(set(held)) == 8


async def test_clear_and_remove(api, fake):
    rule = fake.faults.add(Fault.status(500), route="listOrders")
    fake.faults.remove(rule)
    fake.faults.remove(rule)
    assert (await api.get("/api/v2/orders")).status == 200
    fake.faults.add(Fault.status(500))
    fake.faults.latency(fixed=0.3)
    fake.faults.clear()
    assert (await api.get("/api/v2/orders")).status == 200
    assert (fake.requests[-1].fault, fake.requests[-1].held) == (None, 0.0)


# -- what faults do -----------------------------------------------------------------------------


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
async def test_status_faults_answer_problem_details(api, fake, status):
    fake.faults.add(Fault.status(status, retry_after=2), route="listProducts", times=1)
    reply = await api.get("/api/v2/products")
    assert reply.status == status
    assert reply.headers["Content-Type"] == "application/problem+json; charset=utf-8"
    assert reply.headers["Retry-After"] == "2"
    problem = reply.json()
    assert_schema("ProblemDetails", problem)
    assert problem["status"] == status


async def test_retry_after_can_be_an_http_date(api, fake):
    date = "Wed, 21 Oct 2015 07:28:00 GMT"
    fake.faults.add(Fault.status(503, retry_after=date), times=1)
    assert (await api.get("/api/v2/orders")).headers["Retry-After"] == date


async def test_an_html_fault_is_a_gateway_page(api, fake):
    fake.faults.add(Fault.html(), route="listOrders", times=1)
    reply = await api.get("/api/v2/orders")
    assert reply.status == 502
    assert reply.headers["Content-Type"].startswith("text/html")
    assert b"<h1>502 Bad Gateway</h1>" in reply.body
    with pytest.raises(ValueError):
        json.loads(reply.body)


async def test_a_reset_breaks_the_body_after_the_headers(fake, session):
    fake.faults.add(Fault.reset(), route="listOrders", times=1)
    url = fake.url.with_path("/api/v2/orders")
    params = {"businessUnitId": str(fake.business_unit_id)}
    headers = {"Authorization": f"Bearer {fake.token}"}
    async with session.get(url, params=params, headers=headers) as response:
        assert response.status == 200
        with pytest.raises(aiohttp.ClientError):
            await response.read()
    async with session.get(url, params=params, headers=headers) as response:
        assert response.status == 200  # the fake serves on
    assert [r.fault for r in fake.requests] == ["reset", None]


async def test_a_truncated_body_is_valid_http_but_cut_json(api, fake):
    whole = (await api.get("/api/v2/orders")).body
    fake.faults.add(Fault.truncated(), route="listOrders", times=1)
    fake.faults.add(Fault.truncated(keep_bytes=7), route="listOrders", times=1)
    half = await api.get("/api/v2/orders")
    seven = await api.get("/api/v2/orders")
    assert half.status == 200
    assert half.body == whole[: len(whole) // 2]
    assert int(half.headers["Content-Length"]) == len(half.body)
    assert seven.body == whole[:7]
    with pytest.raises(ValueError):
        half.json()


async def test_a_malformed_body_does_not_parse(api, fake):
    fake.faults.add(Fault.malformed(), route="getOrder", times=1)
    reply = await get_order(api, fake)
    assert reply.status == 200
    assert reply.headers["Content-Type"].startswith("application/json")
    with pytest.raises(ValueError):
        reply.json()


async def test_a_stall_outlasts_a_client_timeout_then_serves(api, fake):
    fake.faults.add(Fault.stall(0.6), route="listOrders", times=1)
    with pytest.raises(asyncio.TimeoutError):
        await api.get("/api/v2/orders", timeout=0.2)
    fake.faults.add(Fault.stall(0.2), route="listOrders", times=1)
    assert (await api.get("/api/v2/orders")).status == 200
    assert [r.held for r in fake.requests] == [0.6, 0.2]


async def test_a_redirect_points_anywhere(api, fake):
    fake.faults.add(Fault.redirect("https://elsewhere.example/api/v2/orders"), times=1)
    reply = await api.get("/api/v2/orders")
    assert reply.status == 307
    assert reply.headers["Location"] == "https://elsewhere.example/api/v2/orders"
    fake.faults.add(Fault.redirect("/api/v2/orders?_page=2", code=308), route="createOrder")
    assert (await api.post_order(api.order_body())).status == 308
    assert fake.orders_created == 0


# -- the ambiguous POST -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fault",
    [Fault.status(500, after_handler=True), Fault.html(502, after_handler=True)],
    ids=["500", "html-502"],
)
async def test_after_handler_faults_store_the_order_anyway(api, fake, fault):
    fake.faults.add(fault, route="createOrder", times=1)
    reply = await api.post_order(api.order_body(purchaseOrderReference="AMBIGUOUS-1"))
    assert reply.status >= 500
    assert fake.orders_created == 1
    [order] = fake.created_orders
    assert order["purchasingOrderReference"] == "AMBIGUOUS-1"
    listed = (await api.get("/api/v2/orders", params={"_page": "416"})).json()["items"]
    assert [o["purchasingOrderReference"] for o in listed] == ["AMBIGUOUS-1"]


async def test_a_reset_create_has_stored_its_order(api, fake):
    fake.faults.add(Fault.reset(), route="createOrder", times=1)
    with pytest.raises(aiohttp.ClientError):
        await api.post_order(api.order_body())
    assert fake.orders_created == 1


async def test_a_stalled_create_times_out_after_storing(api, fake):
    fake.faults.add(Fault.stall(5, after_handler=True), route="createOrder", times=1)
    with pytest.raises(asyncio.TimeoutError):
        await api.post_order(api.order_body(), timeout=0.3)
    assert fake.orders_created == 1
    await asyncio.sleep(0.05)  # the cancelled handler logs no answer
    assert fake.requests[-1].status is None


async def test_faults_before_the_handler_store_nothing(api, fake):
    fake.faults.script(
        "createOrder", [Fault.status(503), Fault.html(502), Fault.status(429, retry_after=0)]
    )
    for _ in range(3):
        assert (await api.post_order(api.order_body())).status >= 429
    assert fake.orders_created == 0
    fake.faults.add(Fault.stall(5), route="createOrder", times=1)
    with pytest.raises(asyncio.TimeoutError):
        await api.post_order(api.order_body(), timeout=0.3)
    assert fake.orders_created == 0


# -- pagination faults --------------------------------------------------------------------------


async def test_next_link_fault_replaces_the_link_of_a_real_page(api, fake):
    real = (await api.get("/api/v2/orders")).json()
    fake.faults.add(Fault.next_link("https://evil.example/api/v2/orders?_page=2"), times=1)
    spoiled = (await api.get("/api/v2/orders")).json()
    assert spoiled["_links"] == {"next": "https://evil.example/api/v2/orders?_page=2"}
    assert spoiled["items"] == real["items"]
    assert spoiled["_pageInfo"] == real["_pageInfo"]
    fake.faults.add(Fault.next_link(None), route="listProducts", times=1)
    assert (await api.get("/api/v2/products")).json()["_links"] == {}


async def test_serve_page_answers_another_page(api, fake):
    page3 = (await api.get("/api/v2/orders", params={"_page": "3"})).json()
    fake.faults.add(Fault.serve_page(3), route="listOrders", times=1)
    answered = (await api.get("/api/v2/orders", params={"_page": "1"})).json()
    assert answered == page3
    assert answered["_pageInfo"]["pageNumber"] == 3


async def test_repeat_page_answers_the_same_page_again(api, fake):
    page1 = (await api.get("/api/v2/orders")).json()
    fake.faults.add(Fault.repeat_page(), route="listOrders", times=1)
    again = (await api.get("/api/v2/orders", params={"_page": "2"})).json()
    assert again == page1
    assert (await api.get("/api/v2/orders", params={"_page": "2"})).json()["_pageInfo"][
        "pageNumber"
    ] == 2


async def test_pagination_faults_pass_over_single_resources(api, fake):
    rule = fake.faults.add(Fault.next_link("https://evil.example/"), times=1)
    assert (await get_order(api, fake)).status == 200
    assert rule.fired == 0
    assert rule.seen == 0
    body = (await api.get(f"/api/v2/orders/{fake.order_ids()[0]}/items")).json()
    assert body["_links"] == {"next": "https://evil.example/"}


# -- the fault API refuses nonsense -------------------------------------------------------------


@pytest.mark.parametrize(
    "build",
    [
        lambda: Fault.status(200),
        lambda: Fault.status(503, retry_after=-1),
        lambda: Fault.html(302),
        lambda: Fault.stall(0),
        lambda: Fault.reset(keep_bytes=-1),
        lambda: Fault.serve_page(0),
        lambda: Fault.redirect("/x", code=200),
    ],
)
def test_bad_faults_are_refused(build):
    with pytest.raises(ValueError):
        build()


@pytest.mark.parametrize(
    "add",
    [
        lambda f: f.add(Fault.status(500), route="getOrders"),
        lambda f: f.add(Fault.status(500), route=[]),
        lambda f: f.add(Fault.next_link("x"), route="getOrder"),
        lambda f: f.add(Fault.status(500), times=0),
        lambda f: f.add(Fault.status(500), rate=0),
        lambda f: f.add(Fault.status(500), rate=1.5),
        lambda f: f.add(Fault.status(500), skip=-1),
        lambda f: f.script("getOrder", []),
        lambda f: f.script("getOrder", [Fault.serve_page(2)]),
        lambda f: f.latency(fixed=-1),
        lambda f: f.latency(fixed=1, route="nope"),
    ],
)
def test_bad_plans_are_refused(add):
    with pytest.raises(ValueError):
        add(FakeGoDeploy(order_count=1).faults)


def test_labels_describe_faults():
    assert Fault.status(503).label == "status(503)"
    assert Fault.status(429, retry_after=1).label == "status(429, retry_after=1)"
    assert Fault.status(500, after_handler=True).label == "status(500, after_handler)"
    assert Fault.reset().label == "reset"
    assert Fault.stall(2.5).label == "stall(2.5s)"
    assert Fault.serve_page(4).label == "serve_page(4)"
    assert Fault.redirect("/x").label == "redirect(307, '/x')"
    assert Fault.malformed().kind is FaultKind.MALFORMED
    assert "fired=0" in repr(FakeGoDeploy(order_count=1).faults.add(Fault.reset()))
