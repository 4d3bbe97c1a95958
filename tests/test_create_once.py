"""`orders.create_once`: at most one order per purchase order reference, against the fake."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from godeploy import (
    ClientClosedError,
    OrderOutcomeUnknownError,
    RequestValidationError,
    Timeout,
)
from godeploy.testing import FakeGoDeploy, Fault
from tests._support import make_client


def order_input(fake: FakeGoDeploy, reference: str) -> dict[str, Any]:
    """Keywords of a valid create for `fake`."""
    product = fake.products()[0]
    feature_set = fake.feature_sets(product["id"])[0]
    return {
        "purchase_order_reference": reference,
        "email_keys": False,
        "order_items": [{"feature_set_id": feature_set["id"], "quantity": 1}],
    }


def stored_with(fake: FakeGoDeploy, reference: str) -> list[dict[str, Any]]:
    """The orders the fake created with this reference (its own truth, not the SDK's)."""
    return [o for o in fake.created_orders if o["purchasingOrderReference"] == reference]


async def test_a_create_dropped_after_the_fake_stored_it_returns_that_order(fake_godeploy):
    fake = fake_godeploy
    fake.faults.add(Fault.drop(after_handler=True), route="createOrder", times=1)
    async with make_client(fake) as client:
        order = await client.orders.create_once(**order_input(fake, "PO-DROPPED-AFTER"))
    (stored,) = stored_with(fake, "PO-DROPPED-AFTER")
    assert order.id == stored["id"]
    assert order.purchasing_order_reference == "PO-DROPPED-AFTER"
    assert fake.count("createOrder") == 1


async def test_a_second_create_once_with_the_same_reference_sends_no_post(fake_godeploy):
    fake = fake_godeploy
    async with make_client(fake) as client:
        first = await client.orders.create_once(**order_input(fake, "PO-TWICE"))
        posts = fake.count("createOrder")
        second = await client.orders.create_once(**order_input(fake, "PO-TWICE"))
    assert posts == 1
    assert fake.count("createOrder") == 1
    assert second.id == first.id
    assert len(stored_with(fake, "PO-TWICE")) == 1


async def test_a_create_dropped_before_the_fake_stored_it_creates_exactly_one(fake_godeploy):
    fake = fake_godeploy
    rule = fake.faults.add(Fault.drop(), route="createOrder", times=1)
    async with make_client(fake) as client:
        order = await client.orders.create_once(**order_input(fake, "PO-DROPPED-BEFORE"))
    assert rule.fired == 1
    (stored,) = stored_with(fake, "PO-DROPPED-BEFORE")
    assert order.id == stored["id"]
    assert fake.count("createOrder") == 2  # the dropped one, and the one that went through


async def test_fifty_concurrent_calls_under_dropped_after_store_faults_make_fifty(fake_godeploy):
    fake = fake_godeploy
    rule = fake.faults.add(Fault.drop(after_handler=True), route="createOrder", rate=0.2)
    references = [f"PO-MANY-{number:02d}" for number in range(50)]
    async with make_client(fake) as client:
        orders = await asyncio.gather(
            *(client.orders.create_once(**order_input(fake, ref)) for ref in references)
        )
    assert rule.fired > 0  # the faults did strike
    assert fake.orders_created == 50
    assert sorted(o["purchasingOrderReference"] for o in fake.created_orders) == references
    assert [order.purchasing_order_reference for order in orders] == references


async def test_a_caller_that_crashed_finds_its_order_with_a_new_client(fake_godeploy):
    fake = fake_godeploy
    fake.faults.add(Fault.drop(after_handler=True), route="createOrder", times=1)
    async with make_client(fake) as client:
        with pytest.raises(OrderOutcomeUnknownError):
            await client.orders.create(**order_input(fake, "PO-CRASHED"))
    async with make_client(fake) as restarted:
        order = await restarted.orders.create_once(**order_input(fake, "PO-CRASHED"))
    (stored,) = stored_with(fake, "PO-CRASHED")
    assert order.id == stored["id"]
    assert fake.count("createOrder") == 1


async def test_the_search_after_an_unknown_outcome_is_retried_until_it_answers(fake_godeploy):
    fake = fake_godeploy
    async with make_client(fake, max_retries=0) as client:
        await client.orders.create_once(**order_input(fake, "PO-WARM-UP"))  # the first search
        fake.faults.add(Fault.drop(after_handler=True), route="createOrder", times=1)
        # The search before the create answers; the two after the dropped create fail.
        failing = fake.faults.add(Fault.status(503), route="listOrders", times=2, skip=1)
        order = await client.orders.create_once(**order_input(fake, "PO-RETRIED-SEARCH"))
    assert failing.fired == 2
    (stored,) = stored_with(fake, "PO-RETRIED-SEARCH")
    assert order.id == stored["id"]


async def test_past_the_deadline_the_outcome_stays_unknown(fake_godeploy):
    fake = fake_godeploy
    async with make_client(fake, max_retries=0) as client:
        await client.orders.create_once(**order_input(fake, "PO-WARM-UP"))
        fake.faults.add(Fault.drop(after_handler=True), route="createOrder", times=1)
        fake.faults.add(Fault.status(503), route="listOrders", skip=1)
        with pytest.raises(OrderOutcomeUnknownError) as caught:
            await client.orders.create_once(
                **order_input(fake, "PO-NO-ANSWER"), timeout=Timeout(total=0.6)
            )
    assert caught.value.purchase_order_reference == "PO-NO-ANSWER"
    assert len(stored_with(fake, "PO-NO-ANSWER")) == 1  # stored once, never sent again
    assert fake.count("createOrder") == 2  # the warm-up's and the dropped one


async def test_the_first_call_reads_two_pages_and_the_next_ones_one(fake_godeploy):
    fake = fake_godeploy  # 4,150 orders: 42 pages of 100
    async with make_client(fake) as client:
        await client.orders.create_once(**order_input(fake, "PO-COST-0"))
        first = fake.count("listOrders")
        for number in range(1, 6):
            await client.orders.create_once(**order_input(fake, f"PO-COST-{number}"))
    assert first == 2  # page 1 says how many pages there are; the last page is new enough
    assert fake.count("listOrders") - first == 5
    pages = [int(r.query["_page"]) for r in fake.requests if r.route == "listOrders"]
    assert pages[:2] == [1, 42]
    assert all(page == 42 for page in pages[2:])


async def test_orders_older_than_lookback_do_not_count(fake_godeploy):
    fake = fake_godeploy
    old = fake.order(fake.order_ids()[100])
    assert old is not None
    reference = old["purchasingOrderReference"]
    async with make_client(fake) as client:
        # Stored orders are years old: the default 24 h does not reach them.
        made = await client.orders.create_once(**order_input(fake, reference))
    async with make_client(fake) as other:
        reached = await other.orders.create_once(
            **order_input(fake, reference), lookback=timedelta(days=365 * 10)
        )
    assert made.id == reached.id == fake.created_orders[0]["id"]
    assert fake.orders_created == 1


async def test_a_long_lookback_finds_an_old_order_reading_newest_first(fake_godeploy):
    fake = fake_godeploy
    ids = fake.order_ids()
    old = fake.order(ids[-150])  # on the second page from the end (42 pages of 100)
    assert old is not None
    async with make_client(fake) as client:
        found = await client.orders.create_once(
            **order_input(fake, old["purchasingOrderReference"]),
            lookback=timedelta(days=365 * 10),
            concurrency=1,
        )
    assert fake.count("createOrder") == 0
    assert found.purchasing_order_reference == old["purchasingOrderReference"]
    assert found.id >= old["id"]  # the newest order with it
    pages = [int(r.query["_page"]) for r in fake.requests if r.route == "listOrders"]
    assert pages[:3] == [1, 42, 41]


@pytest.mark.parametrize(
    "bad", [{"lookback": 0}, {"lookback": -1}, {"lookback": "1d"}, {"concurrency": 0}]
)
async def test_bad_options_are_refused_before_anything_is_sent(fake_godeploy, bad):
    async with make_client(fake_godeploy) as client:
        with pytest.raises(RequestValidationError):
            await client.orders.create_once(**order_input(fake_godeploy, "PO-BAD"), **bad)
    assert fake_godeploy.count() == 0


async def test_a_closed_client_sends_nothing(fake_godeploy):
    client = make_client(fake_godeploy)
    await client.aclose()
    with pytest.raises(ClientClosedError):
        await client.orders.create_once(**order_input(fake_godeploy, "PO-CLOSED"))
    assert fake_godeploy.count() == 0
