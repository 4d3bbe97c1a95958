"""Every outcome told: a refused create is retried like a GET, reasons reach the message, and
closing the client during a create says whether the order may exist."""

from __future__ import annotations

import asyncio

import pytest

from godeploy import (
    ClientClosedError,
    Hooks,
    LocalLimits,
    OrderOutcomeUnknownError,
    RateLimitError,
    RateLimitEvent,
)
from godeploy.testing import FakeGoDeploy, Fault
from tests._support import make_client


def _items(fake: FakeGoDeploy) -> list[dict[str, object]]:
    feature_set = fake.feature_sets(fake.products()[0]["id"])[0]
    return [{"feature_set_id": feature_set["id"], "quantity": 1}]


async def test_a_create_refused_with_429_waits_out_the_pause_and_is_retried(fake_godeploy):
    fake_godeploy.faults.script(
        "createOrder", [Fault.status(429, retry_after="0.05"), Fault.status(408), None]
    )
    pauses: list[RateLimitEvent] = []
    async with make_client(fake_godeploy, hooks=Hooks(on_rate_limit=pauses.append)) as client:
        order = await client.orders.create(
            purchase_order_reference="PO-429", email_keys=False, order_items=_items(fake_godeploy)
        )
        assert client.stats["retries"] == 2
    assert order.purchasing_order_reference == "PO-429"
    assert fake_godeploy.count("createOrder") == 3
    assert fake_godeploy.orders_created == 1
    assert "retry_after" in {event.source for event in pauses}  # it paused the client


async def test_a_create_that_stays_refused_says_nothing_was_created(fake_godeploy):
    fake_godeploy.faults.add(Fault.status(429, retry_after=0), route="createOrder")
    async with make_client(fake_godeploy, max_retries=2) as client:
        with pytest.raises(RateLimitError) as caught:
            await client.orders.create(
                purchase_order_reference="PO", email_keys=False, order_items=_items(fake_godeploy)
            )
    assert fake_godeploy.count("createOrder") == 3  # within max_retries
    assert "nothing was created" in str(caught.value)
    assert fake_godeploy.orders_created == 0


async def test_closing_the_client_during_a_sent_create_is_an_unknown_outcome(fake_godeploy):
    fake_godeploy.faults.add(Fault.stall(30, after_handler=True), route="createOrder")
    client = make_client(fake_godeploy)
    create = asyncio.ensure_future(
        client.orders.create(
            purchase_order_reference="PO-CLOSED",
            email_keys=False,
            order_items=_items(fake_godeploy),
        )
    )
    while fake_godeploy.orders_created == 0:
        await asyncio.sleep(0.01)
    await client.aclose()
    with pytest.raises(OrderOutcomeUnknownError) as caught:
        await create
    assert caught.value.purchase_order_reference == "PO-CLOSED"
    assert "closed" in str(caught.value)


async def test_closing_the_client_before_a_create_was_sent_is_client_closed(fake_godeploy):
    client = make_client(fake_godeploy, limits=LocalLimits(max_requests_per_second=1, burst=1))
    await client.orders.get(fake_godeploy.order_ids()[0])  # the one slot of this second
    create = asyncio.ensure_future(
        client.orders.create(
            purchase_order_reference="PO", email_keys=False, order_items=_items(fake_godeploy)
        )
    )
    await asyncio.sleep(0.05)  # waiting for its rate-limit slot
    await client.aclose()
    with pytest.raises(ClientClosedError):
        await create
    assert fake_godeploy.count("createOrder") == 0
